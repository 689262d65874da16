/**
 * Sliding-window arithmetic shared by the counter tables and the engine.
 *
 * Time is cut into ticks of `tick_ms` (tick index = floor(t / tick_ms)); the
 * window is B = round(window / tick) ticks. Ticks are grouped in HALVES of the
 * window: half h holds ticks ceil(h·B/2) .. ceil((h+1)·B/2) - 1, so any two
 * consecutive halves are exactly B ticks. Per counter a target keeps H0 (the
 * current half so far), H1 (the previous half) and H2 (the one before). After
 * tick t of half N closes, the window sum is
 *
 *     S = max(H2 + H1, H1 + H0)          (B = 1: S = H0, the tick itself)
 *
 *   H2 + H1  the exact sum of the B ticks that ended at the last half boundary;
 *   H1 + H0  the exact sum of the last |half N-1| + (ticks of N so far) ≤ B ticks.
 *
 * Rates are S / window. Consequences (test/engine/window.test.ts checks each):
 *   - S never exceeds the exact B-tick sum at t or at the last half boundary
 *     (≤ B/2 ticks earlier): no rate is reported that an exact sliding window
 *     did not see within the last half window; a burst is remembered for at
 *     most 1.5 windows instead of 1.
 *   - S misses only traffic older than the previous half: steady traffic
 *     (1.5 windows long) gives the exact sum, and at the end of each half
 *     S ≥ the exact sum.
 *   - H1 + H0 always covers at least the last floor(B/2) + 1 ticks, so an
 *     attack at ≥ 2 × a limit crosses it at the same tick as an exact sliding
 *     window would; slower ramps cross at most half a window later.
 *   - A NetFlow exporter sending once per window is not double counted: each
 *     term spans at most B ticks.
 * Memory per target is fixed (3 × 13 counters), whatever the traffic.
 */

export interface WindowParams {
  tickMs: number;
  /** Number of tick buckets in the window (≥ 1). */
  buckets: number;
  /** buckets × tickMs. */
  windowMs: number;
  windowSec: number;
}

export function windowParams(windowSeconds: number, tickMs: number): WindowParams {
  const t = Math.max(1, Math.floor(tickMs));
  const buckets = Math.max(1, Math.round((windowSeconds * 1000) / t));
  return { tickMs: t, buckets, windowMs: buckets * t, windowSec: (buckets * t) / 1000 };
}

export function tickOf(ms: number, tickMs: number): number {
  return Math.floor(ms / tickMs);
}

/**
 * Share of a flow record to count in the current window. A record that covers
 * a flow of `durationMs` longer than the window is counted at its average rate
 * over the window (window / duration of it), not as one spike at export time.
 * Returns 1 when the duration is unknown or not longer than the window.
 */
export function spreadFraction(startMs: number, endMs: number, windowMs: number): number {
  if (startMs <= 0 || endMs <= startMs) return 1;
  const d = endMs - startMs;
  return d > windowMs ? windowMs / d : 1;
}
