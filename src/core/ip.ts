/**
 * IPv4/IPv6 address and prefix helpers shared by config, flow, engine and BGP.
 * IPv4 addresses are unsigned 32-bit numbers; IPv6 addresses are 16-byte arrays.
 */

export type Family = 4 | 6;

export interface Prefix {
  readonly family: Family;
  /** Network address, host bits zero; 4 or 16 bytes. */
  readonly bytes: Uint8Array;
  readonly len: number;
}

export function parseIPv4(s: string): number {
  const parts = s.split('.');
  if (parts.length !== 4) return -1;
  let v = 0;
  for (const p of parts) {
    if (p.length === 0 || p.length > 3 || !/^[0-9]+$/.test(p)) return -1;
    if (p.length > 1 && p[0] === '0') return -1;
    const n = Number(p);
    if (n > 255) return -1;
    v = v * 256 + n;
  }
  return v;
}

export function formatIPv4(v: number): string {
  return `${(v >>> 24) & 255}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

export function ipv4ToBytes(v: number, out: Uint8Array = new Uint8Array(4), off = 0): Uint8Array {
  out[off] = (v >>> 24) & 255;
  out[off + 1] = (v >>> 16) & 255;
  out[off + 2] = (v >>> 8) & 255;
  out[off + 3] = v & 255;
  return out;
}

export function bytesToIPv4(b: Uint8Array, off = 0): number {
  return ((b[off] << 24) >>> 0) + ((b[off + 1] << 16) | (b[off + 2] << 8) | b[off + 3]);
}

export function parseIPv6(s: string): Uint8Array | null {
  if (s.length < 2 || s.length > 45 || s.includes('%')) return null;
  const out = new Uint8Array(16);
  const dbl = s.indexOf('::');
  if (dbl !== -1 && s.indexOf('::', dbl + 1) !== -1) return null;
  const parseGroups = (part: string): number[] | null => {
    if (part === '') return [];
    const groups = part.split(':');
    const words: number[] = [];
    for (let i = 0; i < groups.length; i++) {
      const g = groups[i];
      if (i === groups.length - 1 && g.includes('.')) {
        const v4 = parseIPv4(g);
        if (v4 < 0) return null;
        words.push((v4 >>> 16) & 0xffff, v4 & 0xffff);
        continue;
      }
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
      words.push(parseInt(g, 16));
    }
    return words;
  };
  let words: number[];
  if (dbl === -1) {
    const w = parseGroups(s);
    if (!w || w.length !== 8) return null;
    words = w;
  } else {
    const head = parseGroups(s.slice(0, dbl));
    const tail = parseGroups(s.slice(dbl + 2));
    if (!head || !tail || head.length + tail.length > 7) return null;
    words = [...head, ...new Array(8 - head.length - tail.length).fill(0), ...tail];
  }
  for (let i = 0; i < 8; i++) {
    out[i * 2] = words[i] >> 8;
    out[i * 2 + 1] = words[i] & 0xff;
  }
  return out;
}

/** RFC 5952 canonical text form. */
export function formatIPv6(b: Uint8Array, off = 0): string {
  const w = new Array<number>(8);
  for (let i = 0; i < 8; i++) w[i] = (b[off + i * 2] << 8) | b[off + i * 2 + 1];
  // IPv4-mapped ::ffff:a.b.c.d
  if (w[0] === 0 && w[1] === 0 && w[2] === 0 && w[3] === 0 && w[4] === 0 && w[5] === 0xffff) {
    return `::ffff:${b[off + 12]}.${b[off + 13]}.${b[off + 14]}.${b[off + 15]}`;
  }
  let bestStart = -1, bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (w[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = (n: number) => n.toString(16);
  if (bestStart === -1) return w.map(hex).join(':');
  const head = w.slice(0, bestStart).map(hex).join(':');
  const tail = w.slice(bestStart + bestLen).map(hex).join(':');
  return `${head}::${tail}`;
}

export function parseIP(s: string): { family: Family; bytes: Uint8Array } | null {
  if (s.includes(':')) {
    const b = parseIPv6(s);
    return b ? { family: 6, bytes: b } : null;
  }
  const v = parseIPv4(s);
  return v < 0 ? null : { family: 4, bytes: ipv4ToBytes(v) };
}

export function formatIP(family: Family, bytes: Uint8Array, off = 0): string {
  return family === 4 ? formatIPv4(bytesToIPv4(bytes, off)) : formatIPv6(bytes, off);
}

export function isIP(s: string): boolean {
  return parseIP(s) !== null;
}

/** Zeroes the bits past `len` in place. */
export function maskBytes(b: Uint8Array, len: number): Uint8Array {
  for (let i = 0; i < b.length; i++) {
    const bitStart = i * 8;
    if (bitStart >= len) b[i] = 0;
    else if (bitStart + 8 > len) b[i] &= (0xff << (8 - (len - bitStart))) & 0xff;
  }
  return b;
}

export function hostBitsSet(b: Uint8Array, len: number): boolean {
  const copy = maskBytes(Uint8Array.from(b), len);
  for (let i = 0; i < b.length; i++) if (copy[i] !== b[i]) return true;
  return false;
}

/**
 * Parses "a.b.c.d/len", "x::/len" or a bare address (a host prefix).
 * Returns the prefix or an error message. With strict, host bits must be zero.
 */
export function parsePrefix(s: string, strict = true): Prefix | string {
  if (typeof s !== 'string') return 'not a string';
  const slash = s.indexOf('/');
  const addr = slash === -1 ? s : s.slice(0, slash);
  const ip = parseIP(addr.trim());
  if (!ip) return `"${s}" is not an IP address or prefix`;
  const max = ip.family === 4 ? 32 : 128;
  let len = max;
  if (slash !== -1) {
    const l = s.slice(slash + 1);
    if (!/^[0-9]{1,3}$/.test(l) || Number(l) > max) return `"${s}" has an invalid prefix length (0..${max})`;
    len = Number(l);
  }
  if (hostBitsSet(ip.bytes, len)) {
    if (strict) {
      const net = maskBytes(Uint8Array.from(ip.bytes), len);
      return `"${s}" has host bits set (did you mean ${formatIP(ip.family, net)}/${len}?)`;
    }
    maskBytes(ip.bytes, len);
  }
  return { family: ip.family, bytes: ip.bytes, len };
}

export function formatPrefix(p: Prefix): string {
  return `${formatIP(p.family, p.bytes)}/${p.len}`;
}

/** True when address `b` (4 or 16 bytes of `family`) lies inside `p`. */
export function prefixContains(p: Prefix, family: Family, b: Uint8Array, off = 0): boolean {
  if (p.family !== family) return false;
  const full = p.len >> 3;
  for (let i = 0; i < full; i++) if (p.bytes[i] !== b[off + i]) return false;
  const rem = p.len & 7;
  if (rem === 0) return true;
  const mask = (0xff << (8 - rem)) & 0xff;
  return (p.bytes[full] & mask) === (b[off + full] & mask);
}

/** True when `inner` lies wholly inside `outer`. */
export function prefixCovers(outer: Prefix, inner: Prefix): boolean {
  return outer.family === inner.family && outer.len <= inner.len && prefixContains(outer, inner.family, inner.bytes);
}

export function prefixesOverlap(a: Prefix, b: Prefix): boolean {
  return prefixCovers(a, b) || prefixCovers(b, a);
}

/** Number of addresses in a prefix, as a float (2^128 does not fit an integer). */
export function prefixSize(p: Prefix): number {
  return 2 ** ((p.family === 4 ? 32 : 128) - p.len);
}

function keyOf(b: Uint8Array, off: number, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += String.fromCharCode(b[off + i]);
  return s;
}

/**
 * Longest-prefix-match table for a modest number of prefixes (config sets:
 * networks, whitelist, hostgroups). One hash lookup per distinct prefix length.
 */
export class PrefixMap<T> {
  private readonly v4 = new Map<number, Map<number, T>>();
  private readonly v6 = new Map<number, Map<string, T>>();
  private v4Lens: number[] = [];
  private v6Lens: number[] = [];
  private readonly entries: Array<[Prefix, T]> = [];

  set(p: Prefix, value: T): void {
    this.entries.push([p, value]);
    if (p.family === 4) {
      let m = this.v4.get(p.len);
      if (!m) { m = new Map(); this.v4.set(p.len, m); this.v4Lens = [...this.v4.keys()].sort((a, b) => b - a); }
      m.set(bytesToIPv4(p.bytes), value);
    } else {
      let m = this.v6.get(p.len);
      if (!m) { m = new Map(); this.v6.set(p.len, m); this.v6Lens = [...this.v6.keys()].sort((a, b) => b - a); }
      m.set(keyOf(maskBytes(Uint8Array.from(p.bytes), p.len), 0, 16), value);
    }
  }

  get size(): number {
    return this.entries.length;
  }

  list(): ReadonlyArray<[Prefix, T]> {
    return this.entries;
  }

  /** Longest match for an IPv4 address given as u32. */
  lookup4(addr: number): T | undefined {
    for (const len of this.v4Lens) {
      const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
      const hit = this.v4.get(len)!.get((addr & mask) >>> 0);
      if (hit !== undefined) return hit;
    }
    return undefined;
  }

  private readonly scratch = new Uint8Array(16);

  lookup6(b: Uint8Array, off = 0): T | undefined {
    if (this.v6Lens.length === 0) return undefined;
    const s = this.scratch;
    for (const len of this.v6Lens) {
      for (let i = 0; i < 16; i++) s[i] = b[off + i];
      maskBytes(s, len);
      const hit = this.v6.get(len)!.get(keyOf(s, 0, 16));
      if (hit !== undefined) return hit;
    }
    return undefined;
  }

  lookup(family: Family, b: Uint8Array, off = 0): T | undefined {
    return family === 4 ? this.lookup4(bytesToIPv4(b, off)) : this.lookup6(b, off);
  }

  /** Every stored prefix that overlaps `p` (covers it or lies inside it). */
  overlapping(p: Prefix): Array<[Prefix, T]> {
    return this.entries.filter(([q]) => prefixesOverlap(p, q));
  }
}

/**
 * The one canonical text of an address that names something (a BGP
 * neighbor, a peer): lower-case compressed IPv6, dotted IPv4, and an
 * IPv4-mapped IPv6 address ("::ffff:192.0.2.1") as its IPv4 address.
 * Text that is not an address comes back lower-cased.
 */
export function canonicalAddress(a: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(a.trim());
  const ip = parseIP(m ? m[1] : a.trim());
  return ip ? formatIP(ip.family, ip.bytes) : a.trim().toLowerCase();
}
