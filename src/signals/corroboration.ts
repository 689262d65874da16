/**
 * Who reported which target, and when: the memory behind
 * `signals.require_corroboration`. A target counts as corroborated when at
 * least N distinct sources reported it within the window. Memory is bounded:
 * at most `maxTargets` targets (the least recently reported one is dropped
 * first) and MAX_SOURCES sources per target.
 */

export const MAX_SOURCES = 32;

export class Corroboration {
  /** target → source → last report (ms). Map order is recency: a report moves the target to the end. */
  private readonly seen = new Map<string, Map<string, number>>();
  private maxTargets: number;
  evicted = 0;

  constructor(maxTargets: number) {
    this.maxTargets = Math.max(1, maxTargets);
  }

  get size(): number {
    return this.seen.size;
  }

  setMaxTargets(n: number): void {
    this.maxTargets = Math.max(1, n);
    this.trim();
  }

  /** Records that `source` reported `target` at `now`. */
  see(target: string, source: string, now: number): void {
    let m = this.seen.get(target);
    if (m) this.seen.delete(target);
    else m = new Map();
    this.seen.set(target, m);
    m.delete(source);
    m.set(source, now);
    if (m.size > MAX_SOURCES) m.delete(m.keys().next().value!);
    this.trim();
  }

  /** Distinct sources that reported `target` within `windowMs` before `now`, oldest first. */
  sources(target: string, now: number, windowMs: number): string[] {
    const m = this.seen.get(target);
    if (!m) return [];
    const out: string[] = [];
    for (const [s, t] of m) {
      if (now - t <= windowMs) out.push(s);
      else m.delete(s);
    }
    if (m.size === 0) this.seen.delete(target);
    return out;
  }

  /** Drops reports older than the window (called on ticks so quiet targets do not stay). */
  prune(now: number, windowMs: number): void {
    for (const [target, m] of this.seen) {
      for (const [s, t] of m) if (now - t > windowMs) m.delete(s);
      if (m.size === 0) this.seen.delete(target);
    }
  }

  private trim(): void {
    while (this.seen.size > this.maxTargets) {
      this.seen.delete(this.seen.keys().next().value!);
      this.evicted++;
    }
  }
}
