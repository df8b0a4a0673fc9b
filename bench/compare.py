#!/usr/bin/env python3
"""Set weft's numbers next to its peers' from one bench/run.

Reads bench/results/weft-bench-*.json (Google Benchmark, every repetition)
and bench/results/<peer>-*.jsonl (one {"name", "ns_per_op"} object per
repetition, written by the peer programs under bench/peers/), matches them
by name (weft's "BM_chan_pingpong/2/process_time/real_time" is
"chan_pingpong/2"), and prints, per benchmark, the median cost per operation
(ns; bytes for idle_memory) of each side with its spread (min..max over
the repetitions) and the ratio peer / weft (above 1: weft is better).

Usage: bench/compare.py [results-dir] [--markdown]
"""
import glob
import json
import os
import re
import statistics
import sys

# The per-operation counter each weft benchmark reports (seconds per op).
COUNTERS = ("ns_per_roundtrip", "ns_per_lock", "ns_per_switch", "ns_per_call",
            "ns_per_spawn_join", "ns_per_task", "ns_per_spawn", "ns_per_op",
            "bytes_per_task")


def weft_runs(results):
    runs = {}
    for path in sorted(glob.glob(os.path.join(results, "weft-bench-*.json"))):
        with open(path) as f:
            data = json.load(f)
        for b in data.get("benchmarks", []):
            if b.get("run_type") != "iteration" or b.get("error_occurred"):
                continue
            counter = next((c for c in COUNTERS if c in b), None)
            if counter is None:
                continue
            name = re.sub(r"^BM_", "", b["run_name"])
            name = re.sub(r"(/process_time|/real_time)+$", "", name)
            name = re.sub(r"/iterations:\d+", "", name)
            # Rates are seconds per op (kIsRate | kInvert); sizes are as is.
            scale = 1 if counter.startswith("bytes") else 1e9
            runs.setdefault(name, []).append(b[counter] * scale)
    return runs


def peer_runs(results):
    peers = {}
    for path in sorted(glob.glob(os.path.join(results, "*.jsonl"))):
        peer = os.path.basename(path).split("-", 1)[0]
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                r = json.loads(line)
                peers.setdefault(peer, {}).setdefault(r["name"], []).append(r["ns_per_op"])
    return peers


def summary(xs):
    return statistics.median(xs), min(xs), max(xs)


def main(argv):
    md = "--markdown" in argv
    args = [a for a in argv if not a.startswith("--")]
    results = args[0] if args else os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
    weft = weft_runs(results)
    rows = []
    for peer, named in sorted(peer_runs(results).items()):
        for name, xs in sorted(named.items()):
            if name not in weft:
                continue
            w, p = summary(weft[name]), summary(xs)
            rows.append((name, peer, w, p, p[0] / w[0], len(weft[name]), len(xs)))
    if not rows:
        print("compare: no benchmark ran on both weft and a peer", file=sys.stderr)
        return 1
    if md:
        print("| benchmark | weft per op (min..max) | peer | peer per op (min..max) | peer / weft |")
        print("|---|---|---|---|---|")
        for name, peer, w, p, ratio, nw, np in rows:
            print(f"| {name} | {w[0]:.1f} ({w[1]:.1f}..{w[2]:.1f}) | {peer} | "
                  f"{p[0]:.1f} ({p[1]:.1f}..{p[2]:.1f}) | {ratio:.2f} |")
    else:
        print(f"{'benchmark':<24} {'weft per op (min..max)':>26}  {'peer':<5} "
              f"{'peer per op (min..max)':>26}  peer/weft")
        for name, peer, w, p, ratio, nw, np in rows:
            print(f"{name:<24} {w[0]:>9.1f} ({w[1]:>6.1f}..{w[2]:>6.1f})  {peer:<5} "
                  f"{p[0]:>9.1f} ({p[1]:>6.1f}..{p[2]:>6.1f})  {ratio:9.2f}")
        print(f"(ns per operation, bytes for idle_memory; medians of {rows[0][5]} weft "
              f"and {rows[0][6]} peer repetitions, measured in the same bench/run)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
