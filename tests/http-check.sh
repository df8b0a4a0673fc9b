#!/usr/bin/env bash
# The http example checked by real clients: curl for every route, status
# code and error case, the fetch example, then wrk for a few seconds with
# zero errors; finally SIGTERM must end the server cleanly.
#   tests/http-check.sh path/to/http path/to/fetch
# Exit 77 (skipped) when curl or wrk is not installed.
set -u
http_bin=$1
fetch_bin=$2
for tool in curl wrk; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "SKIPPED: $tool is not installed (Debian package '$tool'; tests/run installs it)"
        exit 77
    }
done
dir=$(mktemp -d)
pid=
trap '[[ -n $pid ]] && kill -9 $pid 2>/dev/null; rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*" >&2; [[ -f $dir/err ]] && sed 's/^/server: /' "$dir/err" >&2; exit 1; }

mkdir -p "$dir/www/sub"
printf 'static hello\n' >"$dir/www/hello.txt"
printf '<p>deep</p>' >"$dir/www/sub/page.html"
printf 'top secret\n' >"$dir/secret.txt"
ln -s ../secret.txt "$dir/www/link.txt"

"$http_bin" --help | grep -q "usage: http" || fail "--help"
"$http_bin" --port 0 --static "$dir/www" --idle-timeout 1 >"$dir/out" 2>"$dir/err" &
pid=$!
for _ in $(seq 100); do
    grep -q "listening on" "$dir/out" && break
    sleep 0.05
done
port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$dir/out")
[[ -n $port ]] || fail "no 'listening on' line"
base="http://127.0.0.1:$port"

# check METHOD PATH STATUS [BODY] [CONTENT-TYPE]
check() {
    local method=$1 path=$2 want=$3 body=${4-} ctype=${5-}
    local got how=(-X "$method")
    [[ $method == HEAD ]] && how=(--head)  # -X HEAD would wait for a body
    got=$(curl -s --path-as-is "${how[@]}" -o "$dir/body" -w '%{http_code} %{content_type}' \
        --max-time 10 "$base$path") || fail "curl $method $path failed"
    [[ ${got%% *} == "$want" ]] || fail "$method $path: status ${got%% *}, want $want"
    if [[ -n $body ]]; then
        [[ $(cat "$dir/body") == "$body" ]] || fail "$method $path: body '$(cat "$dir/body")'"
    fi
    if [[ -n $ctype ]]; then
        [[ ${got#* } == "$ctype" ]] || fail "$method $path: content type '${got#* }'"
    fi
    if grep -q "top secret" "$dir/body"; then fail "$method $path leaked the secret"; fi
}

check GET / 200 "Hello, World!" "text/plain; charset=utf-8"
check GET "/?q=1" 200 "Hello, World!"
check GET /api 200 '{"name":"张三","age":25}' "application/json; charset=utf-8"
check GET /static/hello.txt 200 "static hello" "text/plain; charset=utf-8"
check GET /static/sub/page.html 200 "<p>deep</p>" "text/html; charset=utf-8"
check HEAD / 200
check GET /nope 404
check GET /static/missing.txt 404
check GET /static/ 404
check GET /static/sub 404
check GET /static/../secret.txt 404
check GET /static/sub/../../secret.txt 404
check GET /static/%2e%2e/secret.txt 404
check GET /static/%2E%2E%2Fsecret.txt 404
check GET "/static/$dir/secret.txt" 404
check GET /static//etc/passwd 404
check GET /static/link.txt 404
check GET /static/%00 404
check POST / 405
check DELETE /api 405
check FOO / 405

# Malformed request line: 400.
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf 'this is not http\r\n\r\n' >&3
read -r -t 5 line <&3 || fail "no answer to garbage"
[[ $line == "HTTP/1.1 400"* ]] || fail "garbage: '$line'"
exec 3<&-

# Oversized headers: 431.
big=$(head -c 12000 /dev/zero | tr '\0' 'a')
code=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Big: $big" --max-time 10 "$base/")
[[ $code == 431 ]] || fail "oversized headers: $code"

# Keep-alive: the second request reuses the connection.
n=$(curl -s -o /dev/null -o /dev/null -w '%{num_connects}\n' "$base/" "$base/api" | tail -n1)
[[ $n == 0 ]] || fail "keep-alive: second request made $n connections"

# Idle connections are closed after --idle-timeout (1 s here).
exec 3<>"/dev/tcp/127.0.0.1/$port"
t0=$SECONDS
if read -r -t 8 line <&3; then fail "idle connection sent '$line'"; fi
((SECONDS - t0 < 6)) || fail "idle connection not closed"
exec 3<&-

# The fetch example against it: all at once, sizes right.
"$fetch_bin" --help | grep -q "usage: fetch" || fail "fetch --help"
"$fetch_bin" "$base/" "$base/api" "$base/static/hello.txt" "http://localhost:$port/" >"$dir/fetch" ||
    fail "fetch: $(cat "$dir/fetch")"
grep -q "^200         13 bytes.* $base/\$" "$dir/fetch" || fail "fetch output: $(cat "$dir/fetch")"
grep -q "^200         26 bytes.*/api\$" "$dir/fetch" || fail "fetch /api: $(cat "$dir/fetch")"
grep -q "^total: 4 URLs, 65 bytes" "$dir/fetch" || fail "fetch total: $(cat "$dir/fetch")"
if "$fetch_bin" "$base/nope" >/dev/null; then fail "fetch of a 404 succeeded"; fi

# Load: wrk for a few seconds, not a single error.
wrk -t2 -c32 -d3s "$base/" >"$dir/wrk" 2>&1 || fail "wrk: $(cat "$dir/wrk")"
grep -q "Requests/sec" "$dir/wrk" || fail "wrk output: $(cat "$dir/wrk")"
if grep -qE "Socket errors|Non-2xx" "$dir/wrk"; then fail "wrk saw errors: $(cat "$dir/wrk")"; fi
sed -n 's/^Requests\/sec: */http example under wrk: req\/s /p' "$dir/wrk"

kill -TERM "$pid"
for _ in $(seq 200); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
done
kill -0 "$pid" 2>/dev/null && fail "still running 10 s after SIGTERM"
wait "$pid"
rc=$?
pid=
[[ $rc == 0 ]] || fail "exit status $rc after SIGTERM"
echo "http example: all checks passed"
