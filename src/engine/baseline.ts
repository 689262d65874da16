/**
 * Learned baseline: an exponentially weighted moving average of each target's
 * normal pps, bytes/s and flows/s, with a half-life.
 *
 * Rule (per metric m in pps, mbps, flows/s), with S = the static threshold
 * (0 when unset), B = the baseline, F = the floor (baseline.floor_*), f = factor:
 *
 *   baseline disabled                 → limit = S            (no limit when S = 0)
 *   enabled, target younger than warm-up → limit = S         (no baseline verdicts yet)
 *   enabled and warmed up             → limit = max(S, f × B, F)
 *
 * A target is under attack when a rate exceeds its limit. The baseline learns
 * only while the target is NOT under attack, once per tick in which it had
 * traffic; ticks without traffic count as zero traffic.
 */
import type { Config, Hostgroup } from '../config/schema.ts';
import { BYTES_PER_MBIT } from './thresholds.ts';

export interface BaselineParams {
  enabled: boolean;
  halfLifeMs: number;
  warmupMs: number;
  factor: number;
  /** Floors in counter units per second: packets/s, bytes/s, flows/s. */
  floor: [number, number, number];
}

export function resolveBaseline(global: Config['baseline'], group?: Hostgroup['baseline']): BaselineParams {
  const b = { ...global, ...(group ?? {}) };
  return {
    enabled: b.enabled,
    halfLifeMs: b.half_life_seconds * 1000,
    warmupMs: b.warmup_seconds * 1000,
    factor: b.factor,
    floor: [b.floor_pps ?? 0, (b.floor_mbps ?? 0) * BYTES_PER_MBIT, b.floor_flows_per_sec ?? 0],
  };
}

/** Decay factor of the EWMA over dt: 2^(-dt / halfLife). */
export function decay(dtMs: number, halfLifeMs: number): number {
  return Math.pow(2, -dtMs / halfLifeMs);
}

/**
 * One EWMA step: `idleMs` of zero traffic, then `stepMs` at `rate`.
 * b' = (b · d(idle)) · d(step) + rate · (1 − d(step)).
 */
export function ewmaStep(b: number, rate: number, idleMs: number, stepMs: number, halfLifeMs: number): number {
  if (idleMs > 0) b *= decay(idleMs, halfLifeMs);
  const d = decay(stepMs, halfLifeMs);
  return b * d + rate * (1 - d);
}

/** The limit rule above. Returns 0 for "no limit". */
export function effectiveLimit(staticLimit: number, baseline: number, warmed: boolean, p: BaselineParams, metric: 0 | 1 | 2): number {
  if (!p.enabled || !warmed) return staticLimit;
  return Math.max(staticLimit, p.factor * baseline, p.floor[metric]);
}
