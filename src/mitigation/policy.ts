/**
 * Per-neighbor mitigation policy: which next hops and communities a neighbor
 * gets (neighbor overrides over the global `bgp` keys), whether it is iBGP,
 * and what to do for a FlowSpec ban when it lacks the FlowSpec family.
 *
 * Communities of a route for a neighbor:
 *   [neighbor.community ?? bgp.community,
 *    ...(neighbor.communities ?? bgp.communities),
 *    ...the route's own extras (hostgroup communities carried by the intent)]
 * and likewise for large communities. Next hop: neighbor.next_hop(6) ?? the
 * intent's. LOCAL_PREF only on iBGP sessions (RFC 4271 §5.1.5).
 */
import type { Config, NeighborConfig } from '../config/schema.ts';
import { parsePrefix, PrefixMap, type Prefix } from '../core/ip.ts';
import type { FamilyName } from '../bgp/types.ts';

export interface NeighborPolicy {
  /** Identifier used with the speaker (its address). */
  id: string;
  ibgp: boolean;
  next_hop?: string;
  next_hop6?: string;
  /** Replaces bgp.community when set. */
  community?: string;
  /** Replace bgp.communities / bgp.large_communities when set. */
  communities?: string[];
  large_communities?: string[];
  local_pref?: number;
  /** Families configured for the neighbor (the negotiated ones win once Established). */
  families: FamilyName[];
}

export interface GlobalPolicy {
  community: string;
  communities: string[];
  large_communities: string[];
  local_pref: number;
  next_hop: string;
  next_hop6: string;
}

export function neighborId(n: Pick<NeighborConfig, 'address' | 'port'>): string {
  return n.address;
}

export function neighborPolicy(cfg: Config, n: NeighborConfig): NeighborPolicy {
  return {
    id: neighborId(n),
    ibgp: (n.local_asn ?? cfg.bgp.local_asn) === n.remote_asn,
    next_hop: n.next_hop,
    next_hop6: n.next_hop6,
    community: n.community,
    communities: n.communities,
    large_communities: n.large_communities,
    local_pref: n.local_pref,
    families: [...n.families],
  };
}

export function globalPolicy(cfg: Config): GlobalPolicy {
  return {
    community: cfg.bgp.community,
    communities: [...cfg.bgp.communities],
    large_communities: [...cfg.bgp.large_communities],
    local_pref: cfg.bgp.local_pref,
    next_hop: cfg.bgp.next_hop,
    next_hop6: cfg.bgp.next_hop6,
  };
}

function uniq<T>(xs: T[]): T[] {
  return [...new Set(xs)];
}

/** Communities for one neighbor from the intent's list (see the header). */
export function neighborCommunities(intent: string[], g: GlobalPolicy, nb?: NeighborPolicy): string[] {
  const base = new Set([g.community, ...g.communities].map((c) => c.toLowerCase()));
  const extras = intent.filter((c) => !base.has(c.toLowerCase()));
  if (!nb || (nb.community === undefined && nb.communities === undefined)) return uniq(intent);
  return uniq([nb.community ?? g.community, ...(nb.communities ?? g.communities), ...extras]);
}

export function neighborLargeCommunities(intent: string[], g: GlobalPolicy, nb?: NeighborPolicy): string[] {
  const base = new Set(g.large_communities);
  const extras = intent.filter((c) => !base.has(c));
  if (!nb || nb.large_communities === undefined) return uniq(intent);
  return uniq([...nb.large_communities, ...extras]);
}

/** Hostgroup-aware `ban.fallback` and communities for a target (most specific hostgroup wins). */
export class TargetPolicies {
  private readonly groups = new PrefixMap<number>();
  private readonly cfg: Config;

  constructor(cfg: Config) {
    this.cfg = cfg;
    cfg.hostgroups.forEach((g, i) => {
      for (const n of g.networks) {
        const p = parsePrefix(n);
        if (typeof p !== 'string') this.groups.set(p, i);
      }
    });
  }

  private group(target: string) {
    const p = parsePrefix(target, false);
    if (typeof p === 'string') return undefined;
    const i = this.groups.lookup((p as Prefix).family, (p as Prefix).bytes);
    return i === undefined ? undefined : this.cfg.hostgroups[i];
  }

  fallback(target: string): 'blackhole' | 'none' {
    return this.group(target)?.ban?.fallback ?? this.cfg.ban.fallback;
  }

  communities(target: string): { communities: string[]; large_communities: string[] } {
    const g = this.group(target);
    return {
      communities: [this.cfg.bgp.community, ...this.cfg.bgp.communities, ...(g?.communities ?? [])],
      large_communities: [...this.cfg.bgp.large_communities, ...(g?.large_communities ?? [])],
    };
  }
}
