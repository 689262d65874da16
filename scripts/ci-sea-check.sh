#!/usr/bin/env bash
# Checks the single executable built by `npm run build` (called by .ci/run):
#  1. `dist/breakwater decode` of a capture from pcaps/ exits 0 and prints JSON
#     record lines;
#  2. `dist/breakwater replay` of the same capture reaches a local UDP listener,
#     every datagram;
#  3. when the executable carries the TCP MD5 addon: `dist/breakwater bgp` with a
#     passive MD5 neighbor (BREAKWATER_TCP_MD5_ADDON unset) answers a signed TCP
#     connection with its OPEN, while unsigned and wrongly signed SYNs get no answer;
#  4. when the executable carries the batched UDP receive addon: `dist/breakwater
#     selftest` has its collector worker read with it (BREAKWATER_UDP_RECV_ADDON unset);
#  5. the console (embedded SEA assets) is served at / with api.dashboard
#     (scripts/ci-console-check.sh);
#  6. cluster mode against a one-member etcd (scripts/ci-cluster-check.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=./dist/breakwater
NODE=node_modules/.bin/node
PCAP=${1:-pcaps/softflowd-v9-benign.pcap}
[ -x "$BIN" ] || { echo "ci-sea-check: $BIN missing (npm run build)" >&2; exit 1; }
[ -f "$PCAP" ] || { echo "ci-sea-check: $PCAP missing" >&2; exit 1; }

TMP=$(mktemp -d)
LISTENER=
SPEAKER=
cleanup() {
  [ -n "$LISTENER" ] && kill "$LISTENER" 2>/dev/null || true
  [ -n "$SPEAKER" ] && kill -9 "$SPEAKER" 2>/dev/null || true
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

echo "== sea: TCP MD5 addon"
if [ "$(uname -s)" = Linux ] && [ -f dist/tcp_md5.node ] && grep -q '"tcp_md5.node"' dist/sea-config.json 2>/dev/null; then
  MD5_PORT=$((30000 + RANDOM % 20000))
  printf 'bgp:\n  local_asn: 65001\n  router_id: 10.255.0.1\n  listen: "127.0.0.1:%s"\n  neighbors:\n    - address: 127.0.0.2\n      remote_asn: 65002\n      passive: true\n      md5_password_env: BW_CI_MD5\n' "$MD5_PORT" >"$TMP/md5.yaml"
  mkfifo "$TMP/md5.in"
  env -u BREAKWATER_TCP_MD5_ADDON BW_CI_MD5=ci-md5-key timeout 60 "$BIN" bgp -config "$TMP/md5.yaml" <"$TMP/md5.in" 2>"$TMP/md5.err" &
  SPEAKER=$!
  exec 3>"$TMP/md5.in"
  # client side: the addon built beside the executable signs our SYNs
  "$NODE" -e '
    const net = require("node:net");
    const m = { exports: {} };
    process.dlopen(m, "dist/tcp_md5.node");
    const port = Number(process.argv[1]);
    const attempt = (key, ms) => new Promise((resolve) => {
      const s = key ? new net.Socket({ fd: m.exports.md5Socket("127.0.0.1", key, "127.0.0.2") }) : new net.Socket();
      const t = setTimeout(() => { s.destroy(); resolve("no answer"); }, ms);
      s.on("data", (b) => { clearTimeout(t); s.destroy(); resolve(b.length >= 19 && b[18] === 1 ? "OPEN" : "data"); });
      s.on("error", (e) => { clearTimeout(t); s.destroy(); resolve(e.code || e.message); });
      s.connect(key ? { host: "127.0.0.1", port } : { host: "127.0.0.1", port, localAddress: "127.0.0.2" });
    });
    (async () => {
      let r = "";
      for (let i = 0; i < 20 && r !== "OPEN"; i++) { r = await attempt("ci-md5-key", 1500); if (r !== "OPEN") await new Promise((x) => setTimeout(x, 500)); }
      if (r !== "OPEN") { console.error("signed connection: " + r); process.exit(1); }
      const plain = await attempt("", 2000), wrong = await attempt("wrong-key", 2000);
      console.log(`md5: signed connection answered with OPEN; unsigned: ${plain}; wrong key: ${wrong}`);
      process.exit(plain === "no answer" && wrong === "no answer" ? 0 : 1);
    })();
  ' "$MD5_PORT" || { echo "md5 check failed; breakwater stderr:" >&2; tail -20 "$TMP/md5.err" >&2; exit 1; }
  exec 3>&-
  wait "$SPEAKER" || { echo "breakwater bgp did not stop cleanly:" >&2; tail -20 "$TMP/md5.err" >&2; exit 1; }
  SPEAKER=
else
  echo "md5: dist/breakwater was built without the TCP MD5 addon (no C compiler or headers): skipped"
fi
echo "== sea: batched UDP receive addon"
if [ "$(uname -s)" = Linux ] && grep -q '"udp_recv.node"' dist/sea-config.json 2>/dev/null; then
  line=$(env -u BREAKWATER_UDP_RECV_ADDON timeout 60 "$BIN" selftest | grep '^collector:' || true)
  echo "$line"
  case "$line" in
    "collector: ok receiver batched") ;;
    *) echo "the collector in dist/breakwater does not read with the embedded addon" >&2; exit 1 ;;
  esac
else
  echo "udp_recv: dist/breakwater was built without the batched UDP receive addon: skipped"
fi
bash scripts/ci-console-check.sh "$BIN"
bash scripts/ci-cluster-check.sh "$BIN"
echo "== sea check OK"
