/**
 * Attaches ClickHouse history (storage.clickhouse) to a running daemon: the
 * engine's events, the hosts it tracks and the collector's exporter counters
 * go in; attacks the previous process left open (closed at start from
 * SQLite) are closed in ClickHouse too. Nothing here makes the daemon wait:
 * the writer queues, batches and spools on its own.
 */
import { History } from '../history/history.ts';
import type { Attack } from '../engine/events.ts';
import type { Daemon } from './daemon.ts';

export function attachHistory(d: Daemon): History | undefined {
  const cfg = d.cfg.storage.clickhouse;
  if (!cfg) return undefined;
  const h = new History({
    cfg,
    dataDir: d.cfg.storage.data_dir,
    log: d.log,
    now: () => d.clock.now(),
    sources: {
      hosts: (limit) => d.engine.hosts({ limit }),
      exporters: () => d.collector.stats().exporters,
      mode: () => (d.cfg.dry_run ? 'dry_run' : 'live'),
      ban: (id) => d.mitigator?.activeBans().find((b) => b.id === id),
    },
  });
  h.start();
  // Attacks the previous process left open: the daemon closes them in SQLite at this start.
  for (const a of d.store.listAttacks({ active: true, limit: 1000 }).items as Attack[]) {
    h.onEvent({ event: 'attack_end', time: d.startedAt, attack: { ...a, end: d.startedAt, end_reason: a.end_reason ?? 'daemon restarted' } });
  }
  d.engine.on((e) => h.onEvent(e));
  return h;
}
