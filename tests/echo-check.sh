#!/usr/bin/env bash
# The echo example checked from outside: echo a line over TCP, then SIGTERM
# with a connection still open must end the server cleanly (exit 0).
#   tests/echo-check.sh path/to/echo
set -u
echo_bin=$1
dir=$(mktemp -d)
trap 'kill -9 $pid 2>/dev/null; rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$echo_bin" --help | grep -q "usage: echo" || fail "--help"
"$echo_bin" --port 0 >"$dir/out" 2>"$dir/err" &
pid=$!
for _ in $(seq 100); do
    grep -q "listening on" "$dir/out" && break
    sleep 0.05
done
port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$dir/out")
[[ -n $port ]] || fail "no 'listening on' line: $(cat "$dir/out" "$dir/err")"

exec 3<>"/dev/tcp/127.0.0.1/$port" || fail "connect"
printf 'hello weft\n' >&3
read -r -t 10 line <&3 || fail "no echo"
[[ $line == "hello weft" ]] || fail "echoed '$line'"

kill -TERM "$pid"
for _ in $(seq 200); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
done
kill -0 "$pid" 2>/dev/null && fail "still running 10 s after SIGTERM"
wait "$pid"
rc=$?
[[ $rc == 0 ]] || fail "exit status $rc after SIGTERM: $(cat "$dir/err")"
grep -q "shutting down" "$dir/err" || fail "no shutdown message"
# The open connection was closed by the shutdown.
read -r -t 5 line <&3 && fail "connection still delivers data"
echo "echo example: echo and graceful SIGTERM ok"
