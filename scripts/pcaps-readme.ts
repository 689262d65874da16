/**
 * Writes pcaps/README.md from what tshark (an independent decoder) sees in
 * every pcaps/*.pcap: datagrams, flow records / samples, reported sampling,
 * and for attack scenarios the attack traffic the exports describe
 * (packets x sampling rate, average over the 8-second attack window, and the
 * peak one-second rate for sFlow).
 *
 *   node scripts/pcaps-readme.ts            (run by scripts/make-pcaps.sh)
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SCENARIOS } from './gen-traffic.ts';

const root = resolve(import.meta.dirname, '..');
const dir = join(root, 'pcaps');

/** tshark arguments that decode our exporters' ports as NetFlow/IPFIX and sFlow. */
export const TSHARK_DECODE_AS = ['-d', 'udp.port==2055,cflow', '-d', 'udp.port==6343,sflow'];

export interface FileName {
  exporter: string;
  version: string;
  sampled: boolean;
  scenario: string;
}

export function parseName(file: string): FileName | null {
  const m = /^(softflowd|pmacct|fprobe)-(v5|v9|ipfix|sflow5)(-sampled)?-([a-z0-9-]+)\.pcap$/.exec(file);
  if (!m) return null;
  return { exporter: m[1], version: m[2], sampled: !!m[3], scenario: m[4] };
}

interface Rec {
  t: number;
  src: string;
  dst: string;
  proto: number;
  sport: number;
  dport: number;
  packets: number;
  bytes: number;
}

export interface Analysis {
  datagrams: number;
  records: number;
  counterSamples: number;
  /** Datagrams tshark finds malformed, other than data flowsets that arrived before their template. */
  malformed: number;
  /** Data flowsets tshark could not decode because their template had not been seen yet (real exporter behaviour). */
  noTemplate: number;
  reportedSampling: number | null;
  recs: Rec[];
}

type J = Record<string, unknown>;

function first(v: unknown): string | undefined {
  if (Array.isArray(v)) return first(v[0]);
  return typeof v === 'string' ? v : undefined;
}

function walk(o: unknown, fn: (d: J) => boolean | void): void {
  if (Array.isArray(o)) {
    for (const x of o) walk(x, fn);
  } else if (o && typeof o === 'object') {
    if (fn(o as J) === false) return;
    for (const v of Object.values(o as J)) if (v && typeof v === 'object') walk(v, fn);
  }
}

/** Finds the first value of `key` anywhere below o. */
function find(o: unknown, key: string): string | undefined {
  let out: string | undefined;
  walk(o, (d) => {
    if (out !== undefined) return false;
    if (key in d) {
      out = first(d[key]);
      return false;
    }
  });
  return out;
}

export function analyse(path: string): Analysis {
  const json = execFileSync('tshark', ['-r', path, ...TSHARK_DECODE_AS, '-T', 'json', '--no-duplicate-keys'], {
    maxBuffer: 1 << 30,
    stdio: ['ignore', 'pipe', 'ignore'],
  }).toString();
  const frames = JSON.parse(json) as { _source: { layers: J } }[];
  const a: Analysis = { datagrams: frames.length, records: 0, counterSamples: 0, malformed: 0, noTemplate: 0, reportedSampling: null, recs: [] };
  for (const f of frames) {
    const layers = f._source.layers;
    const t = Number(find(layers.frame, 'frame.time_relative') ?? 0);
    // Malformed: judged on the flow export itself. Data flowsets before their template are
    // counted apart; sFlow's sampled packet headers (truncated copies of arbitrary traffic)
    // are not judged.
    let bad = false;
    const judge = (o: unknown): void => {
      if (Array.isArray(o)) {
        for (const x of o) judge(x);
        return;
      }
      if (!o || typeof o !== 'object') return;
      for (const [k, v] of Object.entries(o as J)) {
        if (k.includes('no template found')) {
          a.noTemplate++;
          continue;
        }
        if (k === 'sflow_245.header_tree') continue;
        if (k === '_ws.malformed') bad = true;
        judge(v);
      }
    };
    judge(layers.cflow);
    judge(layers.sflow);
    if (bad) a.malformed++;
    const sampling = (v: string | undefined) => {
      const n = Number(v);
      if (v !== undefined && n > 0) a.reportedSampling = Math.max(a.reportedSampling ?? 0, n);
    };
    if (layers.cflow) {
      walk(layers.cflow, (d) => {
        for (const k of ['cflow.samplerate', 'cflow.sampling_interval', 'cflow.sampler_random_interval']) if (k in d) sampling(first(d[k]));
        // PSAMP systematic count-based selection: interval packets selected out of interval + space
        if ('cflow.sampling_packet_interval' in d) {
          const i = Number(first(d['cflow.sampling_packet_interval']));
          const sp = Number(first(d['cflow.sampling_packet_space']) ?? 0);
          if (i > 0) sampling(String((i + sp) / i));
        }
        if (!('cflow.packets' in d)) return;
        a.records++;
        a.recs.push({
          t,
          src: first(d['cflow.srcaddr']) ?? first(d['cflow.srcaddrv6']) ?? '',
          dst: first(d['cflow.dstaddr']) ?? first(d['cflow.dstaddrv6']) ?? '',
          proto: Number(first(d['cflow.protocol']) ?? 0),
          sport: Number(first(d['cflow.srcport']) ?? 0),
          dport: Number(first(d['cflow.dstport']) ?? 0),
          packets: Number(first(d['cflow.packets']) ?? 0),
          bytes: Number(first(d['cflow.octets']) ?? 0),
        });
        return false;
      });
    }
    if (layers.sflow) {
      walk(layers.sflow, (d) => {
        if ('sflow.counters_sample.sequence_number' in d) {
          a.counterSamples++;
          return false;
        }
        if (!('sflow.flow_sample.sampling_rate' in d)) return;
        sampling(first(d['sflow.flow_sample.sampling_rate']));
        a.records++;
        a.recs.push({
          t,
          src: find(d, 'ip.src') ?? find(d, 'ipv6.src') ?? '',
          dst: find(d, 'ip.dst') ?? find(d, 'ipv6.dst') ?? '',
          proto: Number(find(d, 'ip.proto') ?? find(d, 'ipv6.nxt') ?? 0),
          sport: Number(find(d, 'udp.srcport') ?? find(d, 'tcp.srcport') ?? 0),
          dport: Number(find(d, 'udp.dstport') ?? find(d, 'tcp.dstport') ?? 0),
          packets: 1,
          // frame length includes the Ethernet header (14) and FCS (4)
          bytes: Math.max(0, Number(find(d, 'sflow_245.header.frame_length') ?? 0) - 18),
        });
        return false;
      });
    }
  }
  return a;
}

/** Which exported records belong to a scenario's attack. */
export const ATTACK_MATCH: Record<string, (r: Rec) => boolean> = {
  'syn-flood': (r) => r.dst === '198.51.100.10' && r.proto === 6 && r.dport === 80,
  'ntp-amp': (r) => r.dst === '203.0.113.20' && r.sport === 123,
  'dns-amp': (r) => r.dst === '198.51.100.60',
  'memcached-amp': (r) => r.dst === '203.0.113.30',
  'icmp-flood': (r) => r.dst === '198.51.100.20',
  'carpet-bomb': (r) => r.dst.startsWith('203.0.113.') && r.proto === 17 && r.sport === 53,
  outgoing: (r) => r.src === '198.51.100.77',
  'ipv6-udp-flood': (r) => r.dst === '2001:db8:100::10',
  'fragment-flood': (r) => r.dst === '198.51.100.30',
  whitelist: (r) => r.dst === '198.51.100.1',
};

export interface AttackFigures {
  packets: number;
  avgPps: number;
  peakPps: number | null;
  avgIpBytes: number;
  hosts: number;
}

export function attackFigures(a: Analysis, scenario: string, sampling: number, sflow: boolean): AttackFigures | null {
  const match = ATTACK_MATCH[scenario];
  const sc = SCENARIOS.find((s) => s.name === scenario);
  if (!match || !sc?.attack) return null;
  let packets = 0;
  let bytes = 0;
  const perSec = new Map<number, number>();
  const hosts = new Set<string>();
  for (const r of a.recs) {
    if (!match(r)) continue;
    packets += r.packets * sampling;
    bytes += r.bytes * sampling;
    hosts.add(r.dst);
    const s = Math.floor(r.t);
    perSec.set(s, (perSec.get(s) ?? 0) + r.packets * sampling);
  }
  const window = sc.attack.end - sc.attack.start;
  return {
    packets,
    avgPps: packets / window,
    peakPps: sflow ? Math.max(0, ...perSec.values()) : null,
    avgIpBytes: packets ? Math.round(bytes / packets) : 0,
    hosts: hosts.size,
  };
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

function main(): void {
  const files = readdirSync(dir).filter((f) => f.endsWith('.pcap')).sort();
  const rows: string[] = [];
  for (const f of files) {
    const n = parseName(f);
    if (!n) throw new Error(`unexpected file name ${f}`);
    const a = analyse(join(dir, f));
    const sflow = n.version === 'sflow5';
    const sampling = a.reportedSampling ?? (n.sampled ? 100 : 1);
    const fig = attackFigures(a, n.scenario, sampling, sflow);
    const recs = sflow ? `${fmt(a.records)} flow samples, ${fmt(a.counterSamples)} counter samples` : `${fmt(a.records)} flow records`;
    const attack = fig
      ? `${fmt(fig.packets)} pkts, avg ${fmt(fig.avgPps)} pps${fig.peakPps !== null ? `, peak ${fmt(fig.peakPps)} pps/s` : ''}, ~${fig.avgIpBytes} B/pkt${fig.hosts > 1 ? `, ${fig.hosts} targets` : ''}`
      : '—';
    rows.push(
      `| ${f} | ${n.exporter} | ${n.version === 'ipfix' ? 'IPFIX' : n.version === 'sflow5' ? 'sFlow v5' : `NetFlow ${n.version}`} | ${n.sampled ? '1:100' : '—'} | ${a.reportedSampling ?? 'not exported'} | ${n.scenario} | ${fmt(a.datagrams)} | ${recs} | ${a.malformed}${a.noTemplate ? ` (${a.noTemplate} data before template)` : ''} | ${attack} | ${fmt(statSync(join(dir, f)).size)} |`,
    );
    process.stderr.write(`${f}: ${a.datagrams} datagrams, ${a.records} records, malformed ${a.malformed}\n`);
  }
  const scen = SCENARIOS.map(
    (s) => `| ${s.name} | ${s.duration} s | ${s.attack ? `${s.attack.target}` : '—'} | ${s.attack ? `${fmt(s.attack.pps)} pps from ${s.attack.start} s to ${s.attack.end} s, ${s.attack.ipBytes} IP bytes/pkt` : '—'} | ${s.description} |`,
  );
  const md = `# pcaps/: flow-export captures made by real exporters

Every \`.pcap\` here holds the UDP export datagrams of one real Debian exporter
that watched generated traffic live:

- **softflowd** 1.1.0 (NetFlow v5, v9, IPFIX; unsampled and \`-s 100\`),
- **pmacctd** 1.7.7 with the **nfprobe** plugin (NetFlow v9, IPFIX; unsampled and
  \`sampling_rate: 100\`) and the **sfprobe** plugin (sFlow v5, \`sampling_rate: 100\`,
  agent 192.0.2.23, sub-agent 7),
- **fprobe** 1.1 (NetFlow v5).

How they are made (\`bash scripts/make-pcaps.sh [SCENARIO...]\`, as root): for each
scenario \`scripts/gen-traffic.ts\` writes a deterministic raw-packet pcap
(Ethernet, IPv4/IPv6, TCP/UDP/ICMP/ICMPv6, IPv4 and IPv6 fragments, correct
lengths and checksums; seed 1). A private network namespace gets a veth pair;
the exporters capture live on one end while \`scripts/pcap-send.py\` plays the
traffic into the other end at its original pace (absolute schedule; the
scenario is redone if frames ran more than 100 ms late). Exporters use short
timeouts (inactive 1 s, active 2 s, expiry check every second; fprobe: idle 1 s,
active 2 s, scan 1 s) so records leave during the capture, and are stopped with
SIGTERM so they flush. tcpdump records the exports on the namespace's loopback;
the capture is split per exporter. NetFlow v5/v9 and IPFIX go to UDP port 2055,
sFlow to 6343; every exporter sends from 127.0.0.1 (to its own 127.0.0.x).
Timestamps are those of the generation run: only their spacing matters.
Then \`node scripts/pcaps-readme.ts\` writes this file from tshark's decoding.

Decode with tshark: \`tshark -r FILE -d udp.port==2055,cflow -d udp.port==6343,sflow\`.
Decode with Breakwater: \`breakwater decode FILE\`. Send to a collector:
\`breakwater replay FILE --to 127.0.0.1:2055\` (or \`:6343\` for sFlow).

## Scenarios

Protected networks as in examples/breakwater.yaml (198.51.100.0/24,
203.0.113.0/24, 2001:db8::/32; 198.51.100.1 whitelisted). Outside addresses are
random public-looking ones and 198.18.0.0/15. Every attack scenario also carries
the benign mix at half rate (about 150 packets/s) for its 16 seconds; the
benign scenario is the mix at full rate (about 380 packets/s) for 30 s, with
6 long flows (TCP and UDP, IPv4 and IPv6, in and out) lasting the whole capture.

| Scenario | Traffic | Target | Attack as generated | What |
|---|---|---|---|---|
${scen.join('\n')}

## Files

"Sampling reported" is what the exporter puts in its export (v5 header,
v9/IPFIX options data, sFlow flow samples), read by tshark; "not exported"
means the collector has to be told the rate (softflowd v9 repeats its sampling
options only every few datagrams, so its short sampled benign capture carries
none; pmacct nfprobe reports it through a sampler table: FLOW_SAMPLER_ID in each
record, FLOW_SAMPLER_RANDOM_INTERVAL in options data; softflowd IPFIX as PSAMP
samplingPacketInterval 1 / samplingPacketSpace 99). "Attack as exported" counts the
attack's records in the export (tshark), multiplied by the sampling rate, and
averages them over the 8-second attack window; sFlow also shows the highest
one-second sum (by export datagram time). Sampling makes these estimates vary
by a few percent around the generated rate; flow exporters only export what
they tracked.

"Malformed" counts datagrams tshark finds malformed; "data before template"
counts data flowsets tshark could not decode because the exporter sent them
before (re)sending their template (softflowd announces its IPv6 template only
periodically): real behaviour that collectors must count or buffer.

| File | Exporter | Export | Sampling | Sampling reported | Scenario | Datagrams | Records (tshark) | Malformed | Attack as exported | Bytes |
|---|---|---|---|---|---|---|---|---|---|---|
${rows.join('\n')}
`;
  writeFileSync(join(dir, 'README.md'), md);
}

if (import.meta.main) main();
