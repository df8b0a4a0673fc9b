#!/usr/bin/python3
"""Check a weft trace (WEFT_TRACE) for tests/test-diag-trace.c: that it is
JSON in the Chrome trace-event format, that every span ends on the thread
that began it and spans of one thread do not overlap, that every thread is
named, and what the test expects to find (options). Prints what is wrong
and exits 1; exits 0 when all holds.
"""
import argparse
import json
import sys

errors = []


def fail(msg):
    errors.append(msg)


def reject_constant(name):
    raise ValueError(f"{name} is not JSON")


def ns(v):
    """Microseconds with three decimals, as weft writes them, to integer ns."""
    return round(v * 1000)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("trace")
    p.add_argument("--workers", type=int, required=True)
    p.add_argument("--names", default="", help="task names that must have run spans")
    p.add_argument("--absent", default="", help="task names that must not appear")
    p.add_argument("--instants", default="", help="instant event names that must appear")
    p.add_argument("--blocking", type=int, default=0,
                   help="exactly this many blocking-call spans on blocking-pool tracks")
    p.add_argument("--runs", type=int, help="exactly this many task run spans")
    p.add_argument("--parks", type=int, help="exactly this many park spans")
    p.add_argument("--steals", type=int, help="steal counts add up to this")
    p.add_argument("--timers", type=int, help="exactly this many timer instants")
    p.add_argument("--dropped", choices=("yes", "no"), default="no")
    a = p.parse_args()

    try:
        with open(a.trace, "rb") as f:
            doc = json.load(f, parse_constant=reject_constant)
    except (OSError, ValueError, UnicodeDecodeError) as e:
        print(f"trace-check: {a.trace}: not a JSON file: {e}")
        return 1
    if not isinstance(doc, dict) or not isinstance(doc.get("traceEvents"), list):
        print(f"trace-check: {a.trace}: no traceEvents array")
        return 1
    other = doc.get("otherData")
    if not isinstance(other, dict) or not isinstance(other.get("dropped_events"), int):
        fail("otherData.dropped_events missing")
        other = {"dropped_events": 0}

    thread_names = {}
    open_b = {}       # tid -> stack of (ts, name)
    spans = {}        # tid -> [(start_ns, end_ns, name)]
    run_names = {}    # task id -> name
    runs = parks = steals = timers = 0
    blocking = []
    instants = set()
    instant_tids = set()
    for i, ev in enumerate(doc["traceEvents"]):
        where = f"event {i}"
        if not isinstance(ev, dict):
            fail(f"{where}: not an object")
            continue
        ph, tid, name = ev.get("ph"), ev.get("tid"), ev.get("name")
        if not isinstance(ev.get("pid"), int) or not isinstance(tid, int):
            fail(f"{where}: pid/tid not integers: {ev}")
            continue
        if not isinstance(name, str) or not name:
            fail(f"{where}: no name: {ev}")
            continue
        if ph == "M":
            if name == "thread_name":
                thread_names[tid] = ev.get("args", {}).get("name")
            continue
        ts = ev.get("ts")
        if not isinstance(ts, (int, float)) or ts < 0:
            fail(f"{where}: bad ts: {ev}")
            continue
        args = ev.get("args", {})
        if ph == "B":
            open_b.setdefault(tid, []).append((ns(ts), name))
        elif ph == "E":
            stack = open_b.get(tid)
            if not stack:
                fail(f"{where}: E on tid {tid} without a B")
            else:
                t0, bname = stack.pop()
                spans.setdefault(tid, []).append((t0, ns(ts), bname))
        elif ph == "X":
            dur = ev.get("dur")
            if not isinstance(dur, (int, float)) or dur < 0:
                fail(f"{where}: bad dur: {ev}")
                continue
            spans.setdefault(tid, []).append((ns(ts), ns(ts) + ns(dur), name))
            cat = ev.get("cat")
            if cat == "task":
                runs += 1
                task = args.get("task")
                if not isinstance(task, int) or args.get("end") not in ("yield", "park", "exit"):
                    fail(f"{where}: run span without task id or end: {ev}")
                elif run_names.setdefault(task, name) != name:
                    fail(f"{where}: task {task} named both {run_names[task]!r} and {name!r}")
                if not 0 <= tid < a.workers:
                    fail(f"{where}: a task ran on tid {tid}, not a worker")
            elif cat == "worker" and name == "park":
                parks += 1
            elif cat == "blocking":
                blocking.append((tid, args.get("task")))
            else:
                fail(f"{where}: unknown span category {cat!r}")
        elif ph == "i":
            instants.add(name)
            instant_tids.add(tid)
            if ev.get("s") != "t":
                fail(f"{where}: instant not thread-scoped")
            if name == "steal":
                src, n = args.get("from"), args.get("count")
                if not isinstance(src, int) or not 0 <= src < a.workers or src == tid or \
                        not isinstance(n, int) or n < 1:
                    fail(f"{where}: bad steal: {ev}")
                else:
                    steals += n
            elif name == "timer":
                timers += 1
        else:
            fail(f"{where}: unexpected phase {ph!r}")

    for tid, stack in open_b.items():
        for t0, name in stack:
            fail(f"tid {tid}: B {name!r} at {t0} ns never ended")
    for tid, ss in spans.items():
        ss.sort()
        for prev, cur in zip(ss, ss[1:]):
            if cur[0] < prev[1]:
                fail(f"tid {tid}: {cur[2]!r} at {cur[0]} ns begins before "
                     f"{prev[2]!r} ends at {prev[1]} ns")
    used = set(spans) | {t for t in thread_names}
    for tid in used:
        if not isinstance(thread_names.get(tid), str):
            fail(f"tid {tid} has no thread_name")
    for w in range(a.workers):
        if thread_names.get(w) != f"worker {w}":
            fail(f"tid {w} is not named 'worker {w}': {thread_names.get(w)!r}")

    names = set(run_names.values())
    for n in filter(None, a.names.split(",")):
        if n not in names:
            fail(f"no run span named {n!r} (names: {sorted(names)[:20]})")
    for n in filter(None, a.absent.split(",")):
        if n in names:
            fail(f"a run span is named {n!r}, which must not be in this trace")
    for n in filter(None, a.instants.split(",")):
        if n not in instants:
            fail(f"no {n!r} instant (instants: {sorted(instants)})")
    if len(blocking) != a.blocking:
        fail(f"{len(blocking)} blocking-call spans, expected {a.blocking}")
    for tid, name in thread_names.items():
        if tid >= a.workers and tid not in spans and tid not in instant_tids:
            fail(f"thread {name!r} (tid {tid}) has no event")
    for tid, task in blocking:
        if not str(thread_names.get(tid, "")).startswith("blocking "):
            fail(f"a blocking call on tid {tid} ({thread_names.get(tid)!r}), not a pool thread")
        if task not in run_names:
            fail(f"a blocking call for task {task!r}, which never ran")
    for what, got, want in (("run spans", runs, a.runs), ("park spans", parks, a.parks),
                            ("stolen tasks", steals, a.steals), ("timer instants", timers, a.timers)):
        if want is not None and got != want:
            fail(f"{got} {what}, the runtime counted {want}")
    dropped = other["dropped_events"]
    if a.dropped == "yes" and (dropped <= 0 or "trace buffer full" not in instants):
        fail(f"expected dropped events: dropped_events={dropped}")
    if a.dropped == "no" and dropped != 0:
        fail(f"dropped_events={dropped}, expected none")

    for e in errors[:20]:
        print(f"trace-check: {e}")
    if len(errors) > 20:
        print(f"trace-check: ... and {len(errors) - 20} more")
    print(f"trace-check: {a.trace}: {len(doc['traceEvents'])} events, {runs} runs, "
          f"{parks} parks, {steals} stolen, {timers} timers, {len(blocking)} blocking calls, "
          f"{dropped} dropped: {'FAIL' if errors else 'ok'}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
