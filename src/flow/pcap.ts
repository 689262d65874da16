/**
 * pcap / pcapng reader (UDP datagrams only) and a small pcap writer.
 *
 * classic pcap (https://www.ietf.org/archive/id/draft-ietf-opsawg-pcap-04.html)
 *   +------------------------------+  magic a1b2c3d4 (µs) | a1b23c4d (ns), either byte order
 *   | magic | vmaj vmin | tz | sig |  snaplen | linktype (low 16 bits)
 *   +------------------------------+
 *   | ts_sec | ts_frac | caplen | origlen | data ... |  per record
 *
 * pcapng (draft-ietf-opsawg-pcapng): blocks  | type u32 | total len u32 | body | total len u32 |
 *   SHB 0x0a0d0d0a (byte-order magic 1a2b3c4d), IDB 1 (linktype u16, snaplen, options:
 *   if_tsresol 9, if_tsoffset 14), EPB 6 (if id, ts hi, ts lo, caplen, origlen, data),
 *   SPB 3 (origlen, data; interface 0, no time), obsolete PB 2.
 *
 * Link layers: Ethernet (1, 802.1Q/802.1ad tags), raw IP (12, 14, 101, 228, 229), Linux SLL
 * (113) and SLL2 (276), BSD null / loop (0, 108). IPv4 fragments and IPv6 fragment headers are
 * reassembled; anything that is not UDP is skipped.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { formatIPv4, formatIPv6, parseIP } from '../core/ip.ts';
import { BreakwaterError } from '../core/errors.ts';

export interface UdpPacket {
  /** Capture time, ms since the epoch (fractional). */
  time: number;
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  payload: Buffer;
}

export interface CaptureStats {
  frames: number;
  udp: number;
  skipped: number;
  fragments: number;
  reassembled: number;
  truncated: number;
  /** Why reading stopped early on a file that cannot be read on ('' = it did not): a record header past any frame size, an unknown link type. */
  corrupt: string;
}

const LINK = {
  NULL: 0,
  ETHERNET: 1,
  RAW_BSD1: 12,
  RAW_BSD2: 14,
  RAW: 101,
  LOOP: 108,
  SLL: 113,
  IPV4: 228,
  IPV6: 229,
  SLL2: 276,
} as const;
const KNOWN_LINKS: ReadonlySet<number> = new Set(Object.values(LINK));
/** Largest frame any link layer here carries (a 256 KiB snaplen is tcpdump's default). */
const MAX_FRAME = 262144;

/** Reads all UDP datagrams of a pcap or pcapng file, in file order. */
export function readCapture(path: string, stats?: CaptureStats): Iterable<UdpPacket> {
  return parseCapture(readFileSync(path), stats);
}

export function isCapture(buf: Buffer): boolean {
  if (buf.length < 4) return false;
  const m = buf.readUInt32LE(0);
  return m === 0xa1b2c3d4 || m === 0xd4c3b2a1 || m === 0xa1b23c4d || m === 0x4d3cb2a1 || m === 0x0a0d0d0a;
}

export function* parseCapture(buf: Buffer, stats: CaptureStats = newCaptureStats()): Generator<UdpPacket> {
  if (buf.length < 4) throw new BreakwaterError('invalid_capture', 'not a pcap/pcapng file (too short)');
  const le = buf.readUInt32LE(0);
  const frag = new Reassembler();
  if (le === 0x0a0d0d0a) {
    yield* parsePcapng(buf, stats, frag);
    return;
  }
  let little: boolean;
  let nano: boolean;
  if (le === 0xa1b2c3d4 || le === 0xa1b23c4d) little = true;
  else if (le === 0xd4c3b2a1 || le === 0x4d3cb2a1) little = false;
  else throw new BreakwaterError('invalid_capture', 'not a pcap/pcapng file (bad magic)');
  nano = le === 0xa1b23c4d || le === 0x4d3cb2a1;
  if (buf.length < 24) throw new BreakwaterError('invalid_capture', 'truncated pcap header');
  const u32 = (o: number) => (little ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const link = u32(20) & 0xffff;
  if (!KNOWN_LINKS.has(link)) {
    stats.corrupt ||= `unsupported link type ${link} (known: ${[...KNOWN_LINKS].join(', ')})`;
    return;
  }
  // incl_len never exceeds the snapshot length; past it (or past any real frame) the header is garbage
  const maxCaplen = Math.max(u32(16), MAX_FRAME);
  let p = 24;
  while (p + 16 <= buf.length) {
    const sec = u32(p);
    const frac = u32(p + 4);
    const caplen = u32(p + 8);
    if (caplen > maxCaplen) {
      stats.corrupt ||= `corrupt record header at byte ${p}: incl_len ${caplen} exceeds the snapshot length ${u32(16)}`;
      break;
    }
    p += 16;
    if (caplen > buf.length - p) {
      stats.truncated++;
      break;
    }
    const time = sec * 1000 + (nano ? frac / 1e6 : frac / 1e3);
    stats.frames++;
    const pkt = decodeFrame(link, buf.subarray(p, p + caplen), time, stats, frag);
    if (pkt) yield pkt;
    p += caplen;
  }
}

function* parsePcapng(buf: Buffer, stats: CaptureStats, frag: Reassembler): Generator<UdpPacket> {
  let little = true;
  // per interface: link type, units per second, offset (s)
  let ifLink: number[] = [];
  let ifUnits: number[] = [];
  let ifOffset: number[] = [];
  let p = 0;
  const u32 = (o: number) => (little ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const u16 = (o: number) => (little ? buf.readUInt16LE(o) : buf.readUInt16BE(o));
  while (p + 12 <= buf.length) {
    const typeLE = buf.readUInt32LE(p);
    if (typeLE === 0x0a0d0d0a) {
      const bom = buf.readUInt32LE(p + 8);
      if (bom === 0x1a2b3c4d) little = true;
      else if (bom === 0x4d3c2b1a) little = false;
      else throw new BreakwaterError('invalid_capture', 'pcapng: bad byte-order magic');
      ifLink = [];
      ifUnits = [];
      ifOffset = [];
    }
    const type = u32(p);
    const len = u32(p + 4);
    if (len < 12 || len % 4 !== 0 || p + len > buf.length) {
      stats.truncated++;
      break;
    }
    const body = p + 8;
    const bodyEnd = p + len - 4;
    if (type === 1 && bodyEnd - body >= 8) {
      // Interface Description Block
      ifLink.push(u16(body));
      let units = 1e6;
      let offset = 0;
      let o = body + 8;
      while (o + 4 <= bodyEnd) {
        const code = u16(o);
        const olen = u16(o + 2);
        if (code === 0) break;
        if (o + 4 + olen > bodyEnd) break;
        if (code === 9 && olen >= 1) {
          const r = buf[o + 4];
          units = r & 0x80 ? 2 ** (r & 0x7f) : 10 ** (r & 0x7f);
        } else if (code === 14 && olen >= 8) {
          // a 64-bit value in section byte order (seconds)
          offset = little ? buf.readInt32LE(o + 8) * 4294967296 + buf.readUInt32LE(o + 4) : buf.readInt32BE(o + 4) * 4294967296 + buf.readUInt32BE(o + 8);
        }
        o += 4 + ((olen + 3) & ~3);
      }
      ifUnits.push(units);
      ifOffset.push(offset);
    } else if ((type === 6 || type === 2) && bodyEnd - body >= 20) {
      // Enhanced Packet Block (6) / obsolete Packet Block (2: if id is u16 + drops u16)
      const ifId = type === 6 ? u32(body) : u16(body);
      const tsHi = u32(body + 4);
      const tsLo = u32(body + 8);
      const caplen = u32(body + 12);
      const data = body + 20;
      stats.frames++;
      if (ifId < ifLink.length && !KNOWN_LINKS.has(ifLink[ifId])) {
        stats.corrupt ||= `unsupported link type ${ifLink[ifId]} on interface ${ifId} (known: ${[...KNOWN_LINKS].join(', ')})`;
        break;
      }
      if (ifId < ifLink.length && caplen <= bodyEnd - data) {
        const units = ifUnits[ifId];
        // 64-bit tick count: split exactly so nanosecond files keep ms precision
        const ticks = (BigInt(tsHi) << 32n) | BigInt(tsLo);
        const u = BigInt(Math.round(units));
        const time = Number(ticks / u) * 1000 + (Number(ticks % u) * 1000) / units + ifOffset[ifId] * 1000;
        const pkt = decodeFrame(ifLink[ifId], buf.subarray(data, data + caplen), time, stats, frag);
        if (pkt) yield pkt;
      } else stats.truncated++;
    } else if (type === 3 && bodyEnd - body >= 4) {
      // Simple Packet Block: interface 0, no timestamp
      const origlen = u32(body);
      const data = body + 4;
      const caplen = Math.min(origlen, bodyEnd - data);
      stats.frames++;
      if (ifLink.length > 0) {
        const pkt = decodeFrame(ifLink[0], buf.subarray(data, data + caplen), 0, stats, frag);
        if (pkt) yield pkt;
      }
    }
    p += len;
  }
}

export function newCaptureStats(): CaptureStats {
  return { frames: 0, udp: 0, skipped: 0, fragments: 0, reassembled: 0, truncated: 0, corrupt: '' };
}

function decodeFrame(link: number, f: Buffer, time: number, stats: CaptureStats, frag: Reassembler): UdpPacket | null {
  let p = 0;
  let etype = -1;
  switch (link) {
    case LINK.ETHERNET: {
      if (f.length < 14) break;
      etype = f.readUInt16BE(12);
      p = 14;
      for (let i = 0; i < 4 && (etype === 0x8100 || etype === 0x88a8 || etype === 0x9100) && p + 4 <= f.length; i++) {
        etype = f.readUInt16BE(p + 2);
        p += 4;
      }
      break;
    }
    case LINK.RAW:
    case LINK.RAW_BSD1:
    case LINK.RAW_BSD2:
      if (f.length >= 1) etype = f[0] >> 4 === 6 ? 0x86dd : 0x0800;
      break;
    case LINK.IPV4:
      etype = 0x0800;
      break;
    case LINK.IPV6:
      etype = 0x86dd;
      break;
    case LINK.SLL:
      if (f.length >= 16) {
        etype = f.readUInt16BE(14);
        p = 16;
      }
      break;
    case LINK.SLL2:
      if (f.length >= 20) {
        etype = f.readUInt16BE(0);
        p = 20;
      }
      break;
    case LINK.NULL:
    case LINK.LOOP: {
      if (f.length < 4) break;
      let fam = link === LINK.LOOP ? f.readUInt32BE(0) : f.readUInt32LE(0);
      // DLT_NULL is host byte order: accept the other order too
      if (link === LINK.NULL && fam > 0xffff) fam = f.readUInt32BE(0);
      if (fam === 2) etype = 0x0800;
      else if (fam === 24 || fam === 28 || fam === 30 || fam === 10) etype = 0x86dd;
      p = 4;
      break;
    }
  }
  if (etype === 0x0800) return ipv4(f, p, time, stats, frag);
  if (etype === 0x86dd) return ipv6(f, p, time, stats, frag);
  stats.skipped++;
  return null;
}

function ipv4(f: Buffer, p: number, time: number, stats: CaptureStats, frag: Reassembler): UdpPacket | null {
  if (p + 20 > f.length || f[p] >> 4 !== 4) {
    stats.skipped++;
    return null;
  }
  const ihl = (f[p] & 15) * 4;
  const total = f.readUInt16BE(p + 2);
  const end = Math.min(f.length, p + total);
  if (ihl < 20 || p + ihl > end) {
    stats.skipped++;
    return null;
  }
  const proto = f[p + 9];
  if (proto !== 17) {
    stats.skipped++;
    return null;
  }
  const src = formatIPv4(f.readUInt32BE(p + 12));
  const dst = formatIPv4(f.readUInt32BE(p + 16));
  const ff = f.readUInt16BE(p + 6);
  const mf = (ff & 0x2000) !== 0;
  const off = (ff & 0x1fff) * 8;
  let l4 = f.subarray(p + ihl, end);
  if (mf || off !== 0) {
    stats.fragments++;
    const whole = frag.add(`4|${src}|${dst}|${f.readUInt16BE(p + 4)}`, off, mf, l4, time);
    if (whole === null) return null;
    stats.reassembled++;
    l4 = whole;
  }
  return udp(l4, src, dst, time, stats);
}

function ipv6(f: Buffer, p: number, time: number, stats: CaptureStats, frag: Reassembler): UdpPacket | null {
  if (p + 40 > f.length || f[p] >> 4 !== 6) {
    stats.skipped++;
    return null;
  }
  const plen = f.readUInt16BE(p + 4);
  const end = plen === 0 ? f.length : Math.min(f.length, p + 40 + plen);
  let nh = f[p + 6];
  const src = formatIPv6(f, p + 8);
  const dst = formatIPv6(f, p + 24);
  let o = p + 40;
  let fragKey: string | null = null;
  let fragOff = 0;
  let fragMore = false;
  for (let i = 0; i < 8; i++) {
    if (nh === 0 || nh === 43 || nh === 60) {
      if (o + 8 > end) break;
      const next = f[o];
      o += (f[o + 1] + 1) * 8;
      nh = next;
    } else if (nh === 44) {
      if (o + 8 > end) break;
      const next = f[o];
      const v = f.readUInt16BE(o + 2);
      fragOff = v & 0xfff8;
      fragMore = (v & 1) !== 0;
      fragKey = `6|${src}|${dst}|${f.readUInt32BE(o + 4)}`;
      o += 8;
      nh = next;
    } else break;
  }
  if (o > end) {
    stats.skipped++;
    return null;
  }
  let l4 = f.subarray(o, end);
  if (fragKey !== null) {
    stats.fragments++;
    // only the first fragment carries the UDP header; later ones have nh of the first
    const whole = frag.add(fragKey, fragOff, fragMore, l4, time, fragOff === 0 ? nh : -1);
    if (whole === null) return null;
    stats.reassembled++;
    nh = frag.lastNextHeader;
    l4 = whole;
  }
  if (nh !== 17) {
    stats.skipped++;
    return null;
  }
  return udp(l4, src, dst, time, stats);
}

function udp(l4: Buffer, src: string, dst: string, time: number, stats: CaptureStats): UdpPacket | null {
  if (l4.length < 8) {
    stats.skipped++;
    return null;
  }
  const ulen = l4.readUInt16BE(4);
  // ulen 0 is used for jumbograms; a short capture keeps what is there
  const end = ulen >= 8 ? Math.min(l4.length, ulen) : l4.length;
  stats.udp++;
  return { time, src, dst, srcPort: l4.readUInt16BE(0), dstPort: l4.readUInt16BE(2), payload: l4.subarray(8, end) };
}

interface Pending {
  parts: { off: number; data: Buffer }[];
  total: number;
  first: number;
  nh: number;
}

/** Bounded IP fragment reassembly: at most 256 datagrams in progress, 30 s lifetime. */
class Reassembler {
  private readonly pending = new Map<string, Pending>();
  lastNextHeader = -1;

  add(key: string, off: number, more: boolean, data: Buffer, time: number, nh = -1): Buffer | null {
    let e = this.pending.get(key);
    if (e === undefined) {
      if (this.pending.size >= 256) {
        for (const [k, v] of this.pending) if (time - v.first > 30000 || this.pending.size >= 256) this.pending.delete(k);
      }
      e = { parts: [], total: -1, first: time, nh: -1 };
      this.pending.set(key, e);
    }
    if (nh >= 0) e.nh = nh;
    e.parts.push({ off, data });
    if (!more) e.total = off + data.length;
    if (e.total < 0) return null;
    e.parts.sort((a, b) => a.off - b.off);
    let have = 0;
    for (const part of e.parts) {
      if (part.off > have) return null;
      have = Math.max(have, part.off + part.data.length);
    }
    if (have < e.total) return null;
    const out = Buffer.alloc(e.total);
    for (const part of e.parts) part.data.copy(out, part.off, 0, Math.min(part.data.length, e.total - part.off));
    this.pending.delete(key);
    this.lastNextHeader = e.nh;
    return out;
  }
}

/* ------------------------------------------------------------------ writer */

export interface WritePacket {
  time: number;
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  payload: Uint8Array;
}

function sum16(b: Uint8Array, start: number, end: number, acc = 0): number {
  for (let i = start; i + 1 < end; i += 2) acc += (b[i] << 8) | b[i + 1];
  if ((end - start) & 1) acc += b[end - 1] << 8;
  return acc;
}

function fold(acc: number): number {
  while (acc > 0xffff) acc = (acc & 0xffff) + Math.floor(acc / 65536);
  return ~acc & 0xffff;
}

/** One Ethernet / IPv4-or-IPv6 / UDP frame. */
export function encodeFrame(pk: WritePacket): Buffer {
  const s = parseIP(pk.src);
  const d = parseIP(pk.dst);
  if (!s || !d || s.family !== d.family) throw new Error(`bad address pair ${pk.src} -> ${pk.dst}`);
  const v6 = s.family === 6;
  const ipLen = v6 ? 40 : 20;
  const udpLen = 8 + pk.payload.length;
  if (udpLen > 0xffff || (!v6 && udpLen + 20 > 0xffff)) throw new Error('payload too large for one UDP datagram');
  const f = Buffer.alloc(14 + ipLen + udpLen);
  f.set([0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1], 0);
  f.writeUInt16BE(v6 ? 0x86dd : 0x0800, 12);
  const ip = 14;
  if (v6) {
    f.writeUInt32BE(0x60000000, ip);
    f.writeUInt16BE(udpLen, ip + 4);
    f[ip + 6] = 17;
    f[ip + 7] = 64;
    f.set(s.bytes, ip + 8);
    f.set(d.bytes, ip + 24);
  } else {
    f[ip] = 0x45;
    f.writeUInt16BE(20 + udpLen, ip + 2);
    f.writeUInt16BE(0x4000, ip + 6);
    f[ip + 8] = 64;
    f[ip + 9] = 17;
    f.set(s.bytes, ip + 12);
    f.set(d.bytes, ip + 16);
    f.writeUInt16BE(fold(sum16(f, ip, ip + 20)), ip + 10);
  }
  const u = ip + ipLen;
  f.writeUInt16BE(pk.srcPort, u);
  f.writeUInt16BE(pk.dstPort, u + 2);
  f.writeUInt16BE(udpLen, u + 4);
  f.set(pk.payload, u + 8);
  // UDP checksum over the pseudo header (mandatory for IPv6, written for IPv4 too)
  let acc = sum16(s.bytes, 0, s.bytes.length) + sum16(d.bytes, 0, d.bytes.length) + 17 + udpLen;
  acc = sum16(f, u, u + udpLen, acc);
  let ck = fold(acc);
  if (ck === 0) ck = 0xffff;
  f.writeUInt16BE(ck, u + 6);
  return f;
}

/** A classic pcap (µs, little endian, Ethernet) holding the given UDP datagrams. */
export function encodePcap(packets: Iterable<WritePacket>): Buffer {
  const chunks: Buffer[] = [];
  const h = Buffer.alloc(24);
  h.writeUInt32LE(0xa1b2c3d4, 0);
  h.writeUInt16LE(2, 4);
  h.writeUInt16LE(4, 6);
  h.writeUInt32LE(262144, 16);
  h.writeUInt32LE(LINK.ETHERNET, 20);
  chunks.push(h);
  for (const pk of packets) {
    const f = encodeFrame(pk);
    const r = Buffer.alloc(16);
    const t = Math.max(0, pk.time);
    let sec = Math.floor(t / 1000);
    let us = Math.round((t - sec * 1000) * 1000);
    if (us >= 1000000) {
      sec++;
      us -= 1000000;
    }
    r.writeUInt32LE(sec >>> 0, 0);
    r.writeUInt32LE(us, 4);
    r.writeUInt32LE(f.length, 8);
    r.writeUInt32LE(f.length, 12);
    chunks.push(r, f);
  }
  return Buffer.concat(chunks);
}

export function writePcap(path: string, packets: Iterable<WritePacket>): void {
  writeFileSync(path, encodePcap(packets));
}
