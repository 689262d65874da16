/**
 * Address sets the hot path needs: `networks` membership (IPv4 and IPv6 as
 * merged sorted ranges, binary search over typed arrays: IPv6 ranges as four
 * u32 words per bound, compared word by word), and hostgroup resolution (most
 * specific prefix wins), done once per new host.
 */
import { bytesToIPv4, parsePrefix, PrefixMap, type Prefix } from '../core/ip.ts';
import type { Hostgroup } from '../config/schema.ts';

export class NetworkSet {
  /** [start0, end0, start1, end1, ...] inclusive, sorted, merged. */
  private readonly r4: Float64Array;
  private readonly n4: number;
  /** [start0 w0..w3, end0 w0..w3, start1 ...] inclusive, sorted, merged. */
  private readonly r6: Uint32Array;
  private readonly n6: number;
  readonly has6: boolean;
  readonly prefixes: Prefix[];

  constructor(prefixes: readonly (string | Prefix)[]) {
    this.prefixes = prefixes.map((p) => (typeof p === 'string' ? (parsePrefix(p, false) as Prefix) : p));
    const ranges: Array<[number, number]> = [];
    const ranges6: Array<[bigint, bigint]> = [];
    for (const p of this.prefixes) {
      if (p.family === 4) {
        const start = bytesToIPv4(p.bytes);
        ranges.push([start, start + 2 ** (32 - p.len) - 1]);
      } else {
        let v = 0n;
        for (let i = 0; i < 16; i++) v = (v << 8n) | BigInt(p.bytes[i] ?? 0);
        const span = 1n << BigInt(128 - p.len);
        const start = v & ~(span - 1n) & ((1n << 128n) - 1n);
        ranges6.push([start, start + span - 1n]);
      }
    }
    ranges6.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const merged6: Array<[bigint, bigint]> = [];
    for (const r of ranges6) {
      const last = merged6[merged6.length - 1];
      if (last && r[0] <= last[1] + 1n) { if (r[1] > last[1]) last[1] = r[1]; }
      else merged6.push([r[0], r[1]]);
    }
    this.r6 = new Uint32Array(merged6.length * 8);
    merged6.forEach((r, i) => {
      for (let w = 0; w < 4; w++) {
        const sh = BigInt(96 - 32 * w);
        this.r6[8 * i + w] = Number((r[0] >> sh) & 0xffffffffn);
        this.r6[8 * i + 4 + w] = Number((r[1] >> sh) & 0xffffffffn);
      }
    });
    this.n6 = merged6.length;
    ranges.sort((a, b) => a[0] - b[0]);
    const merged: Array<[number, number]> = [];
    for (const r of ranges) {
      const last = merged[merged.length - 1];
      if (last && r[0] <= last[1] + 1) last[1] = Math.max(last[1], r[1]);
      else merged.push([r[0], r[1]]);
    }
    this.r4 = new Float64Array(merged.length * 2);
    merged.forEach((r, i) => { this.r4[2 * i] = r[0]; this.r4[2 * i + 1] = r[1]; });
    this.n4 = merged.length;
    this.has6 = this.n6 > 0;
  }

  /** IPv4 address (u32) inside the set? */
  has4(a: number): boolean {
    const r = this.r4;
    let lo = 0, hi = this.n4 - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (a < r[2 * mid]) hi = mid - 1;
      else if (a > r[2 * mid + 1]) lo = mid + 1;
      else return true;
    }
    return false;
  }

  /** IPv6 address (16 bytes at b[off]) inside the set? */
  hasV6(b: Uint8Array, off = 0): boolean {
    if (this.n6 === 0) return false;
    const a0 = ((b[off] << 24) | (b[off + 1] << 16) | (b[off + 2] << 8) | b[off + 3]) >>> 0;
    const a1 = ((b[off + 4] << 24) | (b[off + 5] << 16) | (b[off + 6] << 8) | b[off + 7]) >>> 0;
    const a2 = ((b[off + 8] << 24) | (b[off + 9] << 16) | (b[off + 10] << 8) | b[off + 11]) >>> 0;
    const a3 = ((b[off + 12] << 24) | (b[off + 13] << 16) | (b[off + 14] << 8) | b[off + 15]) >>> 0;
    const r = this.r6;
    let lo = 0, hi = this.n6 - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (cmp128(a0, a1, a2, a3, r, 8 * mid) < 0) hi = mid - 1;
      else if (cmp128(a0, a1, a2, a3, r, 8 * mid + 4) > 0) lo = mid + 1;
      else return true;
    }
    return false;
  }

  /** Total number of IPv4 addresses covered. */
  size4(): number {
    let n = 0;
    for (let i = 0; i < this.n4; i++) n += this.r4[2 * i + 1] - this.r4[2 * i] + 1;
    return n;
  }
}

/** Compares the address (a0..a3) with the 4 words at r[o]: -1, 0, 1. */
function cmp128(a0: number, a1: number, a2: number, a3: number, r: Uint32Array, o: number): number {
  if (a0 !== r[o]) return a0 < r[o] ? -1 : 1;
  if (a1 !== r[o + 1]) return a1 < r[o + 1] ? -1 : 1;
  if (a2 !== r[o + 2]) return a2 < r[o + 2] ? -1 : 1;
  if (a3 !== r[o + 3]) return a3 < r[o + 3] ? -1 : 1;
  return 0;
}

/** Most-specific hostgroup for an address. Group index = position in config.hostgroups. */
export class HostgroupIndex {
  private readonly map = new PrefixMap<number>();
  readonly groups: readonly Hostgroup[];

  constructor(groups: readonly Hostgroup[]) {
    this.groups = groups;
    // when two groups list the same prefix, the first one wins
    const seen = new Set<string>();
    groups.forEach((g, i) => {
      for (const s of g.networks) {
        const p = parsePrefix(s, false) as Prefix;
        const key = `${p.family}|${s}`;
        if (seen.has(key)) continue;
        seen.add(key);
        this.map.set(p, i);
      }
    });
  }

  /** Group index, or -1. */
  lookup4(a: number): number {
    return this.map.size === 0 ? -1 : (this.map.lookup4(a) ?? -1);
  }

  lookup6(b: Uint8Array, off = 0): number {
    return this.map.size === 0 ? -1 : (this.map.lookup6(b, off) ?? -1);
  }
}
