// Go's side of weft-bench-sync (bench/sync.cc): the same channel ping-pong
// and contended mutex, timed with testing.Benchmark, printed as one JSON
// object per line: {"name": ..., "ns_per_op": ..., "iterations": ...}.
//
// Names match the weft benchmarks' arguments: chan_pingpong/<GOMAXPROCS>
// and mutex_contended/<GOMAXPROCS>/<goroutines>.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"
)

type result struct {
	Name       string  `json:"name"`
	NsPerOp    float64 `json:"ns_per_op"`
	Iterations int     `json:"iterations"`
}

// One round trip: send on ping, the partner answers on pong.
func chanPingpong(b *testing.B) {
	ping, pong := make(chan int64), make(chan int64)
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
		b.ResetTimer()
		t0 := time.Now()
		start.Done()
		done.Wait()
		elapsed := time.Since(t0)
		b.StopTimer()
		if count != int64(per*g) {
			b.Fatalf("count %d, want %d", count, per*g)
		}
		// ns/op is per b.N; we did per*g >= b.N locks: report per lock.
		b.ReportMetric(float64(elapsed.Nanoseconds())/float64(per*g), "ns/lock")
	}
}

func main() {
	reps := flag.Int("repetitions", 3, "runs of each benchmark")
	flag.Parse()
	out := json.NewEncoder(os.Stdout)
	run := func(name string, procs int, f func(*testing.B), metric string) {
		runtime.GOMAXPROCS(procs)
		for r := 0; r < *reps; r++ {
			res := testing.Benchmark(f)
			ns := float64(res.T.Nanoseconds()) / float64(res.N)
			if metric != "" {
				ns = res.Extra[metric]
			}
			if res.N == 0 {
				fmt.Fprintf(os.Stderr, "%s: benchmark failed\n", name)
				os.Exit(1)
			}
			out.Encode(result{name, ns, res.N})
		}
	}
	run("chan_pingpong/1", 1, chanPingpong, "")
	run("chan_pingpong/2", 2, chanPingpong, "")
	run("mutex_contended/1/4", 1, mutexContended(4), "ns/lock")
	run("mutex_contended/2/2", 2, mutexContended(2), "ns/lock")
	run("mutex_contended/2/4", 2, mutexContended(4), "ns/lock")
}
