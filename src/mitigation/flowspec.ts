/**
 * FlowSpec: a flowspec RouteIntent becomes FlowSpec routes (RFC 8955 for
 * IPv4, RFC 8956 for IPv6), at most `maxRules` of them:
 *   destination / source prefix, protocol (or next header) list (OR),
 *   source and destination ports (OR), TCP flags (set bits must match, clear
 *   bits must be zero: "syn&!ack"), fragment (is-fragment), packet length
 *   range, ICMP type; action as extended community traffic-rate (0 = discard,
 *   else bytes per second).
 */
import type { FlowspecRuleIntent, RouteIntent } from '../ban/types.ts';
import type { BitmaskOp, ExtCommunity, FlowspecRoute, FlowspecRule, NumericOp } from '../bgp/index.ts';
import { BreakwaterError } from '../core/errors.ts';
import { formatPrefix, parsePrefix } from '../core/ip.ts';

export type FlowspecIntent = Extract<RouteIntent, { type: 'flowspec' }>;

/** RFC 8955 §4.2.2.12 fragment bits. */
export const FRAGMENT_BITS = { DONT_FRAGMENT: 0x01, IS_FRAGMENT: 0x02, FIRST_FRAGMENT: 0x04, LAST_FRAGMENT: 0x08 } as const;

function eqList(values: number[]): NumericOp[] {
  return [...new Set(values)].map((value) => ({ and: false, lt: false, gt: false, eq: true, value }));
}

function canonical(prefix: string): string {
  const p = parsePrefix(prefix, false);
  if (typeof p === 'string') throw new BreakwaterError('invalid_route', `invalid FlowSpec prefix: ${p}`);
  return formatPrefix(p);
}

export function flowspecRule(r: FlowspecRuleIntent): FlowspecRule {
  const rule: FlowspecRule = {};
  rule.destination = { prefix: canonical(r.destination) };
  if (r.source) rule.source = { prefix: canonical(r.source) };
  if (r.protocols?.length) rule.protocol = eqList(r.protocols);
  if (r.destination_ports?.length) rule.destinationPort = eqList(r.destination_ports);
  if (r.source_ports?.length) rule.sourcePort = eqList(r.source_ports);
  if (r.icmp_type !== undefined) rule.icmpType = eqList([r.icmp_type]);
  if (r.tcp_flags && (r.tcp_flags.set || r.tcp_flags.clear)) {
    const ops: BitmaskOp[] = [];
    if (r.tcp_flags.set) ops.push({ and: false, not: false, match: true, value: r.tcp_flags.set & 0xff });
    if (r.tcp_flags.clear) ops.push({ and: ops.length > 0, not: true, match: false, value: r.tcp_flags.clear & 0xff });
    rule.tcpFlags = ops;
  }
  if (r.fragment) rule.fragment = [{ and: false, not: false, match: false, value: FRAGMENT_BITS.IS_FRAGMENT }];
  if (r.packet_length && (r.packet_length.min !== undefined || r.packet_length.max !== undefined)) {
    const ops: NumericOp[] = [];
    const { min, max } = r.packet_length;
    if (min !== undefined && max !== undefined && min === max) ops.push({ and: false, lt: false, gt: false, eq: true, value: min });
    else {
      if (min !== undefined) ops.push({ and: false, lt: false, gt: true, eq: true, value: Math.max(0, Math.min(65535, min)) });
      if (max !== undefined) ops.push({ and: ops.length > 0, lt: true, gt: false, eq: true, value: Math.max(0, Math.min(65535, max)) });
    }
    rule.packetLength = ops;
  }
  return rule;
}

export function flowspecAction(a: FlowspecRuleIntent['action']): ExtCommunity {
  return { type: 'traffic-rate', asn: 0, rate: a.type === 'discard' ? 0 : Math.max(0, a.bytes_per_second) };
}

export function flowspecRoutes(intent: FlowspecIntent, maxRules: number): FlowspecRoute[] {
  const out: FlowspecRoute[] = [];
  for (const r of intent.rules.slice(0, Math.max(1, maxRules))) {
    out.push({
      family: r.family === 6 ? 'ipv6_flowspec' : 'ipv4_flowspec',
      rule: flowspecRule(r),
      attrs: { origin: 0, asPath: [], extCommunities: [flowspecAction(r.action)] },
    });
  }
  return out;
}
