/**
 * Thresholds compiled for the hot path: 13 limits per (target kind, direction),
 * in the same order as the counters (engine/counters.ts C): a limit is in
 * counter units per second (packets/s, BYTES/s, flows/s); 0 = no limit.
 *
 * Resolution: a hostgroup's `thresholds` (or `thresholds_outgoing`) override
 * the global ones key by key; a key the group does not set inherits the global
 * value; a key set to 0 disables that limit for the group.
 */
import type { Thresholds } from '../config/schema.ts';
import { NC } from './counters.ts';

/** Threshold key for each counter index. */
export const THRESHOLD_KEYS = [
  'pps', 'mbps', 'flows_per_sec',
  'tcp_pps', 'tcp_mbps', 'udp_pps', 'udp_mbps', 'icmp_pps', 'icmp_mbps',
  'tcp_syn_pps', 'tcp_syn_mbps', 'frag_pps', 'frag_mbps',
] as const satisfies readonly (keyof Thresholds)[];

/** Bytes per second in one Mbit/s. */
export const BYTES_PER_MBIT = 125_000;

export function isMbpsKey(i: number): boolean {
  return THRESHOLD_KEYS[i].endsWith('_mbps') || THRESHOLD_KEYS[i] === 'mbps';
}

export function mergeThresholds(global: Thresholds | undefined, group: Thresholds | undefined): Thresholds {
  return { ...(global ?? {}), ...(group ?? {}) };
}

/** Limits in counter units per second (mbps → bytes/s). */
export function compileThresholds(t: Thresholds | undefined): Float64Array {
  const out = new Float64Array(NC);
  if (!t) return out;
  for (let i = 0; i < NC; i++) {
    const v = t[THRESHOLD_KEYS[i]];
    if (typeof v === 'number' && v > 0) out[i] = isMbpsKey(i) ? v * BYTES_PER_MBIT : v;
  }
  return out;
}

export function anyLimit(l: Float64Array): boolean {
  for (let i = 0; i < l.length; i++) if (l[i] > 0) return true;
  return false;
}

/**
 * True when some rate (window sum / windowSec) exceeds its limit. With `out`,
 * pushes the names of every crossed threshold.
 */
export function crossed(sums: Float64Array, off: number, windowSec: number, limits: Float64Array, out: string[] | null): boolean {
  let hit = false;
  for (let i = 0; i < NC; i++) {
    const l = limits[i];
    if (l > 0 && sums[off + i] > l * windowSec) {
      hit = true;
      if (out === null) return true;
      out.push(THRESHOLD_KEYS[i]);
    }
  }
  return hit;
}
