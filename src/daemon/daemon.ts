/**
 * The daemon: the composition root. It builds the running components once
 * (an immutable record: engine, collector, BGP, mitigator), serves the API
 * through a narrow view (backend.ts) and applies reload plans (reload.ts);
 * nothing imports it but the command that runs it.
 *
 * Phases: new → starting (API up: healthz 503, status ready: false, the
 * component endpoints 503) → running → stopping → stopped.
 * Start order (so a restart keeps routes continuous on the routers):
 *   config (+ the daemon's own rules: networks, no open API without tokens)
 *   → pid file → SQLite → API → engine → restore unexpired bans into the
 *   engine and the mitigator (their routes enter each neighbor's Adj-RIB-Out
 *   BEFORE the sessions start, so they go out before End-of-RIB) → BGP →
 *   flow listeners → running (healthz 200).
 * Ban path (write-ahead): engine event → SQLite commit → routes to the speaker (events.ts).
 * Reload (SIGHUP or POST /api/v1/config/reload): parse + validate the file;
 * invalid → nothing changes, the keys are logged and returned; valid → one
 * plan (config/diff.ts); a dangerous plan (bans lifted, auth off, a listener
 * widened) is refused unless forced; else each module applies its slice and
 * says what it did, in the response, the log and the audit log.
 * Stop (SIGTERM/SIGINT): API closed, listeners closed, sessions closed
 * without a Cease when graceful restart is on (routers keep the routes for
 * restart_seconds), state flushed, pid file removed.
 * Over 600 lines: the start and stop sequences are ordered steps whose order
 * is the safety argument above; they read best in one place.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadDaemonConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { parseListen } from '../config/schema.ts';
import { formatPlan, planReload, withLiftedBans, type ReloadPlan } from '../config/diff.ts';
import { BreakwaterError, ConfigError, StartError, listenError, type PathIssue } from '../core/errors.ts';
import { createLogger, type Logger } from '../core/log.ts';
import { compatLine, compatNotes } from '../config/kapkan.ts';
import { systemClock, type Clock } from '../core/clock.ts';
import type { AttackView as Attack, DetectionEvent } from '../ban/types.ts';
import { Store, defaultDbPath } from '../store/sqlite.ts';
import { Mitigator } from '../mitigation/reconcile.ts';
import { ApiServer, type ReloadResult } from '../api/server.ts';
import { Metrics, engineStatsView } from '../api/metrics.ts';
import { VERSION } from '../version.ts';
import type { ComponentFactory, Phase, Running } from './ports.ts';
import { DaemonBackend } from './backend.ts';
import { TrafficRing } from '../api/traffic-ring.ts';
import { sampleTraffic } from './traffic-wiring.ts';
import { applyPlan } from './reload.ts';
import { EngineEvents } from './events.ts';
import { attachNotifier, type NotifyWiring } from './notify-wiring.ts';
import type { History } from '../history/history.ts';
import { attachHistory } from './history-wiring.ts';
import { attachSignals } from './signal-wiring.ts';
import type { SignalHub } from '../signals/hub.ts';
import type { SignalBackend } from '../api/signal-routes.ts';
import { CommandWiring } from './command-wiring.ts';
import { attachCluster, type ClusterWiring } from './cluster-wiring.ts';
import { configChecksum } from '../cluster/node.ts';

const NO_ATTACKS: ReadonlyMap<string, Attack> = new Map();
import { FORCE_MARKER, FORCE_MARKER_MAX_AGE_MS, PID_FILE, processAlive } from './files.ts';
import { resolveTokens } from './tokens.ts';

export type { Components, ComponentFactory } from './ports.ts';


/**
 * Keys the schema accepts (configs written for other tools load unchanged)
 * that this version does not act on yet; the daemon says so at start.
 */
export function notYetImplemented(cfg: Readonly<Config>): string[] {
  const out: string[] = [];
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
  /** Route leases (Mitigator option, default on); off only for bench/leases.bench.ts. */
  routeLeases?: boolean;
}

/** Intervals of the daemon's loops. */
export const LOOPS = {
  reconcileMs: 5_000,
  /** Moves route leases along with ban extensions (well inside mitigation/reconcile.ts LEASE_GRACE_MS). */
  leaseMs: 1_000,
  storeRetryMs: 2_000,
  rateSampleMs: 5_000,
  pruneMs: 3_600_000,
};

/** What exists from the moment the store is open: the API can answer with it while the rest starts. */
interface Base {
  readonly log: Logger;
  readonly store: Store;
  readonly metrics: Metrics;
  readonly pidFile: string;
  readonly startedAt: number;
}

export class Daemon {
  readonly configFile: string;
  readonly opts: DaemonOptions;
  /** Notifications (outbox and channels), attached once the components exist. */
  private notifyWiring: NotifyWiring | undefined;

  get notify(): NotifyWiring | undefined {
    return this.notifyWiring;
  }
  /** ClickHouse history (storage.clickhouse), attached once the components exist. */
  private history: History | undefined;
  /** Signals from other detectors, attached once the components exist. */
  private signalWiring: { hub: SignalHub; backend: SignalBackend } | undefined;

  /** The signal hub (undefined before the components exist). */
  get signalHub(): SignalHub | undefined {
    return this.signalWiring?.hub;
  }
  /** Cluster mode (`cluster:`): the ledger, membership, leader; attached once the components exist. */
  private clusterWiring: ClusterWiring | undefined;

  get cluster(): ClusterWiring | undefined {
    return this.clusterWiring;
  }
  /** Command lines from api.command_pipe and POST /api/v1/commands. */
  private commands: CommandWiring | undefined;
  readonly clock: Clock;
  private phaseNow: Phase = 'new';
  private config: Readonly<Config> | undefined;
  private base: Base | undefined;
  /** Set once, when every component exists; never replaced. */
  private comps: Running | undefined;
  private api: ApiServer | undefined;
  private apiBound: { host: string; port: number } | undefined;
  /** BGP sessions were started: only then do routers hold our routes over a graceful stop. */
  private bgpStarted = false;
  private timers: NodeJS.Timeout[] = [];
  /** The last 15 minutes of rates of the busiest hosts and those under attack (GET /api/v1/hosts/{ip}/traffic). */
  readonly trafficRing = new TrafficRing();
  private tickTimer?: NodeJS.Timeout;
  private reloadChain: Promise<unknown> = Promise.resolve();
  /** Engine events into the store, the log and the mitigator; keeps the attacks in progress. */
  private events: EngineEvents | undefined;
  /** Datagram rates per exporter, sampled every LOOPS.rateSampleMs. */
  private rateTable: Record<string, { datagrams_per_s: number; records_per_s: number }> = {};
  private lastRateSample?: { t: number; per: Map<string, { d: number; r: number }> };
  private stopResolve: (code: number) => void = () => undefined;
  readonly stopped: Promise<number>;

  constructor(opts: DaemonOptions) {
    this.opts = opts;
    this.configFile = opts.configFile;
    this.clock = opts.clock ?? systemClock;
    this.stopped = new Promise((r) => (this.stopResolve = r));
  }

  // ------------------------------------------------------------ read access

  get phase(): Phase {
    return this.phaseNow;
  }

  get ready(): boolean {
    return this.phaseNow === 'running';
  }

  /** The running config (after start() has loaded it). */
  get cfg(): Readonly<Config> {
    if (!this.config) throw new BreakwaterError('not_ready', 'the daemon has not loaded its config yet');
    return this.config;
  }

  get dryRun(): boolean {
    return this.cfg.dry_run;
  }

  /** The components, once all exist. */
  running(): Running {
    if (!this.comps) throw new BreakwaterError('not_ready', `the daemon is ${this.phaseNow}: no components yet`);
    return this.comps;
  }

  get engine() {
    return this.running().engine;
  }

  get collector() {
    return this.running().collector;
  }

  get bgp() {
    return this.running().bgp;
  }

  get mitigator() {
    return this.running().mitigator;
  }

  get store(): Store {
    if (!this.base) throw new BreakwaterError('not_ready', 'the daemon has not opened its store yet');
    return this.base.store;
  }

  get apiAddress(): { host: string; port: number } | undefined {
    return this.apiBound;
  }

  get attacks(): ReadonlyMap<string, Attack> {
    return this.events ? this.events.active : NO_ATTACKS;
  }

  get rates(): Readonly<Record<string, { datagrams_per_s: number; records_per_s: number }>> {
    return this.rateTable;
  }

  // ------------------------------------------------------------ start

  async start(): Promise<void> {
    this.phaseNow = 'starting';
    const cfg = loadDaemonConfig(this.configFile);
    this.config = cfg;
    const log =
      this.opts.log ??
      createLogger({ format: this.opts.logFormat ?? cfg.log.format, level: this.opts.logLevel ?? cfg.log.level });
    const startedAt = this.clock.now();
    log.info({ event: 'daemon starting', version: VERSION, config: resolve(this.configFile), mode: cfg.dry_run ? 'dry_run' : 'live', pid: process.pid }, 'Breakwater starting');
    for (const n of compatNotes(cfg)) {
      if (n.kind === 'replaced') log.info({ event: 'config compat', key: n.key, kind: n.kind }, compatLine(n));
      else log.warn({ event: 'config compat', key: n.key, kind: n.kind }, compatLine(n));
    }
    for (const key of notYetImplemented(cfg)) {
      log.warn({ event: 'config not implemented', key }, `${key} is accepted but not implemented in this version: it has no effect`);
    }
    if (cfg.dry_run) log.warn({ event: 'dry run', mode: 'dry_run' }, 'dry-run: no route will be announced (set dry_run: false and reload to go live)');
    else log.warn({ event: 'live', mode: 'live' }, 'LIVE: detected attacks are announced to the BGP neighbors and drop traffic to their targets (set dry_run: true and reload to stop)');
    if (cfg.api.insecure_no_auth && !resolveTokens(cfg).length) {
      log.warn({ event: 'api insecure', listen: cfg.api.listen }, `api.insecure_no_auth: the REST API on "${cfg.api.listen}" needs no token: anyone who reaches it can ban, unban and reload`);
    }

    mkdirSync(cfg.storage.data_dir, { recursive: true });
    const pidFile = this.writePidFile(cfg);
    const dbPath = defaultDbPath(cfg.storage.data_dir, cfg.storage.sqlite.path);
    const store = new Store(dbPath, log);
    log.info({ event: 'store open', path: dbPath }, 'SQLite state open');

    // Metrics read the components only once they exist (one snapshot per scrape).
    const metrics = new Metrics({
      flow: () => (this.comps ? this.comps.collector.stats() : undefined),
      engine: () => (this.comps ? engineStatsView(this.comps.engine.stats()) : undefined),
      bgp: () => (this.comps ? this.comps.bgp.neighbors() : undefined),
      mitigation: () => (this.comps ? this.comps.mitigator.stats() : undefined),
      store: () => store.stats,
      dryRun: () => this.cfg.dry_run,
      api: () => (this.api ? this.api.stats : undefined),
      notify: () => this.notify?.stats(),
      history: () => this.history?.stats,
      signals: () => this.signalWiring?.hub.stats(),
      commands: () => this.commands?.stats(),
      cluster: () => this.clusterWiring?.node.stats(),
    });
    const base: Base = { log, store, metrics, pidFile, startedAt };
    this.base = base;
    this.commands = new CommandWiring({ config: () => this.cfg, log, ready: () => (this.phaseNow === 'running' ? this.comps : undefined) });
    // The API first: /healthz answers 503 and /api/v1/status shows ready: false while the rest starts.
    await this.startApi(base);

    const made = await (this.opts.components ?? (await import('./components.ts')).realComponents)(cfg, log, this.clock);
    const mitigator = new Mitigator({
      port: made.bgp.speaker,
      bans: { active: () => made.engine.activeBans(), get: (id) => made.engine.banById(id), clockNow: () => this.clock.now() },
      config: cfg,
      dryRun: cfg.dry_run,
      log,
      leases: this.opts.routeLeases ?? true,
      onAnnounced: (banId, neighbors) => {
        store.setAnnounced(banId, neighbors);
        this.history?.onAnnounced(banId, neighbors);
        if (neighbors.length) log.info({ event: 'ban announced', ban: banId, neighbors }, 'routes in Adj-RIB-Out');
      },
      onLintRefused: (ban, lint, rule) => {
        store.audit({ time: this.clock.now(), actor: 'system', action: 'lint_refused', target: ban.target, detail: { ban: ban.id, neighbor: lint.neighbor, profile: lint.profile, rule, findings: lint.findings.filter((f) => f.severity === 'error') } });
      },
    });
    const comps: Running = Object.freeze({ engine: made.engine, collector: made.collector, bgp: made.bgp, mitigator });
    this.comps = comps;
    const events = new EngineEvents({ running: comps, store, log, config: () => this.cfg, ledgerAudits: cfg.cluster !== undefined });
    this.events = events;
    comps.engine.on((e) => this.onEngineEvent(events, e));
    const self = this;
    this.clusterWiring = attachCluster({ cfg, log, clock: this.clock, engine: comps.engine, store, mitigator });
    const clusterEvents = this.clusterWiring?.events;
    this.notifyWiring = attachNotifier({
      get cfg() {
        return self.cfg;
      },
      log,
      clock: this.clock,
      engine: comps.engine,
      bgp: comps.bgp,
      collector: comps.collector,
      previousMode: store.getValue('mode'),
      ...(clusterEvents ? { events: clusterEvents } : {}),
    });
    this.history = attachHistory({
      get cfg() {
        return self.cfg;
      },
      log,
      clock: this.clock,
      startedAt,
      store,
      engine: comps.engine,
      collector: comps.collector,
      mitigator,
      ...(clusterEvents ? { events: clusterEvents } : {}),
    });
    this.signalWiring = attachSignals({
      get cfg() {
        return self.cfg;
      },
      log,
      clock: this.clock,
      engine: comps.engine,
    });
    comps.bgp.onPeerState((nb, from, to) => {
      if (to.toLowerCase() === 'established' || from.toLowerCase() === 'established') this.safe('reconcile', () => this.reconcileNow());
    });

    const prevMode = store.getValue('mode');
    const mode = cfg.dry_run ? 'dry_run' : 'live';
    store.audit({ time: this.clock.now(), actor: 'system', action: 'start', detail: { version: VERSION, mode, pid: process.pid } });
    if (prevMode !== undefined && prevMode !== mode) store.audit({ time: this.clock.now(), actor: 'config', action: 'mode', detail: { from: prevMode, to: mode } });
    store.setValue('mode', mode);

    // Attacks that were in progress when the previous process died are closed.
    for (const a of store.listAttacks({ active: true, limit: 1000 }).items) store.saveAttack({ ...a, end: startedAt });
    this.restoreBans(comps, base);
    // The ledger's bans join the Adj-RIB-Out before the sessions start, like restored ones.
    if (this.clusterWiring) await this.clusterWiring.start();

    this.bgpStarted = true;
    await comps.bgp.start();
    await comps.collector.start();
    this.startLoops();
    if (this.opts.signals) this.installSignals();
    if (this.phaseNow !== 'starting') return;
    this.commands.openPipe();
    this.phaseNow = 'running';
    log.info(
      { event: 'daemon ready', mode, api: this.apiBound ? `${this.apiBound.host}:${this.apiBound.port}` : '', flows: comps.collector.addresses(), neighbors: cfg.bgp.neighbors.length, bans: mitigator.activeBans().length, startup_ms: this.clock.now() - startedAt },
      'Breakwater ready',
    );
  }

  private writePidFile(cfg: Readonly<Config>): string {
    const pidFile = join(cfg.storage.data_dir, PID_FILE);
    if (existsSync(pidFile)) {
      const old = Number(readFileSync(pidFile, 'utf8').trim());
      if (Number.isInteger(old) && old > 0 && old !== process.pid && processAlive(old)) {
        throw new StartError('data_dir_busy', `another Breakwater (pid ${old}) uses ${cfg.storage.data_dir}; stop it first (or remove ${pidFile})`, 'storage.data_dir');
      }
    }
    writeFileSync(pidFile, `${process.pid}\n`);
    return pidFile;
  }

  /** Unexpired bans back into the engine and the Adj-RIB-Out; expired ones recorded as ended. */
  private restoreBans(r: Running, b: Base): void {
    const now = this.clock.now();
    const saved = b.store.activeBans();
    if (saved.length === 0) return;
    const res = r.engine.restore(saved, now);
    for (const x of res.expired) {
      b.store.saveBan({ ...x, ended: now, end_reason: 'expired_while_down', state: 'ended' });
      b.store.audit({ time: now, actor: 'system', action: 'unban', target: x.target, detail: { ban: x.id, reason: 'expired_while_down' } });
    }
    for (const { ban, reason } of res.refused) {
      b.store.saveBan({ ...ban, ended: now, end_reason: `not_restored:${reason}`, state: 'ended' });
      b.store.audit({ time: now, actor: 'system', action: 'unban', target: ban.target, detail: { ban: ban.id, reason: `not_restored:${reason}` } });
    }
    for (const x of res.restored) b.store.saveBan(x);
    r.mitigator.applyAll();
    b.log.info(
      { event: 'bans restored', restored: res.restored.length, expired: res.expired.length, refused: res.refused.length, targets: res.restored.map((x) => x.target).slice(0, 50) },
      'bans restored from SQLite (announced before End-of-RIB)',
    );
  }

  private async startApi(b: Base): Promise<void> {
    const cfg = this.cfg;
    const l = parseListen(cfg.api.listen);
    if (!l || cfg.api.listen === '') {
      b.log.warn({ event: 'api disabled' }, 'api.listen is empty: no REST API');
      return;
    }
    const view = {
      clock: this.clock,
      startedAt: b.startedAt,
      store: b.store,
      metrics: b.metrics,
      config: () => this.cfg,
      phase: () => this.phaseNow,
      running: () => this.comps,
      attacks: () => this.attacks,
      rates: () => this.rateTable,
      reload: (actor: string, opts: { force: boolean }) => this.reload(actor, opts),
      notifyStatus: () => this.notify?.status(),
      historyStatus: () => this.history?.status(),
      clusterStatus: () => this.clusterWiring?.node.status(),
      traffic: () => this.trafficRing,
    };
    const api = new ApiServer(new DaemonBackend(view), { host: l.host, port: l.port, tokens: resolveTokens(cfg, b.log), metricsTokenRequired: cfg.api.metrics_token_required, log: b.log, history: () => this.history?.reader, signals: () => (this.phaseNow === 'running' ? this.signalWiring?.backend : undefined), commands: () => (this.phaseNow === 'running' ? this.commands?.runner : undefined), dashboard: () => this.cfg.api.dashboard, now: () => this.clock.now() });
    this.api = api;
    try {
      this.apiBound = await api.start();
    } catch (e) {
      this.api = undefined;
      throw listenError(e, 'api.listen', cfg.api.listen);
    }
  }

  private startLoops(): void {
    const every = (ms: number, name: string, fn: () => void) => {
      const t = setInterval(() => this.safe(name, fn), ms);
      t.unref();
      this.timers.push(t);
    };
    this.scheduleTick();
    every(LOOPS.reconcileMs, 'reconcile', () => this.reconcileNow());
    every(LOOPS.leaseMs, 'leases', () => {
      if (this.comps) this.comps.mitigator.refreshLeases();
    });
    every(LOOPS.storeRetryMs, 'store retry', () => {
      if (this.store.stats.pending) this.store.retryPending();
    });
    every(LOOPS.rateSampleMs, 'rates', () => this.sampleRates());
    every(this.trafficRing.stepMs, 'traffic ring', () => this.sampleTraffic());
    every(LOOPS.pruneMs, 'prune', () => this.store.prune(this.clock.now(), this.cfg.storage.retention_days));
  }

  /** Records the current rates into the traffic ring (every step; tests call it directly). */
  sampleTraffic(): number {
    const engine = this.comps?.engine;
    if (!engine) return 0;
    return sampleTraffic(this.trafficRing, engine, [...this.attacks.values()].map((a) => a.target), this.clock.now());
  }

  private scheduleTick(): void {
    if (this.tickTimer) clearInterval(this.tickTimer);
    this.tickTimer = setInterval(() => this.safe('tick', () => this.tick()), this.cfg.detection.tick_ms);
    this.tickTimer.unref();
  }

  private tick(): void {
    const t0 = performance.now();
    this.engine.tick(this.clock.now());
    if (this.base) this.base.metrics.engineTick.observe((performance.now() - t0) / 1000);
  }

  private get log(): Logger {
    if (!this.base) throw new BreakwaterError('not_ready', 'the daemon has not started');
    return this.base.log;
  }

  /** The daemon's logger once start() has made it. */
  get logger(): Logger | undefined {
    return this.base ? this.base.log : undefined;
  }

  private safe(name: string, fn: () => unknown): void {
    const fail = (e: unknown) => {
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
    if (this.reconciling || this.phaseNow === 'stopping' || this.phaseNow === 'stopped' || !this.comps) return;
    this.reconciling = true;
    try {
      await this.comps.mitigator.reconcile();
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
      const rates: Record<string, { datagrams_per_s: number; records_per_s: number }> = {};
      for (const [ex, c] of per) {
        const p = prev.per.get(ex) ?? { d: 0, r: 0 };
        rates[ex] = { datagrams_per_s: Math.round(((c.d - p.d) / dt) * 10) / 10, records_per_s: Math.round(((c.r - p.r) / dt) * 10) / 10 };
      }
      this.rateTable = rates;
    }
    this.lastRateSample = { t: now, per };
  }

  // ------------------------------------------------------------ engine events

  private onEngineEvent(events: EngineEvents, e: DetectionEvent): void {
    this.safe(`event ${e.event}`, () => events.handle(e));
  }

  // ------------------------------------------------------------ reload

  /**
   * SIGHUP and POST /api/v1/config/reload. Serialized: one reload at a time.
   * A dangerous plan (bans lifted, authentication off, a listener widened)
   * is refused unless force is set.
   */
  reload(actor: string, opts: { force?: boolean } = {}): Promise<ReloadResult> {
    const run = this.reloadChain.then(() => this.doReload(actor, opts.force === true));
    this.reloadChain = run.catch(() => undefined);
    return run;
  }

  private async doReload(actor: string, force: boolean): Promise<ReloadResult> {
    const log = this.log;
    const store = this.store;
    const now = this.clock.now();
    let next: Readonly<Config>;
    try {
      next = loadDaemonConfig(this.configFile);
    } catch (e) {
      const issues: PathIssue[] = e instanceof ConfigError ? e.issues : [{ path: '', message: (e as Error).message }];
      log.error({ event: 'config reload failed', actor, file: this.configFile, issues, keys: issues.map((i) => i.path) }, 'config reload rejected; the running config stays');
      store.audit({ time: now, actor, action: 'reload_failed', detail: { issues } });
      return { ok: false, error: 'invalid config; the running config stays', issues };
    }
    const old = this.cfg;
    const r = this.running();
    let plan: ReloadPlan = planReload(old, next);
    if (plan.changed.length === 0) {
      log.info({ event: 'config reload', actor, changed: [] }, 'config reloaded: nothing changed');
      store.audit({ time: now, actor, action: 'reload', detail: { changed: [] } });
      return { ok: true, changed: [], mode: next.dry_run ? 'dry_run' : 'live', plan: [], applied: [] };
    }
    plan = withLiftedBans(plan, r.engine.previewReload(plan.config));
    const lines = formatPlan(plan);
    const dangers = plan.dangers.map((d) => ({ kind: d.kind, detail: d.detail }));
    if (dangers.length && !force) {
      log.error({ event: 'config reload refused', actor, file: this.configFile, dangers, plan: lines, changed: plan.changed }, 'config reload refused: dangerous change (confirm with POST /api/v1/config/reload?force=true or -s reload -force); the running config stays');
      store.audit({ time: now, actor, action: 'reload_refused', detail: { changed: plan.changed, dangers } });
      return { ok: false, refused: true, error: 'dangerous change refused; the running config stays (confirm with force)', dangers, plan: lines, changed: [...plan.changed] };
    }
    this.config = plan.config;
    const api = this.api;
    const cfg = plan.config;
    const { applied, details } = await applyPlan(plan, {
      running: r,
      store,
      log,
      actor,
      now,
      rescheduleTick: () => this.scheduleTick(),
      setApiAuth: api
        ? (slice) => {
            const tokens = resolveTokens({ api: slice.config }, log);
            api.setAuth({ tokens, metricsTokenRequired: slice.config.metrics_token_required });
            return [`${tokens.length} token(s)${slice.config.metrics_token_required ? ', /metrics needs one' : ''}`];
          }
        : undefined,
    });
    const cmdDid = this.commands?.reconfigure(cfg) ?? [];
    this.clusterWiring?.node.setChecksum(configChecksum(cfg));
    if (cmdDid.length) applied.push({ module: 'commands', did: cmdDid });
    const nb = plan.neighbors;
    log.info(
      { event: 'config reload', actor, forced: force && dangers.length > 0, changed: plan.changed, plan: lines, applied, dangers: dangers.length ? dangers : undefined, neighbors: { added: nb.added.map((n) => n.address), removed: nb.removed.map((n) => n.address), changed: nb.changed.map((c) => c.after.address) } },
      'config reloaded',
    );
    store.audit({ time: now, actor, action: 'reload', detail: { changed: plan.changed, needs_restart: plan.restartOnly, applied, ...(dangers.length ? { forced: true, dangers } : {}) } });
    this.notify?.reloaded(actor, plan);
    return { ok: true, changed: [...plan.changed], mode: cfg.dry_run ? 'dry_run' : 'live', plan: lines, applied, details };
  }

  /** SIGHUP: forced when `-s reload -force` left a fresh marker next to the pid file (removed here, one-shot). */
  private consumeForceMarker(): boolean {
    const f = join(this.cfg.storage.data_dir, FORCE_MARKER);
    try {
      const age = Date.now() - statSync(f).mtimeMs;
      rmSync(f, { force: true });
      return age <= FORCE_MARKER_MAX_AGE_MS;
    } catch {
      return false;
    }
  }

  // ------------------------------------------------------------ stop

  private installSignals(): void {
    process.on('SIGHUP', () => {
      const force = this.consumeForceMarker();
      this.log.info({ event: 'signal', signal: 'SIGHUP', force }, force ? 'SIGHUP: reloading the config (forced)' : 'SIGHUP: reloading the config');
      void this.reload('signal', { force });
    });
    const term = (sig: string) => {
      if (this.phaseNow === 'stopping') {
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
    if (this.phaseNow === 'stopping' || this.phaseNow === 'stopped') return;
    const wasRunning = this.phaseNow === 'running';
    this.phaseNow = 'stopping';
    for (const t of this.timers) clearInterval(t);
    if (this.tickTimer) clearInterval(this.tickTimer);
    const base = this.base;
    if (!base) {
      this.phaseNow = 'stopped';
      this.stopResolve(0);
      return;
    }
    const log = base.log;
    const comps = this.comps;
    const cfg = this.cfg;
    // Routers keep our routes over a graceful stop only when the daemon ran: not after a failed start.
    const graceful = cfg.bgp.graceful_restart.enabled && this.bgpStarted && wasRunning;
    const bans = comps ? comps.mitigator.activeBans().length : 0;
    log.info({ event: 'daemon stopping', reason, graceful_restart: graceful, restart_seconds: cfg.bgp.graceful_restart.restart_seconds, bans }, 'stopping');
    const step = async (name: string, fn: () => Promise<void> | void) => {
      try {
        await fn();
      } catch (e) {
        log.error({ event: 'daemon error', step: name, err: (e as Error).message }, `stop: ${name} failed`);
      }
    };
    const commands = this.commands;
    if (commands) await step('command pipe', () => commands.stop());
    const api = this.api;
    if (api) await step('api', () => api.stop());
    this.signalWiring?.hub.stop();
    const notify = this.notify;
    if (notify) await step('notify', () => notify.stop());
    const cluster = this.clusterWiring;
    if (cluster) await step('cluster', () => cluster.stop());
    if (comps) {
      await step('collector', () => comps.collector.stop());
      await step('bgp', () => comps.bgp.stop(cfg.bgp.graceful_restart.enabled));
    }
    const history = this.history;
    if (history) await step('history', () => history.stop());
    await step('store', () => {
      for (const a of this.attacks.values()) base.store.saveAttack(a);
      base.store.audit({ time: this.clock.now(), actor: 'system', action: 'stop', detail: { reason, bans } });
      base.store.close();
    });
    await step('pid file', () => {
      if (existsSync(base.pidFile) && readFileSync(base.pidFile, 'utf8').trim() === String(process.pid)) rmSync(base.pidFile);
    });
    this.phaseNow = 'stopped';
    log.info({ event: 'daemon stopped', reason }, graceful ? 'stopped; routers keep Breakwater routes for the graceful-restart time' : 'stopped');
    this.stopResolve(0);
  }
}
