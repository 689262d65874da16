/**
 * RouteIntent builder: what a ban (or a detected attack) is, or would be,
 * announced as. Pure: no I/O. The ban module gets `buildRoute` as its
 * RouteBuilder (it knows no BGP); the attack view asks `routeForAttack`.
 * reconcile.ts turns the intent into UPDATEs per neighbor (with the
 * neighbor's overrides of next hop and communities).
 *
 * Blackhole (RTBH): the target as a prefix (/32, /128, or the carpet prefix),
 * next hop `bgp.next_hop` / `bgp.next_hop6`, communities `bgp.community`
 * (65535:666 by default) + `bgp.communities` + the hostgroup's communities,
 * large communities `bgp.large_communities` + the hostgroup's, `bgp.local_pref`.
 *
 * FlowSpec: rules built from the attack, at most `flowspec.max_rules_per_ban`
 * (hostgroup override), each matching the target:
 *   incoming attack: destination = target; outgoing: source = target and
 *   destination = 0.0.0.0/0 or ::/0 (match any).
 *   ntp/dns/cldap/memcached/ssdp/chargen/snmp/wsd amplification:
 *       UDP + source port (123/53/389/11211/1900/19/161/3702), then UDP fragments
 *       (the non-first fragments of large amplified replies carry no ports)
 *   udp_amplification: UDP + the attack's top source ports (share >= 10 %, <= 8)
 *   syn_flood: TCP, SYN set and ACK clear;  ack_flood: TCP, ACK set, SYN clear;
 *   rst_flood: TCP, RST set;  tcp_flood: TCP;  udp_flood: UDP
 *   icmp_flood: ICMP (protocol 1, or 58 for IPv6);  fragment_flood: fragments
 *   mixed / carpet_bomb / unknown: the attack's protocols with share >= 10 %,
 *       or the whole target when nothing is known
 * Action: `flowspec_discard` → discard; `flowspec_rate_limit` → traffic-rate
 * `flowspec.rate_mbps` converted to bytes per second (× 125 000).
 *
 * A FlowSpec choice (the subject's own: a manual mitigation, or the method of
 * the escalation step reached; else the hostgroup's `flowspec_method`)
 * replaces the built-in rules with that one rule (methods.ts).
 */
import { formatPrefix, parsePrefix, type Prefix } from '../core/ip.ts';
import { BreakwaterError } from '../core/errors.ts';
import type { Hostgroup } from '../config/schema.ts';
import type { RouteConfig } from '../config/diff.ts';
import type { Attack, Vector } from '../engine/events.ts';
import type { Ban, FlowspecRuleIntent, MitigationLevel, RouteBuilder, RouteIntent, RouteSubject } from '../ban/types.ts';
import { initialLevel } from '../ban/escalation.ts';
import { resolvePolicy, type TargetPolicy } from '../ban/policy.ts';
import { blackholeIntent } from './blackhole.ts';
import { compilePolicy } from './policy.ts';
import { choiceRoute } from './methods.ts';

export type { RouteSubject };
export { routeTargets } from '../ban/intent.ts';

export const AMPLIFICATION_PORTS = {
  ntp_amplification: 123,
  dns_amplification: 53,
  cldap_amplification: 389,
  memcached_amplification: 11211,
  ssdp_amplification: 1900,
  chargen_amplification: 19,
  snmp_amplification: 161,
  wsd_amplification: 3702,
} as const satisfies Partial<Record<Vector, number>>;

export const TCP_FLAGS = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10, URG: 0x20 } as const;
export const IP_PROTO = { ICMP: 1, TCP: 6, UDP: 17, ICMPV6: 58 } as const;

const PROTO_NAMES: Record<string, number> = { icmp: 1, tcp: 6, udp: 17, gre: 47, esp: 50, icmpv6: 58, 'ipv6-icmp': 58, sctp: 132 };

function protoNumber(key: string): number | null {
  const k = key.trim().toLowerCase();
  if (/^[0-9]{1,3}$/.test(k)) {
    const n = Number(k);
    return n <= 255 ? n : null;
  }
  return PROTO_NAMES[k] ?? null;
}

function portNumber(key: string): number | null {
  const m = /^(?:[a-z]+[:/])?([0-9]{1,5})$/i.exec(key.trim());
  if (!m) return null;
  const n = Number(m[1]);
  return n <= 65535 ? n : null;
}

/** Parses a target ("198.51.100.7", "10.0.0.0/24") into a prefix; throws on garbage. */
export function targetPrefix(target: string): Prefix {
  const p = parsePrefix(target);
  if (typeof p === 'string') throw new BreakwaterError('invalid_target', `invalid target: ${p}`);
  return p;
}

/** Match parts of the FlowSpec rules for a subject (no destination, no action). */
export function flowspecMatches(s: RouteSubject): Array<Omit<FlowspecRuleIntent, 'family' | 'destination' | 'action'>> {
  const udp = IP_PROTO.UDP;
  const v = s.vector;
  if (v && v in AMPLIFICATION_PORTS) {
    const port = AMPLIFICATION_PORTS[v as keyof typeof AMPLIFICATION_PORTS];
    return [{ protocols: [udp], source_ports: [port] }, { protocols: [udp], fragment: true }];
  }
  switch (v) {
    case 'udp_amplification': {
      const ports = (s.summary?.top_source_ports ?? [])
        .filter((t) => t.share >= 0.1)
        .map((t) => portNumber(t.key))
        .filter((p): p is number => p !== null)
        .slice(0, 8);
      const first = ports.length ? { protocols: [udp], source_ports: [...new Set(ports)] } : { protocols: [udp] };
      return [first, { protocols: [udp], fragment: true }];
    }
    case 'syn_flood': return [{ protocols: [IP_PROTO.TCP], tcp_flags: { set: TCP_FLAGS.SYN, clear: TCP_FLAGS.ACK } }];
    case 'ack_flood': return [{ protocols: [IP_PROTO.TCP], tcp_flags: { set: TCP_FLAGS.ACK, clear: TCP_FLAGS.SYN } }];
    case 'rst_flood': return [{ protocols: [IP_PROTO.TCP], tcp_flags: { set: TCP_FLAGS.RST, clear: 0 } }];
    case 'tcp_flood': return [{ protocols: [IP_PROTO.TCP] }];
    case 'udp_flood': return [{ protocols: [udp] }];
    case 'icmp_flood': return [{ protocols: [s.family === 4 ? IP_PROTO.ICMP : IP_PROTO.ICMPV6] }];
    case 'fragment_flood': return [{ fragment: true }];
    default: {
      const protos = (s.summary?.protocols ?? [])
        .filter((t) => t.share >= 0.1)
        .map((t) => protoNumber(t.key))
        .filter((p): p is number => p !== null);
      return protos.length ? [{ protocols: [...new Set(protos)].sort((a, b) => a - b) }] : [{}];
    }
  }
}

/** Builds the route with an already resolved (ban) policy under `config`. */
export function buildRouteWithPolicy(s: RouteSubject, policy: TargetPolicy, config: Readonly<RouteConfig>, level?: MitigationLevel): RouteIntent {
  const p = targetPrefix(s.target);
  const prefix = formatPrefix(p);
  const lvl = level ?? s.level ?? initialLevel(policy.mitigation, policy.flowspec.action);
  if (lvl === 'blackhole') return blackholeIntent(prefix, compilePolicy(config), policy.hostgroup?.name);
  // A rule chosen by hand or by an escalation step, else the group's method, instead of the built-in rule.
  const choice = s.flowspec ?? (policy.hostgroup?.flowspec_method !== undefined ? { method: policy.hostgroup.flowspec_method } : undefined);
  // Lenient: a method a reload removed falls back to the built-in rule; a removed platform matches no neighbor.
  const chosen = choice ? choiceRoute(choice, prefix, config, s.direction, true) : null;
  if (chosen) return chosen;
  const action: FlowspecRuleIntent['action'] =
    lvl === 'flowspec_rate_limit'
      ? { type: 'rate_limit', bytes_per_second: Math.round(policy.flowspec.rate_mbps * 125_000) }
      : { type: 'discard' };
  const outgoing = s.direction === 'outgoing';
  const any = p.family === 4 ? '0.0.0.0/0' : '::/0';
  const max = Math.max(1, policy.flowspec.max_rules_per_ban);
  const rules: FlowspecRuleIntent[] = flowspecMatches(s)
    .slice(0, max)
    .map((m) => {
      const r: FlowspecRuleIntent = outgoing
        ? { family: p.family, destination: any, source: prefix, ...m, action: { ...action } }
        : { family: p.family, destination: prefix, ...m, action: { ...action } };
      return r;
    });
  return { type: 'flowspec', rules };
}

/**
 * The route for a ban or attack under `config`. The hostgroup (object or name)
 * defaults to the subject's `hostgroup`, then to the most specific group that
 * covers the target. The level defaults to the subject's, then to the
 * initial level from `mitigation`.
 */
export function buildRoute(subject: RouteSubject, config: Readonly<RouteConfig>, hostgroup?: Hostgroup | string): RouteIntent {
  const policy = resolvePolicy(config, subject.target, hostgroup ?? subject.hostgroup);
  return buildRouteWithPolicy(subject, policy, config);
}

/** A route builder bound to one route policy, for the ban module (it is handed a new one on reload). */
export function routeBuilder(config: Readonly<RouteConfig>): RouteBuilder {
  return (subject) => buildRoute(subject, config);
}

/**
 * The route shown on an attack: its ban's route when it has one, else the
 * route a ban would start with (`wouldBe`: the ban module's canonical target,
 * hostgroup and start level).
 */
export function routeForAttack(attack: Attack, config: Readonly<RouteConfig>, bans: { banOfAttack(id: string): Ban | undefined; wouldBe(a: Attack): RouteSubject }): RouteIntent {
  const ban = bans.banOfAttack(attack.id);
  if (ban) return ban.route;
  return buildRoute(bans.wouldBe(attack), config);
}
