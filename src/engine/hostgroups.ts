/**
 * Address sets the hot path needs: `networks` membership (IPv4 as merged
 * sorted ranges, binary search over a typed array; IPv6 via PrefixMap), and
 * hostgroup resolution (most specific prefix wins), done once per new host.
 */
import { bytesToIPv4, parsePrefix, PrefixMap, type Prefix } from '../core/ip.ts';
import type { Hostgroup } from '../config/schema.ts';

export class NetworkSet {
  /** [start0, end0, start1, end1, ...] inclusive, sorted, merged. */
  private readonly r4: Float64Array;
  private readonly n4: number;
  private readonly v6: PrefixMap<true>;
  readonly has6: boolean;
  readonly prefixes: Prefix[];

  constructor(prefixes: readonly (string | Prefix)[]) {
    this.prefixes = prefixes.map((p) => (typeof p === 'string' ? (parsePrefix(p, false) as Prefix) : p));
    const ranges: Array<[number, number]> = [];
    this.v6 = new PrefixMap();
    for (const p of this.prefixes) {
      if (p.family === 4) {
        const start = bytesToIPv4(p.bytes);
        ranges.push([start, start + 2 ** (32 - p.len) - 1]);
      } else this.v6.set(p, true);
    }
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
    this.has6 = this.v6.size > 0;
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

  hasV6(b: Uint8Array): boolean {
    return this.has6 && this.v6.lookup6(b) !== undefined;
  }

  /** Total number of IPv4 addresses covered. */
  size4(): number {
    let n = 0;
    for (let i = 0; i < this.n4; i++) n += this.r4[2 * i + 1] - this.r4[2 * i] + 1;
    return n;
  }
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
