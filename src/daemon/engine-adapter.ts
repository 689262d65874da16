/**
 * EnginePort over the real engine. The Engine owns its BanManager and emits
 * attack events first, then the ban events they cause, to the same listeners,
 * so a ban is always handled after the attack that caused it.
 */
import type { Config } from '../config/schema.ts';
import type { Clock } from '../core/clock.ts';
import type { Logger } from '../core/log.ts';
import { Engine } from '../engine/engine.ts';
import { BanManager } from '../engine/bans.ts';
import type { Attack, Ban, EngineEvent, EngineListener } from '../engine/events.ts';
import { Guards } from '../engine/guards.ts';
import { PolicyResolver } from '../engine/policy.ts';
import { parsePrefix } from '../core/ip.ts';
import type { BanOutcome, EngineStatsView, EnginePort, HostView } from './ports.ts';

export class EngineAdapter implements EnginePort {
  readonly engine: Engine;
  readonly bans: BanManager;
  private readonly listeners: EngineListener[] = [];
  private readonly log?: Logger;

  constructor(cfg: Readonly<Config>, clock: Clock, log?: Logger) {
    this.log = log;
    this.engine = new Engine(cfg, { clock, log });
    const bans = this.engine.bans;
    if (!bans) throw new Error('the engine runs without a ban manager');
    this.bans = bans;
    this.engine.on((e) => this.emit(e));
  }

  get sink() {
    return this.engine;
  }

  private emit(e: EngineEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch (err) {
        this.log?.error({ event: 'daemon error', err: (err as Error).message, engine_event: e.event }, 'event handler failed');
      }
    }
  }

  on(listener: EngineListener): void {
    this.listeners.push(listener);
  }

  tick(now: number): void {
    this.engine.tick(now);
  }

  activeAttacks(): Attack[] {
    return this.engine.attacks().filter((a) => a.end === undefined);
  }

  routeForAttack(a: Attack): Attack['route'] {
    return this.bans.routeForAttack(a);
  }

  hosts(q: { limit: number; direction?: 'incoming' | 'outgoing' }): HostView[] {
    const all = this.engine.hosts({ limit: q.direction ? Number.MAX_SAFE_INTEGER : q.limit });
    return (q.direction ? all.filter((h) => h.direction === q.direction) : all).slice(0, q.limit);
  }

  host(ip: string): HostView[] | undefined {
    const h = this.engine.hosts({ ip, limit: 10 });
    return h.length ? h : undefined;
  }

  manualBan(req: { ip: string; ttlSeconds?: number; actor: string; reason?: string }): BanOutcome {
    const r = req.ip.includes('/') ? this.bans.manualBan({ prefix: req.ip, ttlSeconds: req.ttlSeconds, actor: req.actor, reason: req.reason }) : this.bans.manualBan({ ip: req.ip, ttlSeconds: req.ttlSeconds, actor: req.actor, reason: req.reason });
    return r.ok ? r : { ok: false, reason: r.reason, detail: r.detail };
  }

  manualUnban(req: { ip: string; actor: string }): BanOutcome {
    const r = req.ip.includes('/') ? this.bans.manualUnban({ prefix: req.ip, actor: req.actor }) : this.bans.manualUnban({ ip: req.ip, actor: req.actor });
    return r.ok ? r : { ok: false, reason: r.reason, detail: r.detail };
  }

  activeBans(): Ban[] {
    return this.bans.active();
  }

  restore(bans: Ban[], now: number) {
    return this.bans.restore(bans, now);
  }

  /** The engine reconfigures its ban manager; ended and re-routed bans are found by comparing before and after. */
  reconfigure(cfg: Readonly<Config>, now: number): { unbanned: Ban[]; rerouted: Ban[] } {
    void now;
    const before = new Map(this.bans.active().map((b) => [b.id, JSON.stringify(b.route)]));
    this.engine.reconfigure(cfg);
    const after = this.bans.active();
    const still = new Set(after.map((b) => b.id));
    const unbanned = this.bans.history(before.size).filter((b) => before.has(b.id) && !still.has(b.id));
    const rerouted = after.filter((b) => before.has(b.id) && before.get(b.id) !== JSON.stringify(b.route));
    return { unbanned, rerouted };
  }

  /** Active bans whose target a reload to cfg would end (the same static guards reconfigure applies). */
  previewReload(cfg: Readonly<Config>): Array<{ target: string; reason: string }> {
    const guards = new Guards(cfg, new PolicyResolver(cfg));
    const out: Array<{ target: string; reason: string }> = [];
    for (const b of this.bans.active()) {
      const p = parsePrefix(b.target.includes('/') ? b.target : `${b.target}/${b.family === 4 ? 32 : 128}`);
      if (typeof p === 'string') continue;
      const bad = guards.checkStatic(p);
      if (bad) out.push({ target: b.target, reason: bad.reason });
    }
    return out;
  }

  stats(): EngineStatsView {
    const e = this.engine.stats();
    const b = this.bans.stats();
    return {
      tracked_hosts: { incoming: e.hosts.incoming4 + e.hosts.incoming6, outgoing: e.hosts.outgoing4 + e.hosts.outgoing6 },
      active_attacks: e.attacks_active,
      active_bans: b.active,
      attacks_by_vector: e.attacks_by_vector,
      bans_total: b.created_total,
      bans_refused_by_reason: b.refused_by_reason,
      records: e.records,
      overflow: e.overflow,
    };
  }
}
