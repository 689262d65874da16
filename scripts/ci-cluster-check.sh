#!/usr/bin/env bash
# Checks that a built Breakwater runs in cluster mode (called by
# scripts/ci-sea-check.sh): the executable carries etcd3's gRPC definitions
# in its bundle (there is no node_modules beside it). Starts a one-member etcd
# on free loopback ports with a private data directory, then BIN with a
# `cluster` block; /api/v1/status must name this node the leader. Skips when
# etcd is not installed. Usage:
#   bash scripts/ci-cluster-check.sh [BIN]      (default ./dist/breakwater)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-./dist/breakwater}
NODE=node_modules/.bin/node
[ -x "$NODE" ] || NODE=node
command -v etcd >/dev/null || { echo "cluster: etcd not installed: skipped"; exit 0; }
TMP=$(mktemp -d)
ETCD=
PID=
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
  [ -n "$ETCD" ] && kill "$ETCD" 2>/dev/null && wait "$ETCD" 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT
free_port() { "$NODE" -e 'const s=require("node:net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

client=$(free_port); peer=$(free_port); api=$(free_port)
etcd --name ci --data-dir "$TMP/etcd" --listen-client-urls "http://127.0.0.1:$client" --advertise-client-urls "http://127.0.0.1:$client" \
  --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" --initial-cluster "ci=http://127.0.0.1:$peer" \
  >"$TMP/etcd.log" 2>&1 &
ETCD=$!
mkdir -p "$TMP/data"
printf 'networks: ["198.51.100.0/24"]\nlisten:\n  netflow: ""\n  sflow: ""\napi:\n  listen: "127.0.0.1:%s"\nstorage:\n  data_dir: "%s"\ncluster:\n  node_id: ci-node\n  etcd:\n    endpoints: ["http://127.0.0.1:%s"]\n' "$api" "$TMP/data" "$client" >"$TMP/cluster.yaml"
"$BIN" -config "$TMP/cluster.yaml" -log-format json >"$TMP/bw.log" 2>&1 &
PID=$!
role=
for _ in $(seq 1 150); do
  role=$("$NODE" -e 'fetch(process.argv[1]).then((r) => r.json()).then((s) => console.log(s.cluster?.role ?? "")).catch(() => console.log(""))' "http://127.0.0.1:$api/api/v1/status")
  [ "$role" = leader ] && break
  kill -0 "$PID" 2>/dev/null || break
  sleep 0.2
done
if [ "$role" != leader ]; then
  echo "cluster: $BIN did not become the leader of a one-node cluster (role '$role'):" >&2
  tail -20 "$TMP/bw.log" >&2
  exit 1
fi
echo "cluster: $BIN runs in cluster mode on etcd (leader of one node)"
