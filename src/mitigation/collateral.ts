/**
 * Collateral preview: before a rule or a blackhole is announced, how much of
 * the target's current traffic it would drop, and how much of what it drops
 * looks legitimate. Pure: the caller hands in the flow samples of the
 * target (the engine keeps them on attacks) and its per-host counters.
 *
 * - Shares come from the sample flows of the last `window_seconds`, each
 *   weighted by packets × sampling rate, matched against the rules the way a
 *   router would (protocol, ports and ranges, TCP flags, packet length from
 *   the flow's average, ICMP type/code from the NetFlow port convention,
 *   source prefix; non-first fragments are the TCP/UDP flows without ports;
 *   DSCP is not in samples and counts as matching, which over-states drops).
 * - The rate (total_pps) comes from the per-host counters, else the attack's
 *   rate, else the sample itself. Without samples, a rule on protocols only
 *   is estimated from the per-protocol counters; anything finer is reported
 *   as unknown (dropped_share null) rather than guessed.
 * - Attack-like: a flow the attack's own built-in rule would match (the
 *   vector's signature), or one of the usual flood shapes (UDP from an
 *   amplification port, TCP SYN without ACK, fragments, ICMP); everything
 *   else is legit-like, and the summary names its biggest protocol/port and
 *   how many sources it came from.
 */
import type { FlowspecRuleIntent, RouteIntent } from '../ban/types.ts';
import type { SampleFlow } from '../engine/events.ts';
import { parseIP, parsePrefix, prefixCovers, type Prefix } from '../core/ip.ts';

export interface CounterView {
  pps: number;
  tcp_pps?: number;
  udp_pps?: number;
  icmp_pps?: number;
}

export interface CollateralInput {
  target: string;
  route: RouteIntent;
  /** Sample flows to (or from, for outgoing) the target, any age: those older than the window are left out. */
  flows: readonly SampleFlow[];
  /** Current counters of the target (summed over its hosts). */
  counters?: CounterView;
  /** The attack's current rate, when there is one. */
  attack_pps?: number;
  /** The attack's built-in rules (what "attack-like" means for it). */
  attackRules?: ReadonlyArray<Omit<FlowspecRuleIntent, 'family' | 'destination' | 'action'>>;
  direction?: 'incoming' | 'outgoing';
  window_seconds: number;
  now: number;
}

export interface Collateral {
  window_seconds: number;
  total_pps: number;
  dropped_pps: number | null;
  dropped_share: number | null;
  attack_like_share: number | null;
  legit_like_share: number | null;
  /** "sample" (flows), "counters" (per-protocol counters only), "none". */
  basis: 'sample' | 'counters' | 'none';
  sample_flows: number;
  /** The biggest legit-like part of the drop: "TCP 443" and its sources in the sample. */
  legit_top?: { what: string; sources: number; share: number };
  summary: string;
}

const AMPLIFICATION_SOURCE_PORTS = new Set([19, 53, 123, 161, 389, 1900, 3702, 11211]);
const PROTO_NAME: Readonly<Record<number, string>> = { 1: 'ICMP', 6: 'TCP', 17: 'UDP', 47: 'GRE', 50: 'ESP', 58: 'ICMPv6', 132: 'SCTP' };

const weight = (f: SampleFlow) => Math.max(1, f.packets) * Math.max(1, f.sampling_rate || 1);

function inPorts(p: number, single?: number[], ranges?: Array<[number, number]>): boolean {
  if (!single?.length && !ranges?.length) return true;
  if (single?.includes(p)) return true;
  return (ranges ?? []).some(([lo, hi]) => p >= lo && p <= hi);
}

function isNonFirstFragment(f: SampleFlow): boolean {
  return (f.ip_proto === 6 || f.ip_proto === 17) && f.src_port === 0 && f.dst_port === 0;
}

function covers(prefix: string | undefined, addr: string): boolean {
  if (prefix === undefined) return true;
  const p = parsePrefix(prefix);
  const a = parsePrefix(addr);
  if (typeof p === 'string' || typeof a === 'string') return false;
  return prefixCovers(p, a);
}

/** Whether a rule's match (destination/source aside from `side`) covers a sampled flow. */
export function ruleMatchesFlow(r: Omit<FlowspecRuleIntent, 'family' | 'destination' | 'action'> & { destination?: string }, f: SampleFlow): boolean {
  if (r.destination !== undefined && !covers(r.destination, f.dst)) return false;
  if (r.source !== undefined && !covers(r.source, f.src)) return false;
  if (r.protocols?.length && !r.protocols.includes(f.ip_proto)) return false;
  const frag = isNonFirstFragment(f);
  if (r.fragment && !frag) return false;
  const l4 = f.ip_proto === 6 || f.ip_proto === 17;
  if (r.source_ports?.length || r.source_port_ranges?.length) if (!l4 || frag || !inPorts(f.src_port, r.source_ports, r.source_port_ranges)) return false;
  if (r.destination_ports?.length || r.destination_port_ranges?.length) if (!l4 || frag || !inPorts(f.dst_port, r.destination_ports, r.destination_port_ranges)) return false;
  if (r.tcp_flags) {
    if (f.ip_proto !== 6) return false;
    if ((f.tcp_flags & r.tcp_flags.set) !== r.tcp_flags.set || (f.tcp_flags & r.tcp_flags.clear) !== 0) return false;
  }
  if (r.packet_length) {
    const size = f.packets > 0 ? f.bytes / f.packets : 0;
    if (r.packet_length.min !== undefined && size < r.packet_length.min) return false;
    if (r.packet_length.max !== undefined && size > r.packet_length.max) return false;
  }
  const icmp = f.ip_proto === 1 || f.ip_proto === 58;
  if (r.icmp_type !== undefined && (!icmp || f.dst_port >> 8 !== r.icmp_type)) return false;
  if (r.icmp_code !== undefined && (!icmp || (f.dst_port & 0xff) !== r.icmp_code)) return false;
  return true;
}

/** The usual flood shapes, when the attack's own rule is not known. */
function floodShaped(f: SampleFlow): boolean {
  if (isNonFirstFragment(f)) return true;
  if (f.ip_proto === 17 && AMPLIFICATION_SOURCE_PORTS.has(f.src_port)) return true;
  if (f.ip_proto === 6 && (f.tcp_flags & 0x12) === 0x02) return true;
  return f.ip_proto === 1 || f.ip_proto === 58;
}

function pct(x: number): string {
  const v = x * 100;
  return `${v >= 10 || v === 0 ? Math.round(v) : Math.round(v * 10) / 10} %`;
}

const round = (x: number, d = 4) => Math.round(x * 10 ** d) / 10 ** d;

export function previewCollateral(inp: CollateralInput): Collateral {
  const since = inp.now - inp.window_seconds * 1000;
  const t = parsePrefix(inp.target);
  const target: Prefix | null = typeof t === 'string' ? null : t;
  const onTarget = (f: SampleFlow) => {
    if (!target) return false;
    const a = parseIP(inp.direction === 'outgoing' ? f.src : f.dst);
    return a !== null && a.family === target.family && prefixCovers(target, { family: a.family, bytes: a.bytes, len: a.family === 4 ? 32 : 128 });
  };
  const flows = inp.flows.filter((f) => f.time >= since && onTarget(f));
  const blackhole = inp.route.type === 'blackhole';
  const rules = inp.route.type === 'flowspec' ? inp.route.rules : [];
  const drops = (f: SampleFlow) => blackhole || rules.some((r) => ruleMatchesFlow(inp.direction === 'outgoing' ? { ...r, destination: undefined } : r, f));
  const attackLike = (f: SampleFlow) => (inp.attackRules?.length ? inp.attackRules.some((r) => ruleMatchesFlow(r, f)) : false) || floodShaped(f);

  let total = 0, dropped = 0, attack = 0;
  const legit = new Map<string, { w: number; sources: Set<string> }>();
  for (const f of flows) {
    const w = weight(f);
    total += w;
    if (!drops(f)) continue;
    dropped += w;
    if (attackLike(f)) attack += w;
    else {
      const what = f.ip_proto === 6 || f.ip_proto === 17 ? `${PROTO_NAME[f.ip_proto]} ${f.dst_port}` : PROTO_NAME[f.ip_proto] ?? `protocol ${f.ip_proto}`;
      const e = legit.get(what) ?? { w: 0, sources: new Set<string>() };
      e.w += w;
      e.sources.add(f.src);
      legit.set(what, e);
    }
  }
  const sampleRate = total / Math.max(1, inp.window_seconds);
  const totalPps = inp.counters?.pps || inp.attack_pps || sampleRate;
  const who = inp.target;
  const base = { window_seconds: inp.window_seconds, total_pps: round(totalPps, 2), sample_flows: flows.length };

  if (total > 0) {
    const share = dropped / total;
    const aShare = dropped > 0 ? attack / dropped : 0;
    const top = [...legit].sort((x, y) => y[1].w - x[1].w)[0];
    const out: Collateral = {
      ...base,
      dropped_pps: round(totalPps * share, 2),
      dropped_share: round(share),
      attack_like_share: round(aShare),
      legit_like_share: round(dropped > 0 ? 1 - aShare : 0),
      basis: 'sample',
      summary: '',
    };
    if (top) out.legit_top = { what: top[0], sources: top[1].sources.size, share: round(top[1].w / Math.max(1, dropped)) };
    out.summary =
      `drops ${pct(share)} of current traffic to ${who}` +
      (dropped === 0
        ? ''
        : legit.size === 0
          ? '; none of the dropped packets look legitimate'
          : `; ${pct(1 - aShare)} of the dropped packets look legitimate (${top![0]} from ${top![1].sources.size.toLocaleString('en-US')} source${top![1].sources.size === 1 ? '' : 's'} in the sample)`);
    return out;
  }

  if (blackhole && totalPps > 0) {
    const aShare = inp.attack_pps && totalPps > 0 ? Math.min(1, inp.attack_pps / totalPps) : null;
    return {
      ...base, dropped_pps: round(totalPps, 2), dropped_share: 1, attack_like_share: aShare === null ? null : round(aShare), legit_like_share: aShare === null ? null : round(1 - aShare), basis: 'counters',
      summary: `drops all traffic to ${who} (${Math.round(totalPps).toLocaleString('en-US')} packets/s now); no flow sample to tell attack from legitimate traffic`,
    };
  }
  // Rules on protocols only: the per-protocol counters answer.
  const c = inp.counters;
  const protoOnly = rules.length > 0 && rules.every((r) => r.protocols?.length && Object.keys(r).every((k) => ['family', 'destination', 'source', 'protocols', 'action', 'mark_dscp'].includes(k)) && r.source === undefined);
  if (c && c.pps > 0 && protoOnly) {
    const protos = new Set(rules.flatMap((r) => r.protocols ?? []));
    let pps = 0;
    if (protos.has(6)) pps += c.tcp_pps ?? 0;
    if (protos.has(17)) pps += c.udp_pps ?? 0;
    if (protos.has(1) || protos.has(58)) pps += c.icmp_pps ?? 0;
    const share = Math.min(1, pps / c.pps);
    return {
      ...base, dropped_pps: round(pps, 2), dropped_share: round(share), attack_like_share: null, legit_like_share: null, basis: 'counters',
      summary: `drops about ${pct(share)} of current traffic to ${who} (per-protocol counters; no flow sample to tell attack from legitimate traffic)`,
    };
  }
  return {
    ...base, dropped_pps: null, dropped_share: null, attack_like_share: null, legit_like_share: null, basis: 'none',
    summary: totalPps > 0 ? `${Math.round(totalPps).toLocaleString('en-US')} packets/s to ${who} now; no flow sample of it, so what the rule would drop is unknown` : `no current traffic to ${who} is known`,
  };
}
