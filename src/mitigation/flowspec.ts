/**
 * FlowSpec: a flowspec RouteIntent becomes FlowSpec routes (RFC 8955 for
 * IPv4, RFC 8956 for IPv6), at most `maxRules` of them:
 *   destination / source prefix, protocol (or next header) list (OR),
 *   source and destination ports (OR), TCP flags (set bits must match, clear
 *   bits must be zero: "syn&!ack"), fragment (is-fragment), packet length
 *   range, ICMP type and code, DSCP; port ranges as >=lo&<=hi; action as
 *   extended communities: traffic-rate (0 = discard, else bytes per second),
 *   redirect to a route target, traffic-marking (DSCP).
 */
import type { FlowspecRuleIntent, RouteIntent } from '../ban/types.ts';
import type { BitmaskOp, ExtCommunity, FlowspecRoute, FlowspecRule, NumericOp } from '../bgp/index.ts';
import { BreakwaterError } from '../core/errors.ts';
import { formatPrefix, parsePrefix } from '../core/ip.ts';

export type FlowspecIntent = Extract<RouteIntent, { type: 'flowspec' }>;

/** RFC 8955 §4.2.2.12 fragment bits. */
export const FRAGMENT_BITS = { DONT_FRAGMENT: 0x01, IS_FRAGMENT: 0x02, FIRST_FRAGMENT: 0x04, LAST_FRAGMENT: 0x08 } as const;
const FRAGMENT_KIND_BITS = { dont_fragment: FRAGMENT_BITS.DONT_FRAGMENT, first_fragment: FRAGMENT_BITS.FIRST_FRAGMENT, last_fragment: FRAGMENT_BITS.LAST_FRAGMENT } as const;

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
  if (r.destination_ports?.length || r.destination_port_ranges?.length) rule.destinationPort = portOps(r.destination_ports, r.destination_port_ranges);
  if (r.source_ports?.length || r.source_port_ranges?.length) rule.sourcePort = portOps(r.source_ports, r.source_port_ranges);
  if (r.icmp_type !== undefined) rule.icmpType = eqList([r.icmp_type]);
  if (r.icmp_code !== undefined) rule.icmpCode = eqList([r.icmp_code]);
  if (r.dscp?.length) rule.dscp = eqList(r.dscp);
  if (r.tcp_flags && (r.tcp_flags.set || r.tcp_flags.clear)) {
    const ops: BitmaskOp[] = [];
    if (r.tcp_flags.set) ops.push({ and: false, not: false, match: true, value: r.tcp_flags.set & 0xff });
    if (r.tcp_flags.clear) ops.push({ and: ops.length > 0, not: true, match: false, value: r.tcp_flags.clear & 0xff });
    rule.tcpFlags = ops;
  }
  if (r.fragment) rule.fragment = [{ and: false, not: false, match: false, value: FRAGMENT_BITS.IS_FRAGMENT }];
  else if (r.fragment_kind) rule.fragment = [{ and: false, not: false, match: false, value: FRAGMENT_KIND_BITS[r.fragment_kind] }];
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

export function flowspecAction(a: FlowspecRuleIntent['action']): ExtCommunity | null {
  switch (a.type) {
    case 'discard': return { type: 'traffic-rate', asn: 0, rate: 0 };
    case 'rate_limit': return { type: 'traffic-rate', asn: 0, rate: Math.max(0, a.bytes_per_second) };
    case 'redirect': {
      const [asn, value] = a.rt.split(':').map(Number);
      // RFC 7674 / 8955 §7.4: 2-octet AS with a 4-octet value, else 4-octet AS with a 2-octet value.
      return asn <= 0xffff ? { type: 'redirect', asn, value, as4: false } : { type: 'redirect', asn, value: value & 0xffff, as4: true };
    }
    case 'none': return null;
  }
}

/** Extended communities of a rule: its action, then traffic-marking. */
export function flowspecActions(r: Pick<FlowspecRuleIntent, 'action' | 'mark_dscp'>): ExtCommunity[] {
  const out: ExtCommunity[] = [];
  const a = flowspecAction(r.action);
  if (a) out.push(a);
  if (r.mark_dscp !== undefined) out.push({ type: 'traffic-marking', dscp: r.mark_dscp });
  return out;
}

function portOps(single: number[] | undefined, ranges: Array<[number, number]> | undefined): NumericOp[] {
  const ops = eqList(single ?? []);
  for (const [lo, hi] of ranges ?? []) {
    ops.push({ and: false, lt: false, gt: true, eq: true, value: lo });
    ops.push({ and: true, lt: true, gt: false, eq: true, value: hi });
  }
  return ops;
}

export function flowspecRoutes(intent: FlowspecIntent, maxRules: number): FlowspecRoute[] {
  const out: FlowspecRoute[] = [];
  for (const r of intent.rules.slice(0, Math.max(1, maxRules))) {
    out.push({
      family: r.family === 6 ? 'ipv6_flowspec' : 'ipv4_flowspec',
      rule: flowspecRule(r),
      attrs: { origin: 0, asPath: [], extCommunities: flowspecActions(r) },
    });
  }
  return out;
}
