/**
 * FlowSpec methods (`flowspec_methods`) and platforms (`platforms`): named
 * rules an operator writes once and uses from the API, a hostgroup
 * (`flowspec_method`) or an escalation step (`method`), and the sets of
 * neighbors they go to. A method is ONE rule: its match plus the target as
 * destination (source for outgoing bans), and its action.
 *
 * Also "infer from alarm": a match proposed from an attack's sample (the
 * protocol, the source ports and the packet length range that carry most of
 * it), shown for approval, never applied by itself.
 */
import type { Config, FlowspecActionConfig, FlowspecMatch, FlowspecMethod } from '../config/schema.ts';

/** The part of the config methods and platforms live in. */
type MethodsConfig = Pick<Config, 'flowspec_methods' | 'platforms'>;
import { BreakwaterError } from '../core/errors.ts';
import { canonicalAddress, formatPrefix, parsePrefix } from '../core/ip.ts';
import type { Attack } from '../engine/events.ts';
import type { FlowspecChoice, FlowspecRuleIntent, RouteIntent } from '../ban/types.ts';

export const PROTOCOL_NUMBERS: Readonly<Record<string, number>> = { icmp: 1, tcp: 6, udp: 17, gre: 47, esp: 50, icmpv6: 58, sctp: 132 };
const PROTOCOL_NAMES: Readonly<Record<number, string>> = Object.fromEntries(Object.entries(PROTOCOL_NUMBERS).map(([k, n]) => [n, k]));
export const TCP_FLAG_BITS: Readonly<Record<string, number>> = { fin: 0x01, syn: 0x02, rst: 0x04, psh: 0x08, ack: 0x10, urg: 0x20, ece: 0x40, cwr: 0x80 };

/** "syn&!ack" → {set: SYN, clear: ACK}. Returns null on garbage. */
export function parseTcpFlags(text: string): { set: number; clear: number } | null {
  let set = 0, clear = 0;
  for (const raw of text.split('&')) {
    const t = raw.trim().toLowerCase();
    const neg = t.startsWith('!');
    const bit = TCP_FLAG_BITS[neg ? t.slice(1) : t];
    if (bit === undefined) return null;
    if (neg) clear |= bit;
    else set |= bit;
  }
  return set || clear ? { set, clear } : null;
}

export function formatTcpFlags(f: { set: number; clear: number }): string {
  const parts: string[] = [];
  for (const [name, bit] of Object.entries(TCP_FLAG_BITS)) {
    if (f.set & bit) parts.push(name);
    if (f.clear & bit) parts.push('!' + name);
  }
  return parts.join('&');
}

function protocolNumber(p: number | string): number {
  return typeof p === 'number' ? p : PROTOCOL_NUMBERS[p];
}

function splitPorts(items: ReadonlyArray<number | string> | undefined): { single: number[]; ranges: Array<[number, number]> } {
  const single: number[] = [];
  const ranges: Array<[number, number]> = [];
  for (const x of items ?? []) {
    if (typeof x === 'number') single.push(x);
    else {
      const [lo, hi = lo] = x.split('-').map(Number);
      if (!(lo <= hi && hi <= 65535)) throw new BreakwaterError('invalid_route', `"${x}" is not a port range LO-HI within 0..65535`);
      if (lo === hi) single.push(lo);
      else ranges.push([lo, hi]);
    }
  }
  return { single: [...new Set(single)], ranges };
}

/** The action part of a rule for a method's action (rate in Mbit/s → bytes/s). */
export function ruleAction(a: FlowspecActionConfig | undefined): Pick<FlowspecRuleIntent, 'action' | 'mark_dscp'> {
  const out: Pick<FlowspecRuleIntent, 'action' | 'mark_dscp'> = { action: { type: 'discard' } };
  if (!a) return out;
  if (a.rate_limit_mbps !== undefined) out.action = { type: 'rate_limit', bytes_per_second: Math.round(a.rate_limit_mbps * 125_000) };
  else if (a.redirect_rt !== undefined) out.action = { type: 'redirect', rt: a.redirect_rt };
  else if (a.discard) out.action = { type: 'discard' };
  else out.action = { type: 'none' };
  if (a.mark_dscp !== undefined) out.mark_dscp = a.mark_dscp;
  return out;
}

/** The match part of a rule (no destination, no action). Throws BreakwaterError invalid_route on a bad range or a source of the other family. */
export function ruleMatch(m: FlowspecMatch, family: 4 | 6): Omit<FlowspecRuleIntent, 'family' | 'destination' | 'action'> {
  const r: Omit<FlowspecRuleIntent, 'family' | 'destination' | 'action'> = {};
  if (m.source !== undefined) {
    const p = parsePrefix(m.source, false);
    if (typeof p === 'string') throw new BreakwaterError('invalid_route', `match.source: ${p}`);
    if (p.family !== family) throw new BreakwaterError('invalid_route', `match.source ${m.source} is IPv${p.family}; the target is IPv${family}`);
    r.source = formatPrefix(p);
  }
  if (m.protocol) r.protocols = [...new Set(m.protocol.map(protocolNumber))].sort((a, b) => a - b);
  const sp = splitPorts(m.source_port);
  if (sp.single.length) r.source_ports = sp.single;
  if (sp.ranges.length) r.source_port_ranges = sp.ranges;
  const dp = splitPorts(m.destination_port);
  if (dp.single.length) r.destination_ports = dp.single;
  if (dp.ranges.length) r.destination_port_ranges = dp.ranges;
  if (m.tcp_flags !== undefined) {
    const f = parseTcpFlags(m.tcp_flags);
    if (!f) throw new BreakwaterError('invalid_route', `tcp_flags "${m.tcp_flags}" is not flags joined by & ("syn&!ack")`);
    r.tcp_flags = f;
  }
  if (m.fragment === true || m.fragment === 'is_fragment') r.fragment = true;
  else if (typeof m.fragment === 'string') r.fragment_kind = m.fragment;
  if (m.packet_length && (m.packet_length.min !== undefined || m.packet_length.max !== undefined)) r.packet_length = { ...m.packet_length };
  if (m.icmp_type !== undefined) r.icmp_type = m.icmp_type;
  if (m.icmp_code !== undefined) r.icmp_code = m.icmp_code;
  if (m.dscp) r.dscp = [...new Set(m.dscp)].sort((a, b) => a - b);
  return r;
}

export function findMethod(cfg: Readonly<MethodsConfig>, name: string): FlowspecMethod | undefined {
  return cfg.flowspec_methods.find((m) => m.name === name);
}

/**
 * The FlowSpec route of a choice (method or inline match) for a target.
 * Strict (requests): throws BreakwaterError invalid_route for an unknown
 * method or platform. Lenient (rebuilding a ban's route after a reload
 * removed them): an unknown method gives null (the caller falls back to the
 * built-in rule) and unknown platforms stay named, so they match no neighbor.
 */
export function choiceRoute(choice: FlowspecChoice, target: string, cfg: Readonly<MethodsConfig>, direction?: 'incoming' | 'outgoing'): Extract<RouteIntent, { type: 'flowspec' }>;
export function choiceRoute(choice: FlowspecChoice, target: string, cfg: Readonly<MethodsConfig>, direction: 'incoming' | 'outgoing' | undefined, lenient: true): Extract<RouteIntent, { type: 'flowspec' }> | null;
export function choiceRoute(choice: FlowspecChoice, target: string, cfg: Readonly<MethodsConfig>, direction?: 'incoming' | 'outgoing', lenient = false): Extract<RouteIntent, { type: 'flowspec' }> | null {
  const p = parsePrefix(target);
  if (typeof p === 'string') throw new BreakwaterError('invalid_target', `invalid target: ${p}`);
  const prefix = formatPrefix(p);
  let match = choice.match;
  let action = choice.action;
  let platforms = choice.platforms;
  if (choice.method !== undefined) {
    const m = findMethod(cfg, choice.method);
    if (!m && lenient) return null;
    if (!m) throw new BreakwaterError('invalid_route', `no flowspec_methods entry named "${choice.method}"`);
    match = choice.match ?? m.match;
    action = choice.action ?? m.action;
    platforms = choice.platforms ?? m.platforms;
  }
  for (const name of platforms ?? []) {
    if (!lenient && !cfg.platforms.some((x) => x.name === name)) throw new BreakwaterError('invalid_route', `no platform named "${name}"`);
  }
  const body = ruleMatch(match ?? {}, p.family);
  const outgoing = direction === 'outgoing';
  const rule: FlowspecRuleIntent = outgoing
    ? { family: p.family, destination: p.family === 4 ? '0.0.0.0/0' : '::/0', ...body, source: prefix, ...ruleAction(action) }
    : { family: p.family, destination: prefix, ...body, ...ruleAction(action) };
  const route: Extract<RouteIntent, { type: 'flowspec' }> = { type: 'flowspec', rules: [rule] };
  if (choice.method !== undefined) route.method = choice.method;
  if (platforms?.length) route.platforms = [...platforms];
  return route;
}

/** Neighbor ids (canonical addresses) of the named platforms; undefined: no restriction. */
export function platformNeighbors(cfg: Readonly<Pick<Config, 'platforms'>>, platforms: readonly string[] | undefined): Set<string> | undefined {
  if (!platforms?.length) return undefined;
  const out = new Set<string>();
  for (const name of platforms) for (const a of cfg.platforms.find((p) => p.name === name)?.neighbors ?? []) out.add(canonicalAddress(a));
  return out;
}

/** The methods and platforms as the API lists them. */
export function listMethods(cfg: Readonly<MethodsConfig>): { methods: Array<FlowspecMethod & { platforms: string[] }>; platforms: Array<{ name: string; description?: string; neighbors: string[] }> } {
  return {
    methods: cfg.flowspec_methods.map((m) => ({ ...m, platforms: [...(m.platforms ?? [])] })),
    platforms: cfg.platforms.map((p) => ({ name: p.name, ...(p.description !== undefined ? { description: p.description } : {}), neighbors: [...p.neighbors] })),
  };
}

// ---------------------------------------------------------------- infer from alarm

export interface InferredMatch {
  match: FlowspecMatch;
  /** Share of the sample's packets the proposed match covers (0..1). */
  coverage: number;
  /** One line per part of the match: why it is there. */
  basis: string[];
  sample_flows: number;
}

/**
 * A match from an attack's sample: the protocol carrying most packets, the
 * source ports that carry >= 10 % each (at most 8; none when they are spread
 * thin), TCP flags when one combination dominates, and the packet length
 * range (bytes/packets per flow, 5th..95th percentile by packets).
 */
export function inferMatch(a: Pick<Attack, 'summary' | 'family'>): InferredMatch {
  const flows = a.summary.sample ?? [];
  const w = (f: { packets: number; sampling_rate: number }) => Math.max(1, f.packets) * Math.max(1, f.sampling_rate || 1);
  const total = flows.reduce((s, f) => s + w(f), 0);
  const basis: string[] = [];
  const match: FlowspecMatch = {};
  if (total === 0) {
    // No sample: the summary's protocols, if any.
    const top = a.summary.protocols?.[0];
    const n = top ? PROTOCOL_NUMBERS[top.key.toLowerCase()] ?? (/^\d+$/.test(top.key) ? Number(top.key) : undefined) : undefined;
    if (n !== undefined) {
      match.protocol = [n];
      basis.push(`protocol ${top!.key}: ${Math.round(top!.share * 100)} % of packets (no sample flows)`);
    }
    return { match, coverage: top?.share ?? 0, basis, sample_flows: 0 };
  }
  const byProto = new Map<number, number>();
  for (const f of flows) byProto.set(f.ip_proto, (byProto.get(f.ip_proto) ?? 0) + w(f));
  const [proto, pw] = [...byProto].sort((x, y) => y[1] - x[1])[0];
  let kept = flows.filter((f) => f.ip_proto === proto);
  match.protocol = [proto];
  basis.push(`protocol ${PROTOCOL_NAMES[proto] ?? proto}: ${pct(pw / total)} of sampled packets`);
  if (proto === 6 || proto === 17) {
    const byPort = new Map<number, number>();
    for (const f of kept) byPort.set(f.src_port, (byPort.get(f.src_port) ?? 0) + w(f));
    const ports = [...byPort].filter(([, x]) => x / pw >= 0.1).sort((x, y) => y[1] - x[1]).slice(0, 8);
    const share = ports.reduce((s, [, x]) => s + x, 0) / pw;
    if (ports.length && share >= 0.5) {
      match.source_port = ports.map(([p]) => p).sort((x, y) => x - y);
      kept = kept.filter((f) => byPort.has(f.src_port) && match.source_port!.includes(f.src_port));
      basis.push(`source port ${match.source_port.join(', ')}: ${pct(share)} of ${PROTOCOL_NAMES[proto]} packets`);
    }
  }
  if (proto === 6) {
    const byFlags = new Map<number, number>();
    for (const f of kept) byFlags.set(f.tcp_flags, (byFlags.get(f.tcp_flags) ?? 0) + w(f));
    const kw = kept.reduce((s, f) => s + w(f), 0);
    const [flags, fw] = [...byFlags].sort((x, y) => y[1] - x[1])[0] ?? [0, 0];
    if (flags && fw / kw >= 0.8) {
      const set = flags & 0x3f;
      const clear = set & TCP_FLAG_BITS.syn && !(set & TCP_FLAG_BITS.ack) ? TCP_FLAG_BITS.ack : 0;
      match.tcp_flags = formatTcpFlags({ set, clear });
      kept = kept.filter((f) => f.tcp_flags === flags);
      basis.push(`tcp flags ${match.tcp_flags}: ${pct(fw / kw)} of the matched packets`);
    }
  }
  const sizes = kept.map((f) => ({ size: f.packets > 0 ? Math.round(f.bytes / f.packets) : 0, w: w(f) })).filter((x) => x.size > 0).sort((x, y) => x.size - y.size);
  if (sizes.length >= 3) {
    const sw = sizes.reduce((s, x) => s + x.w, 0);
    const at = (q: number) => {
      let acc = 0;
      for (const x of sizes) if ((acc += x.w) >= q * sw) return x.size;
      return sizes[sizes.length - 1].size;
    };
    const min = at(0.05), max = at(0.95);
    match.packet_length = { min, max };
    basis.push(`packet length ${min}..${max} bytes: 90 % of the matched packets (average per flow)`);
  }
  const coverage = kept.reduce((s, f) => s + w(f), 0) / total;
  return { match, coverage: Math.round(coverage * 1000) / 1000, basis, sample_flows: flows.length };
}

function pct(x: number): string {
  return `${Math.round(x * 1000) / 10} %`;
}
