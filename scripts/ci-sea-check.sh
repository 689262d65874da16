#!/usr/bin/env bash
# Checks the single executable built by `npm run build` (called by .ci/run):
#  1. `dist/breakwater decode` of a capture from pcaps/ exits 0 and prints JSON
#     record lines;
#  2. `dist/breakwater replay` of the same capture reaches a local UDP listener,
#     every datagram.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=./dist/breakwater
NODE=node_modules/.bin/node
PCAP=${1:-pcaps/softflowd-v9-benign.pcap}
[ -x "$BIN" ] || { echo "ci-sea-check: $BIN missing (npm run build)" >&2; exit 1; }
[ -f "$PCAP" ] || { echo "ci-sea-check: $PCAP missing" >&2; exit 1; }

TMP=$(mktemp -d)
LISTENER=
cleanup() {
  [ -n "$LISTENER" ] && kill "$LISTENER" 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

echo "== sea: decode $PCAP"
timeout 60 "$BIN" decode "$PCAP" >"$TMP/decode.out" 2>"$TMP/decode.err" || {
  echo "decode failed:" >&2; cat "$TMP/decode.err" >&2; exit 1
}
"$NODE" -e '
  const lines = require("node:fs").readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean);
  let n = 0;
  for (const l of lines) { const o = JSON.parse(l); if (typeof o === "object" && o && ("src_addr" in o || "dst_addr" in o)) n++; }
  if (n < 1) { console.error("decode printed no flow records"); process.exit(1); }
  console.log(`decode: ${n} JSON records`);
' "$TMP/decode.out"

echo "== sea: replay $PCAP"
# Listener on an ephemeral port: writes the port, then the number of datagrams
# received once nothing arrived for 1 s (or after 20 s).
"$NODE" -e '
  const fs = require("node:fs");
  const s = require("node:dgram").createSocket({ type: "udp4", recvBufferSize: 8 << 20 });
  let n = 0, last = 0;
  const done = () => { fs.writeFileSync(process.argv[1] + ".count", String(n)); process.exit(0); };
  s.on("message", () => { n++; last = Date.now(); });
  s.bind(0, "127.0.0.1", () => fs.writeFileSync(process.argv[1] + ".port", String(s.address().port)));
  setInterval(() => { if (last && Date.now() - last > 1000) done(); }, 100);
  setTimeout(done, 20000);
' "$TMP/listener" &
LISTENER=$!
for _ in $(seq 1 50); do [ -s "$TMP/listener.port" ] && break; sleep 0.1; done
PORT=$(cat "$TMP/listener.port")
summary=$(timeout 30 "$BIN" replay "$PCAP" --to "127.0.0.1:$PORT" --speed 0)
echo "$summary"
sent=$(echo "$summary" | sed -n 's/^replayed \([0-9]*\) datagrams.*/\1/p')
wait "$LISTENER" || true
LISTENER=
got=$(cat "$TMP/listener.count" 2>/dev/null || echo 0)
if [ -z "$sent" ] || [ "$sent" -lt 1 ] || [ "$got" != "$sent" ]; then
  echo "replay: sent ${sent:-?}, listener received $got" >&2
  exit 1
fi
echo "replay: $got datagrams received"
echo "== sea check OK"
