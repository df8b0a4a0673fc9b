#!/usr/bin/python3
"""The measuring half of bench/run (which installs packages and builds weft
first): builds the peers, runs every workload on weft and on each peer in
turn, round after round (A B C A B C ...), and writes every measurement to
bench/results/raw.json; bench/compare.py then prints the table and draws
the chart.

    bench/driver.py [--quick] [--rounds N] [--only micro|net] [--filter REGEX]

Peers (bench/peers/, built into build/peers/): Go, Tokio, Boost.Context,
Boost.Fiber, a bare C epoll loop, Python asyncio and uvloop, nginx. A peer
that cannot be built or is not installed is recorded as missing with the
reason, and the run goes on; a peer that fails one measurement has that
measurement recorded as failed. weft failing fails the run (exit 1).

Network workloads (loopback only, bounded in time) run in two
configurations: "pinned" (the server on core 0 with one thread: WEFT_WORKERS=1,
GOMAXPROCS=1, Tokio's current_thread runtime, nginx with one worker; the
client on core 1) and "unpinned" (no affinity, every server with its default
number of threads, one per core).
"""
import argparse
import datetime
import glob
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build", "release")
PEERS = os.path.join(ROOT, "build", "peers")
RESULTS = os.path.join(ROOT, "bench", "results")
NCPU = os.cpu_count() or 1

# Same optimisation as the release preset's (CMake's Release: -O3 -DNDEBUG).
CFLAGS = ["-O3", "-DNDEBUG"]

# Workloads each peer implements when it is present; a missing peer shows
# "missing: <why>" in these rows. Patterns are matched against names.
COVERS = {
    "go": r"^(?!blocking_roundtrip)",
    "tokio": r"^(?!chan_pingpong/)",
    "boost.context": r"^yield_pingpong$",
    "boost.fiber": r"^(yield_pingpong|spawn_join|fib|chan_pingpong|chan_pingpong_buffered|mutex_contended)/?",
    "c-epoll": r"^(echo|http)/",
    "asyncio": r"^echo/",
    "uvloop": r"^echo/",
    "nginx": r"^http/",
}


def log(*a):
    print("bench/driver:", *a, flush=True)


def run(cmd, timeout=300, env=None, cwd=None):
    """Run cmd; return (rc, stdout, stderr). A timeout is rc -9."""
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                           env=env, cwd=cwd)
        return p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        return -9, out, "timed out after %d s" % timeout
    except OSError as e:
        return -1, "", str(e)


def tail(text, n=300):
    text = " ".join(text.split())
    return text[-n:]


def dpkg_installed(pkg):
    if not shutil.which("dpkg"):
        return True
    rc, out, _ = run(["dpkg-query", "-W", "-f=${Status}", pkg], timeout=30)
    return rc == 0 and out.strip() == "install ok installed"


# ---- building the peers -----------------------------------------------------

class Missing(Exception):
    pass


def need_packages(*pkgs):
    missing = [p for p in pkgs if not dpkg_installed(p)]
    if missing:
        raise Missing("Debian package %s not installed" % ", ".join(missing))


def build_go():
    need_packages("golang-go")
    go = shutil.which("go") or "/usr/lib/go/bin/go"
    exe = os.path.join(PEERS, "go-peer")
    env = dict(os.environ, GOFLAGS="-mod=mod", GOPROXY="off", GO111MODULE="on",
               GOCACHE=os.path.join(PEERS, "go-cache"), GOPATH=os.path.join(PEERS, "gopath"))
    rc, out, err = run([go, "build", "-trimpath", "-o", exe, "."], env=env,
                       cwd=os.path.join(ROOT, "bench", "peers", "go"))
    if rc != 0:
        raise Missing("go build failed: " + tail(err))
    _, v, _ = run([go, "version"])
    return [exe], v.strip().replace("go version ", "")


def build_tokio():
    need_packages("librust-tokio-dev")
    # Debian's crate sources as the only registry, offline, through a
    # CARGO_HOME of our own (the user's ~/.cargo is left alone). The cargo
    # first on PATH: Debian 12's cargo 1.65 is older than some of these
    # crates want; a newer toolchain builds them.
    cargo = shutil.which("cargo") or next(
        (c for c in (os.path.expanduser("~/.cargo/bin/cargo"), "/usr/bin/cargo")
         if os.access(c, os.X_OK)), None)
    if not cargo:
        raise Missing("no cargo on PATH, in ~/.cargo/bin or /usr/bin (Debian: cargo)")
    home = os.path.join(PEERS, "cargo-home")
    src = os.path.join(PEERS, "tokio-src")
    os.makedirs(home, exist_ok=True)
    with open(os.path.join(home, "config.toml"), "w") as f:
        f.write('[source.crates-io]\nreplace-with = "debian"\n'
                '[source.debian]\ndirectory = "/usr/share/cargo/registry"\n'
                '[net]\noffline = true\n')
    # Built from a copy, so that the Cargo.lock cargo writes stays out of
    # the source tree.
    shutil.rmtree(src, ignore_errors=True)
    shutil.copytree(os.path.join(ROOT, "bench", "peers", "tokio"), src)
    # rustc from beside that cargo first (a rustup toolchain, or Debian's).
    env = dict(os.environ, CARGO_HOME=home, CARGO_TARGET_DIR=os.path.join(PEERS, "tokio-target"),
               PATH=os.path.dirname(cargo) + os.pathsep + os.environ.get("PATH", ""))
    rc, out, err = run([cargo, "build", "--release", "--offline", "--quiet"], env=env,
                       cwd=src, timeout=900)
    if rc != 0:
        raise Missing("cargo build failed: " + tail(err))
    exe = os.path.join(PEERS, "tokio-target", "release", "tokio-peer")
    with open(os.path.join(src, "Cargo.lock")) as f:
        ver = re.search(r'name = "tokio"\nversion = "([^"]+)"', f.read())
    _, rv, _ = run(["rustc", "--version"], env=env)
    return [exe], "tokio %s, %s" % (ver.group(1) if ver else "?", " ".join(rv.split()[:2]))


def build_boost():
    need_packages("libboost-fiber-dev", "libboost-context-dev", "g++")
    exe = os.path.join(PEERS, "boost-peer")
    rc, out, err = run(["g++", "-std=c++17", *CFLAGS, "-Wall", "-Wextra", "-o", exe,
                        os.path.join(ROOT, "bench", "peers", "boost", "boost_peer.cc"),
                        "-lboost_fiber", "-lboost_context", "-pthread"], timeout=600)
    if rc != 0:
        raise Missing("g++ failed: " + tail(err))
    rc, out, _ = run(["dpkg-query", "-W", "-f=${Version}", "libboost-fiber-dev"])
    return exe, "Boost " + (out.strip() or "?")


def build_cepoll():
    exe = os.path.join(PEERS, "epoll-server")
    rc, out, err = run(["gcc", "-std=c11", *CFLAGS, "-Wall", "-Wextra", "-o", exe,
                        os.path.join(ROOT, "bench", "peers", "c", "epoll_server.c")])
    if rc != 0:
        raise Missing("gcc failed: " + tail(err))
    return [exe], "gcc " + run(["gcc", "-dumpfullversion"])[1].strip()


def python_peer(uv):
    py = "/usr/bin/python3"
    if not os.access(py, os.X_OK):
        raise Missing("no /usr/bin/python3 (Debian: python3)")
    if uv:
        need_packages("python3-uvloop")
        rc, out, err = run([py, "-c", "import uvloop; print(uvloop.__version__)"])
        if rc != 0:
            raise Missing("import uvloop failed: " + tail(err))
        ver = "uvloop " + out.strip()
    else:
        ver = "Python " + run([py, "-c", "import platform; print(platform.python_version())"])[1].strip()
    return [py, os.path.join(ROOT, "bench", "peers", "python", "asyncio_echo.py")], ver


def nginx_peer():
    need_packages("nginx")
    exe = shutil.which("nginx") or "/usr/sbin/nginx"
    _, _, err = run([exe, "-v"])
    return [exe], err.strip().replace("nginx version: ", "")


def build_peers():
    """{peer: {"cmd": [...], "version": str} or {"missing": why}}"""
    os.makedirs(PEERS, exist_ok=True)
    peers = {}

    def attempt(name, fn):
        t0 = time.time()
        try:
            cmd, ver = fn()
            peers[name] = {"cmd": cmd, "version": ver}
            log("peer %-13s %s (%.0f s)" % (name, ver, time.time() - t0))
        except Missing as e:
            peers[name] = {"missing": str(e)}
            log("peer %-13s MISSING: %s" % (name, e))

    attempt("go", build_go)
    attempt("tokio", build_tokio)
    try:
        exe, ver = build_boost()
        peers["boost.context"] = {"cmd": [exe, "context"], "version": ver}
        peers["boost.fiber"] = {"cmd": [exe, "fiber"], "version": ver}
        log("peer boost.*        %s" % ver)
    except Missing as e:
        peers["boost.context"] = peers["boost.fiber"] = {"missing": str(e)}
        log("peer boost.*        MISSING: %s" % e)
    attempt("c-epoll", build_cepoll)
    attempt("asyncio", lambda: python_peer(False))
    attempt("uvloop", lambda: python_peer(True))
    attempt("nginx", nginx_peer)
    return peers


# ---- micro benchmarks ---------------------------------------------------------

# The per-operation counter each weft benchmark reports, and its unit.
COUNTERS = {"ns_per_switch": "ns", "ns_per_spawn_join": "ns", "ns_per_task": "ns",
            "ns_per_spawn": "ns", "ns_per_op": "ns", "ns_per_roundtrip": "ns",
            "ns_per_lock": "ns", "ns_per_call": "ns", "bytes_per_task": "B"}


def weft_micro_list():
    """{workload: executable} from every weft-bench-* of the release build."""
    found = {}
    for exe in sorted(glob.glob(os.path.join(BUILD, "bench", "weft-bench-*"))):
        if not os.access(exe, os.X_OK):
            continue
        rc, out, err = run([exe, "--benchmark_list_tests"])
        if rc != 0:
            raise SystemExit("bench/driver: %s --benchmark_list_tests failed: %s" % (exe, tail(err)))
        for line in out.split():
            found[workload_of(line)] = exe
    return found


def workload_of(gb_name):
    name = re.sub(r"^BM_", "", gb_name)
    name = re.sub(r"/iterations:\d+", "", name)
    return re.sub(r"(/process_time|/real_time|/repeats:\d+)+$", "", name)


def weft_micro(exe, name, secs):
    rc, out, err = run([exe, "--benchmark_filter=^BM_%s/" % re.escape(name),
                        "--benchmark_min_time=%g" % secs, "--benchmark_format=json"], timeout=300)
    if rc != 0:
        return {"error": "exit %d: %s" % (rc, tail(err))}
    try:
        b = [x for x in json.loads(out)["benchmarks"] if x.get("run_type", "iteration") == "iteration"]
    except (ValueError, KeyError) as e:
        return {"error": "bad JSON from %s: %s" % (exe, e)}
    if len(b) != 1:
        return {"error": "%d results for %s" % (len(b), name)}
    b = b[0]
    if b.get("error_occurred"):
        return {"error": b.get("error_message", "error")}
    for c, unit in COUNTERS.items():
        if c in b:
            return {"value": b[c] * (1 if unit == "B" else 1e9), "unit": unit,
                    "iterations": b.get("iterations")}
    return {"error": "no per-op counter in %s" % name}


def peer_micro(cmd, name, secs):
    rc, out, err = run(cmd + ["bench", name, "-t", "%g" % secs], timeout=300)
    if rc != 0:
        return {"error": "exit %d: %s" % (rc, tail(err))}
    try:
        r = json.loads(out.strip().splitlines()[-1])
        return {"value": float(r["value"]), "unit": r["unit"], "iterations": r.get("iterations")}
    except (ValueError, KeyError, IndexError) as e:
        return {"error": "bad output %r: %s" % (tail(out, 100), e)}


def peer_list(cmd):
    rc, out, err = run(cmd + ["list"], timeout=60)
    if rc != 0:
        raise Missing("%s list failed: %s" % (" ".join(cmd), tail(err)))
    return out.split()


# ---- network benchmarks ---------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_tree_cpu(root):
    """CPU seconds (user + system) of root and all its descendants."""
    kids, ticks = {}, {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(d)
        kids.setdefault(int(fields[1]), []).append(pid)
        ticks[pid] = int(fields[11]) + int(fields[12])
    total, todo = 0, [root]
    while todo:
        p = todo.pop()
        total += ticks.get(p, 0)
        todo += kids.get(p, [])
    return total / os.sysconf("SC_CLK_TCK")


class Server:
    """A server under test, started in its own process group."""

    def __init__(self, cmd, env, pinned, tmp, port=None, ready_timeout=10):
        self.cmd = (["taskset", "-c", "0"] if pinned else []) + cmd
        self.out = open(os.path.join(tmp, "server.out"), "w+")
        self.err = open(os.path.join(tmp, "server.err"), "w+")
        self.p = subprocess.Popen(self.cmd, stdout=self.out, stderr=self.err,
                                  env=dict(os.environ, **env), start_new_session=True)
        deadline = time.time() + ready_timeout
        self.port = port
        while time.time() < deadline:
            if self.p.poll() is not None:
                raise RuntimeError("server exited %d: %s" % (self.p.returncode, self.stderr()))
            if port is None:
                self.out.seek(0)
                m = re.search(r"listening on .*:(\d+)", self.out.read())
                if m:
                    self.port = int(m.group(1))
                    return
            else:
                with socket.socket() as s:
                    if s.connect_ex(("127.0.0.1", port)) == 0:
                        return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("server did not start in %d s: %s" % (ready_timeout, self.stderr()))

    def stderr(self):
        self.err.seek(0)
        return tail(self.err.read())

    def stop(self):
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, signal.SIGTERM)
                self.p.wait(timeout=5)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                try:
                    os.killpg(self.p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.p.wait()
        self.out.close()
        self.err.close()


def nginx_conf(tmp, port, workers):
    path = os.path.join(tmp, "nginx.conf")
    with open(path, "w") as f:
        f.write("""daemon off;
worker_processes %s;
pid %s/nginx.pid;
error_log %s/nginx-error.log;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path %s;
    proxy_temp_path %s;
    fastcgi_temp_path %s;
    uwsgi_temp_path %s;
    scgi_temp_path %s;
    keepalive_requests 100000000;
    server {
        listen 127.0.0.1:%d;
        location = / { default_type "text/plain; charset=utf-8"; return 200 "Hello, World!"; }
    }
}
""" % (workers, tmp, tmp, tmp, tmp, tmp, tmp, tmp, port))
    return path


def server_command(impl, what, pinned, peers, tmp):
    """(cmd, env, fixed port or None) for impl serving `what`."""
    if impl == "weft":
        exe = os.path.join(BUILD, "examples", what)
        return [exe, "--port", "0"], ({"WEFT_WORKERS": "1"} if pinned else {}), None
    cmd = peers[impl]["cmd"]
    if impl == "go":
        return cmd + ["serve", what, "0"], ({"GOMAXPROCS": "1"} if pinned else {}), None
    if impl == "tokio":
        return cmd + ["serve", what, "0"] + (["--threads", "1"] if pinned else []), {}, None
    if impl == "c-epoll":
        return cmd + [what, "0"], {}, None
    if impl in ("asyncio", "uvloop"):
        return cmd + ["0"] + (["--uvloop"] if impl == "uvloop" else []), {}, None
    if impl == "nginx":
        port = free_port()
        conf = nginx_conf(tmp, port, 1 if pinned else "auto")
        return cmd + ["-p", tmp, "-c", conf], {}, port
    raise ValueError(impl)


def run_client(cmd, pinned, timeout):
    """Run a load client; return (stdout, stderr, rc, cpu seconds, wall)."""
    cmd = (["taskset", "-c", "1"] if pinned else []) + cmd
    t0 = time.time()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        p = subprocess.Popen(cmd, stdout=out, stderr=err)
        try:
            deadline = t0 + timeout
            while True:
                pid, status, ru = os.wait4(p.pid, os.WNOHANG)
                if pid:
                    break
                if time.time() > deadline:
                    p.kill()
                    pid, status, ru = os.wait4(p.pid, 0)
                    break
                time.sleep(0.02)
        finally:
            p.returncode = os.waitstatus_to_exitcode(status) if pid else -9
        out.seek(0)
        err.seek(0)
        return out.read(), err.read(), p.returncode, ru.ru_utime + ru.ru_stime, time.time() - t0


def wrk_us(text):
    m = re.match(r"([\d.]+)(us|ms|s)$", text)
    if not m:
        return None
    return float(m.group(1)) * {"us": 1, "ms": 1e3, "s": 1e6}[m.group(2)]


def net_measure(impl, workload, peers, secs, warmup, tmp):
    what, config = workload.split("/")
    pinned = config == "pinned"
    try:
        cmd, env, port = server_command(impl, what, pinned, peers, tmp)
        srv = Server(cmd, env, pinned, tmp, port)
    except (RuntimeError, OSError) as e:
        return {"error": str(e)}
    try:
        if what == "echo":
            client = [os.path.join(BUILD, "bench", "weft-echo-load"), "--port", str(srv.port),
                      "-c", "64", "-s", "64", "-d", "%g" % secs, "-w", "%g" % warmup]
        else:
            # wrk has no warm-up: a short run first, not counted.
            url = "http://127.0.0.1:%d/" % srv.port
            run((["taskset", "-c", "1"] if pinned else []) +
                ["wrk", "-t1", "-c64", "-d%ds" % warmup, url], timeout=30)
            client = ["wrk", "-t1", "-c64", "-d%ds" % secs, "--latency", url]
        cpu0 = proc_tree_cpu(srv.p.pid)
        out, err, rc, client_cpu, wall = run_client(client, pinned, secs + warmup + 30)
        server_cpu = proc_tree_cpu(srv.p.pid) - cpu0
        if srv.p.poll() is not None:
            return {"error": "server died: " + srv.stderr()}
        if rc != 0:
            return {"error": "client exit %d: %s" % (rc, tail(err or out))}
        if what == "echo":
            r = json.loads(out.strip().splitlines()[-1])
            res = {"value": r["req_per_s"], "p50_us": r["p50_us"], "p99_us": r["p99_us"],
                   "client_cpu": r["client_cpu"], "requests": r["requests"]}
        else:
            m = re.search(r"Requests/sec:\s*([\d.]+)", out)
            p50 = re.search(r"^\s*50%\s+(\S+)", out, re.M)
            p99 = re.search(r"^\s*99%\s+(\S+)", out, re.M)
            if not m or not p50 or not p99:
                return {"error": "cannot read wrk's output: " + tail(out)}
            if re.search(r"Socket errors|Non-2xx", out):
                return {"error": "wrk saw errors: " + tail(out)}
            res = {"value": float(m.group(1)), "p50_us": wrk_us(p50.group(1)),
                   "p99_us": wrk_us(p99.group(1)), "client_cpu": client_cpu / wall}
        res["unit"] = "req/s"
        # Server CPU over the client's whole run (warm-up included), in cores.
        res["server_cpu"] = server_cpu / max(wall, 1e-9)
        res["server_us_per_req"] = res["server_cpu"] / max(res["value"], 1e-9) * 1e6
        return res
    except (ValueError, KeyError, IndexError, OSError) as e:
        return {"error": "%s: %s" % (type(e).__name__, e)}
    finally:
        srv.stop()


NET_IMPLS = {
    "echo": ["weft", "c-epoll", "go", "tokio", "asyncio", "uvloop"],
    "http": ["weft", "c-epoll", "go", "tokio", "nginx"],
}


# ---- the run ------------------------------------------------------------------

def machine():
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"model name\s*:\s*(.*)", f.read())
            model = m.group(1).strip() if m else model
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {"cpu": model, "cores": NCPU, "memory_gib": round(mem, 1),
            "kernel": platform.release(), "os": platform.freedesktop_os_release().get("PRETTY_NAME", "?")
            if hasattr(platform, "freedesktop_os_release") else "?",
            "compiler": run(["gcc", "--version"])[1].splitlines()[0] if shutil.which("gcc") else "?"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", default=os.environ.get("WEFT_BENCH_QUICK") == "1")
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--only", choices=["micro", "net"])
    ap.add_argument("--filter", default="", help="run only the workloads matching this regex")
    ap.add_argument("--results", default=RESULTS)
    args = ap.parse_args()

    quick = args.quick
    # Other work on a shared machine takes cores away from the measured
    # processes at random; as root, every process of this run (weft, the
    # peers, the load clients: all inherit it) gets a better priority than
    # that work. The same for all, so no side gains over another.
    try:
        os.nice(-10)
        niced = True
    except OSError:
        niced = False
    rounds = args.rounds or (1 if quick else 5)
    micro_secs = 0.02 if quick else 0.2
    # wrk takes whole seconds.
    net_secs, net_warmup = (1, 1) if quick else (3, 1)
    os.makedirs(args.results, exist_ok=True)
    path = os.path.join(args.results, "raw.json")
    if os.path.exists(path):
        os.remove(path)  # no stale table if this run stops early
    t_start = time.time()

    peers = build_peers()
    micro_peers = ["go", "tokio", "boost.context", "boost.fiber"]
    covers = {}
    for p in micro_peers:
        if "cmd" in peers[p]:
            try:
                covers[p] = set(peer_list(peers[p]["cmd"]))
            except Missing as e:
                peers[p] = {"missing": str(e)}

    sel = re.compile(args.filter)
    weft_list = {} if args.only == "net" else weft_micro_list()
    micro = [w for w in weft_list if sel.search(w)]
    net = [] if args.only == "micro" else [
        "%s/%s" % (what, cfg) for what in ("echo", "http") for cfg in ("pinned", "unpinned")]
    net = [w for w in net if sel.search(w)]
    if NCPU < 2 and net:
        log("fewer than 2 cores: the pinned configuration pins server and client to one core")

    results = []
    meta = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "quick": quick, "rounds": rounds, "micro_seconds": micro_secs,
            "net_seconds": net_secs, "net_warmup": net_warmup, "machine": machine(),
            "loadavg_start": os.getloadavg(),
            "peers": {p: v.get("version") or "missing: " + v["missing"] for p, v in peers.items()},
            "covers": COVERS,
            "net_impls": NET_IMPLS,
            "connections": 64, "message_bytes": 64, "nice": -10 if niced else 0}
    log("%d micro and %d network workloads, %d rounds%s" % (
        len(micro), len(net), rounds, " (quick)" if quick else ""))
    weft_failed = []

    def record(res, w, impl, r):
        res.update(workload=w, impl=impl, round=r)
        results.append(res)
        if "error" in res:
            log("%s %s: FAILED: %s" % (impl, w, res["error"]))
            if impl == "weft":
                weft_failed.append(w)

    tmp = tempfile.mkdtemp(prefix="weft-bench-")
    try:
        for r in range(rounds):
            t_round = time.time()
            for w in micro:
                impls = [("weft", None)] + [(p, peers[p]["cmd"]) for p in micro_peers
                                            if p in covers and w in covers[p]]
                for impl, cmd in impls:
                    record(weft_micro(weft_list[w], w, micro_secs) if impl == "weft"
                           else peer_micro(cmd, w, micro_secs), w, impl, r)
            for w in net:
                what = w.split("/")[0]
                for impl in NET_IMPLS[what]:
                    if impl != "weft" and "cmd" not in peers[impl]:
                        continue
                    record(net_measure(impl, w, peers, net_secs, net_warmup, tmp), w, impl, r)
            log("round %d/%d done in %.0f s" % (r + 1, rounds, time.time() - t_round))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    meta["seconds"] = round(time.time() - t_start)
    meta["loadavg_end"] = os.getloadavg()
    with open(path, "w") as f:
        json.dump({"meta": meta, "results": results}, f, indent=1)
    log("wrote %s (%d measurements, %.0f s)" % (path, len(results), time.time() - t_start))
    if weft_failed:
        log("weft failed: " + ", ".join(sorted(set(weft_failed))))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
