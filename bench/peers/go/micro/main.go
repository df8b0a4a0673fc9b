// Go's side of weft-bench-micro (bench/micro.cc): the same workloads with
// goroutines, one JSON object per repetition on stdout:
// {"name": ..., "ns_per_op": ..., "iterations": ...}. Names match weft's
// benchmarks (compare.py): yield_pingpong, spawn_join/workers:N,
// skynet/workers:N, fib/workers:N, idle_memory (bytes per parked goroutine,
// from the resident set like weft's).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

type result struct {
	Name       string  `json:"name"`
	NsPerOp    float64 `json:"ns_per_op"`
	Iterations int     `json:"iterations"`
}

// A switch is one Gosched that hands the one P to the other goroutine.
func yieldPingpong(b *testing.B) {
	var stop sync.WaitGroup
	done := make(chan struct{})
	stop.Add(1)
	go func() {
		defer stop.Done()
		for {
			select {
			case <-done:
				return
			default:
				runtime.Gosched()
			}
		}
	}()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		runtime.Gosched()
	}
	b.StopTimer()
	close(done)
	stop.Wait()
}

func spawnJoin(b *testing.B) {
	ch := make(chan struct{})
	for i := 0; i < b.N; i++ {
		go func() { ch <- struct{}{} }()
		<-ch
	}
}

const skynetLeaves = 1000000
const skynetTasks = 1111111

func skynet(num, size int, out chan<- int) {
	if size == 1 {
		out <- num
		return
	}
	sub := size / 10
	c := make(chan int, 10)
	for i := 0; i < 10; i++ {
		go skynet(num+i*sub, sub, c)
	}
	sum := 0
	for i := 0; i < 10; i++ {
		sum += <-c
	}
	out <- sum
}

func skynetBench(b *testing.B) {
	for i := 0; i < b.N; i++ {
		c := make(chan int, 1)
		go skynet(0, skynetLeaves, c)
		if got := <-c; got != skynetLeaves*(skynetLeaves-1)/2 {
			b.Fatalf("skynet sum %d", got)
		}
	}
}

const fibN = 25
const fibSpawns = 121392

func fib(n int) int {
	if n < 2 {
		return n
	}
	c := make(chan int, 1)
	go func() { c <- fib(n - 1) }()
	b := fib(n - 2)
	return <-c + b
}

func fibBench(b *testing.B) {
	for i := 0; i < b.N; i++ {
		if fib(fibN) != 75025 {
			b.Fatal("fib")
		}
	}
}

func rss() int64 {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data))
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// Bytes of resident memory per goroutine parked on a channel receive.
func idleMemory(n int) float64 {
	debug.FreeOSMemory()
	before := rss()
	block := make(chan struct{})
	var started sync.WaitGroup
	started.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			started.Done()
			<-block
		}()
	}
	started.Wait()
	time.Sleep(10 * time.Millisecond)
	after := rss()
	close(block)
	return float64(after-before) / float64(n)
}

func main() {
	reps := flag.Int("repetitions", 3, "runs of each benchmark")
	flag.Parse()
	out := json.NewEncoder(os.Stdout)
	emit := func(name string, ns float64, n int) {
		if n == 0 {
			fmt.Fprintf(os.Stderr, "%s: benchmark failed\n", name)
			os.Exit(1)
		}
		out.Encode(result{name, ns, n})
	}
	// perIter: operations per benchmark iteration (a yield iteration is
	// two switches, ours and the partner's; a skynet one 1,111,111 tasks).
	run := func(name string, procs int, f func(*testing.B), perIter float64) {
		runtime.GOMAXPROCS(procs)
		for r := 0; r < *reps; r++ {
			res := testing.Benchmark(f)
			emit(name, float64(res.T.Nanoseconds())/float64(res.N)/perIter, res.N)
		}
	}
	run("yield_pingpong", 1, yieldPingpong, 2)
	for _, w := range []int{1, 2} {
		run(fmt.Sprintf("spawn_join/workers:%d", w), w, spawnJoin, 1)
		run(fmt.Sprintf("skynet/workers:%d", w), w, skynetBench, skynetTasks)
		run(fmt.Sprintf("fib/workers:%d", w), w, fibBench, fibSpawns)
	}
	runtime.GOMAXPROCS(2)
	for r := 0; r < *reps; r++ {
		emit("idle_memory", idleMemory(100000), 100000)
	}
}
