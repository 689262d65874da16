/**
 * FlowSpec lint: every rule is checked against the capability profile of
 * the neighbor it goes to (profiles.ts) before it is sent. A rule with an
 * `error` finding is not sent to that neighbor (the Mitigator counts it,
 * the ban shows it, the audit records it); warnings are shown only.
 *
 * Checks, in order:
 *   invalid             the rule is not well formed (bgp validateFlowspecRule)
 *   no_destination      no destination (or a /0) and no source: it would match every address
 *   family              IPv6 FlowSpec to a platform without it
 *   component           a component the platform does not install
 *   too_many_terms      more components than the platform takes in one rule
 *   too_many_values     more operator/value pairs in a component than it takes
 *   fragment_bits       fragment bits it does not match (many match IsF only)
 *   tcp_flags_width     two-byte TCP flags
 *   packet_length       packet-length on a platform where such a rule once
 *                       exhausted the router's memory (Junos, 2013), and any
 *                       packet length above 65535 anywhere
 *   action              an action (extended community) it does not install
 *   port_fragments      (warning) ports, TCP flags or ICMP without a fragment
 *                       term: non-first fragments carry no L4 header
 *                       (RFC 8955 §4.2.2.4), so they pass the rule, or, on
 *                       platforms that read the bytes where the ports would
 *                       be, they match by accident
 */
import { validateFlowspecRule, type FlowspecRoute, type FlowspecRule } from '../bgp/index.ts';
import { parsePrefix } from '../core/ip.ts';
import { COMPONENT_NAMES, type ActionType, type ComponentKey, type Profile } from './profiles.ts';

export type Severity = 'error' | 'warning';

export interface Finding {
  code: string;
  severity: Severity;
  message: string;
}

export interface LintResult {
  neighbor: string;
  profile: string;
  ok: boolean;
  findings: Finding[];
}

/** Largest IP packet: a packet-length value above it is a typo (or the 2013 rule). */
const MAX_PACKET_LENGTH = 65535;

const err = (code: string, message: string): Finding => ({ code, severity: 'error', message });
const warn = (code: string, message: string): Finding => ({ code, severity: 'warning', message });

function isAny(p: { prefix: string } | undefined): boolean {
  if (!p) return true;
  const x = parsePrefix(p.prefix);
  return typeof x === 'string' || x.len === 0;
}

/** Findings for one FlowSpec route against one profile (no I/O, never throws). */
export function lintRoute(route: FlowspecRoute, profile: Profile): Finding[] {
  const out: Finding[] = [];
  const rule = route.rule;
  const invalid = validateFlowspecRule(route.family, rule, { requireDestination: false });
  if (invalid) out.push(err('invalid', invalid));
  if (isAny(rule.destination) && isAny(rule.source)) out.push(err('no_destination', 'the rule has no destination (and no source) prefix: it would match traffic to every address'));
  if (route.family === 'ipv6_flowspec' && !profile.ipv6) out.push(err('family', `${profile.name} does not install IPv6 FlowSpec rules`));
  const keys = (Object.keys(rule) as ComponentKey[]).filter((k) => rule[k] !== undefined);
  for (const k of keys) if (!profile.components.has(k)) out.push(err('component', `${profile.name} does not install the ${COMPONENT_NAMES[k] ?? k} component`));
  if (keys.length > profile.maxComponents) out.push(err('too_many_terms', `${keys.length} components; ${profile.name} takes at most ${profile.maxComponents} in one rule`));
  for (const k of keys) {
    if (k === 'destination' || k === 'source') continue;
    const ops = rule[k] as unknown[];
    if (Array.isArray(ops) && ops.length > profile.maxOpsPerComponent) out.push(err('too_many_values', `${COMPONENT_NAMES[k]} has ${ops.length} operator/value pairs; ${profile.name} takes at most ${profile.maxOpsPerComponent}`));
  }
  for (const o of rule.fragment ?? []) {
    const extra = o.value & ~profile.fragmentBits;
    if (extra) out.push(err('fragment_bits', `${profile.name} matches only fragment bits 0x${profile.fragmentBits.toString(16)}; the rule asks for 0x${o.value.toString(16)}`));
  }
  if (!profile.twoByteTcpFlags) for (const o of rule.tcpFlags ?? []) if (o.value > 0xff) out.push(err('tcp_flags_width', `${profile.name} matches one-byte TCP flags only`));
  if (rule.packetLength) {
    const over = rule.packetLength.find((o) => o.value > MAX_PACKET_LENGTH);
    if (over) out.push(err('packet_length', `packet length ${over.value} is above ${MAX_PACKET_LENGTH}, the largest IP packet`));
    if (profile.packetLengthDangerous) {
      out.push(err('packet_length', `${profile.name}: packet-length rules are refused (a packet-length FlowSpec rule exhausted Junos routers' memory in 2013); match on protocol and ports instead`));
    }
  }
  for (const c of route.attrs.extCommunities ?? []) {
    const t = c.type as string;
    if (isAction(t) && !profile.actions.has(t)) out.push(err('action', `${profile.name} does not install the ${t} action`));
  }
  const l4 = rule.sourcePort || rule.destinationPort || rule.port || rule.tcpFlags || rule.icmpType || rule.icmpCode;
  if (l4 && !rule.fragment) {
    out.push(warn('port_fragments', 'the rule matches layer-4 fields but says nothing about fragments: non-first fragments carry no ports (RFC 8955 §4.2.2.4) and are not dropped by it; add a fragment rule for amplified traffic'));
  }
  return out;
}

const ACTIONS = new Set<string>(['traffic-rate', 'traffic-rate-packets', 'traffic-action', 'redirect', 'redirect-ip', 'traffic-marking']);
function isAction(t: string): t is ActionType {
  return ACTIONS.has(t);
}

export function hasError(f: readonly Finding[]): boolean {
  return f.some((x) => x.severity === 'error');
}

/** A rule as text for messages: "dst 203.0.113.7/32 proto =17 sport =123". */
export function ruleText(rule: FlowspecRule): string {
  const parts: string[] = [];
  if (rule.destination) parts.push(`dst ${rule.destination.prefix}`);
  if (rule.source) parts.push(`src ${rule.source.prefix}`);
  for (const k of Object.keys(rule) as ComponentKey[]) {
    if (k === 'destination' || k === 'source' || rule[k] === undefined) continue;
    parts.push(`${COMPONENT_NAMES[k].replace(/ /g, '-')} ${(rule[k] as Array<{ value: number }>).map((o) => o.value).join(',')}`);
  }
  return parts.join(' ');
}
