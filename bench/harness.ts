/**
 * Shared benchmark types and helpers. A benchmark module (src/** /*.bench.ts or
 * bench/*.bench.ts) default-exports a function returning named figures; the
 * runner merges them into one JSON object and one table.
 */
export interface BenchRow {
  figure: string;
  value: number;
  unit: string;
  note?: string;
}

export interface BenchContext {
  /** Scale factor for quick runs (`--quick` gives 0.1). */
  scale: number;
  log(msg: string): void;
}

export type BenchFn = (ctx: BenchContext) => Promise<BenchRow[]>;

/** Runs fn repeatedly for at least minMs and returns operations per second. */
export function opsPerSecond(fn: () => number, minMs = 1000): number {
  let ops = 0;
  const t0 = process.hrtime.bigint();
  let elapsed = 0;
  do {
    ops += fn();
    elapsed = Number(process.hrtime.bigint() - t0) / 1e6;
  } while (elapsed < minMs);
  return (ops * 1000) / elapsed;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
