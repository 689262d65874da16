/**
 * The BGP speaker's public API — the only entry point other modules
 * (mitigation, the daemon, `breakwater bgp`) use.
 *
 *   const speaker = new BgpSpeaker(config.bgp, log);          // worker thread by default
 *   speaker.on('peer-state', (e: PeerStateEvent) => ...);
 *   speaker.announce(route, { neighbors?: ['192.0.2.10'], ttlSeconds?: 300 });  // throws RouteError
 *   await speaker.start();
 *   speaker.withdraw(route | routeKey, { neighbors? });
 *   speaker.flush(neighbor?);                                  // withdraw everything
 *   speaker.neighbors(): NeighborStatus[]                      // latest status (sync)
 *   speaker.routes(neighbor): Route[]                          // Adj-RIB-Out contents (sync)
 *   speaker.applied(neighbor): AppliedRoutes                   // the same by routeKey, no copy (sync)
 *   await speaker.adjRibOut(neighbor?): AdjRibOutEntry[]       // with sent/pending/held/refused
 *   await speaker.reconfigure(newConfig.bgp);                  // unchanged sessions stay up
 *   await speaker.stop({ graceful: true });                    // graceful: peers keep routes (RFC 4724)
 *
 * Threading: by default every socket, timer, Adj-RIB-Out and lease lives in
 * a worker thread (role 'bgp', SpeakerCore in speaker.ts). A busy main event
 * loop (flow decoding, detection) therefore cannot delay KEEPALIVEs and let
 * a router's hold timer expire. The facade validates routes synchronously
 * (so callers get errors at once), keeps a mirror of every neighbor's
 * Adj-RIB-Out for synchronous reads — THE applied set of Breakwater: what
 * has been handed to the speaker and not withdrawn; mitigation keeps no copy
 * of it — batches operations into one message per
 * event-loop turn, forwards the worker's log lines to the caller's logger,
 * and restarts a crashed worker, replaying the mirror. `{ mode: 'inline' }`
 * runs the same core on the calling thread (tools, tests).
 *
 * Events: 'peer-state' {neighbor, from, to, reason}; 'expired' {neighbor,
 * keys} when leases end; 'status' NeighborStatus[] when counters change;
 * 'sent' SentEvent {neighbor, announced, withdrawn, reset?} when UPDATEs were
 * written to a neighbor (or its session went down: reset).
 * speaker.announcedTo(routeKey): the neighbors that were sent the route and
 * hold it now (Established when it was written; not withdrawn or down since).
 *
 * Routes (types.ts) are plain objects: UnicastRoute {family, prefix, attrs}
 * with attrs.nextHop (IPv4) or attrs.nextHop6 (IPv6; 'self' = the session's
 * local address), or FlowspecRoute {family, rule, attrs}. The speaker adds
 * ORIGIN (igp) when absent, prepends the local AS on eBGP sessions and
 * LOCAL_PREF on iBGP ones.
 */
import { EventEmitter } from 'node:events';
import type { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { BgpConfig } from '../config/schema.ts';
import { Channel, type PortLike } from '../core/channel.ts';
import { spawnWorker } from '../core/spawn-worker.ts';
import { AdjRibOut } from './adjrib.ts';
import { RouteError } from './errors.ts';
import type { FsmState } from './fsm.ts';
import { canonicalAddress as normalizeAddress } from '../core/ip.ts';
import { SpeakerCore, checkRoute, leaseEnd, type AdjRibOutEntry, type NeighborStatus, type RouteOptions, type SentEvent } from './speaker.ts';
import { applyRouteOp, type FacadeSends, type RouteOp, type SpeakerSends, type WorkerData } from './speaker-worker.ts';
import { routeKey, type Route } from './types.ts';
import { newUpdateStats } from './update.ts';

export type { AdjRibOutEntry, NeighborStatus, RouteOptions, SentEvent } from './speaker.ts';
export type { Route, UnicastRoute, FlowspecRoute, FlowspecRule, PathAttributes, FamilyName } from './types.ts';
export { routeKey, attrsKey, isFlowspecRoute } from './types.ts';
export { validateFlowspecRule, flowspecNlriLength, MAX_FLOWSPEC_NLRI } from './flowspec.ts';
export type { BitmaskOp, ExtCommunity, LargeCommunity, NumericOp } from './types.ts';
/** The ExaBGP-style command grammar (text only, no I/O): the daemon's command pipe reads it. */
export { parseCommand } from './command.ts';

/** A read-only view of one neighbor's applied routes, by routeKey (a Map fits). */
export interface AppliedRoutes {
  readonly size: number;
  get(key: string): Route | undefined;
  has(key: string): boolean;
  values(): IterableIterator<Route>;
  [Symbol.iterator](): IterableIterator<[string, Route]>;
}

const NO_ROUTES: AppliedRoutes = new Map<string, Route>();

class AppliedView implements AppliedRoutes {
  private readonly rib: AdjRibOut;
  constructor(rib: AdjRibOut) {
    this.rib = rib;
  }
  get size(): number {
    return this.rib.desired.size;
  }
  get(key: string): Route | undefined {
    return this.rib.desired.get(key)?.route;
  }
  has(key: string): boolean {
    return this.rib.desired.has(key);
  }
  *values(): IterableIterator<Route> {
    for (const e of this.rib.desired.values()) yield e.route;
  }
  *[Symbol.iterator](): IterableIterator<[string, Route]> {
    for (const [k, e] of this.rib.desired) yield [k, e.route];
  }
}
export { RouteError, BgpError } from './errors.ts';
export { neighborView, type NeighborView } from './neighbor-view.ts';
export type { FsmState } from './fsm.ts';

export interface PeerStateEvent {
  neighbor: string;
  from: FsmState;
  to: FsmState;
  reason: string;
}

export interface BgpSpeakerOptions {
  /** 'worker' (default): sessions run in a worker thread; 'inline': on this thread. */
  mode?: 'worker' | 'inline';
  /**
   * Advertise the graceful-restart Restart State bit on the first session
   * (this process has just (re)started). Default true.
   */
  restarting?: boolean;
}

type Item = RouteOp;

function placeholderStatus(n: BgpConfig['neighbors'][number]): NeighborStatus {
  return {
    address: normalizeAddress(n.address),
    port: n.port,
    asn: n.remote_asn,
    description: n.description,
    state: 'Idle',
    stateSeconds: 0,
    uptimeSeconds: 0,
    passive: n.passive,
    familiesConfigured: [...n.families],
    familiesNegotiated: [],
    gracefulRestartPeer: false,
    messagesIn: 0,
    messagesOut: 0,
    updatesIn: 0,
    updatesOut: 0,
    prefixesDesired: 0,
    prefixesSent: 0,
    heldRoutes: 0,
    heldByFamily: {},
    refusedRoutes: 0,
    received: newUpdateStats(),
    flaps: 0,
    lastError: '',
    md5: n.md5_password_env ? 'unavailable' : 'none',
  };
}

const LEVEL_NAMES: Record<number, 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal'> = {
  10: 'trace',
  20: 'debug',
  30: 'info',
  40: 'warn',
  50: 'error',
  60: 'fatal',
};

export class BgpSpeaker extends EventEmitter {
  private cfg: BgpConfig;
  private readonly log: Logger;
  private readonly mode: 'worker' | 'inline';
  private readonly restarting: boolean;
  private core: SpeakerCore | undefined;
  private worker: Worker | undefined;
  private channel: Channel<FacadeSends, SpeakerSends> | undefined;
  /** route key → neighbors that were sent its UPDATE and hold it now. */
  private readonly sentTo = new Map<string, Set<string>>();
  private readonly mirror = new Map<string, AdjRibOut>();
  private status: NeighborStatus[] = [];
  private batch: Item[] = [];
  private batchScheduled = false;
  private running = false;
  private stopping = false;
  private restarts = 0;
  listenAddress: { address: string; port: number } | undefined;

  constructor(cfg: BgpConfig, log: Logger, opts: BgpSpeakerOptions = {}) {
    super();
    this.cfg = cfg;
    this.log = log;
    this.mode = opts.mode ?? 'worker';
    this.restarting = opts.restarting ?? true;
    this.syncMirror();
  }

  private syncMirror(): void {
    const nbs = this.cfg.neighbors.filter((n) => n.enabled);
    const ids = new Set(nbs.map((n) => normalizeAddress(n.address)));
    for (const id of ids) if (!this.mirror.has(id)) this.mirror.set(id, new AdjRibOut());
    for (const id of [...this.mirror.keys()]) if (!ids.has(id)) this.mirror.delete(id);
    // until the worker reports, every configured neighbor shows as Idle
    const known = new Map(this.status.map((s) => [s.address, s]));
    this.status = nbs.map((n) => known.get(normalizeAddress(n.address)) ?? placeholderStatus(n));
  }

  // ------------------------------------------------------------ lifecycle

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.stopping = false;
    if (this.mode === 'inline') {
      this.core = new SpeakerCore(this.cfg, this.log, {
        state: (neighbor, from, to, reason) => this.emit('peer-state', { neighbor, from, to, reason } satisfies PeerStateEvent),
        expired: (neighbor, keys) => this.onExpired(neighbor, keys),
        sent: (e) => this.onSent(e),
      }, { restarting: this.restarting });
      this.replay();
      await this.core.start();
      this.listenAddress = this.core.listenAddress;
      return;
    }
    await this.spawn();
  }

  private async spawn(): Promise<void> {
    const data: WorkerData = { cfg: this.cfg, level: this.log.level, restarting: this.restarting };
    const w = spawnWorker('bgp', data);
    this.worker = w;
    // stop/reconfigure may wait on sessions (2 s each, in parallel): their own bound applies, not a short timeout
    const ch = new Channel<FacadeSends, SpeakerSends>(w as PortLike, { timeoutMs: 0, onError: (e, what) => this.log.error({ err: e.message, what }, 'bgp worker message failed') });
    this.channel = ch;
    ch.on('log', (line) => this.onWorkerLog(line))
      .on('state', (e) => this.emit('peer-state', { neighbor: e.neighbor, from: e.from, to: e.to, reason: e.reason } satisfies PeerStateEvent))
      .on('status', (neighbors) => {
        this.status = neighbors;
        this.emit('status', neighbors);
      })
      .on('expired', (e) => this.onExpired(e.neighbor, e.keys))
      .on('sent', (e) => this.onSent(e));
    w.on('error', (e) => this.log.error({ err: e.message }, 'bgp worker error'));
    w.on('exit', (code) => {
      ch.close('bgp worker exited');
      if (this.worker !== w) return;
      this.worker = undefined;
      this.channel = undefined;
      // the new worker's sessions start from nothing: no neighbor holds a route until it is sent again
      for (const id of this.mirror.keys()) this.onSent({ neighbor: id, announced: [], withdrawn: [], reset: true });
      if (!this.stopping && this.running && this.restarts < 5) {
        this.restarts++;
        this.log.error({ code, restarts: this.restarts }, 'bgp worker exited unexpectedly: restarting it');
        void this.spawn().catch((e) => this.log.error({ err: (e as Error).message }, 'bgp worker restart failed'));
      }
    });
    this.replay();
    const r = await ch.request('start', undefined);
    this.listenAddress = r?.listen;
  }

  /** Sends the mirror (everything announced so far) to a fresh core. */
  private replay(): void {
    const now = Date.now();
    for (const [id, rib] of this.mirror) {
      const byLease = new Map<number, Route[]>();
      for (const e of rib.desired.values()) {
        if (e.expiresAt && e.expiresAt <= now) continue;
        const list = byLease.get(e.expiresAt) ?? [];
        list.push(e.route);
        byLease.set(e.expiresAt, list);
      }
      for (const [exp, routes] of byLease) {
        const opts: RouteOptions = { neighbors: [id] };
        if (exp) opts.expiresAt = exp;
        this.dispatch({ op: 'announce', routes, opts }, true);
      }
    }
  }

  async stop(opts: { graceful?: boolean } = {}): Promise<void> {
    if (!this.running) return;
    this.stopping = true;
    this.flushBatch();
    if (this.core) {
      await this.core.stop({ graceful: opts.graceful });
      this.core = undefined;
    } else if (this.worker) {
      const w = this.worker;
      const exited = new Promise<void>((r) => w.once('exit', () => r()));
      // bounded: a worker that does not stop in time is terminated
      const t = setTimeout(() => void w.terminate(), 8000);
      try {
        await this.channel?.request('stop', { graceful: !!opts.graceful });
      } catch {
        /* exited already */
      }
      await exited;
      clearTimeout(t);
      this.worker = undefined;
      this.channel = undefined;
    }
    this.running = false;
  }

  async reconfigure(cfg: BgpConfig): Promise<void> {
    this.cfg = cfg;
    this.syncMirror();
    if (this.core) await this.core.reconfigure(cfg);
    else if (this.worker) {
      this.flushBatch();
      await this.channel?.request('reconfigure', cfg);
    }
  }

  // ------------------------------------------------------------ routes

  private targets(neighbors?: string[]): string[] {
    if (!neighbors || neighbors.length === 0) return [...this.mirror.keys()];
    return neighbors.map((n) => {
      const id = normalizeAddress(n);
      if (!this.mirror.has(id)) throw new RouteError(`unknown neighbor ${n}`);
      return id;
    });
  }

  /** Validates and queues route(s) for the neighbors (all by default). Throws RouteError. */
  announce(route: Route | Route[], opts: RouteOptions = {}): void {
    const routes = Array.isArray(route) ? route : [route];
    for (const r of routes) checkRoute(r);
    const ids = this.targets(opts.neighbors);
    const exp = leaseEnd(opts);
    for (const id of ids) for (const r of routes) this.mirror.get(id)!.announce(r, exp);
    this.dispatch({ op: 'announce', routes, opts: { neighbors: ids, ...(exp ? { expiresAt: exp } : {}) } });
  }

  /** Withdraws route(s) by route or routeKey. Unknown routes are ignored. */
  withdraw(route: Route | string | Array<Route | string>, opts: RouteOptions = {}): void {
    const list = Array.isArray(route) ? route : [route];
    const keys = list.map((r) => (typeof r === 'string' ? r : routeKey(r)));
    const ids = this.targets(opts.neighbors);
    for (const id of ids) for (const k of keys) this.mirror.get(id)!.withdraw(k);
    this.dispatch({ op: 'withdraw', keys, opts: { neighbors: ids } });
  }

  /** Withdraws every route from one neighbor, or from all. */
  flush(neighbor?: string): void {
    const ids = this.targets(neighbor ? [neighbor] : undefined);
    for (const id of ids) this.mirror.get(id)!.clear();
    this.dispatch({ op: 'flush', neighbor: neighbor ? ids[0] : undefined });
  }

  private dispatch(it: Item, replaying = false): void {
    if (this.core) {
      applyRouteOp(this.core, it);
      return;
    }
    if (!this.worker && !replaying) return; // not started: the mirror is replayed on start
    this.batch.push(it);
    if (!this.batchScheduled) {
      this.batchScheduled = true;
      queueMicrotask(() => this.flushBatch());
    }
  }

  private flushBatch(): void {
    this.batchScheduled = false;
    if (this.batch.length === 0 || !this.channel) return;
    const items = this.batch;
    this.batch = [];
    this.channel.post('batch', items);
  }

  /** Resolves once every operation issued before it has been applied by the speaker. */
  async sync(): Promise<void> {
    if (this.channel) {
      this.flushBatch();
      await this.channel.request('neighbors', undefined);
    }
  }

  // ------------------------------------------------------------ status

  /** Neighbor status: live inline, or the worker's latest snapshot (≤ 1 s old, fresher after changes). */
  neighbors(): NeighborStatus[] {
    if (this.core) return this.core.neighbors();
    return this.status;
  }

  /** Fresh status from the worker. */
  async neighborsNow(): Promise<NeighborStatus[]> {
    if (this.core) return this.core.neighbors();
    if (!this.channel) return this.status;
    this.flushBatch();
    this.status = await this.channel.request('neighbors', undefined);
    return this.status;
  }

  /** The routes in a neighbor's Adj-RIB-Out (what it should hold), synchronously. */
  routes(neighbor: string): Route[] {
    return this.mirror.get(normalizeAddress(neighbor))?.routes() ?? [];
  }

  /** The applied set of a neighbor (announced, not withdrawn nor expired), by routeKey; a live view, not a copy. */
  applied(neighbor: string): AppliedRoutes {
    const rib = this.mirror.get(normalizeAddress(neighbor));
    return rib ? new AppliedView(rib) : NO_ROUTES;
  }

  /** Adj-RIB-Out entries with their state (sent, pending, held, refused). */
  async adjRibOut(neighbor?: string): Promise<AdjRibOutEntry[]> {
    if (this.core) return this.core.adjRibOut(neighbor);
    if (!this.channel) {
      const out: AdjRibOutEntry[] = [];
      for (const id of this.targets(neighbor ? [neighbor] : undefined)) {
        for (const e of this.mirror.get(id)!.desired.values()) out.push({ neighbor: id, key: e.key, route: e.route, status: 'pending' });
      }
      return out;
    }
    this.flushBatch();
    return this.channel.request('adjRibOut', neighbor);
  }

  /** Test hook: blocks the speaker's own thread (worker mode) for ms. */
  blockSpeakerThread(ms: number): void {
    this.channel?.post('busy', ms);
  }

  // ------------------------------------------------------------ worker plumbing

  private onExpired(neighbor: string, keys: string[]): void {
    const rib = this.mirror.get(neighbor);
    if (rib) for (const k of keys) rib.withdraw(k);
    this.emit('expired', { neighbor, keys });
  }

  /**
   * Who holds which route: UPDATEs the speaker wrote (announced keys added,
   * withdrawn keys removed for that neighbor), or a session that went down
   * (reset: the neighbor holds nothing). Emitted as 'sent'.
   */
  private onSent(e: SentEvent): void {
    if (e.reset) {
      for (const [k, set] of this.sentTo) if (set.delete(e.neighbor) && set.size === 0) this.sentTo.delete(k);
    }
    for (const k of e.announced) {
      let set = this.sentTo.get(k);
      if (!set) this.sentTo.set(k, (set = new Set()));
      set.add(e.neighbor);
    }
    for (const k of e.withdrawn) {
      const set = this.sentTo.get(k);
      if (set?.delete(e.neighbor) && set.size === 0) this.sentTo.delete(k);
    }
    this.emit('sent', e);
  }

  /**
   * Neighbors that were Established and were written the UPDATE announcing
   * this route (routeKey), and have not had it withdrawn or lost their
   * session since. A route queued for a neighbor that is down is not listed.
   */
  announcedTo(key: string): string[] {
    return [...(this.sentTo.get(key) ?? [])];
  }

  private onWorkerLog(line: string): void {
    try {
      const o = JSON.parse(line) as Record<string, unknown>;
      const { level, msg, time: _t, ...rest } = o;
      const name = LEVEL_NAMES[level as number] ?? 'info';
      this.log[name](rest, String(msg ?? ''));
    } catch {
      this.log.info(line);
    }
  }
}
