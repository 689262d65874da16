/**
 * Attaches cluster mode (`cluster:`) to a running daemon: the ClusterNode
 * (cluster/node.ts) drives the ban module through its door (adopt,
 * release), proposes the module's decisions to the ledger, holds new bans
 * while partitioned, and is the one source of side effects:
 * notifications, audit entries and history rows of bans come from the
 * leader's ledger feed, attack events only from the leader's own engine;
 * followers produce none. Adopted bans are saved and re-read by mitigation
 * here (adoption emits no event).
 */
import type { Config } from '../config/schema.ts';
import type { Logger } from '../core/log.ts';
import type { Clock } from '../core/clock.ts';
import type { BanEvent, DetectionEvent, DetectionListener } from '../ban/types.ts';
import type { Mitigator } from '../mitigation/reconcile.ts';
import type { Store } from '../store/sqlite.ts';
import { ClusterNode, configChecksum } from '../cluster/node.ts';
import type { EnginePort } from './ports.ts';

export interface ClusterSources {
  readonly cfg: Readonly<Config>;
  readonly log: Logger;
  readonly clock: Clock;
  readonly engine: EnginePort;
  readonly store: Store;
  readonly mitigator: Mitigator;
}

export interface ClusterWiring {
  readonly node: ClusterNode;
  /** The events notifications and history get in cluster mode (leader only). */
  events(listener: DetectionListener): void;
  start(): Promise<void>;
  stop(): Promise<void>;
}

const isBanEvent = (e: DetectionEvent): e is BanEvent => e.event === 'ban' || e.event === 'escalate' || e.event === 'unban' || e.event === 'ban_refused';

export function attachCluster(d: ClusterSources): ClusterWiring | undefined {
  const c = d.cfg.cluster;
  if (!c) return undefined;
  const bans = d.engine.clusterBans?.();
  if (!bans) throw new Error('cluster mode needs the ban module (engine.clusterBans)');
  const listeners: DetectionListener[] = [];
  const deliver = (e: DetectionEvent) => {
    for (const l of listeners) {
      try {
        l(e);
      } catch (err) {
        d.log.error({ event: 'daemon error', err: (err as Error).message, cluster_event: e.event }, 'cluster event handler failed');
      }
    }
  };
  const node = new ClusterNode({
    config: c,
    checksum: configChecksum(d.cfg),
    bans,
    log: d.log,
    hooks: {
      adopted(ban, replaced) {
        d.store.saveBan(ban);
        if (replaced !== undefined) {
          const old = d.store.getBan(replaced);
          if (old) d.store.saveBan({ ...old, state: 'ended', ended: d.clock.now(), end_reason: 'superseded', ended_by: ban.id });
        }
        d.log.info({ event: 'cluster ban adopted', ban: ban.id, target: ban.target, replaced, expires: new Date(ban.expires).toISOString() }, replaced ? `ban ${replaced} on ${ban.target} is ${ban.id} cluster-wide` : `ban ${ban.id} on ${ban.target} from the ledger`);
        // The new id claims the route before the old id lets it go: no withdrawal in between.
        d.mitigator.changed(ban.id);
        if (replaced !== undefined) d.mitigator.changed(replaced);
      },
    },
    sink(events) {
      for (const e of events) {
        if (e.event === 'ban') d.store.audit({ time: e.time, actor: e.ban.source, action: 'ban', target: e.ban.target, detail: { ban: e.ban.id, reason: e.ban.reason, ttl_seconds: e.ban.ttl_seconds, action: e.ban.action, cluster: true } });
        else if (e.event === 'escalate') d.store.audit({ time: e.time, actor: 'auto', action: 'escalate', target: e.ban.target, detail: { ban: e.ban.id, from: e.from, to: e.to, cluster: true } });
        else if (e.event === 'unban') d.store.audit({ time: e.time, actor: e.ban.ended_by ?? 'auto', action: 'unban', target: e.ban.target, detail: { ban: e.ban.id, reason: e.reason, cluster: true } });
        deliver(e);
      }
    },
  });
  d.engine.setAdmit?.(() => node.mayCreate());
  d.engine.on((e) => {
    if (isBanEvent(e)) {
      if (e.event !== 'ban_refused') node.onBanEvent(e);
      return;
    }
    if (node.isLeader) deliver(e);
  });
  return {
    node,
    events: (l) => listeners.push(l),
    start: () => node.start(),
    stop: () => node.stop(),
  };
}
