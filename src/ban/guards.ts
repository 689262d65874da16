/**
 * Ban guards: the checks every new ban (detected, manual or restored) must
 * pass. Checked in this order; the first that fails is the refusal reason:
 *
 *   invalid_target       the target is not an address or prefix
 *   outside_networks     the target is not wholly inside one of `networks`
 *   whitelisted          the target overlaps `protected_whitelist` (absolute: a
 *                        carpet prefix containing a whitelisted address is
 *                        refused, never trimmed)
 *   already_banned       an active ban already covers the target
 *   max_active_bans      active bans >= `ban.max_active_bans` (0 = no bans at all)
 *   max_banned_fraction  (banned addresses of the family incl. this target) /
 *                        (addresses of `networks` of the family) would exceed
 *                        `ban.max_banned_fraction` (both as unions of prefixes)
 *   rate_limited         bans created in the last `ban.ban_window_seconds`
 *                        >= `ban.max_bans_per_window` (0 = no bans at all)
 *
 * A hostgroup's own caps (see policy.ts) are checked after the global ones
 * with the same reason codes and a detail naming the group. Two more codes
 * are produced by bans.ts: manually_unbanned (an attack whose ban an operator
 * lifted is not banned again automatically), not_banned (manual unban of
 * something that is not banned) and invalid_ttl (a manual TTL out of range).
 * Every reason is a code of the error catalogue (core/errors.ts), which gives
 * its HTTP status.
 */
import { formatPrefix, maskBytes, parsePrefix, prefixCovers, prefixesOverlap, prefixSize, type Family, type Prefix } from '../core/ip.ts';
import type { BanModuleConfig } from '../config/diff.ts';
import type { ErrorCode } from '../core/errors.ts';
import type { PolicyResolver, TargetPolicy } from './policy.ts';

export const REFUSAL_REASONS = [
  'invalid_target',
  'outside_networks',
  'whitelisted',
  'already_banned',
  'max_active_bans',
  'max_banned_fraction',
  'rate_limited',
  'manually_unbanned',
  'not_banned',
  'invalid_ttl',
] as const satisfies readonly ErrorCode[];
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

export interface Refusal {
  reason: RefusalReason;
  detail: string;
  /** For rate_limited: when the oldest ban in the window leaves it (ms). */
  retryAt?: number;
}

/** Parses prefix strings, dropping invalid ones (the config schema has validated them). */
export function parsePrefixes(list: readonly string[]): Prefix[] {
  const out: Prefix[] = [];
  for (const s of list) {
    const p = parsePrefix(s);
    if (typeof p !== 'string') out.push(p);
  }
  return out;
}

/** The first prefix of `list` that wholly covers `p`. */
export function coveringPrefix(p: Prefix, list: readonly Prefix[]): Prefix | undefined {
  return list.find((q) => prefixCovers(q, p));
}

/** The first prefix of `list` that overlaps `p` (covers it or lies inside it). */
export function overlappingPrefix(p: Prefix, list: readonly Prefix[]): Prefix | undefined {
  return list.find((q) => prefixesOverlap(q, p));
}

/**
 * Number of addresses in the union of the prefixes of one family. Two
 * prefixes are either nested or disjoint, so the union is the sum over the
 * prefixes not covered by another one.
 */
export function unionSize(family: Family, prefixes: readonly Prefix[]): number {
  // Sorted by network address, the wider prefix first on ties: a prefix is
  // covered by another one exactly when the last kept prefix covers it.
  const ps = prefixes.filter((p) => p.family === family).sort(comparePrefixes);
  let last: Prefix | undefined;
  let total = 0;
  for (const p of ps) {
    if (last && prefixCovers(last, p)) continue;
    last = p;
    total += prefixSize(p);
  }
  return total;
}

function comparePrefixes(a: Prefix, b: Prefix): number {
  for (let i = 0; i < a.bytes.length; i++) if (a.bytes[i] !== b.bytes[i]) return a.bytes[i] - b.bytes[i];
  return a.len - b.len;
}

/** A live ban as the guards see it. */
export interface Footprint {
  prefix: Prefix;
  hostgroup?: string;
}

/** A ban creation, for the rate window. */
export interface Creation {
  time: number;
  /** The ban's hostgroup (kept current on reload: a group's rate cap counts its bans). */
  hostgroup?: string;
  id?: string;
}

/**
 * The live bans, indexed so the guards stay cheap with many bans: covering
 * lookups by prefix length, and the union of banned addresses per family
 * cached between changes.
 */
export class ActiveIndex {
  private readonly byKey = new Map<string, Footprint>();
  private readonly lens: Record<Family, Map<number, number>> = { 4: new Map(), 6: new Map() };
  private list: Footprint[] | null = null;
  private readonly union: Record<Family, number> = { 4: NaN, 6: NaN };

  private static key(family: Family, bytes: Uint8Array, len: number): string {
    let s = `${family}/${len}/`;
    for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
    return s;
  }

  get size(): number {
    return this.byKey.size;
  }

  add(f: Footprint): void {
    const k = ActiveIndex.key(f.prefix.family, f.prefix.bytes, f.prefix.len);
    if (this.byKey.has(k)) return;
    const fam = f.prefix.family;
    const u = Number.isNaN(this.union[fam]) ? NaN : this.union[fam] + this.added(f.prefix);
    this.byKey.set(k, f);
    const m = this.lens[fam];
    m.set(f.prefix.len, (m.get(f.prefix.len) ?? 0) + 1);
    this.list = null;
    this.union[fam] = u;
  }

  remove(p: Prefix): void {
    const k = ActiveIndex.key(p.family, p.bytes, p.len);
    if (!this.byKey.delete(k)) return;
    const m = this.lens[p.family];
    const n = (m.get(p.len) ?? 1) - 1;
    if (n <= 0) m.delete(p.len);
    else m.set(p.len, n);
    this.list = null;
    // What the union loses is what adding the prefix back would add.
    if (!Number.isNaN(this.union[p.family])) this.union[p.family] -= this.added(p);
  }

  all(): readonly Footprint[] {
    return (this.list ??= [...this.byKey.values()]);
  }

  /** A live ban whose prefix covers `p` (equal or wider). */
  covering(p: Prefix): Footprint | undefined {
    const scratch = new Uint8Array(p.bytes.length);
    for (const len of this.lens[p.family].keys()) {
      if (len > p.len) continue;
      scratch.set(p.bytes);
      const hit = this.byKey.get(ActiveIndex.key(p.family, maskBytes(scratch, len), len));
      if (hit) return hit;
    }
    return undefined;
  }

  /** Addresses of one family under a ban (the union). */
  bannedUnion(family: Family): number {
    if (Number.isNaN(this.union[family])) this.union[family] = unionSize(family, this.all().map((f) => f.prefix));
    return this.union[family];
  }

  /** How many addresses banning `p` would add to the union. */
  added(p: Prefix): number {
    if (this.covering(p)) return 0;
    if (p.len === (p.family === 4 ? 32 : 128)) return 1;
    const inside = this.all().filter((f) => prefixCovers(p, f.prefix)).map((f) => f.prefix);
    return prefixSize(p) - unionSize(p.family, inside);
  }
}

export interface CapContext {
  /** Every ban not yet ended. */
  active: ActiveIndex;
  /** Ban creations, sorted oldest first (may hold entries older than the window). */
  creations: readonly Creation[];
  now: number;
}

/** The guards of one config. */
export class Guards {
  readonly networks: Prefix[];
  readonly whitelist: Prefix[];
  private readonly netSize: Record<Family, number>;
  private readonly config: Readonly<BanModuleConfig>;
  private readonly policy: PolicyResolver;

  constructor(config: Readonly<BanModuleConfig>, policy: PolicyResolver) {
    this.config = config;
    this.policy = policy;
    this.networks = parsePrefixes(config.networks);
    this.whitelist = parsePrefixes(config.protected_whitelist);
    this.netSize = { 4: unionSize(4, this.networks), 6: unionSize(6, this.networks) };
  }

  /** Longest window any cap uses, in ms (to prune creation history). */
  maxWindowMs(): number {
    let w = this.config.ban.ban_window_seconds;
    for (const g of this.config.hostgroups) w = Math.max(w, g.ban?.ban_window_seconds ?? 0);
    return w * 1000;
  }

  /** Guards that depend only on the target: networks and whitelist. */
  checkStatic(p: Prefix): Refusal | null {
    if (!coveringPrefix(p, this.networks)) return { reason: 'outside_networks', detail: `${formatPrefix(p)} is not inside networks` };
    const w = overlappingPrefix(p, this.whitelist);
    if (w) return { reason: 'whitelisted', detail: `${formatPrefix(p)} overlaps whitelisted ${formatPrefix(w)}` };
    return null;
  }

  /** The existing ban that already covers `p`, if any. */
  checkCovered(p: Prefix, ctx: CapContext): Refusal | null {
    const b = ctx.active.covering(p);
    return b ? { reason: 'already_banned', detail: `covered by the ban of ${formatPrefix(b.prefix)}` } : null;
  }

  /** Caps: active count, banned fraction, rate; global then the group's own. */
  checkCaps(p: Prefix, policy: TargetPolicy, ctx: CapContext, opts: { rate?: boolean } = {}): Refusal | null {
    const ban = this.config.ban;
    const rate = opts.rate ?? true;
    const idx = ctx.active;
    const r = this.capsFor(p, idx.size, () => idx.bannedUnion(p.family) + idx.added(p), ctx.creations, ctx.now, ban.max_active_bans, ban.max_banned_fraction, rate ? ban.max_bans_per_window : undefined, ban.ban_window_seconds, this.netSize[p.family], '');
    if (r) return r;
    const gc = policy.groupCaps;
    const g = policy.hostgroup;
    if (!gc || !g) return null;
    const mine = idx.all().filter((f) => f.hostgroup === g.name);
    const myCreations = ctx.creations.filter((c) => c.hostgroup === g.name);
    const gNet = unionSize(p.family, this.policy.groupNetworks(g.name));
    return this.capsFor(p, mine.length, () => unionSize(p.family, [...mine.map((f) => f.prefix), p]), myCreations, ctx.now, gc.max_active_bans, gc.max_banned_fraction, rate ? gc.max_bans_per_window : undefined, gc.ban_window_seconds, gNet, ` of hostgroup ${g.name}`);
  }

  private capsFor(
    p: Prefix,
    activeCount: number,
    bannedWith: () => number,
    creations: readonly Creation[],
    now: number,
    maxActive: number | undefined,
    maxFraction: number | undefined,
    maxPerWindow: number | undefined,
    windowSeconds: number,
    netSize: number,
    scope: string,
  ): Refusal | null {
    if (maxActive !== undefined && activeCount >= maxActive) {
      return { reason: 'max_active_bans', detail: `${activeCount} active bans${scope}, max_active_bans is ${maxActive}` };
    }
    if (maxFraction !== undefined) {
      const banned = bannedWith();
      const frac = netSize > 0 ? banned / netSize : Infinity;
      if (frac > maxFraction) {
        return { reason: 'max_banned_fraction', detail: `banning ${formatPrefix(p)} would ban ${fmtFrac(frac)} of the IPv${p.family} space${scope}, max_banned_fraction is ${maxFraction}` };
      }
    }
    if (maxPerWindow !== undefined) {
      const n = countAfter(creations, now - windowSeconds * 1000);
      if (n >= maxPerWindow) {
        const oldest = n > 0 ? creations[creations.length - n].time : now;
        return { reason: 'rate_limited', detail: `${n} bans${scope} in the last ${windowSeconds} s, max_bans_per_window is ${maxPerWindow}`, retryAt: oldest + windowSeconds * 1000 };
      }
    }
    return null;
  }

  /** Every guard, in order. */
  check(p: Prefix, policy: TargetPolicy, ctx: CapContext): Refusal | null {
    return this.checkStatic(p) ?? this.checkCovered(p, ctx) ?? this.checkCaps(p, policy, ctx);
  }
}

/** Number of creations (sorted by time) strictly after `from`. */
export function countAfter(creations: readonly Creation[], from: number): number {
  let lo = 0, hi = creations.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (creations[mid].time > from) hi = mid;
    else lo = mid + 1;
  }
  return creations.length - lo;
}

function fmtFrac(f: number): string {
  if (!Number.isFinite(f)) return 'all';
  return f >= 0.001 ? `${(f * 100).toFixed(2)} %` : f.toExponential(2);
}
