#!/usr/bin/python3
"""Print weft next to its peers from one bench/run, and draw the chart.

Reads bench/results/raw.json (bench/driver.py) and prints, per workload,
weft's median with its spread and, for every peer, the peer's median, its
spread and the ratio weft / peer of the medians. Costs (ns per operation,
bytes per task) are better lower: a ratio under 1 means weft did better.
Rates (req/s) are better higher: a ratio over 1 means weft did better. The
spread is ±half the range (max - min) of the rounds, in % of the median.
Then the issue's targets, each with its ratio and whether it is met; and
bench/results/bench.png, the ratios as a chart (python3-matplotlib).

    bench/compare.py [raw.json] [--markdown] [--wide] [--no-chart]

--wide prints one row per workload and one column per peer instead (each
cell: the peer's median and, in brackets, weft / peer), the summary the
README shows.
"""
import json
import os
import re
import statistics
import sys

PEER_ORDER = ["go", "tokio", "boost.context", "boost.fiber", "c-epoll", "asyncio", "uvloop", "nginx"]

# (label, workloads, peer or "fastest", bound, "le" | "ge"); ratios weft / peer.
TARGETS = [
    ("switch <= 1.0x Boost.Context", ["yield_pingpong"], "boost.context", 1.0, "le"),
    ("unbuffered channel ping-pong <= 0.5x Go",
     ["chan_pingpong/workers:1", "chan_pingpong/workers:2"], "go", 0.5, "le"),
    ("buffered channel ping-pong <= 0.5x Go",
     ["chan_pingpong_buffered/workers:1", "chan_pingpong_buffered/workers:2"], "go", 0.5, "le"),
    ("spawn+join <= 0.5x Go", ["spawn_join/workers:1", "spawn_join/workers:2"], "go", 0.5, "le"),
    ("skynet <= 0.5x Tokio", ["skynet/workers:1", "skynet/workers:2"], "tokio", 0.5, "le"),
    ("skynet <= 0.5x fastest peer", ["skynet/workers:1", "skynet/workers:2"], "fastest", 0.5, "le"),
    ("idle memory per parked task <= 1.6x Go", ["idle_memory"], "go", 1.6, "le"),
    ("echo req/s >= 1.0x C epoll loop", ["echo/pinned", "echo/unpinned"], "c-epoll", 1.0, "ge"),
    ("echo req/s >= 1.0x Go", ["echo/pinned", "echo/unpinned"], "go", 1.0, "ge"),
    ("echo req/s >= 1.0x Tokio", ["echo/pinned", "echo/unpinned"], "tokio", 1.0, "ge"),
    ("HTTP hello req/s >= 1.0x nginx", ["http/pinned", "http/unpinned"], "nginx", 1.0, "ge"),
]


def load(path):
    with open(path) as f:
        return json.load(f)


def summarise(results):
    """{workload: {impl: {"median", "spread", "n", "unit", extras..., "errors"}}}"""
    cells = {}
    for r in results:
        c = cells.setdefault(r["workload"], {}).setdefault(
            r["impl"], {"values": [], "errors": [], "extra": {}})
        if "error" in r:
            c["errors"].append(r["error"])
            continue
        c["values"].append(r["value"])
        c["unit"] = r["unit"]
        for k in ("p50_us", "p99_us", "client_cpu", "server_cpu", "server_us_per_req"):
            if r.get(k) is not None:
                c["extra"].setdefault(k, []).append(r[k])
    for w in cells.values():
        for c in w.values():
            xs = c["values"]
            if xs:
                c["median"] = statistics.median(xs)
                c["spread"] = (max(xs) - min(xs)) / 2 / c["median"] * 100 if c["median"] else 0
                c["extra"] = {k: statistics.median(v) for k, v in c["extra"].items()}
    return cells


def fmt(v):
    if v >= 100000:
        return "%.0f" % v
    if v >= 100:
        return "%.0f" % v
    if v >= 10:
        return "%.1f" % v
    return "%.2f" % v


def cell_text(c):
    if c is None:
        return None
    if "median" not in c:
        return "failed: " + (c["errors"][0][:60] if c["errors"] else "?")
    failed = " (%d failed)" % len(c["errors"]) if c["errors"] else ""
    return "%s ±%.0f%%%s" % (fmt(c["median"]), c["spread"], failed)


def ratio(cells, w, peer):
    wc, pc = cells.get(w, {}).get("weft"), cells.get(w, {}).get(peer)
    if not wc or not pc or "median" not in wc or "median" not in pc or not pc["median"]:
        return None
    return wc["median"] / pc["median"]


def peer_state(meta, peer, workload):
    """None (the peer does not run this workload), or "missing: why"."""
    v = meta["peers"].get(peer, "")
    if v.startswith("missing") and re.search(meta["covers"].get(peer, "$^"), workload):
        return v
    return None


def rows(data):
    """[(workload, unit, weft text, peer, peer text, ratio or None)]"""
    meta, cells = data["meta"], summarise(data["results"])
    out = []
    order = sorted(cells, key=lambda w: (w.split("/")[0] in ("echo", "http"), w))
    for w in order:
        wc = cells[w].get("weft")
        unit = (wc or {}).get("unit") or next((c.get("unit") for c in cells[w].values() if c.get("unit")), "")
        first = True
        peers = [p for p in PEER_ORDER if p in cells[w] or peer_state(meta, p, w)]
        for p in peers or [None]:
            if p is None:
                pt, r = "", None
            elif p in cells[w]:
                pt, r = cell_text(cells[w][p]), ratio(cells, w, p)
            else:
                pt, r = peer_state(meta, p, w), None
            out.append((w if first else "", unit if first else "",
                        cell_text(wc) if first else "", p or "", pt, r))
            first = False
    return out, cells


def targets(cells):
    out = []
    for label, ws, peer, bound, how in TARGETS:
        for w in ws:
            if w not in cells or "median" not in cells[w].get("weft", {}):
                out.append((label, w, "", None, "not measured"))
                continue
            p = peer
            if peer == "fastest":
                better = min if how == "le" else max
                cand = [(c["median"], q) for q, c in cells[w].items() if q != "weft" and "median" in c]
                if not cand:
                    out.append((label, w, "", None, "no peer measured"))
                    continue
                p = better(cand)[1]
            r = ratio(cells, w, p)
            if r is None:
                out.append((label, w, p, None, "peer not measured"))
                continue
            ok = r <= bound if how == "le" else r >= bound
            note = "met" if ok else "MISSED"
            if w.startswith("echo/") and how == "ge" and p in ("go", "tokio"):
                wp, pp = cells[w]["weft"]["extra"].get("p99_us"), cells[w][p]["extra"].get("p99_us")
                if wp and pp:
                    note += "; p99 %s vs %s us (%s)" % (fmt(wp), fmt(pp), "no worse" if wp <= pp * 1.05 else "WORSE")
            out.append((label, w, p, r, note))
    return out


def net_rows(cells):
    out = []
    for w in sorted(c for c in cells if c.split("/")[0] in ("echo", "http")):
        for impl in ["weft"] + PEER_ORDER:
            c = cells[w].get(impl)
            if not c or "median" not in c:
                continue
            e = c["extra"]
            out.append((w, impl, fmt(c["median"]), "%.0f%%" % c["spread"],
                        fmt(e.get("p50_us", 0)), fmt(e.get("p99_us", 0)),
                        "%.2f" % e.get("server_cpu", 0), "%.2f" % e.get("server_us_per_req", 0),
                        "%.2f" % e.get("client_cpu", 0)))
    return out


def print_table(header, body, md):
    if md:
        print("| " + " | ".join(header) + " |")
        print("|" + "|".join("---" for _ in header) + "|")
        for r in body:
            print("| " + " | ".join(r) + " |")
        return
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body)]
    for r in [header] + body:
        print("  ".join(str(x).ljust(wd) for x, wd in zip(r, widths)).rstrip())


def wide(data, cells, md):
    meta = data["meta"]
    order = sorted(cells, key=lambda w: (w.split("/")[0] in ("echo", "http"), w))
    peers = [p for p in PEER_ORDER if any(p in cells[w] or peer_state(meta, p, w) for w in order)]
    body = []
    for w in order:
        wc = cells[w].get("weft")
        row = [w, (wc or {}).get("unit", ""), cell_text(wc) or ""]
        for p in peers:
            if p in cells[w]:
                c, r = cells[w][p], ratio(cells, w, p)
                row.append(cell_text(c) if r is None else "%s (%.2f)" % (fmt(c["median"]), r))
            else:
                row.append(peer_state(meta, p, w) or "")
        body.append(row)
    print_table(["workload", "unit", "weft"] + peers, body, md)


def chart(data, cells, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("compare: no matplotlib (Debian: python3-matplotlib, for /usr/bin/python3); no chart",
              file=sys.stderr)
        return False
    # weft's advantage over each peer: peer cost / weft cost, or weft rate /
    # peer rate; right of 1 is weft doing better.
    bars = []
    for w in sorted(cells, key=lambda w: (w.split("/")[0] in ("echo", "http"), w)):
        for p in PEER_ORDER:
            r = ratio(cells, w, p)
            if r is None:
                continue
            adv = r if cells[w]["weft"].get("unit") == "req/s" else 1 / r
            bars.append(("%s  vs %s" % (w, p), adv))
    if not bars:
        return False
    bars.reverse()
    fig, ax = plt.subplots(figsize=(9, 0.22 * len(bars) + 1.2))
    colors = ["#3a7d44" if a >= 1 else "#b5473a" for _, a in bars]
    # Bars grow from 1 (parity): right when weft is better, left when not.
    ax.barh(range(len(bars)), [a - 1 for _, a in bars], left=1, color=colors)
    for y, (_, a) in enumerate(bars):
        ax.text(a * (1.06 if a >= 1 else 1 / 1.06), y, "%.2g" % a, va="center",
                ha="left" if a >= 1 else "right", fontsize=6)
    ax.set_yticks(range(len(bars)))
    ax.set_yticklabels([b for b, _ in bars], fontsize=7)
    ax.set_xscale("log")
    lo = min(a for _, a in bars)
    hi = max(a for _, a in bars)
    ax.set_xlim(min(lo, 0.5) / 2, max(hi, 2) * 2)
    ax.axvline(1, color="black", linewidth=0.8)
    ax.set_xlabel("weft's advantage (peer time / weft time; weft req/s / peer req/s); right of 1: weft better")
    m = data["meta"]
    ax.set_title("weft vs peers, %s, %d cores, %s (medians of %d rounds)" % (
        m["date"][:10], m["machine"]["cores"], "quick" if m["quick"] else "full", m["rounds"]), fontsize=9)
    ax.grid(axis="x", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def main(argv):
    md = "--markdown" in argv
    args = [a for a in argv if not a.startswith("--")]
    here = os.path.dirname(os.path.abspath(__file__))
    path = args[0] if args else os.path.join(here, "results", "raw.json")
    data = load(path)
    meta = data["meta"]
    body, cells = rows(data)
    if "--wide" in argv:
        wide(data, cells, md)
        return 0
    if not any(r[5] is not None for r in body):
        print("compare: no workload ran on both weft and a peer", file=sys.stderr)
    table = [(w, u, wt, p, pt or "", "" if r is None else "%.2f" % r) for w, u, wt, p, pt, r in body]
    print_table(["workload", "unit", "weft", "peer", "peer value", "weft/peer"], table, md)
    print()
    print("Network detail (medians): req/s, latency percentiles from the client, the server's CPU"
          " (cores) and per request (us), the client's CPU (cores):\n")
    print_table(["workload", "server", "req/s", "spread", "p50 us", "p99 us", "server cpu",
                 "server us/req", "client cpu"], net_rows(cells), md)
    print()
    print("Targets (ratio weft/peer of the medians above):\n")
    print_table(["target", "workload", "peer", "weft/peer", "verdict"],
                [(l, w, p, "" if r is None else "%.2f" % r, n) for l, w, p, r, n in targets(cells)], md)
    print()
    print("%s, %s; %d cores (%s), %s GiB, Linux %s; %d rounds%s, %d s; load average %.1f at the start, "
          "%.1f at the end." % (
              meta["date"], meta["machine"]["os"], meta["machine"]["cores"], meta["machine"]["cpu"],
              meta["machine"]["memory_gib"], meta["machine"]["kernel"], meta["rounds"],
              " (quick)" if meta["quick"] else "", meta["seconds"], meta["loadavg_start"][0],
              meta["loadavg_end"][0]))
    print("Peers: " + "; ".join("%s %s" % (p, v) for p, v in sorted(meta["peers"].items())) + ".")
    if "--no-chart" not in argv:
        png = os.path.join(os.path.dirname(path), "bench.png")
        if chart(data, cells, png):
            print("Chart: " + png)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
