package main

import (
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A switch is one Gosched that hands the one P to the other goroutine;
// an iteration is two switches (ours and the partner's).
func yieldPingpong(b *testing.B) {
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		for !stop.Load() {
			runtime.Gosched()
		}
		close(done)
	}()
	runtime.Gosched()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		runtime.Gosched()
	}
	b.StopTimer()
	stop.Store(true)
	<-done
}

// Spawn a goroutine and wait for its result, one at a time.
func spawnJoin(b *testing.B) {
	ch := make(chan int)
	for i := 0; i < b.N; i++ {
		go func(v int) { ch <- v }(i)
		if <-ch != i {
			b.Fatal("wrong result")
		}
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

// One half in a new goroutine, the other computed inline, as weft's BM_fib.
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

// One op: a goroutine arms an hour's timer and waits on it or on its
// cancellation; it is cancelled, stops the timer and is waited for. A batch
// of 100 is asleep at once, as in weft's BM_sleep_cancel.
const sleepBatch = 100

func sleepCancel(b *testing.B) {
	var asleep atomic.Int32
	var wg sync.WaitGroup
	cancel := make([]chan struct{}, sleepBatch)
	t0 := time.Now()
	for done := 0; done < b.N; done += sleepBatch {
		asleep.Store(0)
		wg.Add(sleepBatch)
		for i := range cancel {
			cancel[i] = make(chan struct{})
			go func(c chan struct{}) {
				t := time.NewTimer(time.Hour)
				asleep.Add(1)
				select {
				case <-t.C:
					b.Error("an hour passed")
				case <-c:
					t.Stop()
				}
				wg.Done()
			}(cancel[i])
		}
		for asleep.Load() < sleepBatch {
			runtime.Gosched()
		}
		for _, c := range cancel {
			close(c)
		}
		wg.Wait()
	}
	// b.N rounded up to whole batches: report per sleeper.
	n := (b.N + sleepBatch - 1) / sleepBatch * sleepBatch
	b.ReportMetric(float64(time.Since(t0).Nanoseconds())/float64(n), "ns/sleeper")
}

// One round trip: send on ping, the partner answers on pong.
func chanPingpong(capacity int) func(*testing.B) {
	return func(b *testing.B) {
		ping, pong := make(chan int64, capacity), make(chan int64, capacity)
		go func() {
			for v := range ping {
				pong <- v + 1
			}
		}()
		var v int64
		for i := 0; i < b.N; i++ {
			sent := v
			ping <- v
			v = <-pong
			if v != sent+1 {
				b.Fatalf("got %d after sending %d", v, sent)
			}
		}
		close(ping)
	}
}

// b.N lock/increment/unlock spread over g goroutines that start together.
func mutexContended(g int) func(*testing.B) {
	return func(b *testing.B) {
		var mu sync.Mutex
		var count int64
		per := b.N/g + 1
		var start, done sync.WaitGroup
		start.Add(1)
		done.Add(g)
		for k := 0; k < g; k++ {
			go func() {
				defer done.Done()
				start.Wait()
				for i := 0; i < per; i++ {
					mu.Lock()
					count++
					mu.Unlock()
				}
			}()
		}
		time.Sleep(time.Millisecond) // all parked at the start
		b.ResetTimer()
		t0 := time.Now()
		start.Done()
		done.Wait()
		elapsed := time.Since(t0)
		b.StopTimer()
		if count != int64(per*g) {
			b.Fatalf("count %d, want %d", count, per*g)
		}
		b.ReportMetric(float64(elapsed.Nanoseconds())/float64(per*g), "ns/lock")
	}
}

const idleTasks = 100000

func rss() int64 {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data))
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// Resident bytes per goroutine parked on a channel receive.
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
	after := rss()
	close(block)
	return float64(after-before) / float64(n)
}
