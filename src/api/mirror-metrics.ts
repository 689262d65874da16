/**
 * Metrics that mirror, at scrape time, numbers a module keeps in its own plain
 * stats object (modules below api/ do not import prom-client). A counter is
 * reset and set to the module's running total on every scrape; a value the
 * read returns as undefined leaves the metric without a sample.
 */
import { Counter, Gauge, type Registry } from 'prom-client';

/** A gauge set to read() on every scrape. */
export function mirrorGauge(reg: Registry, name: string, help: string, read: () => number | undefined): void {
  new Gauge({
    name,
    help,
    registers: [reg],
    collect() {
      this.reset();
      const n = read();
      if (n !== undefined) this.set(n);
    },
  });
}

/** A counter equal to the total read() returns. */
export function mirrorCounter(reg: Registry, name: string, help: string, read: () => number | undefined): void {
  new Counter({
    name,
    help,
    registers: [reg],
    collect() {
      this.reset();
      const n = read() ?? 0;
      if (n > 0) this.inc(n);
    },
  });
}

/** A counter with one label: one series per key of the totals read() returns. */
export function mirrorCounters(reg: Registry, name: string, help: string, label: string, read: () => Record<string, number> | undefined): void {
  new Counter({
    name,
    help,
    labelNames: [label],
    registers: [reg],
    collect() {
      this.reset();
      const by = read();
      if (by) for (const [k, n] of Object.entries(by)) if (n > 0) this.inc({ [label]: k }, n);
    },
  });
}
