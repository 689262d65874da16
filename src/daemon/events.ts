/**
 * Engine events into the store (write-ahead: a ban is on disk before any
 * route leaves), the log, the audit and the mitigator. Keeps the attacks in
 * progress, the one copy the API lists; ended attacks live in the store.
 */
import type { Config } from '../config/schema.ts';
import type { Logger } from '../core/log.ts';
import type { Attack } from '../engine/events.ts';
import type { AttackView, Ban, DetectionEvent } from '../ban/types.ts';
import { previewCollateral, type CounterView } from '../mitigation/collateral.ts';
import { flowspecMatches } from '../mitigation/route.ts';
import type { Store } from '../store/sqlite.ts';
import type { Running } from './ports.ts';

/** How often an attack in progress is saved with its latest rates. */
export const ATTACK_SAVE_MS = 10_000;

/** Window of the collateral preview recorded on an attack when its ban is created. */
const COLLATERAL_WINDOW_SECONDS = 300;

export interface EventContext {
  readonly running: Running;
  readonly store: Store;
  readonly log: Logger;
  config(): Readonly<Config>;
  /** Cluster mode: ban, escalate and unban audit entries come from the leader's ledger feed, not from here. */
  readonly ledgerAudits?: boolean;
}

export class EngineEvents {
  /** Attacks in progress, by id (with their latest rates). */
  readonly active = new Map<string, AttackView>();
  private readonly saved = new Map<string, number>();
  /** Collateral preview recorded when an attack's ban was created, by attack id (dropped when it ends). */
  private readonly collateral = new Map<string, Record<string, unknown>>();
  private readonly ctx: EventContext;

  constructor(ctx: EventContext) {
    this.ctx = ctx;
  }

  private withRoute(a: Attack): AttackView {
    const collateral = this.collateral.get(a.id);
    try {
      return { ...a, route: this.ctx.running.engine.routeForAttack(a), ...(collateral ? { collateral } : {}) };
    } catch {
      return collateral ? { ...a, collateral } : a;
    }
  }

  /** The collateral preview of a new automatic ban, from its attack's sample and the target's counters. */
  private previewFor(b: Ban, a: Attack): Record<string, unknown> | undefined {
    try {
      const host = a.kind === 'host' || a.kind === undefined ? this.ctx.running.engine.host(a.target)?.find((h) => h.direction === a.direction) : undefined;
      const c = previewCollateral({
        target: b.target,
        route: b.route,
        flows: a.summary?.sample ?? [],
        counters: host ? (host as unknown as CounterView) : undefined,
        attack_pps: a.pps,
        attackRules: flowspecMatches({ target: a.target, family: a.family, vector: a.vector, summary: a.summary, direction: a.direction }),
        direction: a.direction,
        window_seconds: COLLATERAL_WINDOW_SECONDS,
        now: Math.max(...(a.summary?.sample ?? []).map((f) => f.time), a.start),
      });
      return { ...c, ban: b.id };
    } catch {
      return undefined;
    }
  }

  handle(e: DetectionEvent): void {
    const { log, store } = this.ctx;
    const mitigator = this.ctx.running.mitigator;
    const cfg = this.ctx.config();
    switch (e.event) {
      case 'attack_start': {
        const a = this.withRoute(e.attack);
        this.active.set(a.id, a);
        store.saveAttack(a);
        this.saved.set(a.id, e.time);
        log.warn(
          { event: 'attack start', attack: a.id, target: a.target, direction: a.direction, vector: a.vector, pps: a.pps, mbps: a.mbps, fps: a.fps, triggers: a.triggers, route: a.route, mode: cfg.dry_run ? 'dry_run' : 'live' },
          `attack on ${a.target}: ${a.vector}`,
        );
        break;
      }
      case 'attack_update': {
        const a = this.withRoute(e.attack);
        this.active.set(a.id, a);
        const last = this.saved.get(a.id) ?? 0;
        if (e.time - last >= ATTACK_SAVE_MS) {
          store.saveAttack(a);
          this.saved.set(a.id, e.time);
        }
        break;
      }
      case 'attack_end': {
        const a = this.withRoute(e.attack);
        const ended = { ...a, end: a.end ?? e.time };
        this.active.delete(a.id);
        this.saved.delete(a.id);
        this.collateral.delete(a.id);
        store.saveAttack(ended);
        log.info({ event: 'attack end', attack: a.id, target: a.target, vector: a.vector, peak_pps: a.peak_pps, peak_mbps: a.peak_mbps, duration_s: Math.round((ended.end - a.start) / 1000) }, `attack on ${a.target} ended`);
        break;
      }
      case 'ban': {
        const b = e.ban;
        // Write-ahead: the ban is on disk before any route leaves.
        store.saveBan(b);
        if (!this.ctx.ledgerAudits) store.audit({ time: e.time, actor: b.source, action: 'ban', target: b.target, detail: { ban: b.id, reason: b.reason, ttl_seconds: b.ttl_seconds, action: b.action, attack: b.attack_id, ...(b.flowspec ? { flowspec: b.flowspec } : {}) } });
        if (e.attack && b.source === 'auto') {
          const c = this.previewFor(b, e.attack);
          const view = this.active.get(e.attack.id);
          if (c) {
            this.collateral.set(e.attack.id, c);
            if (view) {
              const next = { ...view, collateral: c };
              this.active.set(view.id, next);
              store.saveAttack(next);
            }
          }
        }
        log.warn({ event: 'ban', ban: b.id, target: b.target, source: b.source, reason: b.reason, ttl_seconds: b.ttl_seconds, route: b.route, mode: cfg.dry_run ? 'dry_run' : 'live' }, cfg.dry_run ? `ban ${b.target} (dry-run: not announced)` : `ban ${b.target}`);
        mitigator.changed(b.id);
        break;
      }
      case 'escalate': {
        store.saveBan(e.ban);
        if (!this.ctx.ledgerAudits) store.audit({ time: e.time, actor: 'auto', action: 'escalate', target: e.ban.target, detail: { ban: e.ban.id, from: e.from, to: e.to } });
        log.warn({ event: 'escalate', ban: e.ban.id, target: e.ban.target, from: e.from, to: e.to }, `ban ${e.ban.target} escalated to ${e.to}`);
        mitigator.changed(e.ban.id);
        break;
      }
      case 'unban': {
        const b = { ...e.ban, ended: e.ban.ended ?? e.time, end_reason: e.ban.end_reason ?? e.reason };
        store.saveBan(b);
        if (!this.ctx.ledgerAudits) store.audit({ time: e.time, actor: b.ended_by ?? (e.reason === 'manual' ? 'api' : 'auto'), action: 'unban', target: b.target, detail: { ban: b.id, reason: e.reason } });
        log.warn({ event: 'unban', ban: b.id, target: b.target, reason: e.reason }, `unban ${b.target} (${e.reason})`);
        mitigator.changed(b.id);
        break;
      }
      case 'ban_refused': {
        store.audit({ time: e.time, actor: e.source ?? 'auto', action: 'ban_refused', target: e.target, detail: { reason: e.reason, detail: e.detail, attack: e.attack?.id } });
        log.warn({ event: 'ban refused', target: e.target, reason: e.reason, detail: e.detail }, `ban of ${e.target} refused: ${e.reason}`);
        break;
      }
    }
  }
}
