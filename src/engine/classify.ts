/**
 * Attack classification.
 *
 * A Classifier collects, for one attack, sampling-corrected aggregates of the
 * records that hit its target (protocols, TCP flag mix, fragments, top sources,
 * source and destination ports, packet sizes) and a bounded, deterministic
 * reservoir sample of its flows. `vector()` labels it:
 *
 *   carpet target                                   → carpet_bomb
 *   UDP ≥ 80% of packets:
 *     one source port carries ≥ 50% of the (non-fragment) UDP packets and the
 *     mean packet size of the UDP traffic ≥ 200 bytes (fragments included):
 *       port 123 ntp, 53 dns, 389 cldap, 11211 memcached, 1900 ssdp,
 *       19 chargen, 161 snmp, 3702 wsd → <name>_amplification
 *       any other source port < 1024 or ≥ 400-byte mean → udp_amplification
 *     fragments ≥ 50% of packets                    → fragment_flood
 *     otherwise                                     → udp_flood
 *   TCP ≥ 80%: SYN-without-ACK ≥ 50% of TCP packets → syn_flood,
 *     RST ≥ 50% → rst_flood, ACK-only (no SYN/RST/FIN) ≥ 50% → ack_flood,
 *     otherwise tcp_flood
 *   ICMP (1 or 58) ≥ 80%                            → icmp_flood
 *   fragments ≥ 50% of packets                      → fragment_flood
 *   otherwise                                       → mixed
 *
 * A TCP or UDP record with source AND destination port 0 counts as a fragment:
 * port 0 is reserved, so such a record is a non-first fragment whose exporter
 * had no transport header to read and exports no fragment field (softflowd,
 * pmacct and many routers' NetFlow v9/IPFIX templates carry none).
 *
 * The FlowRing keeps the last N records seen (all targets) so an attack starts
 * with the flows that made it cross its threshold.
 */
import { formatIPv4, formatIPv6 } from '../core/ip.ts';
import type { FlowRecord } from '../flow/record.ts';
import type { AttackSummary, SampleFlow, TopItem, Vector } from './events.ts';

/**
 * Whether a record is a fragment: the exporter said so, or it is TCP or UDP
 * with source and destination port 0 (see above). The engine's counters (the
 * `frag_pps` / `frag_mbps` thresholds) and the classifier both use this.
 */
export function isFragment(fragment: number, proto: number, sport: number, dport: number): boolean {
  return fragment !== 0 || (sport === 0 && dport === 0 && (proto === 17 || proto === 6));
}

export const AMPLIFICATION_PORTS: Readonly<Record<number, Vector>> = {
  123: 'ntp_amplification',
  53: 'dns_amplification',
  389: 'cldap_amplification',
  11211: 'memcached_amplification',
  1900: 'ssdp_amplification',
  19: 'chargen_amplification',
  161: 'snmp_amplification',
  3702: 'wsd_amplification',
};

export const AMP_MIN_PACKET_SIZE = 200;
export const AMP_OTHER_MIN_PACKET_SIZE = 400;

const TOP_N = 10;
/** Distinct keys tracked per aggregate; later keys are folded into "other". */
const MAX_KEYS = 4096;

const TCP_SYN = 0x02, TCP_RST = 0x04, TCP_ACK = 0x10, TCP_FIN = 0x01;

function bump<K>(m: Map<K, number>, k: K, w: number, other: K): void {
  const v = m.get(k);
  if (v !== undefined) m.set(k, v + w);
  else if (m.size < MAX_KEYS) m.set(k, w);
  else m.set(other, (m.get(other) ?? 0) + w);
}

function top<K>(m: Map<K, number>, total: number, fmt: (k: K) => string): TopItem[] {
  const items = [...m.entries()].sort((a, b) => b[1] - a[1] || (fmt(a[0]) < fmt(b[0]) ? -1 : 1)).slice(0, TOP_N);
  return items.map(([k, p]) => ({ key: fmt(k), packets: Math.round(p), share: total > 0 ? Math.round((p / total) * 1e4) / 1e4 : 0 }));
}

const PROTO_NAMES: Record<number, string> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 47: 'gre', 50: 'esp', 58: 'icmp6', 132: 'sctp' };

export function protoName(p: number): string {
  return PROTO_NAMES[p] ?? String(p);
}

export function flagsName(f: number): string {
  if (f === 0) return 'none';
  const n: string[] = [];
  const names: Array<[number, string]> = [[0x01, 'fin'], [0x02, 'syn'], [0x04, 'rst'], [0x08, 'psh'], [0x10, 'ack'], [0x20, 'urg'], [0x40, 'ece'], [0x80, 'cwr']];
  for (const [b, s] of names) if (f & b) n.push(s);
  return n.join('|');
}

export class Classifier {
  packets = 0;
  bytes = 0;
  records = 0;
  tcp = 0;
  udp = 0;
  udpBytes = 0;
  udpNonFrag = 0;
  icmp = 0;
  frag = 0;
  syn = 0;
  rst = 0;
  ackOnly = 0;
  readonly carpet: boolean;
  private readonly sources4 = new Map<number, number>();
  private readonly sources6 = new Map<string, number>();
  /** Source ports of non-fragment UDP/TCP packets, keyed proto*65536+port. */
  private readonly srcPorts = new Map<number, number>();
  private readonly dstPorts = new Map<number, number>();
  private readonly protos = new Map<number, number>();
  private readonly flags = new Map<number, number>();
  private readonly sample: SampleFlow[] = [];
  private readonly sampleMax: number;
  private rng: number;

  constructor(opts: { sampleFlows: number; seed: number; carpet?: boolean }) {
    this.sampleMax = opts.sampleFlows;
    this.rng = opts.seed >>> 0 || 1;
    this.carpet = opts.carpet ?? false;
  }

  private rand(): number {
    // xorshift32, deterministic per attack
    let x = this.rng;
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    this.rng = x;
    return x / 4294967296;
  }

  /** Adds one record (counts are multiplied by samplingRate here). */
  add(r: FlowRecord): void {
    this.addFields(r.family, r.src4, r.src6, r.dst4, r.dst6, r.srcPort, r.dstPort, r.ipProto, r.tcpFlags, r.fragment,
      r.packets, r.bytes, r.samplingRate, r.exporter, r.received, 0);
  }

  addFields(family: number, src4: number, src6: Uint8Array, dst4: number, dst6: Uint8Array, sport: number, dport: number,
    proto: number, tcpFlags: number, fragment: number, packets: number, bytes: number, rate: number, exporter: string,
    time: number, off6: number): void {
    const w = packets * rate;
    const b = bytes * rate;
    if (!(w > 0)) return;
    if (isFragment(fragment, proto, sport, dport)) fragment = 1;
    this.records++;
    this.packets += w;
    this.bytes += b;
    bump(this.protos, proto, w, -1);
    if (fragment) this.frag += w;
    if (proto === 6) {
      this.tcp += w;
      bump(this.flags, tcpFlags & 0xff, w, -1);
      if ((tcpFlags & TCP_SYN) && !(tcpFlags & TCP_ACK)) this.syn += w;
      else if (tcpFlags & TCP_RST) this.rst += w;
      else if ((tcpFlags & TCP_ACK) && !(tcpFlags & (TCP_SYN | TCP_RST | TCP_FIN))) this.ackOnly += w;
    } else if (proto === 17) {
      this.udp += w;
      this.udpBytes += b;
    } else if (proto === 1 || proto === 58) this.icmp += w;
    if ((proto === 6 || proto === 17) && !fragment) {
      if (proto === 17) this.udpNonFrag += w;
      bump(this.srcPorts, proto * 65536 + sport, w, -1);
      bump(this.dstPorts, proto * 65536 + dport, w, -1);
    }
    if (family === 4) bump(this.sources4, src4 >>> 0, w, -1);
    else bump(this.sources6, formatIPv6(src6, off6), w, 'other');
    // reservoir sample (Algorithm R), deterministic
    if (this.sampleMax > 0) {
      const n = this.records;
      let slot = -1;
      if (this.sample.length < this.sampleMax) slot = this.sample.length;
      else {
        const j = Math.floor(this.rand() * n);
        if (j < this.sampleMax) slot = j;
      }
      if (slot >= 0) {
        this.sample[slot] = {
          src: family === 4 ? formatIPv4(src4 >>> 0) : formatIPv6(src6, off6),
          dst: family === 4 ? formatIPv4(dst4 >>> 0) : formatIPv6(dst6, off6),
          src_port: sport, dst_port: dport, ip_proto: proto, tcp_flags: tcpFlags,
          packets, bytes, sampling_rate: rate, exporter, time,
        };
      }
    }
  }

  avgPacketSize(): number {
    return this.packets > 0 ? this.bytes / this.packets : 0;
  }

  /** Top source port among non-fragment UDP packets and its share of them. */
  private topUdpSrcPort(): { port: number; share: number } {
    let best = -1, bestW = 0;
    for (const [k, w] of this.srcPorts) {
      if (k < 17 * 65536 || k >= 18 * 65536) continue;
      const port = k - 17 * 65536;
      if (w > bestW || (w === bestW && port < best)) { best = port; bestW = w; }
    }
    return { port: best, share: this.udpNonFrag > 0 ? bestW / this.udpNonFrag : 0 };
  }

  vector(): Vector {
    if (this.carpet) return 'carpet_bomb';
    const P = this.packets;
    if (!(P > 0)) return 'mixed';
    if (this.udp >= 0.8 * P) {
      const udpSize = this.udp > 0 ? this.udpBytes / this.udp : 0;
      const t = this.topUdpSrcPort();
      if (t.port >= 0 && t.share >= 0.5 && udpSize >= AMP_MIN_PACKET_SIZE) {
        const named = AMPLIFICATION_PORTS[t.port];
        if (named) return named;
        if (t.port < 1024 || udpSize >= AMP_OTHER_MIN_PACKET_SIZE) return 'udp_amplification';
      }
      if (this.frag >= 0.5 * P) return 'fragment_flood';
      return 'udp_flood';
    }
    if (this.tcp >= 0.8 * P) {
      if (this.syn >= 0.5 * this.tcp) return 'syn_flood';
      if (this.rst >= 0.5 * this.tcp) return 'rst_flood';
      if (this.ackOnly >= 0.5 * this.tcp) return 'ack_flood';
      return 'tcp_flood';
    }
    if (this.icmp >= 0.8 * P) return 'icmp_flood';
    if (this.frag >= 0.5 * P) return 'fragment_flood';
    return 'mixed';
  }

  summary(): AttackSummary {
    const P = this.packets;
    const srcs: TopItem[] = [...top(this.sources4, P, (k) => (k === -1 ? 'other' : formatIPv4(k))), ...top(this.sources6, P, (k) => k)]
      .sort((a, b) => b.packets - a.packets || (a.key < b.key ? -1 : 1)).slice(0, TOP_N);
    const portFmt = (k: number) => (k === -1 ? 'other' : `${protoName(Math.floor(k / 65536))}/${k % 65536}`);
    return {
      top_sources: srcs,
      top_source_ports: top(this.srcPorts, P, portFmt),
      top_destination_ports: top(this.dstPorts, P, portFmt),
      protocols: top(this.protos, P, (k) => (k === -1 ? 'other' : protoName(k))),
      tcp_flags: top(this.flags, this.tcp, (k) => (k === -1 ? 'other' : flagsName(k))),
      avg_packet_size: Math.round(this.avgPacketSize()),
      sample: [...this.sample].sort((a, b) => a.time - b.time || (a.src < b.src ? -1 : a.src > b.src ? 1 : 0)),
    };
  }
}

/**
 * The last N records seen, in typed arrays (no allocation per record). Used to
 * seed an attack's classifier with the traffic from before it was detected.
 */
export class FlowRing {
  readonly size: number;
  private n = 0;
  private pos = 0;
  private readonly fam: Uint8Array;
  private readonly src4: Uint32Array;
  private readonly dst4: Uint32Array;
  private readonly src6: Uint8Array;
  private readonly dst6: Uint8Array;
  private readonly ports: Uint32Array;
  private readonly pf: Uint32Array;
  private readonly pk: Float64Array;
  private readonly by: Float64Array;
  private readonly rate: Uint32Array;
  private readonly time: Float64Array;
  private readonly exp: string[];

  constructor(size: number) {
    this.size = Math.max(1, size);
    const n = this.size;
    this.fam = new Uint8Array(n);
    this.src4 = new Uint32Array(n);
    this.dst4 = new Uint32Array(n);
    this.src6 = new Uint8Array(n * 16);
    this.dst6 = new Uint8Array(n * 16);
    this.ports = new Uint32Array(n);
    this.pf = new Uint32Array(n);
    this.pk = new Float64Array(n);
    this.by = new Float64Array(n);
    this.rate = new Uint32Array(n);
    this.time = new Float64Array(n);
    this.exp = new Array<string>(n).fill('');
  }

  push(r: FlowRecord): void {
    const i = this.pos;
    this.fam[i] = r.family;
    if (r.family === 4) {
      this.src4[i] = r.src4;
      this.dst4[i] = r.dst4;
    } else {
      this.src6.set(r.src6, i * 16);
      this.dst6.set(r.dst6, i * 16);
    }
    this.ports[i] = ((r.srcPort & 0xffff) << 16 | (r.dstPort & 0xffff)) >>> 0;
    this.pf[i] = (r.ipProto & 0xff) | ((r.tcpFlags & 0xff) << 8) | ((r.fragment ? 1 : 0) << 16);
    this.pk[i] = r.packets;
    this.by[i] = r.bytes;
    this.rate[i] = r.samplingRate;
    this.time[i] = r.received;
    this.exp[i] = r.exporter;
    this.pos = i + 1 === this.size ? 0 : i + 1;
    if (this.n < this.size) this.n++;
  }

  /**
   * Feeds every stored record accepted by `match` to the classifier, oldest
   * first. `match(family, src4, dst4, src6, dst6, off)`.
   */
  replay(c: Classifier, match: (family: number, src4: number, dst4: number, src6: Uint8Array, dst6: Uint8Array, off: number) => boolean): number {
    let k = 0;
    const start = this.n < this.size ? 0 : this.pos;
    for (let j = 0; j < this.n; j++) {
      const i = (start + j) % this.size;
      if (!match(this.fam[i], this.src4[i], this.dst4[i], this.src6, this.dst6, i * 16)) continue;
      const pf = this.pf[i];
      c.addFields(this.fam[i], this.src4[i], this.src6, this.dst4[i], this.dst6, this.ports[i] >>> 16, this.ports[i] & 0xffff,
        pf & 0xff, (pf >>> 8) & 0xff, (pf >>> 16) & 1, this.pk[i], this.by[i], this.rate[i], this.exp[i], this.time[i], i * 16);
      k++;
    }
    return k;
  }

  clear(): void {
    this.n = 0;
    this.pos = 0;
  }
}
