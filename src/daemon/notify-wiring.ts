/**
 * Attaches the notifier to the daemon's event sources in one place: engine
 * events (attacks, bans, refusals, escalations), BGP peer states, exporter
 * silence (polled from the collector's last-seen times) and reloads (the
 * daemon calls reloaded()). Everything here only enqueues: delivery runs in
 * the notifier's own async loops and never delays a ban or a keepalive.
 */
import { join } from 'node:path';
import type { Config } from '../config/schema.ts';
import type { ReloadPlan } from '../config/diff.ts';
import type { Logger } from '../core/log.ts';
import type { Clock } from '../core/clock.ts';
import { Notifier, type NotifyStats } from '../notify/notifier.ts';
import { EngineEventMapper } from '../notify/from-engine.ts';
import { ExporterWatch } from '../notify/exporters.ts';
import type { AttackView, DetectionEvent, DetectionListener } from '../ban/types.ts';
import type { BgpPort, CollectorPort, EnginePort } from './ports.ts';

export interface NotifySources {
  readonly cfg: Readonly<Config>;
  readonly log: Logger;
  readonly clock: Clock;
  readonly engine: EnginePort;
  readonly bgp: BgpPort;
  readonly collector: CollectorPort;
  /** The mode the previous run stored (undefined on a first start): the start's mode_change says from what. */
  readonly previousMode?: string;
  /** Where attack and ban events come from: the engine, or in cluster mode the leader's feed (cluster-wiring.ts). */
  readonly events?: (listener: DetectionListener) => void;
}

export interface NotifyWiring {
  readonly notifier: Notifier;
  /** After a successful reload: the reload event, a mode_change when dry_run flipped, and the notify slice. */
  reloaded(actor: string, plan: ReloadPlan): void;
  stats(): NotifyStats;
  /** For /api/v1/status: per channel queued, failed, last error. */
  status(): Record<string, unknown>;
  stop(): Promise<void>;
}

export function outboxPath(cfg: Readonly<Config>): string {
  return cfg.notify.outbox.path ?? join(cfg.storage.data_dir, 'notify.db');
}

export function attachNotifier(d: NotifySources): NotifyWiring {
  const mode = () => (d.cfg.dry_run ? 'dry_run' : 'live') as 'dry_run' | 'live';
  // Delivery runs on wall time (retries, grouping windows); event times come from the daemon's clock.
  const notifier = new Notifier({ config: d.cfg.notify, outboxPath: outboxPath(d.cfg), log: d.log });
  if (notifier.active.length) d.log.info({ event: 'notify channels', channels: notifier.active, outbox: notifier.outbox.path }, `notifications to ${notifier.active.join(', ')}`);
  const mapper = new EngineEventMapper();
  const established = () =>
    d.bgp
      .neighbors()
      .filter((n) => n.state.toLowerCase() === 'established')
      .map((n) => n.neighbor);
  const guard = (what: string, fn: () => void) => {
    try {
      fn();
    } catch (e) {
      d.log.error({ event: 'notify error', source: what, err: (e as Error).message }, `notification from ${what} failed`);
    }
  };

  // Attack events carry no route (the engine builds none): the one a ban would announce is added here.
  const withRoute = (e: DetectionEvent): DetectionEvent => {
    if (!('attack' in e) || !e.attack || e.event === 'ban_refused') return e;
    try {
      const attack: AttackView = { ...e.attack, route: d.engine.routeForAttack(e.attack) };
      return { ...e, attack } as DetectionEvent;
    } catch {
      return e;
    }
  };
  (d.events ?? ((l: DetectionListener) => d.engine.on(l)))((e) =>
    guard(e.event, () => {
      const ev = mapper.map(withRoute(e), mode(), established);
      if (ev) notifier.publish(ev);
    }),
  );
  d.bgp.onPeerState((neighbor, from, to) =>
    guard('bgp', () => {
      const up = to.toLowerCase() === 'established';
      if (!up && from.toLowerCase() !== 'established') return;
      const lastError = up ? undefined : d.bgp.neighbors().find((n) => n.neighbor === neighbor)?.last_error;
      notifier.publish({ event: up ? 'bgp_up' : 'bgp_down', time: d.clock.now(), mode: mode(), neighbor, state: to, ...(lastError ? { reason: lastError } : {}) });
    }),
  );

  const watch = new ExporterWatch();
  let timer: NodeJS.Timeout | undefined;
  const poll = () =>
    guard('exporters', () => {
      for (const ev of watch.check(d.collector.stats().exporters, d.clock.now(), d.cfg.notify.exporter_silent_seconds * 1000, mode())) notifier.publish(ev);
    });
  const startPoll = () => {
    if (timer) clearInterval(timer);
    timer = undefined;
    const ms = d.cfg.notify.exporter_silent_seconds * 1000;
    if (ms > 0) timer = setInterval(poll, Math.min(5_000, Math.max(100, ms / 4))).unref();
  };
  startPoll();
  // The mode is announced at every start, so a NOC sees a restart that went live (or back to dry-run).
  guard('start', () => {
    const m = mode();
    notifier.publish({ event: 'mode_change', time: d.clock.now(), mode: m, who: 'start', ...(d.previousMode === 'dry_run' || d.previousMode === 'live' ? { from: d.previousMode } : {}), to: m });
  });

  return {
    notifier,
    reloaded(actor, plan) {
      guard('reload', () => {
        if (plan.notify.keys.length) {
          notifier.reconfigure(plan.notify.config);
          startPoll();
        }
        const now = d.clock.now();
        const m = plan.config.dry_run ? 'dry_run' : 'live';
        notifier.publish({ event: 'reload', time: now, mode: m, who: actor, changed: [...plan.changed] });
        if (plan.dryRun) notifier.publish({ event: 'mode_change', time: now, mode: m, who: actor, from: plan.dryRun.from ? 'dry_run' : 'live', to: m });
      });
    },
    stats: () => notifier.stats(),
    status() {
      const s = notifier.stats();
      const channels: Record<string, unknown> = {};
      for (const [name, c] of Object.entries(s.channels)) {
        channels[name] = { sent: c.sent, failed: c.failed, queued: c.queued, failed_rows: c.failed_rows, dropped: c.dropped, last_error: c.last_error || undefined, last_error_time: c.last_error_time ? new Date(c.last_error_time).toISOString() : undefined };
      }
      return { channels, outbox_rows: s.outbox.rows };
    },
    async stop() {
      if (timer) clearInterval(timer);
      await notifier.stop();
    },
  };
}
