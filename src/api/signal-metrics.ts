/**
 * breakwater_signals_* metrics, read at scrape time from the signal hub's
 * plain stats object (signals/ does not import prom-client).
 */
import type { Registry } from 'prom-client';
import type { SignalStats } from '../signals/hub.ts';
import { mirrorCounter, mirrorCounters, mirrorGauge } from './mirror-metrics.ts';

export function registerSignalMetrics(reg: Registry, src: () => SignalStats | undefined): void {
  mirrorCounters(reg, 'breakwater_signals_received_total', 'Signals received from other detectors, by sender (fastnetmon, alertmanager, rtbh, or a generic event\'s source).', 'source', () => src()?.received);
  mirrorCounters(reg, 'breakwater_signals_outcomes_total', 'What became of the signals: banned, refused, pending_corroboration, recorded, ended, not_found.', 'outcome', () => src()?.outcomes);
  mirrorGauge(reg, 'breakwater_signals_open', 'Signals open (reported, not yet ended or expired).', () => src()?.open ?? 0);
  mirrorCounter(reg, 'breakwater_signals_dropped_total', 'Open signals and corroboration targets dropped at signals.max_tracked_targets.', () => src()?.evicted);
}
