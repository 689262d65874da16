/**
 * Sliding-window arithmetic shared by the counter tables and the engine.
 *
 * Time is cut into ticks of `tick_ms`; the window is the last B = round(window / tick)
 * ticks, the current (still open) tick included. A tick index is floor(t / tick_ms).
 * Rates are window sums divided by the window length, so at every tick the rate is
 * the exact mean over the last `window_seconds`; a threshold fires at the first tick
 * whose window sum already exceeds threshold × window.
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
