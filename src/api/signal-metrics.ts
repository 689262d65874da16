/**
 * breakwater_signals_* metrics, read at scrape time from the signal hub's
 * plain stats object (signals/ does not import prom-client).
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { SignalStats } from '../signals/hub.ts';

export function registerSignalMetrics(reg: Registry, src: () => SignalStats | undefined): void {
  const counter = (name: string, help: string, label: string, pick: (s: SignalStats) => Record<string, number>) =>
    new Counter({
      name,
      help,
      labelNames: [label],
      registers: [reg],
      collect() {
        this.reset();
        const s = src();
        if (s) for (const [k, n] of Object.entries(pick(s))) if (n > 0) this.inc({ [label]: k }, n);
      },
    });
  counter('breakwater_signals_received_total', 'Signals received from other detectors, by sender (fastnetmon, alertmanager, rtbh, or a generic event\'s source).', 'source', (s) => s.received);
  counter('breakwater_signals_outcomes_total', 'What became of the signals: banned, refused, pending_corroboration, recorded, ended, not_found.', 'outcome', (s) => s.outcomes);
  new Gauge({
    name: 'breakwater_signals_open',
    help: 'Signals open (reported, not yet ended or expired).',
    registers: [reg],
    collect() {
      this.set(src()?.open ?? 0);
    },
  });
  new Counter({
    name: 'breakwater_signals_dropped_total',
    help: 'Open signals and corroboration targets dropped at signals.max_tracked_targets.',
    registers: [reg],
    collect() {
      this.reset();
      const n = src()?.evicted ?? 0;
      if (n > 0) this.inc(n);
    },
  });
}
