/**
 * Deterministic raw-packet traffic generator for the pcaps/ captures.
 *
 *   node scripts/gen-traffic.ts --scenario NAME --out FILE [--seed N]
 *   node scripts/gen-traffic.ts --list
 *
 * Writes a classic libpcap file (Ethernet link type) holding IPv4 / IPv6
 * packets (TCP, UDP, ICMP, ICMPv6, IPv4 and IPv6 fragments) with correct
 * lengths and checksums. The same scenario and seed always give the same
 * bytes. scripts/make-pcaps.sh replays these files into real exporters.
 *
 * Protected networks (examples/breakwater.yaml): 198.51.100.0/24,
 * 203.0.113.0/24, 2001:db8::/32; 198.51.100.1 is whitelisted there and is only
 * attacked in the `whitelist` scenario. Outside addresses are taken from
 * 198.18.0.0/15 (benchmarking range) and random public-looking addresses.
 */
import { openSync, writeSync, closeSync } from 'node:fs';

// ---------------------------------------------------------------- randomness

/** xorshift128+ style 32-bit generator (sfc32), seeded deterministically. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  constructor(seed: number) {
    this.a = 0x9e3779b9;
    this.b = 0x243f6a88;
    this.c = 0xb7e15162;
    this.d = seed >>> 0;
    for (let i = 0; i < 16; i++) this.u32();
  }
  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }
  /** Uniform float in [0, 1). */
  next(): number {
    return this.u32() / 4294967296;
  }
  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)];
  }
  /** Exponential inter-arrival with the given mean. */
  exp(mean: number): number {
    return -Math.log(1 - this.next()) * mean;
  }
}

// ---------------------------------------------------------------- addresses

function v4(s: string): Buffer {
  return Buffer.from(s.split('.').map((x) => Number(x)));
}

function v6(s: string): Buffer {
  const [head, tail] = s.includes('::') ? s.split('::') : [s, undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

function addr(s: string): Buffer {
  return s.includes(':') ? v6(s) : v4(s);
}

/** A public-looking random IPv4 source (avoids private, reserved, multicast and our networks). */
function randomPublicV4(rng: Rng): string {
  for (;;) {
    const a = rng.int(1, 223);
    if ([10, 100, 127, 169, 172, 192, 198, 203, 224].includes(a)) continue;
    return `${a}.${rng.int(0, 255)}.${rng.int(0, 255)}.${rng.int(1, 254)}`;
  }
}

function randomPublicV6(rng: Rng): string {
  const g = () => rng.int(0, 0xffff).toString(16);
  return `2a0${rng.int(0, 9)}:${g()}:${g()}:${g()}:${g()}:${g()}:${g()}:${g()}`;
}

// ---------------------------------------------------------------- packets

const MAC_A = Buffer.from([0x02, 0x00, 0x5e, 0x10, 0x00, 0x01]); // "router" side
const MAC_B = Buffer.from([0x02, 0x00, 0x5e, 0x10, 0x00, 0x02]); // "customer" side

function sum16(buf: Buffer, init = 0): number {
  let s = init;
  const n = buf.length & ~1;
  for (let i = 0; i < n; i += 2) s += buf.readUInt16BE(i);
  if (buf.length & 1) s += buf[buf.length - 1] << 8;
  return s;
}

function fold(s: number): number {
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** Internet checksum of an L4 segment with the IPv4/IPv6 pseudo header. */
function l4Checksum(src: Buffer, dst: Buffer, proto: number, seg: Buffer): number {
  let s = sum16(src) + sum16(dst) + proto + seg.length;
  if (src.length === 16) s += 0; // IPv6 pseudo header: same fields, 32-bit length fits
  s = sum16(seg, s);
  const c = fold(s);
  return proto === 17 && c === 0 ? 0xffff : c;
}

export interface Flow {
  src: string;
  dst: string;
}

function tcpSeg(sport: number, dport: number, seq: number, ack: number, flags: number, payloadLen: number, opts?: Buffer): Buffer {
  const optLen = opts ? opts.length : 0;
  const h = Buffer.alloc(20 + optLen + payloadLen);
  h.writeUInt16BE(sport, 0);
  h.writeUInt16BE(dport, 2);
  h.writeUInt32BE(seq >>> 0, 4);
  h.writeUInt32BE(ack >>> 0, 8);
  h[12] = ((20 + optLen) / 4) << 4;
  h[13] = flags;
  h.writeUInt16BE(64240, 14);
  if (opts) opts.copy(h, 20);
  for (let i = 20 + optLen; i < h.length; i++) h[i] = (i * 7) & 0xff;
  return h;
}

function udpSeg(sport: number, dport: number, payloadLen: number, fill = 0x5a): Buffer {
  // Well-known services get well-formed application payloads (they show up in sFlow header samples).
  const app = sport === 53 || dport === 53 ? dnsMessage(payloadLen, sport === 53) : sport === 123 && payloadLen === 440 ? ntpMonlist() : sport === 11211 ? memcachedValue(payloadLen) : undefined;
  if (app) payloadLen = app.length;
  const h = Buffer.alloc(8 + payloadLen, fill);
  if (app) app.copy(h, 8);
  h.writeUInt16BE(sport, 0);
  h.writeUInt16BE(dport, 2);
  h.writeUInt16BE(8 + payloadLen, 4);
  h.writeUInt16BE(0, 6);
  return h;
}

/** A well-formed DNS message of exactly `len` bytes: question for example.com, and for responses TXT answers filling the rest. */
function dnsMessage(len: number, response: boolean): Buffer {
  const q = Buffer.from([7, ...Buffer.from('example'), 3, ...Buffer.from('com'), 0, 0, response ? 255 : 1, 0, 1]);
  const m = Buffer.alloc(Math.max(len, 12 + q.length));
  m.writeUInt16BE((len * 31) & 0xffff, 0);
  m.writeUInt16BE(response ? 0x8180 : 0x0100, 2);
  m.writeUInt16BE(1, 4);
  q.copy(m, 12);
  let p = 12 + q.length;
  let answers = 0;
  // each TXT answer: name pointer (2) type (2) class (2) ttl (4) rdlength (2) rdata (>= 1)
  while (response && len - p >= 13) {
    const rdlen = Math.min(len - p - 12, 256);
    m.writeUInt16BE(0xc00c, p);
    m.writeUInt16BE(16, p + 2);
    m.writeUInt16BE(1, p + 4);
    m.writeUInt32BE(3600, p + 6);
    m.writeUInt16BE(rdlen, p + 10);
    m[p + 12] = rdlen - 1; // one character-string filling the rdata
    m.fill(0x61, p + 13, p + 12 + rdlen);
    p += 12 + rdlen;
    answers++;
  }
  m.writeUInt16BE(answers, 6);
  return m.subarray(0, p); // at most `len` bytes (a query is just header and question)
}

/** NTP mode 7 MON_GETLIST_1 response: 8-byte header and 6 items of 72 bytes (440 bytes). */
function ntpMonlist(): Buffer {
  const m = Buffer.alloc(440);
  m[0] = 0x97; // response, version 2, mode 7
  m[1] = 0; // sequence
  m[2] = 3; // implementation XNTPD
  m[3] = 42; // MON_GETLIST_1
  m.writeUInt16BE(6, 4); // err 0, 6 items
  m.writeUInt16BE(72, 6); // item size
  for (let i = 0; i < 6; i++) m.fill(0x11 * (i + 1), 8 + i * 72, 8 + (i + 1) * 72);
  return m;
}

/** memcached UDP frame header and a "VALUE" response line followed by data. */
function memcachedValue(len: number): Buffer {
  const m = Buffer.alloc(len, 0x4d);
  m.writeUInt16BE(1, 0); // request id
  m.writeUInt16BE(0, 2); // sequence
  m.writeUInt16BE(1, 4); // datagrams
  m.write(`VALUE k 0 ${len - 8 - 20}\r\n`, 8, 'latin1');
  return m;
}

function icmpEcho(v6: boolean, request: boolean, id: number, seq: number, payloadLen: number): Buffer {
  const h = Buffer.alloc(8 + payloadLen, 0x61);
  h[0] = v6 ? (request ? 128 : 129) : request ? 8 : 0;
  h[1] = 0;
  h.writeUInt16BE(0, 2);
  h.writeUInt16BE(id & 0xffff, 4);
  h.writeUInt16BE(seq & 0xffff, 6);
  return h;
}

const PROTO_TCP = 6;
const PROTO_UDP = 17;
const PROTO_ICMP = 1;
const PROTO_ICMP6 = 58;

/** Fill in the L4 checksum of a complete segment in place. */
function finishL4(src: Buffer, dst: Buffer, proto: number, seg: Buffer): Buffer {
  const off = proto === PROTO_TCP ? 16 : proto === PROTO_UDP ? 6 : 2;
  seg.writeUInt16BE(0, off);
  const c = proto === PROTO_ICMP ? fold(sum16(seg)) : l4Checksum(src, dst, proto, seg);
  seg.writeUInt16BE(c, off);
  return seg;
}

let ipId = 1;

function ipv4Header(src: Buffer, dst: Buffer, proto: number, totalLen: number, id: number, fragField: number, ttl: number): Buffer {
  const h = Buffer.alloc(20);
  h[0] = 0x45;
  h[1] = 0;
  h.writeUInt16BE(totalLen, 2);
  h.writeUInt16BE(id & 0xffff, 4);
  h.writeUInt16BE(fragField, 6);
  h[8] = ttl;
  h[9] = proto;
  src.copy(h, 12);
  dst.copy(h, 16);
  h.writeUInt16BE(fold(sum16(h)), 10);
  return h;
}

function ether(type: number, l3: Buffer[], outbound: boolean): Buffer {
  const e = Buffer.alloc(14);
  (outbound ? MAC_A : MAC_B).copy(e, 0);
  (outbound ? MAC_B : MAC_A).copy(e, 6);
  e.writeUInt16BE(type, 12);
  return Buffer.concat([e, ...l3]);
}

/** Build one or more Ethernet frames carrying `seg` from src to dst (fragmented when fragSize is given). */
function ipFrames(srcS: string, dstS: string, proto: number, seg: Buffer, outbound: boolean, fragSize = 0, ttl = 57): Buffer[] {
  const src = addr(srcS);
  const dst = addr(dstS);
  const isV6 = src.length === 16;
  const realProto = isV6 && proto === PROTO_ICMP ? PROTO_ICMP6 : proto;
  finishL4(src, dst, realProto, seg);
  const id = ipId++;
  if (!isV6) {
    if (!fragSize || seg.length <= fragSize) return [ether(0x0800, [ipv4Header(src, dst, realProto, 20 + seg.length, id, 0x4000 * (fragSize ? 0 : 1), ttl), seg], outbound)];
    const out: Buffer[] = [];
    const step = fragSize & ~7;
    for (let off = 0; off < seg.length; off += step) {
      const part = seg.subarray(off, Math.min(seg.length, off + step));
      const more = off + step < seg.length ? 0x2000 : 0;
      out.push(ether(0x0800, [ipv4Header(src, dst, realProto, 20 + part.length, id, more | (off / 8), ttl), part], outbound));
    }
    return out;
  }
  const v6h = (next: number, payloadLen: number) => {
    const h = Buffer.alloc(40);
    h.writeUInt32BE(0x60000000, 0);
    h.writeUInt16BE(payloadLen, 4);
    h[6] = next;
    h[7] = ttl;
    src.copy(h, 8);
    dst.copy(h, 24);
    return h;
  };
  if (!fragSize || seg.length <= fragSize) return [ether(0x86dd, [v6h(realProto, seg.length), seg], outbound)];
  const out: Buffer[] = [];
  const step = fragSize & ~7;
  for (let off = 0; off < seg.length; off += step) {
    const part = seg.subarray(off, Math.min(seg.length, off + step));
    const more = off + step < seg.length ? 1 : 0;
    const fh = Buffer.alloc(8);
    fh[0] = realProto;
    fh.writeUInt16BE((off / 8) * 8 + more, 2); // offset in 8-octet units << 3 | M
    fh.writeUInt32BE(0x10000 + id, 4);
    out.push(ether(0x86dd, [v6h(44, 8 + part.length), fh, part], outbound));
  }
  return out;
}

// ---------------------------------------------------------------- pcap writer

export class PcapOut {
  private fd: number;
  private chunks: Buffer[] = [];
  private size = 0;
  count = 0;
  constructor(path: string) {
    this.fd = openSync(path, 'w');
    const g = Buffer.alloc(24);
    g.writeUInt32LE(0xa1b2c3d4, 0);
    g.writeUInt16LE(2, 4);
    g.writeUInt16LE(4, 6);
    g.writeUInt32LE(65535, 16);
    g.writeUInt32LE(1, 20);
    this.push(g);
  }
  private push(b: Buffer): void {
    this.chunks.push(b);
    this.size += b.length;
    if (this.size > 1 << 20) this.flush();
  }
  private flush(): void {
    const all = Buffer.concat(this.chunks);
    writeSync(this.fd, all);
    this.chunks = [];
    this.size = 0;
  }
  write(timeUs: number, frame: Buffer): void {
    const h = Buffer.alloc(16);
    h.writeUInt32LE(Math.floor(timeUs / 1e6), 0);
    h.writeUInt32LE(Math.floor(timeUs % 1e6), 4);
    h.writeUInt32LE(frame.length, 8);
    h.writeUInt32LE(frame.length, 12);
    this.push(h);
    this.push(frame);
    this.count++;
  }
  close(): void {
    this.flush();
    closeSync(this.fd);
  }
}

// ---------------------------------------------------------------- scheduling

/** Packets are collected as (time in µs since scenario start, frame) and sorted before writing. */
export class Schedule {
  times: number[] = [];
  frames: Buffer[] = [];
  add(tSec: number, frames: Buffer[]): void {
    for (let i = 0; i < frames.length; i++) {
      // fragments of one datagram leave 2 µs apart, in order
      this.times.push(Math.round(tSec * 1e6) + i * 2);
      this.frames.push(frames[i]);
    }
  }
  write(out: PcapOut, epochSec: number): void {
    const idx = Array.from(this.times.keys()).sort((a, b) => this.times[a] - this.times[b] || a - b);
    for (const i of idx) out.write(epochSec * 1e6 + this.times[i], this.frames[i]);
  }
}

/** Evenly spaced events at `pps` over [t0, t1), with a little deterministic jitter. */
function each(rng: Rng, t0: number, t1: number, pps: number, fn: (t: number, i: number) => void): void {
  const n = Math.floor((t1 - t0) * pps);
  const step = 1 / pps;
  for (let i = 0; i < n; i++) fn(t0 + i * step + rng.next() * step * 0.5, i);
}

/** Poisson events with mean rate `perSec` over [t0, t1). */
function poisson(rng: Rng, t0: number, t1: number, perSec: number, fn: (t: number) => void): void {
  for (let t = t0 + rng.exp(1 / perSec); t < t1; t += rng.exp(1 / perSec)) fn(t);
}

// ---------------------------------------------------------------- benign traffic

const WEB_SERVERS = [
  ['198.51.100.10', 443],
  ['198.51.100.11', 80],
  ['203.0.113.10', 443],
  ['2001:db8:1::10', 443],
  ['2001:db8:2::80', 80],
] as const;
const DNS_SERVER_V4 = '198.51.100.53';
const DNS_SERVER_V6 = '2001:db8:1::53';

/** A whole TCP connection (handshake, data both ways, FIN close) starting at t. */
function tcpConnection(s: Schedule, rng: Rng, t: number, client: string, server: string, dport: number, inbound: boolean): void {
  const sport = rng.int(32768, 60999);
  let cseq = rng.u32();
  let sseq = rng.u32();
  const rtt = 0.005 + rng.next() * 0.05;
  const mss = Buffer.from([2, 4, 0x05, 0xb4, 1, 1, 4, 2]);
  const c2s = (tt: number, flags: number, len: number, opts?: Buffer) => {
    s.add(tt, ipFrames(client, server, PROTO_TCP, tcpSeg(sport, dport, cseq, sseq, flags, len, opts), !inbound));
    cseq += len + (flags & 0x03 ? 1 : 0);
  };
  const s2c = (tt: number, flags: number, len: number, opts?: Buffer) => {
    s.add(tt, ipFrames(server, client, PROTO_TCP, tcpSeg(dport, sport, sseq, cseq, flags, len, opts), inbound));
    sseq += len + (flags & 0x03 ? 1 : 0);
  };
  c2s(t, 0x02, 0, mss);
  s2c(t + rtt / 2, 0x12, 0, mss);
  c2s(t + rtt, 0x10, 0);
  c2s(t + rtt + 0.001, 0x18, rng.int(200, 700));
  let tt = t + rtt * 1.5;
  const segs = rng.int(1, 12);
  const mssLen = server.includes(':') ? 1440 : 1460; // 1500-byte MTU
  for (let i = 0; i < segs; i++) {
    s2c(tt, 0x10, i === segs - 1 ? rng.int(100, mssLen) : mssLen);
    if (i % 2 === 1) c2s(tt + rtt / 2, 0x10, 0);
    tt += 0.002 + rng.next() * 0.01;
  }
  s2c(tt, 0x11, 0);
  c2s(tt + rtt / 2, 0x11, 0);
  s2c(tt + rtt, 0x10, 0);
}

/**
 * Benign mix: long flows for the whole duration, short TCP connections, DNS,
 * NTP client traffic, ICMP / ICMPv6 echo, IPv4 and IPv6 fragments, in and out.
 * About 300 packets/s at scale 1.
 */
function benign(s: Schedule, rng: Rng, dur: number, scale = 1): void {
  // Long flows lasting the whole capture.
  const longTcp = (client: string, server: string, dport: number, inbound: boolean, dataPps: number, ackPps: number) => {
    const sport = rng.int(32768, 60999);
    let sseq = rng.u32();
    const cseq = rng.u32();
    const len = server.includes(':') ? 1428 : 1448; // timestamps option assumed, 1500-byte MTU
    each(rng, 0, dur, dataPps * scale, (t) => {
      s.add(t, ipFrames(server, client, PROTO_TCP, tcpSeg(dport, sport, sseq, cseq, 0x10, len), inbound));
      sseq += len;
    });
    each(rng, 0, dur, ackPps * scale, (t) => s.add(t, ipFrames(client, server, PROTO_TCP, tcpSeg(sport, dport, cseq, sseq, 0x10, 0), !inbound)));
  };
  longTcp('198.18.1.20', '198.51.100.10', 443, false, 40, 20); // download served from our web server (out), acks in
  longTcp('2a02:6b8:1::20', '2001:db8:1::22', 22, false, 8, 8); // long SSH session over IPv6
  longTcp('203.0.113.60', '198.18.9.9', 443, true, 30, 15); // a customer downloading from outside (in)
  const longUdp = (src: string, dst: string, sport: number, dport: number, pps: number, size: number, inbound: boolean) =>
    each(rng, 0, dur, pps * scale, (t) => s.add(t, ipFrames(src, dst, PROTO_UDP, udpSeg(sport, dport, size), !inbound ? true : false)));
  longUdp('198.18.3.3', '203.0.113.50', 40000, 5004, 50, 172, true); // RTP stream in
  longUdp('2a03:2880:1::3', '2001:db8:2::443', 443, 51000, 30, 1200, true); // QUIC download over IPv6
  longUdp('2001:db8:2::443', '2a03:2880:1::3', 51000, 443, 10, 60, false);

  // Short TCP connections, v4 and v6, mostly inbound to our servers, some outbound.
  poisson(rng, 0, dur - 1, 6 * scale, (t) => {
    const [server, port] = rng.pick(WEB_SERVERS);
    const client = server.includes(':') ? randomPublicV6(rng) : randomPublicV4(rng);
    tcpConnection(s, rng, t, client, server, port, true);
  });
  poisson(rng, 0, dur - 1, 2 * scale, (t) => {
    const client = `203.0.113.${rng.int(100, 199)}`;
    tcpConnection(s, rng, t, client, `198.18.${rng.int(10, 50)}.${rng.int(1, 254)}`, rng.pick([80, 443]), false);
  });

  // DNS: queries to our resolver and from our customers, responses back.
  poisson(rng, 0, dur - 0.1, 10 * scale, (t) => {
    const v6 = rng.next() < 0.3;
    const client = v6 ? randomPublicV6(rng) : randomPublicV4(rng);
    const server = v6 ? DNS_SERVER_V6 : DNS_SERVER_V4;
    const sport = rng.int(1024, 65535);
    s.add(t, ipFrames(client, server, PROTO_UDP, udpSeg(sport, 53, rng.int(28, 60)), false));
    s.add(t + 0.002, ipFrames(server, client, PROTO_UDP, udpSeg(53, sport, rng.int(60, 300)), true));
  });
  poisson(rng, 0, dur - 0.1, 4 * scale, (t) => {
    const client = `198.51.100.${rng.int(100, 199)}`;
    const sport = rng.int(1024, 65535);
    s.add(t, ipFrames(client, '198.18.53.53', PROTO_UDP, udpSeg(sport, 53, 40), true));
    s.add(t + 0.01, ipFrames('198.18.53.53', client, PROTO_UDP, udpSeg(53, sport, 120), false));
  });
  // Normal NTP client exchanges (48-byte NTP payload).
  poisson(rng, 0, dur - 0.1, 2 * scale, (t) => {
    const client = `203.0.113.${rng.int(100, 199)}`;
    s.add(t, ipFrames(client, '198.18.123.1', PROTO_UDP, udpSeg(123, 123, 48), true));
    s.add(t + 0.02, ipFrames('198.18.123.1', client, PROTO_UDP, udpSeg(123, 123, 48), false));
  });
  // ICMP / ICMPv6 echo.
  each(rng, 0, dur, 1 * scale, (t, i) => {
    s.add(t, ipFrames('198.18.7.1', '198.51.100.10', PROTO_ICMP, icmpEcho(false, true, 77, i, 56), false));
    s.add(t + 0.003, ipFrames('198.51.100.10', '198.18.7.1', PROTO_ICMP, icmpEcho(false, false, 77, i, 56), true));
  });
  each(rng, 0.5, dur, 1 * scale, (t, i) => {
    s.add(t, ipFrames('2a02:6b8::7', '2001:db8:1::10', PROTO_ICMP, icmpEcho(true, true, 78, i, 56), false));
    s.add(t + 0.003, ipFrames('2001:db8:1::10', '2a02:6b8::7', PROTO_ICMP, icmpEcho(true, false, 78, i, 56), true));
  });
  // Fragmented UDP: large EDNS answers (IPv4, 3 fragments) and IPv6 fragments.
  poisson(rng, 0, dur - 0.1, 1 * scale, (t) => {
    s.add(t, ipFrames('198.18.53.53', `198.51.100.${rng.int(100, 199)}`, PROTO_UDP, udpSeg(53, rng.int(1024, 65535), 3200), false, 1480));
  });
  poisson(rng, 0, dur - 0.1, 0.5 * scale, (t) => {
    s.add(t, ipFrames('2a02:6b8::53', `2001:db8:1::${rng.int(0x100, 0x1ff).toString(16)}`, PROTO_UDP, udpSeg(53, rng.int(1024, 65535), 2600), false, 1232));
  });
}

// ---------------------------------------------------------------- scenarios

export interface Scenario {
  name: string;
  description: string;
  /** Seconds of traffic. */
  duration: number;
  /** Attack window [start, end) in seconds, if any. */
  attack?: { start: number; end: number; pps: number; target: string; ipBytes: string };
  build(s: Schedule, rng: Rng): void;
}

const ATTACK_START = 4;
const ATTACK_END = 12;
const ATTACK_DUR = 16;

function reflectors(rng: Rng, n: number): string[] {
  return Array.from({ length: n }, () => randomPublicV4(rng));
}

export const SCENARIOS: Scenario[] = [
  {
    name: 'benign',
    description: 'benign mix only: IPv4+IPv6, TCP/UDP/ICMP, IPv4 and IPv6 fragments, 6 long flows lasting the whole capture',
    duration: 30,
    build: (s, rng) => benign(s, rng, 30),
  },
  {
    name: 'syn-flood',
    description: 'TCP SYN flood (spoofed random sources and ports) to 198.51.100.10:80',
    duration: ATTACK_DUR,
    attack: { start: ATTACK_START, end: ATTACK_END, pps: 20000, target: '198.51.100.10', ipBytes: '44 (SYN + MSS option)' },
    build: (s, rng) => {
      benign(s, rng, ATTACK_DUR, 0.5);
      const mss = Buffer.from([2, 4, 0x05, 0xb4]);
      each(rng, ATTACK_START, ATTACK_END, 20000, (t) =>
        s.add(t, ipFrames(randomPublicV4(rng), '198.51.100.10', PROTO_TCP, tcpSeg(rng.int(1024, 65535), 80, rng.u32(), 0, 0x02, 0, mss), false, 0, rng.int(40, 250))),
      );
    },
  },
  {
    name: 'ntp-amp',
    description: 'NTP amplification (monlist responses, UDP source port 123, 468-byte IP packets) from 400 reflectors to 203.0.113.20',
    duration: ATTACK_DUR,
    attack: { start: ATTACK_START, end: ATTACK_END, pps: 12000, target: '203.0.113.20', ipBytes: '468' },
    build: (s, rng) => {
      benign(s, rng, ATTACK_DUR, 0.5);
      const refl = reflectors(rng, 400);
      each(rng, ATTACK_START, ATTACK_END, 12000, (t) => s.add(t, ipFrames(rng.pick(refl), '203.0.113.20', PROTO_UDP, udpSeg(123, rng.int(1024, 65535), 440, 0x17), false)));
    },
  },
  {
    name: 'dns-amp',
    description: 'DNS amplification (UDP source port 53, 1,200-1,460-byte IP packets) from 300 open resolvers to 198.51.100.60',
    duration: ATTACK_DUR,
    attack: { start: ATTACK_START, end: ATTACK_END, pps: 8000, target: '198.51.100.60', ipBytes: '1200-1460' },
    build: (s, rng) => {
      benign(s, rng, ATTACK_DUR, 0.5);
      const refl = reflectors(rng, 300);
      each(rng, ATTACK_START, ATTACK_END, 8000, (t) => s.add(t, ipFrames(rng.pick(refl), '198.51.100.60', PROTO_UDP, udpSeg(53, rng.int(1024, 65535), rng.int(1172, 1432), 0x35), false)));
    },
  },
  {
    name: 'memcached-amp',
    description: 'memcached amplification (UDP source port 11211, 1,428-byte IP packets) from 100 reflectors to 203.0.113.30',
    duration: ATTACK_DUR,
    attack: { start: ATTACK_START, end: ATTACK_END, pps: 6000, target: '203.0.113.30', ipBytes: '1428' },
    build: (s, rng) => {
      benign(s, rng, ATTACK_DUR, 0.5);
      const refl = reflectors(rng, 100);
      each(rng, ATTACK_START, ATTACK_END, 6000, (t) => s.add(t, ipFrames(rng.pick(refl), '203.0.113.30', PROTO_UDP, udpSeg(11211, rng.int(1024, 65535), 1400, 0x4d), false)));
    },
  },
  {
    name: 'icmp-flood',
    description: 'ICMP echo-request flood (84-byte IP packets, spoofed random sources) to 198.51.100.20',
    duration: ATTACK_DUR,
    attack: { start: ATTACK_START, end: ATTACK_END, pps: 20000, target: '198.51.100.20', ipBytes: '84' },
    build: (s, rng) => {
      benign(s, rng, ATTACK_DUR, 0.5);
      each(rng, ATTACK_START, ATTACK_END, 20000, (t, i) => s.add(t, ipFrames(randomPublicV4(rng), '198.51.100.20', PROTO_ICMP, icmpEcho(false, true, rng.int(1, 65535), i, 56), false)));
    },
  },
  {
    name: 'carpet-bomb',
    description: 'carpet bomb: DNS-reflection style UDP (source port 53, 540-byte IP packets) spread evenly over 203.0.113.1-254, about 79 pps per host, 20,000 pps for the /24',
    duration: ATTACK_DUR,
    attack: { start: ATTACK_START, end: ATTACK_END, pps: 20000, target: '203.0.113.0/24 (254 hosts, ~79 pps each)', ipBytes: '540' },
    build: (s, rng) => {
      benign(s, rng, ATTACK_DUR, 0.5);
      const refl = reflectors(rng, 500);
      each(rng, ATTACK_START, ATTACK_END, 20000, (t, i) => s.add(t, ipFrames(rng.pick(refl), `203.0.113.${(i % 254) + 1}`, PROTO_UDP, udpSeg(53, rng.int(1024, 65535), 512, 0x35), false)));
    },
  },
  {
    name: 'outgoing',
    description: 'outgoing attack: our host 198.51.100.77 floods 198.18.200.1 (outside) with UDP to port 27015 (256-byte IP packets)',
    duration: ATTACK_DUR,
    attack: { start: ATTACK_START, end: ATTACK_END, pps: 20000, target: '198.18.200.1 (from 198.51.100.77, outgoing)', ipBytes: '256' },
    build: (s, rng) => {
      benign(s, rng, ATTACK_DUR, 0.5);
      each(rng, ATTACK_START, ATTACK_END, 20000, (t) => s.add(t, ipFrames('198.51.100.77', '198.18.200.1', PROTO_UDP, udpSeg(rng.int(1024, 65535), 27015, 228, 0x00), true)));
    },
  },
  {
    name: 'ipv6-udp-flood',
    description: 'IPv6 UDP flood (random IPv6 sources and ports, 200-byte IP packets) to 2001:db8:100::10',
    duration: ATTACK_DUR,
    attack: { start: ATTACK_START, end: ATTACK_END, pps: 12000, target: '2001:db8:100::10', ipBytes: '200' },
    build: (s, rng) => {
      benign(s, rng, ATTACK_DUR, 0.5);
      each(rng, ATTACK_START, ATTACK_END, 12000, (t) => s.add(t, ipFrames(randomPublicV6(rng), '2001:db8:100::10', PROTO_UDP, udpSeg(rng.int(1024, 65535), rng.int(1, 65535), 152, 0x66), false)));
    },
  },
  {
    name: 'fragment-flood',
    description: 'IPv4 fragment flood: 1,208-byte UDP datagrams (6,667/s) cut into 4 fragments (420/420/420/28 IP bytes), 26,667 fragments/s to 198.51.100.30',
    duration: ATTACK_DUR,
    attack: { start: ATTACK_START, end: ATTACK_END, pps: 26667, target: '198.51.100.30', ipBytes: '420/420/420/28 (fragments)' },
    build: (s, rng) => {
      benign(s, rng, ATTACK_DUR, 0.5);
      each(rng, ATTACK_START, ATTACK_END, 20000 / 3, (t) => s.add(t, ipFrames(randomPublicV4(rng), '198.51.100.30', PROTO_UDP, udpSeg(rng.int(1024, 65535), rng.int(1, 65535), 1200, 0x46), false, 400)));
    },
  },
  {
    name: 'whitelist',
    description: 'TCP SYN flood to the whitelisted 198.51.100.1:443 (must be detected but never banned)',
    duration: ATTACK_DUR,
    attack: { start: ATTACK_START, end: ATTACK_END, pps: 20000, target: '198.51.100.1', ipBytes: '44 (SYN + MSS option)' },
    build: (s, rng) => {
      benign(s, rng, ATTACK_DUR, 0.5);
      const mss = Buffer.from([2, 4, 0x05, 0xb4]);
      each(rng, ATTACK_START, ATTACK_END, 20000, (t) =>
        s.add(t, ipFrames(randomPublicV4(rng), '198.51.100.1', PROTO_TCP, tcpSeg(rng.int(1024, 65535), 443, rng.u32(), 0, 0x02, 0, mss), false, 0, rng.int(40, 250))),
      );
    },
  },
];

/** Fixed start of every capture: 2025-01-01T00:00:00Z (only the spacing matters for replay). */
export const EPOCH = 1735689600;

export function generate(name: string, out: string, seed: number): number {
  const sc = SCENARIOS.find((x) => x.name === name);
  if (!sc) throw new Error(`unknown scenario ${name}; known: ${SCENARIOS.map((x) => x.name).join(', ')}`);
  ipId = 1;
  const rng = new Rng(seed);
  const s = new Schedule();
  sc.build(s, rng);
  const w = new PcapOut(out);
  s.write(w, EPOCH);
  w.close();
  return w.count;
}

function main(argv: string[]): void {
  const get = (k: string) => {
    const i = argv.indexOf(k);
    return i === -1 ? undefined : argv[i + 1];
  };
  if (argv.includes('--list')) {
    for (const sc of SCENARIOS) process.stdout.write(`${sc.name}\t${sc.duration}\t${sc.description}\n`);
    return;
  }
  const name = get('--scenario');
  const out = get('--out');
  if (!name || !out) {
    process.stderr.write('usage: gen-traffic.ts --scenario NAME --out FILE [--seed N] | --list\n');
    process.exit(2);
  }
  const n = generate(name, out, Number(get('--seed') ?? 1));
  process.stderr.write(`${name}: ${n} packets -> ${out}\n`);
}

if (import.meta.main) main(process.argv.slice(2));
