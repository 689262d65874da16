/**
 * breakwater_history_* metrics, read at scrape time from the history
 * writer's plain stats object (history/ does not import prom-client).
 */
import { Gauge, type Registry } from 'prom-client';
import type { HistoryStats } from '../history/writer.ts';
import { mirrorCounter, mirrorCounters, mirrorGauge } from './mirror-metrics.ts';

type PerTable = Record<string, number>;

/** What the metrics read of the history writer's own stats. */
export type HistoryStatsView = Pick<HistoryStats, 'queue_rows' | 'queued' | 'inserted' | 'spooled' | 'replayed' | 'dropped' | 'spool_rows' | 'spool_bytes' | 'spool_batches' | 'insert_errors' | 'up' | 'last_insert_at' | 'ttl_partitions_dropped'>;

export function registerHistoryMetrics(reg: Registry, src: () => HistoryStatsView | undefined): void {
  const perTable = (name: string, help: string, pick: (s: HistoryStatsView) => PerTable) =>
    mirrorCounters(reg, name, help, 'table', () => {
      const s = src();
      return s ? pick(s) : undefined;
    });
  perTable('breakwater_history_rows_queued_total', 'History rows accepted for ClickHouse, by table.', (s) => s.queued);
  perTable('breakwater_history_rows_inserted_total', 'History rows inserted into ClickHouse (replayed ones included), by table.', (s) => s.inserted);
  perTable('breakwater_history_rows_spooled_total', 'History rows written to the on-disk spool while ClickHouse was slow or down, by table.', (s) => s.spooled);
  perTable('breakwater_history_rows_replayed_total', 'History rows inserted from the spool, by table.', (s) => s.replayed);
  perTable('breakwater_history_rows_dropped_total', 'History rows dropped (spool full: traffic only; or the spool could not be written), by table.', (s) => s.dropped);
  new Gauge({
    name: 'breakwater_history_spool_rows',
    help: 'History rows waiting in the on-disk spool, by table.',
    labelNames: ['table'],
    registers: [reg],
    collect() {
      this.reset();
      const s = src();
      if (s) for (const [table, n] of Object.entries(s.spool_rows)) this.set({ table }, n);
    },
  });
  mirrorGauge(reg, 'breakwater_history_queue_rows', 'History rows held in memory, waiting for their insert.', () => src()?.queue_rows ?? 0);
  mirrorGauge(reg, 'breakwater_history_spool_bytes', 'Size of the on-disk history spool.', () => src()?.spool_bytes ?? 0);
  mirrorGauge(reg, 'breakwater_history_up', '1 while ClickHouse takes history inserts, 0 while it is down or slow (rows spool), absent without storage.clickhouse.', () => {
    const s = src();
    return s ? (s.up ? 1 : 0) : undefined;
  });
  mirrorCounter(reg, 'breakwater_history_insert_errors_total', 'ClickHouse inserts that failed or timed out (their rows went to the spool).', () => src()?.insert_errors);
  mirrorGauge(reg, 'breakwater_history_last_insert_timestamp_seconds', 'When ClickHouse last took an insert (Unix time).', () => {
    const t = src()?.last_insert_at ?? 0;
    return t ? t / 1000 : undefined;
  });
}
