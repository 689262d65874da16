/**
 * Attaches ClickHouse history (storage.clickhouse) to a running daemon: the
 * engine's events, the hosts it tracks and the collector's exporter counters
 * go in; attacks the previous process left open (closed at start from
 * SQLite) are closed in ClickHouse too. Nothing here makes the daemon wait:
 * the writer queues, batches and spools on its own.
 */
import { History } from '../history/history.ts';
import type { Config } from '../config/schema.ts';
import type { Clock } from '../core/clock.ts';
import type { Logger } from '../core/log.ts';
import type { Attack } from '../engine/events.ts';
import type { AttackView, DetectionEvent, DetectionListener, RouteIntent } from '../ban/types.ts';
import type { Mitigator } from '../mitigation/reconcile.ts';
import type { Store } from '../store/sqlite.ts';
import type { CollectorPort, EnginePort } from './ports.ts';

export interface HistorySources {
  readonly cfg: Readonly<Config>;
  readonly log: Logger;
  readonly clock: Clock;
  readonly startedAt: number;
  readonly store: Store;
  readonly engine: EnginePort;
  readonly collector: CollectorPort;
  readonly mitigator: Mitigator;
  /** Where attack and ban events come from: the engine, or in cluster mode the leader's feed (cluster-wiring.ts). */
  readonly events?: (listener: DetectionListener) => void;
}

export function attachHistory(d: HistorySources): History | undefined {
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
      ban: (id) => d.engine.banById(id),
    },
  });
  h.start();
  // Attacks the previous process left open: the daemon closes them in SQLite at this start.
  for (const a of d.store.listAttacks({ active: true, limit: 1000 }).items as Attack[]) {
    h.onEvent({ event: 'attack_end', time: d.startedAt, attack: { ...a, end: d.startedAt, end_reason: a.end_reason ?? 'daemon restarted' } });
  }
  // Attack rows carry the route a ban would announce (the engine builds none).
  (d.events ?? ((l: DetectionListener) => d.engine.on(l)))((e) => {
    if (e.event === 'attack_start' || e.event === 'attack_update' || e.event === 'attack_end') {
      let route: RouteIntent | undefined;
      try {
        route = d.engine.routeForAttack(e.attack);
      } catch {
        route = undefined;
      }
      h.onEvent({ ...e, attack: { ...e.attack, ...(route ? { route } : {}) } as AttackView } as DetectionEvent);
    } else h.onEvent(e);
  });
  return h;
}
