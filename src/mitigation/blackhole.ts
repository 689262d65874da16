/**
 * RTBH: a blackhole RouteIntent becomes one unicast route per neighbor:
 * the /32 or /128 (or a carpet prefix), ORIGIN IGP, the discard next hop
 * (NEXT_HOP for IPv4, MP_REACH next hop for IPv6, even over an IPv4 session),
 * BLACKHOLE and the configured communities and large communities.
 */
import { parseCommunity, parseLargeCommunity } from '../config/schema.ts';
import { formatPrefix, parsePrefix } from '../core/ip.ts';
import type { RouteIntent } from '../engine/events.ts';
import type { LargeCommunity, PathAttributes, UnicastRoute } from '../bgp/types.ts';
import { neighborCommunities, neighborLargeCommunities, type GlobalPolicy, type NeighborPolicy } from './policy.ts';

export type BlackholeIntent = Extract<RouteIntent, { type: 'blackhole' }>;

export function communityValues(list: string[]): number[] {
  const out: number[] = [];
  for (const c of list) {
    const v = parseCommunity(c);
    if (v === null) throw new Error(`invalid community "${c}"`);
    if (!out.includes(v)) out.push(v);
  }
  return out;
}

export function largeCommunityValues(list: string[]): LargeCommunity[] {
  const out: LargeCommunity[] = [];
  for (const c of list) {
    const v = parseLargeCommunity(c);
    if (v === null) throw new Error(`invalid large community "${c}"`);
    if (!out.some((o) => o[0] === v[0] && o[1] === v[1] && o[2] === v[2])) out.push(v);
  }
  return out;
}

export function blackholeRoute(intent: BlackholeIntent, g: GlobalPolicy, nb?: NeighborPolicy): UnicastRoute {
  const p = parsePrefix(intent.prefix, false);
  if (typeof p === 'string') throw new Error(`invalid blackhole prefix: ${p}`);
  const v6 = p.family === 6;
  const attrs: PathAttributes = { origin: 0, asPath: [] };
  const nh = v6 ? nb?.next_hop6 ?? (intent.next_hop.includes(':') ? intent.next_hop : g.next_hop6) : nb?.next_hop ?? (intent.next_hop.includes(':') ? g.next_hop : intent.next_hop);
  if (v6) attrs.nextHop6 = nh;
  else attrs.nextHop = nh;
  const comms = communityValues(neighborCommunities(intent.communities, g, nb));
  if (comms.length) attrs.communities = comms;
  const large = largeCommunityValues(neighborLargeCommunities(intent.large_communities, g, nb));
  if (large.length) attrs.largeCommunities = large;
  if (nb?.ibgp) attrs.localPref = nb.local_pref ?? intent.local_pref ?? g.local_pref;
  return { family: v6 ? 'ipv6_unicast' : 'ipv4_unicast', prefix: formatPrefix(p), attrs };
}

/** The blackhole intent used as fallback for a FlowSpec ban (ban.fallback: blackhole). */
export function fallbackIntent(target: string, g: GlobalPolicy, comms: { communities: string[]; large_communities: string[] }): BlackholeIntent {
  const p = parsePrefix(target, false);
  if (typeof p === 'string') throw new Error(`invalid target: ${p}`);
  return {
    type: 'blackhole',
    prefix: formatPrefix(p),
    next_hop: p.family === 6 ? g.next_hop6 : g.next_hop,
    communities: comms.communities,
    large_communities: comms.large_communities,
    local_pref: g.local_pref,
  };
}
