/**
 * A config compiled for the engine: limits per direction and hostgroup as
 * typed arrays, baseline parameters, carpet masks and watch levels, computed
 * once per config (start and reload) so the count and tick paths read
 * numbers, not the config. Also the engine's counter-table slots.
 */
import type { EngineConfig } from '../config/diff.ts';
import { C, NC } from './counters.ts';
import { windowParams, type WindowParams } from './window.ts';
import { NetworkSet, HostgroupIndex } from './hostgroups.ts';
import { compileThresholds, mergeThresholds, anyLimit, THRESHOLD_KEYS } from './thresholds.ts';
import { resolveBaseline, type BaselineParams } from './baseline.ts';
import { round2 } from './detector.ts';

/** The engine's counter tables, by slot. */
export const HOST_IN4 = 0, HOST_OUT4 = 1, HOST_IN6 = 2, HOST_OUT6 = 3, GROUP_IN = 4, GROUP_OUT = 5, CARPET4 = 6, CARPET6 = 7;
/** Key of a row across tables: table slot × ROW_SPAN + row. */
export const ROW_SPAN = 2 ** 25;

export interface Compiled {
  wp: WindowParams;
  nets: NetworkSet;
  groups: HostgroupIndex;
  /** limits[dir][g] for g = group index + 1 (0 = global). */
  limits: [Float64Array[], Float64Array[]];
  /** per group index + 1: 1 when calculation is total. */
  total: Uint8Array;
  baseline: BaselineParams[];
  carpetOn: boolean;
  carpetLimits: Float64Array;
  carpetLen4: number;
  carpetMask4: number;
  carpetLen6: number;
  carpetMinHosts: number;
  hysteresisMs: number;
  idleTicks: number;
  spread: boolean;
  sampleFlows: number;
  /** Window packets from which a host/group/carpet row's records go into the FlowRing. */
  watchHost: number;
  watchCarpet: number;
}

/** Counters that count packets (pps-like limits). */
const PKT_COUNTERS = [C.PKTS, C.TCP_P, C.UDP_P, C.ICMP_P, C.SYN_P, C.FRAG_P];

/**
 * A quarter of the smallest packet limit (in window packets): records of rows
 * below it cannot be part of an attack soon, so they are not kept for seeding
 * classification. 0 (keep all) when some target with limits has no packet
 * limit; Infinity (keep none) when no target has any limit.
 */
function watchLevel(limits: Float64Array[], windowSec: number, floor?: number): number {
  let min = Infinity;
  for (const l of limits) {
    if (!anyLimit(l)) continue; // a target without any limit never opens an attack
    let m = Infinity;
    for (const i of PKT_COUNTERS) if (l[i] > 0 && l[i] < m) m = l[i];
    if (m === Infinity) return 0;
    if (m < min) min = m;
  }
  if (floor !== undefined && floor < min) min = floor;
  return min === Infinity ? Infinity : 0.25 * min * windowSec;
}

export function compile(cfg: Readonly<EngineConfig>): Compiled {
  const wp = windowParams(cfg.detection.window_seconds, cfg.detection.tick_ms);
  const groups = new HostgroupIndex(cfg.hostgroups);
  const G = cfg.hostgroups.length;
  const lin: Float64Array[] = [compileThresholds(cfg.thresholds)];
  const lout: Float64Array[] = [compileThresholds(cfg.thresholds_outgoing)];
  const total = new Uint8Array(G + 1);
  const baseline: BaselineParams[] = [resolveBaseline(cfg.baseline)];
  cfg.hostgroups.forEach((g, i) => {
    lin.push(compileThresholds(mergeThresholds(cfg.thresholds, g.thresholds)));
    lout.push(compileThresholds(mergeThresholds(cfg.thresholds_outgoing, g.thresholds_outgoing)));
    total[i + 1] = g.calculation === 'total' ? 1 : 0;
    baseline.push(resolveBaseline(cfg.baseline, g.baseline));
  });
  const len4 = cfg.carpet.prefix_length_v4;
  const anyBaseline = baseline.some((b) => b.enabled);
  const minFloor = anyBaseline ? Math.min(...baseline.filter((b) => b.enabled).map((b) => b.floor[0])) : undefined;
  return {
    wp,
    nets: new NetworkSet(cfg.networks),
    groups,
    limits: [lin, lout],
    total,
    baseline,
    carpetOn: cfg.carpet.enabled && anyLimit(compileThresholds(cfg.carpet.thresholds)),
    carpetLimits: compileThresholds(cfg.carpet.thresholds),
    carpetLen4: len4,
    carpetMask4: len4 === 0 ? 0 : (0xffffffff << (32 - len4)) >>> 0,
    carpetLen6: cfg.carpet.prefix_length_v6,
    carpetMinHosts: cfg.carpet.min_hosts,
    hysteresisMs: (cfg.detection.attack_hysteresis_seconds ?? 30) * 1000,
    idleTicks: Math.max(wp.buckets + 1, Math.ceil((cfg.detection.idle_seconds * 1000) / wp.tickMs)),
    spread: cfg.detection.spread_long_flows,
    sampleFlows: cfg.samples.enabled ? cfg.samples.flows_per_attack : 0,
    watchHost: anyBaseline ? 0 : watchLevel([...lin, ...lout], wp.windowSec, minFloor),
    watchCarpet: watchLevel([compileThresholds(cfg.carpet.thresholds)], wp.windowSec),
  };
}

/** Limits as the API shows them (threshold key → value, Mbit/s for byte limits). */
export function limitsObject(l: Float64Array): Record<string, number> {
  const o: Record<string, number> = {};
  for (let i = 0; i < NC; i++) {
    if (l[i] > 0) o[THRESHOLD_KEYS[i]] = round2(THRESHOLD_KEYS[i].endsWith('mbps') ? (l[i] * 8) / 1e6 : l[i]);
  }
  return o;
}
