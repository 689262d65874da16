/**
 * Making room in a counter table: idle rows go in a sweep spread over ticks,
 * and when new keys were refused the least active rows go, so the busiest
 * hosts keep their history. Pinned rows (under attack) are never evicted.
 * Runs at tick close, never on the per-record path.
 */
import { C, RF } from './counter-fields.ts';
import type { CounterTable } from './counters.ts';

/** Evicts unpinned rows of rows [from, to) idle since before `beforeTick`. Returns how many. */
export function evictIdle(tb: CounterTable, beforeTick: number, from: number, to: number): number {
  let n = 0;
  const end = Math.min(to, tb.rowLimit);
  for (let r = from; r < end; r++) {
    if (tb.isLive(r) && tb.lastTick(r) < beforeTick && (tb.flags(r) & RF.PINNED) === 0) {
      tb.remove(r);
      n++;
    }
  }
  return n;
}

/**
 * Makes room: evicts the least active unpinned rows (lowest window packets)
 * until at most `target` rows remain. Deterministic.
 */
export function evictLeastActive(tb: CounterTable, target: number): number {
  if (tb.size <= target) return 0;
  const need = tb.size - target;
  const high = tb.rowLimit;
  // sample the packet sums to find the cut
  const step = Math.max(1, Math.floor(high / 4096));
  const sample: number[] = [];
  for (let r = 0; r < high; r += step) {
    if (tb.isLive(r) && (tb.flags(r) & RF.PINNED) === 0) sample.push(tb.sum(r, C.PKTS));
  }
  sample.sort((a, b) => a - b);
  const q = Math.min(sample.length - 1, Math.ceil((need / Math.max(1, tb.size)) * sample.length));
  let cut = sample.length ? sample[Math.max(0, q)] : Infinity;
  let n = 0;
  for (let pass = 0; pass < 3 && n < need; pass++) {
    for (let r = 0; r < high && n < need; r++) {
      if (!tb.isLive(r) || (tb.flags(r) & RF.PINNED) !== 0) continue;
      if (tb.sum(r, C.PKTS) <= cut) {
        tb.remove(r);
        n++;
      }
    }
    cut = cut * 2 + 1;
  }
  return n;
}
