/**
 * EnginePort over the real engine and ban module. The engine emits attacks;
 * the ban module (ban/bans.ts) is fed each attack event right after the
 * daemon saw it, and ticks with the engine's closed ticks, so the daemon
 * sees an attack before the ban it causes. Routes come from mitigation
 * (mitigation/route.ts): the ban module is handed the builder, the attack
 * view asks routeForAttack.
 */
import type { Config } from '../config/schema.ts';
import type { ReloadPlan, RouteConfig } from '../config/diff.ts';
import type { Clock } from '../core/clock.ts';
import type { Logger } from '../core/log.ts';
import { Engine } from '../engine/engine.ts';
import type { Attack, EngineEvent } from '../engine/events.ts';
import { BanManager, type ReconfigureResult } from '../ban/bans.ts';
import type { Ban, BanStats, DetectionEvent, DetectionListener, FlowspecChoice, RouteIntent } from '../ban/types.ts';
import type { EngineStats, HostRate } from '../engine/views.ts';
import { routeBuilder, routeForAttack } from '../mitigation/route.ts';
import type { BanOutcome, EnginePort } from './ports.ts';
import type { BanPort } from '../cluster/sync.ts';

export class EngineAdapter implements EnginePort {
  readonly engine: Engine;
  readonly bans: BanManager;
  /** The route policy attacks' would-be routes are built under (the reload plan's mitigation slice). */
  private routeCfg: Readonly<RouteConfig>;
  private readonly listeners: DetectionListener[] = [];
  private readonly log?: Logger;

  constructor(cfg: Readonly<Config>, clock: Clock, log?: Logger) {
    this.log = log;
    this.routeCfg = cfg;
    this.bans = new BanManager(cfg, { clock, routes: routeBuilder(cfg), ...(cfg.cluster ? { idTag: cfg.cluster.node_id } : {}) });
    this.engine = new Engine(cfg, { clock, log, onTick: (time) => this.bans.tick(time) });
    this.engine.on((e) => {
      this.emit(e);
      if (this.admits(e)) this.bans.onAttackEvent(e);
    });
    this.bans.on((e) => this.emit(e));
  }

  /** Cluster: whether a new ban may be created now (cluster/node.ts mayCreate); unset: always. */
  private admit: (() => boolean) | undefined;

  setAdmit(fn: () => boolean): void {
    this.admit = fn;
  }

  /** The ban module as the cluster's ledger sync sees it. */
  clusterBans(): BanPort {
    return this.bans;
  }

  /** An attack event may reach the ban module: always, unless it would create a ban while creation is held. */
  private admits(e: EngineEvent): boolean {
    if (!this.admit || this.admit()) return true;
    if (e.event !== 'attack_start' && e.event !== 'attack_update') return true;
    return this.bans.banOfAttack(e.attack.id) !== undefined || this.bans.get(e.attack.target) !== undefined;
  }

  get sink() {
    return this.engine;
  }

  private emit(e: DetectionEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch (err) {
        this.log?.error({ event: 'daemon error', err: (err as Error).message, engine_event: e.event }, 'event handler failed');
      }
    }
  }

  on(listener: DetectionListener): void {
    this.listeners.push(listener);
  }

  signalEvent(e: EngineEvent, to: { record: boolean; ban: boolean }): void {
    if (to.record) this.emit(e);
    if (to.ban && this.admits(e)) this.bans.onAttackEvent(e);
  }

  tick(now: number): void {
    this.engine.tick(now);
  }

  activeAttacks(): Attack[] {
    return this.engine.attacks().filter((a) => a.end === undefined);
  }

  routeForAttack(a: Attack): RouteIntent {
    return routeForAttack(a, this.routeCfg, this.bans);
  }

  hosts(q: { limit: number; direction?: 'incoming' | 'outgoing' }): HostRate[] {
    return this.engine.top({ limit: q.limit, direction: q.direction }).items;
  }

  top(q: Parameters<Engine['top']>[0]) {
    return this.engine.top(q);
  }

  host(ip: string): HostRate[] | undefined {
    const h = this.engine.hosts({ ip, limit: 10 });
    return h.length ? h : undefined;
  }

  manualBan(req: { ip: string; ttlSeconds?: number; actor: string; reason?: string; flowspec?: FlowspecChoice }): BanOutcome {
    const target = req.ip.includes('/') ? { prefix: req.ip } : { ip: req.ip };
    if (this.admit && !this.admit()) return { ok: false, reason: 'cluster_partitioned', detail: 'this cluster node cannot reach etcd; ban through another node, or set cluster.partition_policy: local' };
    return this.bans.manualBan({ ...target, ttlSeconds: req.ttlSeconds, actor: req.actor, reason: req.reason, ...(req.flowspec ? { flowspec: req.flowspec } : {}) });
  }

  manualUnban(req: { ip?: string; id?: string; actor: string }): BanOutcome {
    if (req.id !== undefined) return this.bans.manualUnban({ id: req.id, actor: req.actor });
    const ip = req.ip ?? '';
    const target = ip.includes('/') ? { prefix: ip } : { ip };
    return this.bans.manualUnban({ ...target, actor: req.actor });
  }

  activeBans(): Ban[] {
    return this.bans.active();
  }

  banById(id: string): Ban | undefined {
    return this.bans.get(id);
  }

  restore(bans: Ban[], now: number) {
    return this.bans.restore(bans, now);
  }

  /** The engine's slice first (attacks outside the new networks end), then the ban module's at the same time; its result as it is. */
  reconfigure(plan: Pick<ReloadPlan, 'engine' | 'bans' | 'mitigation'>, now: number): ReconfigureResult {
    void now;
    const time = this.engine.reconfigure(plan.engine.config);
    this.routeCfg = plan.mitigation.config;
    return this.bans.reconfigure(plan.bans.config, routeBuilder(plan.mitigation.config), time);
  }

  /** What reconfigure(cfg) would do to the active bans; changes nothing. */
  previewReconfigure(cfg: Readonly<Config>): ReconfigureResult {
    return this.bans.previewReconfigure(cfg, routeBuilder(cfg));
  }

  /** Active bans whose target a reload to cfg would end (the ban module's own preview). */
  previewReload(cfg: Readonly<Config>): Array<{ target: string; reason: string }> {
    return this.bans.previewReconfigure(cfg, routeBuilder(cfg)).unbanned.map((b) => ({ target: b.target, reason: b.end_reason ?? 'reconfigured' }));
  }

  stats(): { engine: EngineStats; bans: BanStats } {
    return { engine: this.engine.stats(), bans: this.bans.stats() };
  }
}
