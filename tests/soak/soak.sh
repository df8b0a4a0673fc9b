#!/usr/bin/env bash
# Soak: the echo and http examples under a sanitizer, driven for a while by
# weft-soak-client (many connections that open, exchange random payloads
# whose every byte is checked, and close cleanly, half-closed, reset or
# after idling), while the server's RSS, fds and threads are sampled.
#
#   tests/soak/soak.sh [--seconds N] [--conns N] [--seed N] [--build-dir DIR]
#                      [--samples DIR] [echo] [http]
#
# Defaults: 60 s (or $WEFT_SOAK_SECONDS) per example, 64 connections at a
# time, both examples, the asan preset (configured and its three programs
# built first; a --build-dir is used as it is). --samples DIR keeps the
# samples (one line per half second: ms, RSS kB, fds, threads) as
# DIR/NAME.samples. CTest runs an 8 s version in the asan preset
# (soak.echo, soak.http). WEFT_POLLER=poll soaks the poll(2) backend.
#
# An example fails its soak on: any client-side failure (a byte that
# differs, a wrong status or length, an unexpected EOF or error); any
# sanitizer report; RSS growing by more than RSS_BOUND_MB (8 MiB) from the
# end of the warm-up (the first quarter of the run, at least 2 s) to the
# end of the load (docs/testing.md says why 8); the fd count not back to its
# baseline within 15 s of the client's exit; or a SIGTERM that does not end
# the server with status 0 within 10 s.
set -u
cd "$(dirname "$(readlink -f "$0")")/../.."

seconds=${WEFT_SOAK_SECONDS:-60}
conns=64
seed=1
build=
examples=()
keep=
# Allowed RSS growth after warm-up: see docs/testing.md ("soak") for why.
RSS_BOUND_MB=${WEFT_SOAK_RSS_BOUND_MB:-8}

usage() { sed -n '2,/^set -u/{/^set -u/d;s/^# \{0,1\}//;p}' "$0"; }
while (($#)); do
    case $1 in
    --seconds) seconds=$2; shift 2 ;;
    --conns) conns=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --build-dir) build=$2; shift 2 ;;
    --samples) keep=$2; shift 2 ;;
    echo | http) examples+=("$1"); shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
    esac
done
((${#examples[@]})) || examples=(echo http)

if [[ -z $build ]]; then
    build=build/asan
    echo "soak: building the asan preset (echo http weft-soak-client)"
    { cmake --preset asan && cmake --build --preset asan -j"$(nproc)" \
        --target echo http weft-soak-client; } >/dev/null ||
        { echo "soak: build failed" >&2; exit 2; }
fi
client=$build/tests/soak/weft-soak-client
for prog in "${examples[@]/#/$build/examples/}" "$client"; do
    [[ -x $prog ]] || { echo "soak: no $prog" >&2; exit 2; }
done

# The ctest asan preset sets these too; standalone runs get the same.
# ASan keeps freed memory in a quarantine (256 MiB by default) and the RSS
# grows until it is full: slowly where a connection frees little (the echo
# server: ~400 KB/s, so for ten minutes), which looks like a leak. Capped
# at 4 MiB, it fills within the warm-up, or adds at most 4 MiB.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
[[ $ASAN_OPTIONS == *quarantine_size_mb* ]] || ASAN_OPTIONS+=:quarantine_size_mb=4
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

dir=$(mktemp -d)
pid=
cpid=
cleanup() {
    [[ -n $cpid ]] && kill -9 "$cpid" 2>/dev/null
    [[ -n $pid ]] && kill -9 "$pid" 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
threads() { awk '/^Threads:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
nfds() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }
sanitizer_report() { grep -E "ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: " "$1"; }

# soak_one NAME: 0 when every check passed.
soak_one() {
    local ex=$1 fails=0
    local out=$dir/$ex.out err=$dir/$ex.err samples=$dir/$ex.samples
    local args=(--port 0)
    if [[ $ex == http ]]; then
        mkdir -p "$dir/www"
        "$client" make-static "$dir/www" || return 1
        args+=(--static "$dir/www" --idle-timeout 1)
    fi
    "$build/examples/$ex" "${args[@]}" >"$out" 2>"$err" &
    pid=$!
    local port=
    for _ in $(seq 200); do
        port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$out")
        [[ -n $port ]] && break
        sleep 0.05
    done
    if [[ -z $port ]]; then
        echo "soak $ex: FAIL: no 'listening on' line" >&2
        cat "$err" >&2
        return 1
    fi
    local base_fds base_rss base_thr
    base_fds=$(nfds "$pid")
    base_rss=$(rss_kb "$pid")
    base_thr=$(threads "$pid")
    ls -l "/proc/$pid/fd" >"$dir/$ex.fds.before" 2>/dev/null

    # The client gives up on a connection after 30 s; timeout is a backstop.
    timeout -k 5 $((seconds + 120)) \
        "$client" "$ex" --port "$port" --seconds "$seconds" --conns "$conns" --seed "$seed" \
        >"$dir/$ex.client" 2>&1 &
    cpid=$!
    local t0=$SECONDS
    : >"$samples"
    # One sample every half second while the client runs: seconds since
    # the start, RSS in kB, fds, threads.
    local start_ns
    start_ns=$(date +%s%N)
    while kill -0 "$cpid" 2>/dev/null; do
        printf '%s %s %s %s\n' "$((($(date +%s%N) - start_ns) / 1000000))" \
            "$(rss_kb "$pid")" "$(nfds "$pid")" "$(threads "$pid")" >>"$samples"
        sleep 0.5
    done
    wait "$cpid"
    local crc=$?
    cpid=
    cat "$dir/$ex.client"
    if ((crc != 0)); then
        echo "soak $ex: FAIL: the client reported failures (exit $crc)" >&2
        fails=1
    fi

    # fds back to the baseline once the client has gone (its exit closes
    # every connection; http's idle timeout is 1 s).
    local fds_after
    for _ in $(seq 150); do
        fds_after=$(nfds "$pid")
        ((fds_after == base_fds)) && break
        sleep 0.1
    done
    if ((fds_after != base_fds)); then
        echo "soak $ex: FAIL: $fds_after fds 15 s after the load, $base_fds before" >&2
        ls -l "/proc/$pid/fd" 2>/dev/null | diff "$dir/$ex.fds.before" - >&2
        fails=1
    fi
    local rss_idle thr_idle
    rss_idle=$(rss_kb "$pid")
    thr_idle=$(threads "$pid")

    # RSS: the sample at the end of the warm-up against the largest after it.
    local warm_ms=$((seconds * 1000 / 4))
    ((warm_ms < 2000)) && warm_ms=2000
    local verdict
    verdict=$(awk -v warm="$warm_ms" -v bound="$RSS_BOUND_MB" '
        $1 >= warm && !w { w = $2 }
        w && $2 > max { max = $2 }
        $2 > peak { peak = $2 }
        $3 > fdpeak { fdpeak = $3 }
        $4 > thrpeak { thrpeak = $4 }
        { last = $2 }
        END {
            if (!w) { print "FAIL no sample after the warm-up"; exit }
            grow = max - w
            allow = bound * 1024
            printf "%s rss_warm=%d rss_max_after=%d rss_end=%d growth=%d allowed=%d peak_fds=%d peak_threads=%d\n",
                (grow > allow ? "FAIL" : "ok"), w, max, last, grow, allow, fdpeak, thrpeak
        }' "$samples")
    if [[ $verdict == FAIL* ]]; then
        echo "soak $ex: FAIL: RSS grew after the warm-up: $verdict (kB)" >&2
        fails=1
    fi

    [[ -n $keep ]] && mkdir -p "$keep" && cp "$samples" "$keep/"
    kill -TERM "$pid"
    for _ in $(seq 200); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "soak $ex: FAIL: still running 10 s after SIGTERM" >&2
        fails=1
    fi
    wait "$pid"
    local rc=$?
    pid=
    if ((rc != 0)); then
        echo "soak $ex: FAIL: exit status $rc after SIGTERM" >&2
        fails=1
    fi
    if sanitizer_report "$err" >/dev/null; then
        echo "soak $ex: FAIL: sanitizer report:" >&2
        cat "$err" >&2
        fails=1
    fi
    printf 'soak %s: %s after %d s; RSS kB: start %s, %s, idle after %s; fds: %s before, %s after; threads: %s before, %s idle after\n' \
        "$ex" "$( ((fails)) && echo FAIL || echo ok)" $((SECONDS - t0)) "$base_rss" \
        "${verdict#* }" "$rss_idle" "$base_fds" "$fds_after" "$base_thr" "$thr_idle"
    return $fails
}

status=0
for ex in "${examples[@]}"; do
    soak_one "$ex" || status=1
done
exit $status
