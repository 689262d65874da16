/**
 * RTBH: a blackhole RouteIntent becomes one unicast route per neighbor:
 * the /32 or /128 (or a carpet prefix), ORIGIN IGP, the discard next hop
 * (NEXT_HOP for IPv4, MP_REACH next hop for IPv6, even over an IPv4 session),
 * BLACKHOLE and the configured communities and large communities, as values
 * of the compiled policy (policy.ts).
 */
import { BreakwaterError } from '../core/errors.ts';
import { formatPrefix, parsePrefix } from '../core/ip.ts';
import type { RouteIntent } from '../ban/types.ts';
import type { PathAttributes, UnicastRoute } from '../bgp/index.ts';
import { neighborCommunities, neighborLargeCommunities, type GlobalPolicy, type MitigationPolicy, type NeighborPolicy } from './policy.ts';

export type BlackholeIntent = Extract<RouteIntent, { type: 'blackhole' }>;

export function blackholeRoute(intent: BlackholeIntent, g: GlobalPolicy, nb?: NeighborPolicy): UnicastRoute {
  const p = parsePrefix(intent.prefix, false);
  if (typeof p === 'string') throw new BreakwaterError('invalid_route', `invalid blackhole prefix: ${p}`);
  const v6 = p.family === 6;
  const attrs: PathAttributes = { origin: 0, asPath: [] };
  const nh = v6 ? nb?.next_hop6 ?? (intent.next_hop.includes(':') ? intent.next_hop : g.next_hop6) : nb?.next_hop ?? (intent.next_hop.includes(':') ? g.next_hop : intent.next_hop);
  if (v6) attrs.nextHop6 = nh;
  else attrs.nextHop = nh;
  const comms = neighborCommunities(intent.communities, g, nb);
  if (comms.length) attrs.communities = comms;
  const large = neighborLargeCommunities(intent.large_communities, g, nb);
  if (large.length) attrs.largeCommunities = large;
  if (nb?.ibgp) attrs.localPref = nb.local_pref ?? intent.local_pref ?? g.local_pref;
  return { family: v6 ? 'ipv6_unicast' : 'ipv4_unicast', prefix: formatPrefix(p), attrs };
}

/** The blackhole intent for a target under a policy: a blackhole ban's route, and the fallback of a FlowSpec ban (ban.fallback: blackhole). */
export function blackholeIntent(target: string, policy: MitigationPolicy, hostgroup?: string): BlackholeIntent {
  const p = parsePrefix(target, false);
  if (typeof p === 'string') throw new BreakwaterError('invalid_target', `invalid target: ${p}`);
  const g = policy.global;
  const extra = policy.groupCommunities(target, hostgroup);
  return {
    type: 'blackhole',
    prefix: formatPrefix(p),
    next_hop: p.family === 6 ? g.next_hop6 : g.next_hop,
    communities: [...new Set([...g.texts.communities, ...extra.communities])],
    large_communities: [...new Set([...g.texts.large_communities, ...extra.large_communities])],
    local_pref: g.local_pref,
  };
}
