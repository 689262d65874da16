/**
 * The engine's read side: current rates per host (the API's hosts list) and
 * the plain stats numbers that metrics read. Built from the counter tables
 * on request, never on the per-record path.
 */
import type { EngineConfig } from '../config/diff.ts';
import { C, RF, type CounterTable } from './counters.ts';
import { keyToAddress, round2 } from './detector.ts';
import { CARPET4, CARPET6, HOST_IN4, HOST_IN6, HOST_OUT4, HOST_OUT6, type Compiled } from './compile.ts';
import { baselineOf } from './rows.ts';
import { parseIP } from '../core/ip.ts';

export interface HostRate {
  ip: string;
  direction: 'incoming' | 'outgoing';
  hostgroup?: string;
  pps: number;
  mbps: number;
  fps: number;
  tcp_pps: number;
  udp_pps: number;
  icmp_pps: number;
  tcp_syn_pps: number;
  frag_pps: number;
  under_attack: boolean;
  baseline?: { pps: number; mbps: number; fps: number };
}

export interface EngineStats {
  records: number;
  /** Records with neither address inside `networks`. */
  records_outside: number;
  tracked_hosts: number;
  hosts: { incoming4: number; outgoing4: number; incoming6: number; outgoing6: number };
  carpet_prefixes: number;
  /** Keys refused because a table was full (before eviction made room). */
  overflow: number;
  evictions: number;
  ticks: number;
  attacks_active: number;
  attacks_started: number;
  attacks_by_vector: Record<string, number>;
  memory_bytes: number;
}

/** One host row as the API shows it (rates over the window, baseline when learned). */
export function hostRate(c: Compiled, cfg: Readonly<EngineConfig>, tables: readonly CounterTable[], ti: number, r: number, ip: string, sums: Float64Array): HostRate {
  const tb = tables[ti];
  const W = c.wp.windowSec;
  const g = tb.group(r);
  const o = 0, s = tb.sums(r, sums);
  const h: HostRate = {
    ip,
    direction: ti === HOST_IN4 || ti === HOST_IN6 ? 'incoming' : 'outgoing',
    pps: round2(s[o] / W),
    mbps: round2((s[o + 1] * 8) / W / 1e6),
    fps: round2(s[o + 2] / W),
    tcp_pps: round2(s[o + C.TCP_P] / W),
    udp_pps: round2(s[o + C.UDP_P] / W),
    icmp_pps: round2(s[o + C.ICMP_P] / W),
    tcp_syn_pps: round2(s[o + C.SYN_P] / W),
    frag_pps: round2(s[o + C.FRAG_P] / W),
    under_attack: (tb.flags(r) & RF.PINNED) !== 0,
  };
  if (g > 0) h.hostgroup = cfg.hostgroups[g - 1]?.name;
  if (tb.base) {
    const bp = c.baseline[g] ?? c.baseline[0];
    h.baseline = { pps: round2(baselineOf(c, tb, r, 0, bp)), mbps: round2((baselineOf(c, tb, r, 1, bp) * 8) / 1e6), fps: round2(baselineOf(c, tb, r, 2, bp)) };
  }
  return h;
}

/** One host's rows (both directions) by hash lookup, including rows without traffic in the window. */
export function hostRows(c: Compiled, cfg: Readonly<EngineConfig>, tables: readonly CounterTable[], ip: string, k: Uint32Array, sums: Float64Array): HostRate[] {
  const a = parseIP(ip);
  if (!a) return [];
  const w = [0, 0, 0, 0];
  if (a.family === 4) w[0] = ((a.bytes[0] << 24) | (a.bytes[1] << 16) | (a.bytes[2] << 8) | a.bytes[3]) >>> 0;
  else for (let i = 0; i < 4; i++) w[i] = ((a.bytes[i * 4] << 24) | (a.bytes[i * 4 + 1] << 16) | (a.bytes[i * 4 + 2] << 8) | a.bytes[i * 4 + 3]) >>> 0;
  const out: HostRate[] = [];
  for (const ti of a.family === 4 ? [HOST_IN4, HOST_OUT4] : [HOST_IN6, HOST_OUT6]) {
    const tb = tables[ti];
    const r = tb.find(w[0], w[1], w[2], w[3]);
    if (r >= 0 && tb.isLive(r)) out.push(hostRate(c, cfg, tables, ti, r, keyToAddress(tb.keyInto(r, k), 0, tb.kw), sums));
  }
  return out.sort((x, y) => y.pps - x.pps);
}

/** The engine's own counts, as stats() reports them. */
export interface EngineCounts {
  records: number;
  outside: number;
  ticks: number;
}

export function engineStats(tables: readonly CounterTable[], n: EngineCounts, attacks: { readonly active: { readonly size: number }; readonly started: number; readonly byVector: Record<string, number> }): EngineStats {
  const t = tables;
  let overflow = 0, evictions = 0, mem = 0;
  for (const tb of t) { overflow += tb.overflow; evictions += tb.evictions; mem += tb.bytes(); }
  const hosts = { incoming4: t[HOST_IN4].size, outgoing4: t[HOST_OUT4].size, incoming6: t[HOST_IN6].size, outgoing6: t[HOST_OUT6].size };
  return {
    records: n.records,
    records_outside: n.outside,
    tracked_hosts: hosts.incoming4 + hosts.outgoing4 + hosts.incoming6 + hosts.outgoing6,
    hosts,
    carpet_prefixes: t[CARPET4].size + t[CARPET6].size,
    overflow,
    evictions,
    ticks: n.ticks,
    attacks_active: attacks.active.size,
    attacks_started: attacks.started,
    attacks_by_vector: { ...attacks.byVector },
    memory_bytes: mem,
  };
}
