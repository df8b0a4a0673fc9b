// Go's side of bench/run: the same workloads as weft's benchmarks, written
// the way Go programs write them (goroutines, channels, sync.Mutex, timers,
// net and net/http), behind the command line every peer of bench/run has:
//
//	go-peer list               the workloads this peer runs, one a line
//	go-peer bench NAME [-t S]  run one, print {"name","value","unit","iterations"}
//	go-peer serve echo|http PORT
//	                           serve on 127.0.0.1:PORT (0: any), print
//	                           "listening on 127.0.0.1:PORT"
//
// Micro benchmarks are timed by testing.Benchmark (-t sets its benchtime);
// a name's workers:N is GOMAXPROCS.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"testing"
	"time"
)

type workload struct {
	name    string
	procs   int
	bench   func(*testing.B)
	perIter float64 // operations per b.N iteration
	metric  string  // testing.BenchmarkResult.Extra key to report instead
}

type result struct {
	Name       string  `json:"name"`
	Value      float64 `json:"value"`
	Unit       string  `json:"unit"`
	Iterations int     `json:"iterations"`
}

func workloads() []workload {
	var ws []workload
	ws = append(ws, workload{"yield_pingpong", 1, yieldPingpong, 2, ""})
	for _, w := range []int{1, 2} {
		ws = append(ws,
			workload{fmt.Sprintf("spawn_join/workers:%d", w), w, spawnJoin, 1, ""},
			workload{fmt.Sprintf("skynet/workers:%d", w), w, skynetBench, skynetTasks, ""},
			workload{fmt.Sprintf("fib/workers:%d", w), w, fibBench, fibSpawns, ""},
			workload{fmt.Sprintf("sleep_cancel/workers:%d", w), w, sleepCancel, 1, "ns/sleeper"},
			workload{fmt.Sprintf("chan_pingpong/workers:%d", w), w, chanPingpong(0), 1, ""},
			workload{fmt.Sprintf("chan_pingpong_buffered/workers:%d", w), w, chanPingpong(16), 1, ""})
	}
	for _, wt := range [][2]int{{1, 4}, {2, 2}, {2, 4}} {
		ws = append(ws, workload{fmt.Sprintf("mutex_contended/workers:%d/tasks:%d", wt[0], wt[1]),
			wt[0], mutexContended(wt[1]), 1, "ns/lock"})
	}
	return ws
}

func emit(r result) {
	if err := json.NewEncoder(os.Stdout).Encode(r); err != nil {
		os.Exit(1)
	}
}

func main() {
	testing.Init()
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: go-peer list | bench NAME [-t SECONDS] | serve echo|http PORT")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "list":
		for _, w := range workloads() {
			fmt.Println(w.name)
		}
		fmt.Println("idle_memory")
	case "bench":
		fs := flag.NewFlagSet("bench", flag.ExitOnError)
		secs := fs.Float64("t", 0.2, "target seconds of each measurement")
		if len(os.Args) < 3 {
			os.Exit(2)
		}
		name := os.Args[2]
		fs.Parse(os.Args[3:])
		flag.Set("test.benchtime", time.Duration(*secs*float64(time.Second)).String())
		if name == "idle_memory" {
			runtime.GOMAXPROCS(2)
			emit(result{name, idleMemory(idleTasks), "B", idleTasks})
			return
		}
		for _, w := range workloads() {
			if w.name != name {
				continue
			}
			runtime.GOMAXPROCS(w.procs)
			res := testing.Benchmark(w.bench)
			if res.N == 0 {
				fmt.Fprintf(os.Stderr, "go-peer: %s failed\n", name)
				os.Exit(1)
			}
			ns := float64(res.T.Nanoseconds()) / float64(res.N) / w.perIter
			if w.metric != "" {
				ns = res.Extra[w.metric]
			}
			emit(result{name, ns, "ns", res.N})
			return
		}
		fmt.Fprintf(os.Stderr, "go-peer: no workload %q\n", name)
		os.Exit(2)
	case "serve":
		if len(os.Args) != 4 || !regexp.MustCompile(`^(echo|http)$`).MatchString(os.Args[2]) {
			os.Exit(2)
		}
		port, err := strconv.Atoi(os.Args[3])
		if err != nil {
			os.Exit(2)
		}
		if err := serve(os.Args[2], port); err != nil {
			fmt.Fprintln(os.Stderr, "go-peer:", err)
			os.Exit(1)
		}
	default:
		os.Exit(2)
	}
}
