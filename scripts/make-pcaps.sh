#!/usr/bin/env bash
# Regenerates the flow-export captures in pcaps/ from REAL exporters.
#
#   bash scripts/make-pcaps.sh [SCENARIO...]      (root; default: every scenario)
#
# For each scenario, scripts/gen-traffic.ts writes a deterministic raw-packet
# pcap. A private network namespace is created with a veth pair (bw0 <-> bw1);
# softflowd, pmacctd (nfprobe / sfprobe) and fprobe capture live on bw1 while
# scripts/pcap-send.py plays the traffic into bw0 at its original pace
# (absolute schedule: a busy machine delays frames a little but does not
# stretch the capture; a scenario is retried when frames ran >100 ms late). Every exporter
# sends to its own loopback address inside the namespace (NetFlow/IPFIX to
# port 2055, sFlow to 6343); tcpdump records the export datagrams on lo and
# the capture is split into one file per exporter:
#   pcaps/<exporter>-<version>[-sampled]-<scenario>.pcap
# Everything the script starts (namespace, processes) is removed on exit.
# Needs: softflowd, pmacct, fprobe, tcpdump, tshark, iproute2, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT="$ROOT/pcaps"
NS="bwpcap$$"
WORK=$(mktemp -d /tmp/bw-make-pcaps.XXXXXX)
PIDS=()

# Exporter timeouts: records leave at most ~2 s after the traffic (inactive 1 s,
# active 2 s, expiry check every second); fprobe cannot go below 1 s / 2 s either.
SFD_T=(-t maxlife=2 -t expint=1 -t tcp=1 -t tcp.rst=1 -t tcp.fin=1 -t udp=1 -t icmp=1 -t general=1)
PM_T="tcp=1:tcp.rst=1:tcp.fin=1:udp=1:icmp=1:general=1:maxlife=2:expint=1"
SAMPLING=100   # 1 out of N for every "-sampled" exporter

log() { echo "== $*" >&2; }

cleanup() {
  set +e
  for p in "${PIDS[@]}"; do kill -- "-$p" 2>/dev/null; done
  sleep 1
  for p in "${PIDS[@]}"; do kill -9 -- "-$p" 2>/dev/null; done
  [ -n "${TCPDUMP:-}" ] && kill "$TCPDUMP" 2>/dev/null
  [ -n "${PIDS_NS_SINK:-}" ] && kill "$PIDS_NS_SINK" 2>/dev/null
  ip netns del "$NS" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

inns() { ip netns exec "$NS" "$@"; }
# Background jobs must be started as `"${NSX[@]}" cmd &` (not through the inns
# function) so that $! is the process itself: `ip netns exec` execs the command.
# Exporters run under setsid: each is its own process group (pmacctd forks its
# plugins), stopped as a group.
NSX=(ip netns exec "$NS")

for tool in softflowd pmacctd fprobe python3 tcpdump tshark ip; do
  command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "run as root (network namespace, live capture)" >&2; exit 1; }

# Exporter table: name | loopback destination | kind
#   kind: sfd:<version>:<sampling>  pm:<plugin>:<version>:<sampling>  fprobe
EXPORTERS_ALL="
softflowd-v5 127.0.0.11 sfd:5:1
softflowd-v9 127.0.0.12 sfd:9:1
softflowd-ipfix 127.0.0.13 sfd:10:1
softflowd-v5-sampled 127.0.0.14 sfd:5:$SAMPLING
softflowd-v9-sampled 127.0.0.15 sfd:9:$SAMPLING
softflowd-ipfix-sampled 127.0.0.16 sfd:10:$SAMPLING
pmacct-v9 127.0.0.21 pm:nfprobe:9:1
pmacct-ipfix 127.0.0.22 pm:nfprobe:10:1
pmacct-sflow5-sampled 127.0.0.23 pm:sfprobe:5:$SAMPLING
pmacct-ipfix-sampled 127.0.0.24 pm:nfprobe:10:$SAMPLING
fprobe-v5 127.0.0.31 fprobe
"
# Attack scenarios use the sampled exporters only (unsampled flood exports would be huge).
ATTACK_EXPORTERS="softflowd-v9-sampled softflowd-ipfix-sampled pmacct-sflow5-sampled pmacct-ipfix-sampled"

exporters_for() {
  if [ "$1" = benign ]; then echo "$EXPORTERS_ALL" | awk 'NF{print $1}'; else echo $ATTACK_EXPORTERS | tr ' ' '\n'; fi
}

start_exporter() { # name addr kind
  local name=$1 addr=$2 kind=$3 port=2055
  IFS=: read -r k a b c <<<"$kind"
  case $k in
    sfd)
      setsid "${NSX[@]}" softflowd -d -i bw1 -n "$addr:2055" -v "$a" -s "$b" "${SFD_T[@]}" \
        -p "$WORK/$name.pid" -c "$WORK/$name.ctl" >"$WORK/$name.log" 2>&1 &
      PIDS+=($!)
      ;;
    pm)
      local sampling=""
      [ "$c" != 1 ] && sampling="sampling_rate: $c"
      if [ "$a" = sfprobe ]; then
        port=6343
        cat >"$WORK/$name.conf" <<EOF
daemonize: false
pcap_interface: bw1
pidfile: $WORK/$name.pid
plugins: sfprobe[p]
sfprobe_receiver: $addr:6343
sfprobe_agentip: 192.0.2.23
sfprobe_agentsubid: 7
$sampling
EOF
      else
        cat >"$WORK/$name.conf" <<EOF
daemonize: false
pcap_interface: bw1
pidfile: $WORK/$name.pid
plugins: nfprobe[p]
nfprobe_receiver: $addr:2055
nfprobe_version: $b
nfprobe_engine: ${addr##*.}
nfprobe_timeouts: $PM_T
aggregate: src_host, dst_host, src_port, dst_port, proto, tos, tcpflags
$sampling
EOF
      fi
      setsid "${NSX[@]}" pmacctd -f "$WORK/$name.conf" >"$WORK/$name.log" 2>&1 &
      PIDS+=($!)
      ;;
    fprobe)
      # -l 2 logs to stdout, which keeps fprobe in the foreground.
      setsid "${NSX[@]}" fprobe -i bw1 -s 1 -d 1 -e 2 -g 2 -n 5 -l 2:"bwpcap-$name" "$addr:2055" >"$WORK/$name.log" 2>&1 &
      PIDS+=($!)
      ;;
  esac
  echo "$port"
}

# SIGTERM makes every exporter flush its flow cache; give them up to 10 s.
stop_exporters() {
  local p i alive
  for p in "${PIDS[@]}"; do kill -TERM -- "-$p" 2>/dev/null || true; done
  for i in $(seq 1 20); do
    alive=0
    for p in "${PIDS[@]}"; do kill -0 -- "-$p" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.5
  done
  for p in "${PIDS[@]}"; do kill -9 -- "-$p" 2>/dev/null || true; done
  wait "${PIDS[@]}" 2>/dev/null || true
  PIDS=()
}

setup_ns() {
  ip netns add "$NS"
  inns sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  inns ip link set lo up
  inns ip link add bw0 type veth peer name bw1
  inns ip link set bw0 up
  inns ip link set bw1 up
  # A sink on the collector ports so exporters never see ICMP port unreachable.
  "${NSX[@]}" "$ROOT/node_modules/.bin/node" -e '
    const d = require("node:dgram");
    for (const p of [2055, 6343]) { const s = d.createSocket("udp4"); s.on("message", () => {}); s.bind(p, "0.0.0.0"); }
    setTimeout(() => process.exit(0), 3600e3);' &
  PIDS_NS_SINK=$!
}

mkdir -p "$OUT"
SCENARIOS=("$@")
if [ ${#SCENARIOS[@]} = 0 ]; then
  mapfile -t SCENARIOS < <("$ROOT/node_modules/.bin/node" scripts/gen-traffic.ts --list | cut -f1)
fi

# One pass of a scenario. Returns 1 when tcpreplay could not keep the capture's
# pace (a busy machine stretches the attack and lowers its rate).
run_scenario() {
  local sc=$1 dur traffic cap names n line addr f sent
  dur=$("$ROOT/node_modules/.bin/node" scripts/gen-traffic.ts --list | awk -F'\t' -v s="$sc" '$1==s{print $2}')
  traffic="$WORK/traffic-$sc.pcap"
  "$ROOT/node_modules/.bin/node" scripts/gen-traffic.ts --scenario "$sc" --out "$traffic"
  cap="$WORK/export-$sc.pcap"
  "${NSX[@]}" tcpdump -i lo -U -s 0 -w "$cap" 'udp and dst net 127.0.0.0/8 and (dst port 2055 or dst port 6343)' 2>"$WORK/tcpdump.log" &
  TCPDUMP=$!
  names=$(exporters_for "$sc")
  for n in $names; do
    line=$(echo "$EXPORTERS_ALL" | awk -v n="$n" '$1==n')
    start_exporter $line >/dev/null
  done
  sleep 3 # pmacctd needs a moment before it captures
  inns python3 scripts/pcap-send.py bw0 "$traffic" >"$WORK/send-$sc.log" 2>&1
  cat "$WORK/send-$sc.log" >&2
  sleep 4 # inactive and active timeouts expire, exports leave
  stop_exporters
  kill -TERM "$TCPDUMP" 2>/dev/null || true
  wait "$TCPDUMP" 2>/dev/null || true
  TCPDUMP=
  for n in $names; do
    addr=$(echo "$EXPORTERS_ALL" | awk -v n="$n" '$1==n{print $2}')
    f="$OUT/$n-$sc.pcap"
    tcpdump -r "$cap" -w "$f" "udp and dst host $addr" 2>/dev/null
    log "$(basename "$f"): $(tcpdump -r "$f" 2>/dev/null | wc -l) datagrams, $(stat -c %s "$f") bytes"
  done
  rm -f "$traffic" "$cap"
  # sent N frames in T s (capture span S s); latest frame X ms late, L frames more than 100 ms late
  awk '{n=$2; t=$5; s=$9; l=$16} END{exit !(t <= s + 1 && l <= n / 100)}' "$WORK/send-$sc.log" ||
    { log "$sc: the machine was too busy to keep the capture's pace"; return 1; }
}

setup_ns
for sc in "${SCENARIOS[@]}"; do
  for attempt in 1 2 3; do
    log "scenario $sc (attempt $attempt)"
    if run_scenario "$sc"; then break; fi
    [ $attempt = 3 ] && log "WARNING: $sc kept with a stretched replay; see its measured rates in pcaps/README.md" || sleep 20
  done
done
kill "$PIDS_NS_SINK" 2>/dev/null || true
log "done; pcaps/ is $(du -sh "$OUT" | cut -f1)"
log "writing pcaps/README.md from tshark's view of the captures"
"$ROOT/node_modules/.bin/node" scripts/pcaps-readme.ts
