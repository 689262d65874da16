/**
 * The daemon: ingest → engine → mitigation → BGP, with the store, the REST
 * API and metrics, wired together.
 *
 * Start order (so a restart keeps routes continuous on the routers):
 *   config → pid file → SQLite → API (healthz 503, status ready: false; the
 *   other endpoints answer 503 until the components exist) → engine →
 *   restore unexpired bans into the engine and the mitigator (their routes
 *   enter each neighbor's Adj-RIB-Out BEFORE the sessions start, so they go
 *   out before End-of-RIB) → BGP → flow listeners → ready (healthz 200).
 * Ban path (write-ahead): engine event → SQLite commit → routes to the speaker.
 * Reload (SIGHUP or POST /api/v1/config/reload): parse + validate the file;
 * invalid → nothing changes, the keys are logged and returned; valid → only
 * what differs is applied (engine rules, whitelist, neighbors, listeners,
 * tokens, dry_run).
 * Stop (SIGTERM/SIGINT): API closed, listeners closed, sessions closed
 * without a Cease when graceful restart is on (routers keep the routes for
 * restart_seconds), state flushed, pid file removed.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { parseListen } from '../config/schema.ts';
import { ConfigError, type PathIssue } from '../core/errors.ts';
import { createLogger, type Logger } from '../core/log.ts';
import { systemClock, type Clock } from '../core/clock.ts';
import type { Attack, Ban, EngineEvent } from '../engine/events.ts';
import { Store, defaultDbPath } from '../store/sqlite.ts';
import { Mitigator } from '../mitigation/reconcile.ts';
import { ApiServer, type ApiToken, type ReloadResult } from '../api/server.ts';
import { Metrics } from '../api/metrics.ts';
import { VERSION } from '../version.ts';
import { diffConfig } from './diff.ts';
import type { BgpPort, CollectorPort, EnginePort } from './ports.ts';
import { DaemonBackend } from './backend.ts';
import type { History } from '../history/history.ts';
import { attachHistory } from './history-wiring.ts';

/**
 * Keys the schema accepts (configs written for other tools load unchanged)
 * that this version does not act on yet; the daemon says so at start.
 */
export function notYetImplemented(cfg: Readonly<Config>): string[] {
  const out: string[] = [];
  for (const k of ['telegram', 'slack', 'email', 'webhook', 'exec'] as const) if (cfg.notify[k]) out.push(`notify.${k}`);
  return out;
}

export interface DaemonOptions {
  configFile: string;
  logFormat?: 'text' | 'json';
  logLevel?: string;
  /** Tests: a logger to use instead of stderr. */
  log?: Logger;
  /** Install SIGHUP/SIGTERM/SIGINT handlers (the CLI does; in-process tests do not). */
  signals?: boolean;
  clock?: Clock;
  /** Tests: replace the real components. */
  components?: ComponentFactory;
}

export interface Components {
  engine: EnginePort;
  collector: CollectorPort;
  bgp: BgpPort;
}

export type ComponentFactory = (cfg: Readonly<Config>, log: Logger, clock: Clock) => Promise<Components> | Components;

/** Intervals of the daemon's loops. */
export const LOOPS = {
  reconcileMs: 5_000,
  storeRetryMs: 2_000,
  attackSaveMs: 10_000,
  rateSampleMs: 5_000,
  pruneMs: 3_600_000,
};

export class Daemon {
  readonly configFile: string;
  readonly opts: DaemonOptions;
  cfg!: Readonly<Config>;
  log!: Logger;
  store!: Store;
  engine!: EnginePort;
  collector!: CollectorPort;
  bgp!: BgpPort;
  mitigator!: Mitigator;
  metrics!: Metrics;
  api?: ApiServer;
  history?: History;
  apiAddress?: { host: string; port: number };
  readonly clock: Clock;
  ready = false;
  startedAt = 0;
  private stopping = false;
  private timers: NodeJS.Timeout[] = [];
  private tickTimer?: NodeJS.Timeout;
  private reloadChain: Promise<unknown> = Promise.resolve();
  private pidFile = '';
  /** Attacks in progress, by id (with their latest rates). */
  readonly attacks = new Map<string, Attack>();
  private attackSaved = new Map<string, number>();
  /** Ended attacks kept in memory for the API, newest last. */
  readonly recentAttacks: Attack[] = [];
  readonly counters = { attacks_by_vector: {} as Record<string, number>, bans: 0, refused: {} as Record<string, number>, reloads: 0, reload_failures: 0, handler_errors: 0 };
  /** Datagram rates per exporter, sampled every LOOPS.rateSampleMs. */
  rates: Record<string, { datagrams_per_s: number; records_per_s: number }> = {};
  private lastRateSample?: { t: number; per: Map<string, { d: number; r: number }> };
  private stopResolve?: (code: number) => void;
  readonly stopped: Promise<number>;

  constructor(opts: DaemonOptions) {
    this.opts = opts;
    this.configFile = opts.configFile;
    this.clock = opts.clock ?? systemClock;
    this.stopped = new Promise((r) => (this.stopResolve = r));
  }

  get dryRun(): boolean {
    return this.cfg.dry_run;
  }

  async start(): Promise<void> {
    const cfg = loadConfig(this.configFile);
    this.cfg = cfg;
    this.log =
      this.opts.log ??
      createLogger({ format: this.opts.logFormat ?? cfg.log.format, level: this.opts.logLevel ?? cfg.log.level });
    const log = this.log;
    this.startedAt = this.clock.now();
    log.info({ event: 'daemon starting', version: VERSION, config: resolve(this.configFile), mode: cfg.dry_run ? 'dry_run' : 'live', pid: process.pid }, 'Breakwater starting');
    for (const key of notYetImplemented(cfg)) {
      log.warn({ event: 'config not implemented', key }, `${key} is accepted but not implemented in this version: it has no effect`);
    }
    if (cfg.dry_run) log.warn({ event: 'dry run', mode: 'dry_run' }, 'dry-run: no route will be announced (set dry_run: false and reload to go live)');

    mkdirSync(cfg.storage.data_dir, { recursive: true });
    this.writePidFile();
    const dbPath = defaultDbPath(cfg.storage.data_dir, cfg.storage.sqlite.path);
    this.store = new Store(dbPath, log);
    log.info({ event: 'store open', path: dbPath }, 'SQLite state open');

    // Metrics read the components through optional chains: they exist before the components do.
    this.metrics = new Metrics({
      flow: () => this.collector?.stats(),
      engine: () => this.engine?.stats(),
      bgp: () => this.bgp?.neighbors(),
      mitigation: () => this.mitigator?.stats(),
      store: () => this.store?.stats,
      dryRun: () => this.cfg.dry_run,
      api: () => this.api?.stats,
      history: () => this.history?.stats,
    });
    // The API first: /healthz answers 503 and /api/v1/status shows ready: false while the rest starts.
    await this.startApi();

    const comps = await (this.opts.components ?? (await import('./components.ts')).realComponents)(cfg, log, this.clock);
    this.engine = comps.engine;
    this.collector = comps.collector;
    this.bgp = comps.bgp;
    this.history = attachHistory(this);

    this.mitigator = new Mitigator({
      port: this.bgp.speaker,
      config: cfg,
      dryRun: cfg.dry_run,
      log,
      onAnnounced: (banId, neighbors) => {
        this.store.setAnnounced(banId, neighbors);
        this.history?.onAnnounced(banId, neighbors);
        if (neighbors.length) log.info({ event: 'ban announced', ban: banId, neighbors }, 'routes in Adj-RIB-Out');
      },
    });
    this.engine.on((e) => this.onEngineEvent(e));
    this.bgp.onPeerState((nb, from, to) => {
      if (to.toLowerCase() === 'established' || from.toLowerCase() === 'established') this.safe('reconcile', () => this.reconcileNow());
    });

    const prevMode = this.store.getValue('mode');
    const mode = cfg.dry_run ? 'dry_run' : 'live';
    this.store.audit({ time: this.clock.now(), actor: 'system', action: 'start', detail: { version: VERSION, mode, pid: process.pid } });
    if (prevMode !== undefined && prevMode !== mode) this.store.audit({ time: this.clock.now(), actor: 'config', action: 'mode', detail: { from: prevMode, to: mode } });
    this.store.setValue('mode', mode);

    // Attacks that were in progress when the previous process died are closed.
    for (const a of this.store.listAttacks({ active: true, limit: 1000 }).items) this.store.saveAttack({ ...a, end: this.startedAt });
    this.restoreBans();

    await this.bgp.start();
    await this.collector.start();
    this.startLoops();
    if (this.opts.signals) this.installSignals();
    if (this.stopping) return;
    this.ready = true;
    log.info(
      { event: 'daemon ready', mode, api: this.apiAddress ? `${this.apiAddress.host}:${this.apiAddress.port}` : '', flows: this.collector.addresses(), neighbors: cfg.bgp.neighbors.length, bans: this.mitigator.activeBans().length, startup_ms: this.clock.now() - this.startedAt },
      'Breakwater ready',
    );
  }

  private writePidFile(): void {
    this.pidFile = join(this.cfg.storage.data_dir, 'breakwater.pid');
    if (existsSync(this.pidFile)) {
      const old = Number(readFileSync(this.pidFile, 'utf8').trim());
      if (Number.isInteger(old) && old > 0 && old !== process.pid && processAlive(old)) {
        throw new Error(`another Breakwater (pid ${old}) uses ${this.cfg.storage.data_dir}; stop it first (or remove ${this.pidFile})`);
      }
    }
    writeFileSync(this.pidFile, `${process.pid}\n`);
  }

  /** Unexpired bans back into the engine and the Adj-RIB-Out; expired ones recorded as ended. */
  private restoreBans(): void {
    const now = this.clock.now();
    const saved = this.store.activeBans();
    if (saved.length === 0) return;
    const r = this.engine.restore(saved, now);
    for (const b of r.expired) {
      this.store.saveBan({ ...b, ended: now, end_reason: 'expired_while_down', state: 'ended' });
      this.store.audit({ time: now, actor: 'system', action: 'unban', target: b.target, detail: { ban: b.id, reason: 'expired_while_down' } });
    }
    for (const { ban, reason } of r.refused) {
      this.store.saveBan({ ...ban, ended: now, end_reason: `not_restored:${reason}`, state: 'ended' });
      this.store.audit({ time: now, actor: 'system', action: 'unban', target: ban.target, detail: { ban: ban.id, reason: `not_restored:${reason}` } });
    }
    for (const b of r.restored) this.store.saveBan(b);
    this.mitigator.upsertMany(r.restored);
    this.log.info(
      { event: 'bans restored', restored: r.restored.length, expired: r.expired.length, refused: r.refused.length, targets: r.restored.map((b) => b.target).slice(0, 50) },
      'bans restored from SQLite (announced before End-of-RIB)',
    );
  }

  private startApi(): Promise<void> | void {
    const l = parseListen(this.cfg.api.listen);
    if (!l || this.cfg.api.listen === '') {
      this.log.warn({ event: 'api disabled' }, 'api.listen is empty: no REST API');
      return;
    }
    this.api = new ApiServer(new DaemonBackend(this), { host: l.host, port: l.port, tokens: resolveTokens(this.cfg, this.log), log: this.log, history: () => this.history?.reader });
    return this.api.start().then((a) => {
      this.apiAddress = a;
    });
  }

  private startLoops(): void {
    const every = (ms: number, name: string, fn: () => void) => {
      const t = setInterval(() => this.safe(name, fn), ms);
      t.unref();
      this.timers.push(t);
    };
    this.scheduleTick();
    every(LOOPS.reconcileMs, 'reconcile', () => this.reconcileNow());
    every(LOOPS.storeRetryMs, 'store retry', () => {
      if (this.store.stats.pending) this.store.retryPending();
    });
    every(LOOPS.rateSampleMs, 'rates', () => this.sampleRates());
    every(LOOPS.pruneMs, 'prune', () => this.store.prune(this.clock.now(), this.cfg.storage.retention_days));
  }

  private scheduleTick(): void {
    if (this.tickTimer) clearInterval(this.tickTimer);
    this.tickTimer = setInterval(() => this.safe('tick', () => this.tick()), this.cfg.detection.tick_ms);
    this.tickTimer.unref();
  }

  private tick(): void {
    const t0 = performance.now();
    this.engine.tick(this.clock.now());
    this.metrics.engineTick.observe((performance.now() - t0) / 1000);
  }

  private safe(name: string, fn: () => unknown): void {
    const fail = (e: unknown) => {
      this.counters.handler_errors++;
      this.log.error({ event: 'daemon error', loop: name, err: (e as Error).stack ?? String(e) }, `${name} failed`);
    };
    try {
      const r = fn();
      if (r instanceof Promise) r.catch(fail);
    } catch (e) {
      fail(e);
    }
  }

  private reconciling = false;

  /** One reconciliation at a time. */
  async reconcileNow(): Promise<void> {
    if (this.reconciling || this.stopping) return;
    this.reconciling = true;
    try {
      await this.mitigator.reconcile();
    } finally {
      this.reconciling = false;
    }
  }

  /** Ingest rates per exporter since the previous call (the rates loop runs it every LOOPS.rateSampleMs). */
  sampleRates(): void {
    const now = this.clock.now();
    const per = new Map<string, { d: number; r: number }>();
    for (const e of this.collector.stats().exporters) per.set(e.exporter, { d: e.datagrams, r: e.records });
    const prev = this.lastRateSample;
    if (prev) {
      const dt = Math.max(0.001, (now - prev.t) / 1000);
      const rates: typeof this.rates = {};
      for (const [ex, c] of per) {
        const p = prev.per.get(ex) ?? { d: 0, r: 0 };
        rates[ex] = { datagrams_per_s: Math.round(((c.d - p.d) / dt) * 10) / 10, records_per_s: Math.round(((c.r - p.r) / dt) * 10) / 10 };
      }
      this.rates = rates;
    }
    this.lastRateSample = { t: now, per };
  }

  engineStats() {
    return this.engine.stats();
  }

  // ------------------------------------------------------------ engine events

  private onEngineEvent(e: EngineEvent): void {
    this.safe(`event ${e.event}`, () => this.handleEvent(e));
  }

  private withRoute(a: Attack): Attack {
    if (a.route) return a;
    try {
      return { ...a, route: this.engine.routeForAttack(a) };
    } catch {
      return a;
    }
  }

  private handleEvent(e: EngineEvent): void {
    const log = this.log;
    switch (e.event) {
      case 'attack_start': {
        const a = this.withRoute(e.attack);
        this.attacks.set(a.id, a);
        this.counters.attacks_by_vector[a.vector] = (this.counters.attacks_by_vector[a.vector] ?? 0) + 1;
        this.store.saveAttack(a);
        this.attackSaved.set(a.id, e.time);
        log.warn(
          { event: 'attack start', attack: a.id, target: a.target, direction: a.direction, vector: a.vector, pps: a.pps, mbps: a.mbps, fps: a.fps, triggers: a.triggers, route: a.route, mode: this.cfg.dry_run ? 'dry_run' : 'live' },
          `attack on ${a.target}: ${a.vector}`,
        );
        break;
      }
      case 'attack_update': {
        const a = this.withRoute(e.attack);
        this.attacks.set(a.id, a);
        const last = this.attackSaved.get(a.id) ?? 0;
        if (e.time - last >= LOOPS.attackSaveMs) {
          this.store.saveAttack(a);
          this.attackSaved.set(a.id, e.time);
        }
        break;
      }
      case 'attack_end': {
        const a = this.withRoute(e.attack);
        const ended = { ...a, end: a.end ?? e.time };
        this.attacks.delete(a.id);
        this.attackSaved.delete(a.id);
        this.recentAttacks.push(ended);
        if (this.recentAttacks.length > 1000) this.recentAttacks.splice(0, this.recentAttacks.length - 1000);
        this.store.saveAttack(ended);
        log.info({ event: 'attack end', attack: a.id, target: a.target, vector: a.vector, peak_pps: a.peak_pps, peak_mbps: a.peak_mbps, duration_s: Math.round((ended.end - a.start) / 1000) }, `attack on ${a.target} ended`);
        break;
      }
      case 'ban': {
        const b = e.ban;
        this.counters.bans++;
        // Write-ahead: the ban is on disk before any route leaves.
        this.store.saveBan(b);
        this.store.audit({ time: e.time, actor: b.source, action: 'ban', target: b.target, detail: { ban: b.id, reason: b.reason, ttl_seconds: b.ttl_seconds, action: b.action, attack: b.attack_id } });
        log.warn({ event: 'ban', ban: b.id, target: b.target, source: b.source, reason: b.reason, ttl_seconds: b.ttl_seconds, route: b.route, mode: this.cfg.dry_run ? 'dry_run' : 'live' }, this.cfg.dry_run ? `ban ${b.target} (dry-run: not announced)` : `ban ${b.target}`);
        this.mitigator.upsert(b);
        break;
      }
      case 'escalate': {
        this.store.saveBan(e.ban);
        this.store.audit({ time: e.time, actor: 'auto', action: 'escalate', target: e.ban.target, detail: { ban: e.ban.id, from: e.from, to: e.to } });
        log.warn({ event: 'escalate', ban: e.ban.id, target: e.ban.target, from: e.from, to: e.to }, `ban ${e.ban.target} escalated to ${e.to}`);
        this.mitigator.upsert(e.ban);
        break;
      }
      case 'unban': {
        const b = { ...e.ban, ended: e.ban.ended ?? e.time, end_reason: e.ban.end_reason ?? e.reason };
        this.store.saveBan(b);
        this.store.audit({ time: e.time, actor: b.ended_by ?? (e.reason === 'manual' ? 'api' : 'auto'), action: 'unban', target: b.target, detail: { ban: b.id, reason: e.reason } });
        log.warn({ event: 'unban', ban: b.id, target: b.target, reason: e.reason }, `unban ${b.target} (${e.reason})`);
        this.mitigator.remove(b.id);
        break;
      }
      case 'ban_refused': {
        this.counters.refused[e.reason] = (this.counters.refused[e.reason] ?? 0) + 1;
        this.store.audit({ time: e.time, actor: e.source ?? 'auto', action: 'ban_refused', target: e.target, detail: { reason: e.reason, detail: e.detail, attack: e.attack?.id } });
        log.warn({ event: 'ban refused', target: e.target, reason: e.reason, detail: e.detail }, `ban of ${e.target} refused: ${e.reason}`);
        break;
      }
    }
  }

  // ------------------------------------------------------------ manual bans

  manualBan(ip: string, ttlSeconds: number | undefined, actor: string, reason?: string) {
    return this.engine.manualBan({ ip, ttlSeconds, actor, reason });
  }

  manualUnban(ip: string, actor: string) {
    return this.engine.manualUnban({ ip, actor });
  }

  // ------------------------------------------------------------ reload

  /** SIGHUP and POST /api/v1/config/reload. Serialized: one reload at a time. */
  reload(actor: string): Promise<ReloadResult> {
    const run = this.reloadChain.then(() => this.doReload(actor));
    this.reloadChain = run.catch(() => undefined);
    return run;
  }

  private async doReload(actor: string): Promise<ReloadResult> {
    const log = this.log;
    const now = this.clock.now();
    let next: Readonly<Config>;
    try {
      next = loadConfig(this.configFile);
    } catch (e) {
      const issues: PathIssue[] = e instanceof ConfigError ? e.issues : [{ path: '', message: (e as Error).message }];
      this.counters.reload_failures++;
      log.error({ event: 'config reload failed', actor, file: this.configFile, issues, keys: issues.map((i) => i.path) }, 'config reload rejected; the running config stays');
      this.store.audit({ time: now, actor, action: 'reload_failed', detail: { issues } });
      return { ok: false, error: 'invalid config; the running config stays', issues };
    }
    const old = this.cfg;
    const d = diffConfig(old, next);
    const details: Record<string, unknown> = {};
    if (d.changed.length === 0) {
      log.info({ event: 'config reload', actor, changed: [] }, 'config reloaded: nothing changed');
      this.store.audit({ time: now, actor, action: 'reload', detail: { changed: [] } });
      return { ok: true, changed: [], mode: next.dry_run ? 'dry_run' : 'live' };
    }
    // Only keys that can change at run time are applied; the rest keep their old values.
    const effective = keepRestartKeys(old, next, d.needsRestart);
    this.cfg = effective;
    this.counters.reloads++;

    // Engine first: a newly whitelisted target is unbanned here (its unban event withdraws the route).
    const eb = this.engine.reconfigure(effective, now);
    for (const b of eb.unbanned) {
      // Normally already handled through its unban event; make sure the route is gone.
      if (this.mitigator.activeBans().some((x) => x.id === b.id)) {
        this.store.saveBan({ ...b, ended: b.ended ?? now, end_reason: b.end_reason ?? 'whitelisted' });
        this.mitigator.remove(b.id);
      }
    }
    for (const b of eb.rerouted) {
      this.store.saveBan(b);
      this.mitigator.upsert(b);
    }
    if (eb.unbanned.length) details.unbanned = eb.unbanned.map((b) => ({ target: b.target, reason: b.end_reason }));
    await this.bgp.reconfigure(effective);
    this.mitigator.reconfigure(effective);
    if (d.dryRunChanged) {
      this.mitigator.setDryRun(effective.dry_run);
      const mode = effective.dry_run ? 'dry_run' : 'live';
      this.store.setValue('mode', mode);
      this.store.audit({ time: now, actor, action: 'mode', detail: { from: old.dry_run ? 'dry_run' : 'live', to: mode } });
      log.warn({ event: 'mode', actor, mode, bans: this.mitigator.activeBans().length }, effective.dry_run ? 'now in dry-run: every route withdrawn' : 'now LIVE: active bans announced');
      details.announced_routes = this.mitigator.stats().announced_routes;
    }
    await this.collector.reconfigure(effective);
    this.api?.setTokens(resolveTokens(effective, log));
    if (old.detection.tick_ms !== effective.detection.tick_ms) this.scheduleTick();
    if (d.needsRestart.length) {
      details.needs_restart = d.needsRestart;
      log.warn({ event: 'config reload', needs_restart: d.needsRestart }, 'some changes take effect only after a restart');
    }
    log.info(
      { event: 'config reload', actor, changed: d.changed, neighbors: { added: d.neighbors.added.map((n) => n.address), removed: d.neighbors.removed.map((n) => n.address), changed: d.neighbors.changed.map((c) => c.after.address) } },
      'config reloaded',
    );
    this.store.audit({ time: now, actor, action: 'reload', detail: { changed: d.changed, needs_restart: d.needsRestart } });
    return { ok: true, changed: d.changed, mode: effective.dry_run ? 'dry_run' : 'live', details };
  }

  // ------------------------------------------------------------ stop

  private installSignals(): void {
    process.on('SIGHUP', () => {
      this.log.info({ event: 'signal', signal: 'SIGHUP' }, 'SIGHUP: reloading the config');
      void this.reload('signal');
    });
    const term = (sig: string) => {
      if (this.stopping) {
        this.log.warn({ event: 'signal', signal: sig }, 'second signal: exiting now');
        process.exit(1);
      }
      this.log.info({ event: 'signal', signal: sig }, `${sig}: stopping`);
      void this.stop(sig);
    };
    process.on('SIGTERM', () => term('SIGTERM'));
    process.on('SIGINT', () => term('SIGINT'));
  }

  async stop(reason = 'stop'): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.ready = false;
    const log = this.log;
    const graceful = this.cfg.bgp.graceful_restart.enabled;
    log.info({ event: 'daemon stopping', reason, graceful_restart: graceful, restart_seconds: this.cfg.bgp.graceful_restart.restart_seconds, bans: this.mitigator?.activeBans().length ?? 0 }, 'stopping');
    for (const t of this.timers) clearInterval(t);
    if (this.tickTimer) clearInterval(this.tickTimer);
    const step = async (name: string, fn: () => Promise<void> | void) => {
      try {
        await fn();
      } catch (e) {
        log.error({ event: 'daemon error', step: name, err: (e as Error).message }, `stop: ${name} failed`);
      }
    };
    await step('api', () => this.api?.stop());
    await step('collector', () => this.collector?.stop());
    await step('bgp', () => this.bgp?.stop(graceful));
    await step('history', () => this.history?.stop());
    await step('store', () => {
      if (!this.store) return;
      for (const a of this.attacks.values()) this.store.saveAttack(a);
      this.store.audit({ time: this.clock.now(), actor: 'system', action: 'stop', detail: { reason, bans: this.mitigator?.activeBans().length ?? 0 } });
      this.store.close();
    });
    await step('pid file', () => {
      if (this.pidFile && existsSync(this.pidFile) && readFileSync(this.pidFile, 'utf8').trim() === String(process.pid)) rmSync(this.pidFile);
    });
    log.info({ event: 'daemon stopped', reason }, graceful ? 'stopped; routers keep Breakwater routes for the graceful-restart time' : 'stopped');
    this.stopResolve?.(0);
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return /breakwater|main\.ts/.test(cmd);
  } catch {
    return true;
  }
}

/** Tokens from api.token_env (one admin token) and api.tokens[]; a missing variable is logged and skipped. */
export function resolveTokens(cfg: Readonly<Config>, log?: Logger): ApiToken[] {
  const out: ApiToken[] = [];
  const env = (name: string, what: string) => {
    const v = process.env[name];
    if (!v) log?.warn({ event: 'api token missing', env: name, token: what }, `environment variable ${name} is not set; token ${what} disabled`);
    return v ?? '';
  };
  if (cfg.api.token_env) {
    const t = env(cfg.api.token_env, 'admin');
    if (t) out.push({ name: 'admin', token: t, role: 'admin' });
  }
  for (const t of cfg.api.tokens) {
    const v = env(t.token_env, t.name);
    if (v) out.push({ name: t.name, token: v, role: t.role });
  }
  const configured = (cfg.api.token_env ? 1 : 0) + cfg.api.tokens.length;
  if (configured > 0 && out.length === 0) {
    // Tokens are configured but none resolved: refuse every mutation rather than open the API.
    out.push({ name: 'unresolved', token: `unresolved-${Math.random().toString(36).slice(2)}-${Date.now()}`, role: 'viewer' });
  }
  return out;
}

/** Keeps the old values of keys that need a restart. */
function keepRestartKeys(old: Readonly<Config>, next: Readonly<Config>, keys: string[]): Readonly<Config> {
  if (keys.length === 0) return next;
  const c = structuredClone(next) as Config;
  for (const k of keys) {
    const parts = k.split('.');
    let src: any = old;
    let dst: any = c;
    for (let i = 0; i < parts.length - 1; i++) {
      src = src?.[parts[i]];
      dst = dst?.[parts[i]];
    }
    const last = parts[parts.length - 1];
    if (dst && src && last in src) dst[last] = structuredClone(src[last]);
  }
  return deepFreeze(c);
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const k of Object.keys(o)) deepFreeze((o as Record<string, unknown>)[k]);
  }
  return o;
}

/** `breakwater -config FILE`: runs until SIGTERM/SIGINT. */
export async function runDaemon(opts: DaemonOptions): Promise<number> {
  const d = new Daemon({ ...opts, signals: true });
  try {
    await d.start();
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(e.message + '\n');
      return 1;
    }
    const msg = (e as Error).message;
    if (d.log) d.log.fatal({ event: 'daemon failed', err: (e as Error).stack ?? msg }, `cannot start: ${msg}`);
    else process.stderr.write(`breakwater: cannot start: ${msg}\n`);
    await d.stop('start failed').catch(() => undefined);
    return 1;
  }
  return d.stopped;
}
