/**
 * Mitigation policy: the `bgp`, `ban.fallback` and hostgroup keys compiled
 * ONCE per config object into a frozen object with numeric communities, so
 * building a route never parses text again.
 *
 * Communities of a blackhole route for a neighbor:
 *   [neighbor.community ?? bgp.community,
 *    ...(neighbor.communities ?? bgp.communities),
 *    ...the route's own extras (hostgroup communities carried by the intent)]
 * and likewise for large communities. Next hop: neighbor.next_hop(6) ??
 * bgp.next_hop(6). LOCAL_PREF only on iBGP sessions (RFC 4271 §5.1.5).
 *
 * Neighbors are known by neighborKey(): the canonical address text
 * (core/ip.ts canonicalAddress), the same key the speaker facade and its
 * status use, however the address is written in the config ("2001:DB8::1",
 * "2001:db8:0::1"). The port is not part of the key: the speaker runs one
 * session per neighbor address.
 */
import type { NeighborConfig } from '../config/schema.ts';
import type { RouteConfig } from '../config/diff.ts';
import { parseCommunity, parseLargeCommunity, type LargeCommunityValue } from '../core/community.ts';
import { BreakwaterError } from '../core/errors.ts';
import { canonicalAddress, parsePrefix } from '../core/ip.ts';
import { policyResolver } from '../ban/policy.ts';
import type { FamilyName } from '../bgp/index.ts';

export interface NeighborPolicy {
  /** neighborKey(): the canonical address, as the speaker names the neighbor. */
  id: string;
  ibgp: boolean;
  next_hop?: string;
  next_hop6?: string;
  /** The neighbor's replacement for [bgp.community, ...bgp.communities], when it sets either. */
  communities?: readonly number[];
  /** The neighbor's replacement for bgp.large_communities, when set. */
  large_communities?: readonly LargeCommunityValue[];
  local_pref?: number;
  /** Families configured for the neighbor (the negotiated ones win once Established). */
  families: readonly FamilyName[];
  /** FlowSpec capability profile (`profile`, profiles.ts). */
  profile: string;
}

export interface GlobalPolicy {
  next_hop: string;
  next_hop6: string;
  local_pref: number;
  /** [bgp.community, ...bgp.communities] as values, deduplicated. */
  communities: readonly number[];
  large_communities: readonly LargeCommunityValue[];
  /** The same as configured, for the route intents people read: [bgp.community, ...bgp.communities] and bgp.large_communities. */
  texts: { communities: readonly string[]; large_communities: readonly string[] };
  /** Value of a community text of the config (parsed at compile time; others once, on first use). */
  community(text: string): number;
  largeCommunity(text: string): LargeCommunityValue;
}

export interface MitigationPolicy {
  readonly global: GlobalPolicy;
  /** Enabled neighbors by neighborKey. */
  readonly neighbors: ReadonlyMap<string, NeighborPolicy>;
  /** `ban.fallback` for a target (its hostgroup's, else the global one). */
  fallback(target: string, hostgroup?: string): 'blackhole' | 'none';
  /** Community texts of the target's hostgroup (for the blackhole intent): [communities, large]. */
  groupCommunities(target: string, hostgroup?: string): { communities: readonly string[]; large_communities: readonly string[] };
  readonly maxRulesPerBan: number;
}

/** The one identity of a neighbor across config, mitigation and the speaker facade. */
export function neighborKey(n: Pick<NeighborConfig, 'address'> | string): string {
  return canonicalAddress(typeof n === 'string' ? n : n.address);
}

function uniq<T>(xs: T[], key: (x: T) => string | number = (x) => x as unknown as string): T[] {
  const seen = new Set<string | number>();
  return xs.filter((x) => {
    const k = key(x);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

const largeKey = (c: LargeCommunityValue) => `${c[0]}:${c[1]}:${c[2]}`;

function community(text: string): number {
  const v = parseCommunity(text);
  if (typeof v === 'string') throw new BreakwaterError('invalid_community', v);
  return v;
}

function largeCommunity(text: string): LargeCommunityValue {
  const v = parseLargeCommunity(text);
  if (typeof v === 'string') throw new BreakwaterError('invalid_community', v);
  return v;
}

function compileGlobal(cfg: Readonly<RouteConfig>): GlobalPolicy {
  const std = new Map<string, number>();
  const large = new Map<string, LargeCommunityValue>();
  const texts = [cfg.bgp.community, ...cfg.bgp.communities, ...cfg.hostgroups.flatMap((g) => g.communities ?? []), ...cfg.bgp.neighbors.flatMap((n) => [...(n.community ? [n.community] : []), ...(n.communities ?? [])])];
  for (const t of texts) std.set(t, community(t));
  for (const t of [...cfg.bgp.large_communities, ...cfg.hostgroups.flatMap((g) => g.large_communities ?? []), ...cfg.bgp.neighbors.flatMap((n) => n.large_communities ?? [])]) large.set(t, largeCommunity(t));
  const lookup = <T>(m: Map<string, T>, parse: (t: string) => T) => (t: string): T => {
    let v = m.get(t);
    if (v === undefined) m.set(t, (v = parse(t)));
    return v;
  };
  return Object.freeze({
    next_hop: cfg.bgp.next_hop,
    next_hop6: cfg.bgp.next_hop6,
    local_pref: cfg.bgp.local_pref,
    communities: Object.freeze(uniq([cfg.bgp.community, ...cfg.bgp.communities].map((t) => std.get(t)!))),
    large_communities: Object.freeze(uniq(cfg.bgp.large_communities.map((t) => large.get(t)!), largeKey)),
    texts: Object.freeze({ communities: Object.freeze(uniq([cfg.bgp.community, ...cfg.bgp.communities])), large_communities: Object.freeze(uniq([...cfg.bgp.large_communities])) }),
    community: lookup(std, community),
    largeCommunity: lookup(large, largeCommunity),
  });
}

function compileNeighbor(cfg: Readonly<RouteConfig>, g: GlobalPolicy, n: NeighborConfig): NeighborPolicy {
  const p: NeighborPolicy = {
    id: neighborKey(n),
    ibgp: (n.local_asn ?? cfg.bgp.local_asn) === n.remote_asn,
    families: Object.freeze([...n.families]),
    profile: n.profile ?? 'generic',
  };
  if (n.next_hop !== undefined) p.next_hop = n.next_hop;
  if (n.next_hop6 !== undefined) p.next_hop6 = n.next_hop6;
  if (n.community !== undefined || n.communities !== undefined) {
    p.communities = Object.freeze(uniq([n.community ?? cfg.bgp.community, ...(n.communities ?? cfg.bgp.communities)].map((t) => g.community(t))));
  }
  if (n.large_communities !== undefined) p.large_communities = Object.freeze(uniq(n.large_communities.map((t) => g.largeCommunity(t)), largeKey));
  if (n.local_pref !== undefined) p.local_pref = n.local_pref;
  return Object.freeze(p);
}

const cache = new WeakMap<object, MitigationPolicy>();

/** The compiled policy of a config (compiled on first use, then cached per config object). Throws BreakwaterError invalid_community. */
export function compilePolicy(cfg: Readonly<RouteConfig>): MitigationPolicy {
  let p = cache.get(cfg);
  if (p) return p;
  const global = compileGlobal(cfg);
  const neighbors = new Map<string, NeighborPolicy>();
  for (const n of cfg.bgp.neighbors) if (n.enabled) neighbors.set(neighborKey(n), compileNeighbor(cfg, global, n));
  const groups = policyResolver(cfg);
  const groupOf = (target: string, name?: string) => {
    const t = parsePrefix(target, false);
    return typeof t === 'string' ? undefined : groups.hostgroupFor(t, name);
  };
  p = Object.freeze({
    global,
    neighbors,
    maxRulesPerBan: cfg.flowspec.max_rules_per_ban,
    fallback: (target: string, hostgroup?: string) => groupOf(target, hostgroup)?.ban?.fallback ?? cfg.ban.fallback,
    groupCommunities: (target: string, hostgroup?: string) => {
      const g = groupOf(target, hostgroup);
      return { communities: g?.communities ?? [], large_communities: g?.large_communities ?? [] };
    },
  });
  cache.set(cfg, p);
  return p;
}

export function globalPolicy(cfg: Readonly<RouteConfig>): GlobalPolicy {
  return compilePolicy(cfg).global;
}

export function neighborPolicy(cfg: Readonly<RouteConfig>, n: NeighborConfig): NeighborPolicy {
  return compilePolicy(cfg).neighbors.get(neighborKey(n)) ?? compileNeighbor(cfg, globalPolicy(cfg), n);
}

/** Community values for one neighbor from the intent's texts (see the header). */
export function neighborCommunities(intent: readonly string[], g: GlobalPolicy, nb?: NeighborPolicy): number[] {
  const values = intent.map((t) => g.community(t));
  if (!nb?.communities) return uniq(values);
  const base = new Set(g.communities);
  return uniq([...nb.communities, ...values.filter((v) => !base.has(v))]);
}

export function neighborLargeCommunities(intent: readonly string[], g: GlobalPolicy, nb?: NeighborPolicy): LargeCommunityValue[] {
  const values = intent.map((t) => g.largeCommunity(t));
  if (!nb?.large_communities) return uniq(values, largeKey);
  const base = new Set(g.large_communities.map(largeKey));
  return uniq([...nb.large_communities, ...values.filter((v) => !base.has(largeKey(v)))], largeKey);
}
