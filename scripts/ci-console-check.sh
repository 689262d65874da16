#!/usr/bin/env bash
# Checks that a built Breakwater serves the console (called by .ci/run and
# scripts/ci-sea-check.sh): starts BIN with api.dashboard: true on a free
# loopback port, then GET / must be the page, /assets/console.js the bundle
# (Preact and uPlot inside, several KiB) and /assets/console.css its styles;
# with api.dashboard: false GET / must be a 404. Usage:
#   bash scripts/ci-console-check.sh [BIN]      (default ./dist/breakwater)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-./dist/breakwater}
NODE=node_modules/.bin/node
[ -x "$NODE" ] || NODE=node
TMP=$(mktemp -d)
PID=
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

# get URL FILE: writes the body to FILE, prints "STATUS CONTENT-TYPE" (no curl on a bare CI machine)
get() { "$NODE" -e 'fetch(process.argv[1]).then(async (r) => { require("node:fs").writeFileSync(process.argv[2], Buffer.from(await r.arrayBuffer())); console.log(r.status + " " + r.headers.get("content-type")); }).catch(() => console.log("000 -"))' "$1" "$2"; }
free_port() { "$NODE" -e 'const s=require("node:net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

run() { # $1 = true|false
  local api
  api=$(free_port)
  mkdir -p "$TMP/data-$1"
  printf 'networks: ["198.51.100.0/24"]\nlisten:\n  netflow: ""\n  sflow: ""\napi:\n  listen: "127.0.0.1:%s"\n  dashboard: %s\nstorage:\n  data_dir: "%s"\n' "$api" "$1" "$TMP/data-$1" >"$TMP/console-$1.yaml"
  "$BIN" -config "$TMP/console-$1.yaml" -log-format json >"$TMP/console-$1.log" 2>&1 &
  PID=$!
  for _ in $(seq 1 150); do
    case "$(get "http://127.0.0.1:$api/healthz" "$TMP/healthz")" in 200*) break ;; esac
    kill -0 "$PID" 2>/dev/null || { echo "breakwater exited:" >&2; tail -20 "$TMP/console-$1.log" >&2; exit 1; }
    sleep 0.2
  done
  BASE="http://127.0.0.1:$api"
}

stop() {
  kill "$PID" 2>/dev/null || true
  wait "$PID" 2>/dev/null || true
  PID=
}

echo "== console: $BIN"
run true
case "$(get "$BASE/" "$TMP/index.html")" in "200 text/html"*) ;; *) echo "GET / failed" >&2; exit 1 ;; esac
grep -q '/assets/console.js' "$TMP/index.html" || { echo "GET / is not the console page" >&2; exit 1; }
r=$(get "$BASE/assets/console.js" "$TMP/console.js")
case "$r" in "200 text/javascript"*) ;; *) echo "GET /assets/console.js: $r" >&2; exit 1 ;; esac
js=$(stat -c %s "$TMP/console.js")
[ "$js" -gt 20000 ] || { echo "console.js is only $js bytes" >&2; exit 1; }
grep -q 'uplot' "$TMP/console.js" || { echo "console.js does not hold uPlot" >&2; exit 1; }
r=$(get "$BASE/assets/console.css" "$TMP/console.css")
case "$r" in "200 text/css"*) ;; *) echo "GET /assets/console.css: $r" >&2; exit 1 ;; esac
grep -q '\.uplot' "$TMP/console.css" || { echo "console.css does not hold uPlot's styles" >&2; exit 1; }
echo "console: GET / and both assets served (console.js $js bytes)"
stop
run false
code=$(get "$BASE/" "$TMP/off.html")
[ "${code%% *}" = 404 ] || { echo "api.dashboard: false still serves / ($code)" >&2; exit 1; }
stop
echo "console: api.dashboard: false answers 404"
