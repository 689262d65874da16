/**
 * SpeakerCore: several neighbors, each a Session with its own Adj-RIB-Out,
 * the passive listener, route leases (ttl) and the status the API shows.
 * Thread-agnostic: index.ts runs it in a worker thread (speaker-worker.ts,
 * the default) or inline.
 *
 * - Announce/withdraw go into every targeted neighbor's Adj-RIB-Out (dedup by
 *   canonical key); changes are flushed on the next turn of the event loop,
 *   so a burst of announcements is packed into few UPDATE messages.
 * - Session up: everything in negotiated families, then End-of-RIB per
 *   family. ROUTE-REFRESH: that family again. Session down: nothing is lost,
 *   the Adj-RIB-Out is re-sent on the next Established.
 * - Output is bounded per session: changes are taken from the Adj-RIB-Out a
 *   chunk at a time and written only while the socket holds less than the
 *   neighbor's send_queue_bytes; the rest waits for 'drain'. Route refreshes
 *   run one family at a time (BoRR, the family, EoRR); a request for a family
 *   already waiting is coalesced. A peer that leaves the queue unread for
 *   send_stall_seconds is reset by its session (Cease / Out of Resources).
 * - What was written is reported per neighbor (events.sent), so callers know
 *   which neighbors actually got a route.
 *
 * Over 600 lines: the neighbors' Adj-RIB-Out, their output and their status
 * read the same per-neighbor record; the session (session.ts), listener,
 * MD5, codec and worker entry (speaker-worker.ts) live apart.
 * - Routes of a family the neighbor did not negotiate are held and counted.
 * - Leases: a route announced with ttlSeconds is withdrawn by the speaker
 *   when the lease ends unless announced again (a new announce without ttl
 *   makes it permanent).
 */
import { isDeepStrictEqual } from 'node:util';
import { networkInterfaces } from 'node:os';
import type { Logger } from 'pino';
import type { BgpConfig, NeighborConfig } from '../config/schema.ts';
import { parseListen } from '../config/schema.ts';
import { RouteError } from './errors.ts';
import { AdjRibOut, type RibChanges, badNextHop4, badNextHop6, encodeEndOfRib, encodeRouteChanges, refuseForSession, validateRoute } from './adjrib.ts';
import { BgpListener, normalizeAddress, type ListenRoute } from './listener.ts';
import { tcpMd5Addon, tcpMd5Info } from './md5.ts';
import { Session, type SessionOptions } from './session.ts';
import { isFlowspecRoute, routeKey, type FamilyName, type Route } from './types.ts';
import type { FsmState } from './fsm.ts';
import type { Negotiated } from './open.ts';
import { decodeUpdateCounted, newUpdateStats, type UpdateStats } from './update.ts';
import { BreakwaterError } from '../core/errors.ts';

export interface NeighborStatus {
  /** Neighbor id: its address. */
  address: string;
  port: number;
  asn: number;
  description?: string;
  state: FsmState;
  /** Seconds in the current state. */
  stateSeconds: number;
  /** Seconds Established, 0 when not. */
  uptimeSeconds: number;
  passive: boolean;
  localAddress?: string;
  remoteRouterId?: string;
  holdTime?: number;
  /** Families configured for the neighbor. */
  familiesConfigured: FamilyName[];
  /** Families negotiated on the current (or last) session. */
  familiesNegotiated: FamilyName[];
  gracefulRestartPeer: boolean;
  messagesIn: number;
  messagesOut: number;
  updatesIn: number;
  updatesOut: number;
  /** Routes in the Adj-RIB-Out. */
  prefixesDesired: number;
  /** Routes the peer currently holds from us. */
  prefixesSent: number;
  /** Routes held back because the family is not negotiated. */
  heldRoutes: number;
  heldByFamily: Partial<Record<FamilyName, number>>;
  /** Routes refused for this neighbor (reason per route in adjRibOut()). */
  refusedRoutes: number;
  /** Received UPDATE counters (RFC 7606 outcomes). */
  received: UpdateStats;
  flaps: number;
  /** RFC 8654 extended messages negotiated on the current (or last) session. */
  extendedMessage?: boolean;
  /** RFC 7313 enhanced route refresh negotiated on the current (or last) session. */
  enhancedRouteRefresh?: boolean;
  /** ROUTE-REFRESH messages received, and written (BoRR and EoRR included). */
  refreshesIn?: number;
  refreshesOut?: number;
  /** Bytes written to the peer, and the largest message written (all sessions). */
  bytesOut?: number;
  maxMessageOut?: number;
  /** Consecutive failed connection attempts (the ConnectRetry backoff exponent); 0 once Established. */
  connectRetries?: number;
  /** Output queued for the peer in user space now (bytes), beyond what the kernel holds. */
  sendQueueBytes?: number;
  /** Sessions reset because the peer read none of its queued output for send_stall_seconds (Cease / Out of Resources). */
  sendStallResets?: number;
  /** ROUTE-REFRESH requests merged into a re-send already waiting. */
  refreshesCoalesced?: number;
  lastError: string;
  lastErrorAt?: number;
  /**
   * TCP MD5: none; active (outgoing connections are signed, and incoming ones
   * must be: the listener holds the key); unavailable (configured, but the
   * addon or the password is missing, or a passive neighbor has no keyed
   * listener: lastError says why, and no unsigned session is ever opened).
   */
  md5: 'none' | 'active' | 'unavailable';
}

export interface AdjRibOutEntry {
  neighbor: string;
  key: string;
  route: Route;
  /** sent | pending | held (family not negotiated) | refused */
  status: 'sent' | 'pending' | 'held' | 'refused';
  reason?: string;
  /** Lease end (ms since epoch), when announced with ttl. */
  expiresAt?: number;
}

/**
 * UPDATEs written to one neighbor: route keys announced and withdrawn. With
 * `reset`, the peer holds nothing from us any more (the session went down);
 * it comes alone.
 */
export interface SentEvent {
  neighbor: string;
  announced: string[];
  withdrawn: string[];
  reset?: boolean;
}

export interface SpeakerEvents {
  state?(neighbor: string, from: FsmState, to: FsmState, reason: string): void;
  /** UPDATEs written (after they were handed to the socket). */
  sent?(e: SentEvent): void;
  /** Leased routes withdrawn by the speaker. */
  expired?(neighbor: string, keys: string[]): void;
  /** Status changed (debounced by the caller). */
  changed?(): void;
}

export interface RouteOptions {
  neighbors?: string[];
  ttlSeconds?: number;
  /** Lease end as epoch ms (wins over ttlSeconds): the same instant on both threads. */
  expiresAt?: number;
}

/** When a route announced with these options is withdrawn by its lease (0: never). */
export function leaseEnd(opts: RouteOptions, now = Date.now()): number {
  if (opts.expiresAt && opts.expiresAt > 0) return opts.expiresAt;
  return opts.ttlSeconds && opts.ttlSeconds > 0 ? now + opts.ttlSeconds * 1000 : 0;
}

interface Neighbor {
  id: string;
  cfg: NeighborConfig;
  session: Session;
  rib: AdjRibOut;
  leases: Map<string, number>;
  received: UpdateStats;
  out: Output;
}

/** Where a neighbor's output stands (reset when its session goes down). */
interface Output {
  /** Families whose End-of-RIB follows the initial table (pending while it is written). */
  endOfRib: FamilyName[];
  /** Routes written for the initial table (logged with the End-of-RIB). */
  initialRoutes: number;
  /** The family being re-sent for a ROUTE-REFRESH, and whether its EoRR is due (enhanced). */
  refreshing: { family: FamilyName; enhanced: boolean } | null;
  /** Families whose re-send waits for the current one (each at most once). */
  refreshQueue: FamilyName[];
  /** ROUTE-REFRESH requests merged into one already waiting. */
  refreshesCoalesced: number;
  /** The next chunk of a big table, scheduled for the next turn of the event loop. */
  resume?: NodeJS.Immediate;
}

const newOutput = (): Output => ({ endOfRib: [], initialRoutes: 0, refreshing: null, refreshQueue: [], refreshesCoalesced: 0 });

/**
 * Bytes of UPDATE taken from the Adj-RIB-Out per write (estimated by
 * wireCost): a table of 10,000 RTBH routes that share attributes is one
 * chunk, so it still packs into the fewest UPDATEs (one with RFC 8654); a
 * bigger table, or routes with attributes of their own, leave the event loop
 * between chunks. Output per session stays within send_queue_bytes plus one
 * chunk.
 */
const CHUNK_BYTES = 96 * 1024;

/**
 * Estimated bytes a route adds to a chunk: its NLRI, plus the attributes and
 * a message header the first time its attribute object is seen (routes that
 * share one are packed into the same UPDATEs).
 */
function wireCost(): (r: Route) => number {
  const seen = new Set<object>();
  return (r) => {
    const nlri = isFlowspecRoute(r) ? 24 : 1 + Math.ceil(Number(r.prefix.slice(r.prefix.indexOf('/') + 1)) / 8);
    if (seen.has(r.attrs)) return nlri;
    seen.add(r.attrs);
    return nlri + 96;
  };
}

function defaultRouterId(cfg: BgpConfig): string {
  if (cfg.router_id) return cfg.router_id;
  for (const n of cfg.neighbors) if (n.local_address && !n.local_address.includes(':') && !n.local_address.startsWith('127.')) return n.local_address;
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '192.0.2.254';
}

export class SpeakerCore {
  private cfg: BgpConfig;
  private readonly log: Logger;
  private readonly events: SpeakerEvents;
  private readonly nbrs = new Map<string, Neighbor>();
  private listener: BgpListener | undefined;
  private listenKey = '';
  private started = false;
  private flushScheduled = false;
  private leaseTimer: NodeJS.Timeout | undefined;
  private readonly restarting: boolean;
  /** Updates received and parsed, per neighbor (not used otherwise). */
  listenAddress: { address: string; port: number } | undefined;

  constructor(cfg: BgpConfig, log: Logger, events: SpeakerEvents = {}, opts: { restarting?: boolean } = {}) {
    this.cfg = cfg;
    this.log = log;
    this.events = events;
    this.restarting = opts.restarting ?? true;
    for (const n of cfg.neighbors) if (n.enabled) this.addNeighbor(n);
  }

  // ------------------------------------------------------------ lifecycle

  async start(): Promise<void> {
    this.started = true;
    await this.applyListen();
    for (const n of this.nbrs.values()) n.session.start();
    this.leaseTimer = setInterval(() => this.expireLeases(), 250);
    this.leaseTimer.unref();
  }

  async stop(opts: { graceful?: boolean } = {}): Promise<void> {
    this.started = false;
    if (this.leaseTimer) clearInterval(this.leaseTimer);
    const closing = this.listener?.close();
    this.listener = undefined;
    this.listenKey = '';
    await Promise.all([...this.nbrs.values()].map((n) => n.session.stop({ graceful: opts.graceful && this.cfg.graceful_restart.enabled })));
    await closing;
  }

  /**
   * The passive listener. When a neighbor has TCP MD5, the listening socket
   * comes from the addon with one key per such neighbor (the kernel then
   * drops their unsigned SYNs); later key changes are applied to the live
   * socket. Without the addon, MD5 neighbors' incoming connections are
   * refused rather than accepted unsigned.
   */
  private async applyListen(): Promise<void> {
    const l = this.cfg.listen ? parseListen(this.cfg.listen) : null;
    if (this.cfg.listen && !l) throw new BreakwaterError('invalid_config', `bad bgp.listen "${this.cfg.listen}"`);
    const host = l?.host === 'localhost' ? '127.0.0.1' : (l?.host ?? '');
    const md5 = this.listenMd5(host);
    const addon = md5.wanted ? tcpMd5Addon() : null;
    const signing = !!(addon?.md5Listen && addon.md5SetKey);
    const key = `${this.cfg.listen}|${signing ? 'md5' : 'plain'}`;
    if (key === this.listenKey && this.listener) {
      if (signing) this.syncListenKeys(md5.keys);
      this.noteMd5Problems();
      return;
    }
    await this.listener?.close();
    this.listener = undefined;
    this.listenAddress = undefined;
    this.listenKey = key;
    if (!l) return;
    this.listener = new BgpListener(this.log, (remote) => this.routeIncoming(remote));
    this.listenAddress = await this.listener.listen(host, l.port, signing && addon ? { addon, keys: md5.keys } : undefined);
    if (md5.wanted && !signing) {
      this.log.error({ err: addon ? 'the addon has no md5Listen (rebuild it)' : tcpMd5Info().error }, 'bgp TCP MD5 unavailable on the listener: incoming connections from MD5 neighbors are refused');
    }
    this.noteMd5Problems();
  }

  /** Listener keys: canonical address → password of every MD5 neighbor with a password (and of the listener's family). */
  private listenMd5(host: string): { wanted: boolean; keys: Map<string, string> } {
    const keys = new Map<string, string>();
    let wanted = false;
    const v4Listener = host !== '' && !host.includes(':');
    for (const nb of this.nbrs.values()) {
      if (!nb.cfg.md5_password_env) continue;
      wanted = true;
      const pw = nb.session.opts.md5Password;
      if (pw && !(v4Listener && nb.id.includes(':'))) keys.set(nb.id, pw);
    }
    return { wanted, keys };
  }

  private syncListenKeys(keys: Map<string, string>): void {
    const l = this.listener;
    if (!l) return;
    for (const peer of l.keyedPeers()) {
      if (keys.has(peer)) continue;
      try {
        l.setKey(peer, null);
        this.log.info({ neighbor: peer }, 'bgp TCP MD5 key removed from the listener');
      } catch (e) {
        this.log.error({ neighbor: peer, err: (e as Error).message }, 'bgp cannot remove the TCP MD5 key from the listener');
      }
    }
    for (const [peer, pw] of keys) {
      const had = l.keyed(peer);
      try {
        l.setKey(peer, pw);
        if (!had) this.log.info({ neighbor: peer }, 'bgp TCP MD5 key added to the listener');
      } catch (e) {
        this.log.error({ neighbor: peer, err: (e as Error).message }, 'bgp cannot set the TCP MD5 key on the listener');
      }
    }
  }

  /** Why a neighbor with TCP MD5 cannot have signed sessions now ('' when it can). */
  private md5Problem(nb: Neighbor): string {
    if (!nb.cfg.md5_password_env) return '';
    if (!nb.session.opts.md5Password) return `TCP MD5 password variable ${nb.cfg.md5_password_env} is not set`;
    const info = tcpMd5Info();
    if (!info.addon) return `TCP MD5 is configured but unavailable: ${info.error}`;
    if (!nb.cfg.passive) return '';
    if (!this.listener) return 'passive TCP MD5 neighbor without bgp.listen';
    if (!this.listener.signing) return 'the TCP MD5 addon cannot create listening sockets (md5Listen missing: rebuild it)';
    if (!this.listener.keyed(nb.id)) return `no TCP MD5 key for ${nb.id} on the listener (address family of bgp.listen?)`;
    return '';
  }

  /** Passive MD5 neighbors never connect out, so their set-up problem goes to lastError here. */
  private noteMd5Problems(): void {
    for (const nb of this.nbrs.values()) {
      if (!nb.cfg.passive) continue;
      const p = this.md5Problem(nb);
      if (p) nb.session.noteError(p);
    }
  }

  /** The session for an incoming connection; MD5 neighbors only when the listener holds their key. */
  private routeIncoming(remote: string): ListenRoute {
    const nb = this.nbrs.get(remote);
    if (!nb) return undefined;
    if (nb.cfg.md5_password_env && !this.listener?.keyed(remote)) {
      const why = `incoming connection refused: ${this.md5Problem(nb) || 'no TCP MD5 key on the listener'}`;
      nb.session.noteError(why);
      return { refuse: why };
    }
    return nb.session;
  }

  /** Adds, removes and changes neighbors; unchanged sessions stay up. */
  async reconfigure(cfg: BgpConfig): Promise<void> {
    const global = (c: BgpConfig) => [c.local_asn, c.router_id, c.graceful_restart, c.connect_retry_seconds];
    const restartAll = !isDeepStrictEqual(global(cfg), global(this.cfg));
    this.cfg = cfg;
    const want = new Map(cfg.neighbors.filter((n) => n.enabled).map((n) => [normalizeAddress(n.address), n]));
    const stops: Promise<void>[] = [];
    for (const [id, nb] of this.nbrs) {
      const n = want.get(id);
      if (!n) {
        this.log.info({ neighbor: id }, 'bgp neighbor removed');
        stops.push(nb.session.stop({ deconfigured: true }));
        this.nbrs.delete(id);
      } else if (restartAll || !isDeepStrictEqual(n, nb.cfg)) {
        this.log.info({ neighbor: id }, 'bgp neighbor changed: restarting its session');
        stops.push(nb.session.stop({ deconfigured: true }));
        const rib = nb.rib;
        rib.resetSent();
        const fresh = this.addNeighbor(n, rib, nb.leases);
        if (this.started) stops.push(Promise.resolve().then(() => fresh.session.start()));
      }
    }
    for (const [id, n] of want) {
      if (!this.nbrs.has(id)) {
        this.log.info({ neighbor: id }, 'bgp neighbor added');
        const nb = this.addNeighbor(n);
        if (this.started) nb.session.start();
      }
    }
    await Promise.all(stops);
    if (this.started) await this.applyListen();
    this.events.changed?.();
  }

  private addNeighbor(n: NeighborConfig, rib = new AdjRibOut(), leases = new Map<string, number>()): Neighbor {
    const id = normalizeAddress(n.address);
    const gr = this.cfg.graceful_restart;
    const so: SessionOptions = {
      neighbor: id,
      address: n.address,
      port: n.port,
      localAddress: n.local_address,
      passive: n.passive,
      localAsn: n.local_asn ?? this.cfg.local_asn,
      remoteAsn: n.remote_asn,
      routerId: defaultRouterId(this.cfg),
      holdTime: n.hold_time,
      families: n.families,
      gracefulRestart: gr.enabled ? { restartSeconds: gr.restart_seconds, restarting: this.restarting } : undefined,
      connectRetrySeconds: this.cfg.connect_retry_seconds,
      sendQueueBytes: n.send_queue_bytes,
      sendStallSeconds: n.send_stall_seconds,
    };
    if (n.md5_password_env) {
      const pw = process.env[n.md5_password_env];
      if (!pw) this.log.error({ neighbor: id, env: n.md5_password_env }, 'bgp TCP MD5 password variable is not set: the session will not be opened');
      so.md5Password = pw ?? '';
      const info = tcpMd5Info();
      if (!info.addon) this.log.error({ neighbor: id, err: info.error }, 'bgp TCP MD5 addon unavailable: the session will not be opened');
      else this.log.debug({ neighbor: id, addon: info.source }, 'bgp TCP MD5 addon loaded');
      if (n.passive && !this.cfg.listen) this.log.error({ neighbor: id }, 'bgp passive TCP MD5 neighbor without bgp.listen: it cannot be reached');
    }
    const nb: Neighbor = { id, cfg: n, rib, leases, received: newUpdateStats(), out: newOutput(), session: undefined as unknown as Session };
    nb.session = new Session(so, this.log, {
      state: (from, to, reason) => {
        this.events.state?.(id, from, to, reason);
        this.events.changed?.();
      },
      established: (neg) => this.onEstablished(nb, neg),
      down: () => {
        nb.rib.resetSent();
        const coalesced = nb.out.refreshesCoalesced;
        if (nb.out.resume) clearImmediate(nb.out.resume);
        nb.out = newOutput();
        nb.out.refreshesCoalesced = coalesced;
        this.events.sent?.({ neighbor: id, announced: [], withdrawn: [], reset: true });
      },
      refresh: (fam) => this.onRefresh(nb, fam),
      drained: () => this.flushNeighbor(nb),
      update: (body) => {
        // Breakwater does not use received routes: decoded for RFC 7606 checks and counted.
        // A BgpError (session reset per RFC 7606) propagates to the session.
        const neg = nb.session.negotiated;
        if (neg) decodeUpdateCounted(body, neg.ctx, nb.received);
      },
    });
    this.nbrs.set(id, nb);
    return nb;
  }

  // ------------------------------------------------------------ routes

  private targets(neighbors?: string[]): Neighbor[] {
    if (!neighbors || neighbors.length === 0) return [...this.nbrs.values()];
    return neighbors.map((a) => {
      const nb = this.nbrs.get(normalizeAddress(a));
      if (!nb) throw new RouteError(`unknown neighbor ${a}`);
      return nb;
    });
  }

  /** Validates and queues routes; throws RouteError (nothing queued) on a bad one. */
  announce(routes: Route[], opts: RouteOptions = {}, validated = false): void {
    if (!validated) for (const r of routes) checkRoute(r);
    const tg = this.targets(opts.neighbors);
    const exp = leaseEnd(opts);
    for (const nb of tg) {
      for (const r of routes) {
        nb.rib.announce(r, exp);
        const k = routeKey(r);
        if (exp) nb.leases.set(k, exp);
        else nb.leases.delete(k);
      }
    }
    this.scheduleFlush();
  }

  withdraw(routes: Array<Route | string>, opts: RouteOptions = {}): number {
    let n = 0;
    for (const nb of this.targets(opts.neighbors)) {
      for (const r of routes) {
        const k = typeof r === 'string' ? r : routeKey(r);
        if (nb.rib.withdraw(k)) n++;
        nb.leases.delete(k);
      }
    }
    this.scheduleFlush();
    return n;
  }

  /** Withdraws everything (from one neighbor or all). */
  flush(neighbor?: string): number {
    let n = 0;
    for (const nb of this.targets(neighbor ? [neighbor] : undefined)) {
      n += nb.rib.clear();
      nb.leases.clear();
    }
    this.scheduleFlush();
    return n;
  }

  private expireLeases(): void {
    const now = Date.now();
    for (const nb of this.nbrs.values()) {
      let gone: string[] | undefined;
      for (const [k, t] of nb.leases) {
        if (t <= now) {
          nb.leases.delete(k);
          if (nb.rib.withdraw(k)) (gone ??= []).push(k);
        }
      }
      if (gone) {
        this.log.info({ neighbor: nb.id, routes: gone.length }, 'bgp route lease expired: withdrawn');
        this.events.expired?.(nb.id, gone);
        this.scheduleFlush();
      }
    }
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      for (const nb of this.nbrs.values()) this.flushNeighbor(nb);
      this.events.changed?.();
    });
  }

  /** refuseForSession for this session; its answer depends on the next hop only, so it is kept per attribute object. */
  private refuser(nb: Neighbor): (r: Route) => string | null {
    const peer = nb.id;
    const local = nb.session.localAddress;
    const byAttrs = new Map<object, string | null>();
    return (r) => {
      if (isFlowspecRoute(r)) return null;
      let why = byAttrs.get(r.attrs);
      if (why === undefined) byAttrs.set(r.attrs, (why = refuseForSession(r, peer, local)));
      return why;
    };
  }

  /**
   * Writes the neighbor's pending changes a chunk at a time while its socket
   * takes them; a blocked socket resumes on 'drain'. When nothing is left,
   * the markers that close a table go out (End-of-RIB, EoRR) and the next
   * waiting route refresh starts.
   */
  private flushNeighbor(nb: Neighbor): void {
    const s = nb.session;
    const neg = s.negotiated;
    if (!s.established || !neg) return;
    const fams = new Set(neg.families);
    const refuse = this.refuser(nb);
    if (nb.out.resume) return; // a chunk is already scheduled
    for (;;) {
      while (nb.rib.hasChanges) {
        if (s.sendBlocked) return; // resumed by drained()
        const ch = nb.rib.takeChanges(fams, refuse, CHUNK_BYTES, wireCost());
        const n = ch.announce.length + ch.withdraw.length;
        if (n === 0) break;
        if (nb.out.endOfRib.length > 0) nb.out.initialRoutes += ch.announce.length;
        this.send(nb, neg, ch);
        if (!s.established) return;
        if (ch.more) {
          // a big table: the next chunk on the next turn, so received messages and timers are not held up
          const out = nb.out;
          out.resume = setImmediate(() => {
            out.resume = undefined;
            if (nb.out === out) this.flushNeighbor(nb);
          });
          return;
        }
      }
      if (nb.out.endOfRib.length > 0) this.sendEndOfRib(nb, neg);
      const r = nb.out.refreshing;
      if (r) {
        nb.out.refreshing = null;
        if (r.enhanced) s.sendRefreshMarker(r.family, 'end');
      }
      const next = nb.out.refreshQueue.shift();
      if (next === undefined) return;
      this.startRefresh(nb, next);
    }
  }

  /** The peer asked for a family again (RFC 2918); queued behind a re-send in progress, merged with one already waiting. */
  private onRefresh(nb: Neighbor, fam: FamilyName): void {
    const o = nb.out;
    if (o.refreshQueue.includes(fam)) {
      o.refreshesCoalesced++;
      return;
    }
    if (o.refreshing || o.endOfRib.length > 0) {
      o.refreshQueue.push(fam);
      return;
    }
    this.startRefresh(nb, fam);
    this.flushNeighbor(nb);
  }

  private startRefresh(nb: Neighbor, fam: FamilyName): void {
    // RFC 7313: with enhanced route refresh the family is re-sent between BoRR and EoRR,
    // so the peer can drop whatever it holds from us that was not re-sent
    const enhanced = !!nb.session.negotiated?.enhancedRouteRefresh;
    this.log.info({ neighbor: nb.id, family: fam, enhanced }, 'bgp route refresh requested by peer');
    nb.rib.resetSent(fam);
    nb.out.refreshing = { family: fam, enhanced };
    if (enhanced) nb.session.sendRefreshMarker(fam, 'begin');
  }

  private send(nb: Neighbor, neg: Negotiated, ch: RibChanges): void {
    const { announce, withdraw } = ch;
    const localAsn = nb.cfg.local_asn ?? this.cfg.local_asn;
    try {
      const msgs = encodeRouteChanges(announce, withdraw, {
        ctx: neg.ctx,
        localAsn,
        ibgp: localAsn === nb.cfg.remote_asn,
        localPref: nb.cfg.local_pref ?? this.cfg.local_pref,
        localAddress: nb.session.localAddress,
      });
      if (nb.session.sendUpdates(msgs) && this.events.sent) {
        this.events.sent({ neighbor: nb.id, announced: ch.announceKeys, withdrawn: ch.withdrawKeys });
      }
    } catch (e) {
      this.log.error({ neighbor: nb.id, err: (e as Error).message }, 'bgp failed to encode routes');
    }
  }

  private onEstablished(nb: Neighbor, neg: Negotiated): void {
    nb.rib.resetSent();
    if (nb.out.resume) clearImmediate(nb.out.resume);
    nb.out = { ...newOutput(), endOfRib: [...neg.families], refreshesCoalesced: nb.out.refreshesCoalesced };
    this.flushNeighbor(nb);
  }

  /** The initial table is written: End-of-RIB per family (RFC 4724). */
  private sendEndOfRib(nb: Neighbor, neg: Negotiated): void {
    const fams = new Set(neg.families);
    nb.session.sendUpdates(nb.out.endOfRib.map((f) => encodeEndOfRib(f)));
    nb.out.endOfRib = [];
    const held = nb.rib.held(fams).length;
    const missing = nb.cfg.families.filter((f) => !fams.has(f));
    this.log.info(
      { neighbor: nb.id, families: neg.families, missing_families: missing, routes: nb.out.initialRoutes, held },
      'bgp session established: Adj-RIB-Out sent, End-of-RIB',
    );
    if (held > 0) this.log.warn({ neighbor: nb.id, held, missing_families: missing }, 'bgp routes held: the neighbor did not negotiate their family');
  }

  // ------------------------------------------------------------ status

  neighbors(): NeighborStatus[] {
    const now = Date.now();
    return [...this.nbrs.values()].map((nb) => {
      const s = nb.session;
      const neg = s.negotiated;
      const fams = new Set(neg?.families ?? []);
      const held = s.established ? nb.rib.held(fams) : [];
      const heldBy: Partial<Record<FamilyName, number>> = {};
      for (const h of held) heldBy[h.route.family] = (heldBy[h.route.family] ?? 0) + 1;
      return {
        address: nb.id,
        port: nb.cfg.port,
        asn: nb.cfg.remote_asn,
        description: nb.cfg.description,
        state: s.state,
        stateSeconds: Math.round((now - s.stateSince) / 1000),
        uptimeSeconds: s.established ? Math.round((now - s.establishedAt) / 1000) : 0,
        passive: nb.cfg.passive,
        localAddress: s.localAddress,
        remoteRouterId: s.remoteOpen?.routerId,
        holdTime: neg?.holdTime,
        familiesConfigured: [...nb.cfg.families],
        familiesNegotiated: neg?.families ?? [],
        gracefulRestartPeer: !!neg?.peerGracefulRestart,
        messagesIn: s.stats.messagesIn,
        messagesOut: s.stats.messagesOut,
        updatesIn: s.stats.updatesIn,
        updatesOut: s.stats.updatesOut,
        prefixesDesired: nb.rib.desired.size,
        prefixesSent: nb.rib.sentCount(),
        heldRoutes: held.length,
        heldByFamily: heldBy,
        refusedRoutes: nb.rib.refused.size,
        received: { ...nb.received },
        flaps: s.stats.flaps,
        connectRetries: s.connectRetries,
        extendedMessage: !!neg?.ctx.extendedMessage,
        enhancedRouteRefresh: !!neg?.enhancedRouteRefresh,
        refreshesIn: s.stats.refreshesIn,
        refreshesOut: s.stats.refreshesOut,
        bytesOut: s.stats.bytesOut,
        maxMessageOut: s.stats.maxMessageOut,
        sendQueueBytes: s.writeQueue,
        sendStallResets: s.stats.sendStallResets,
        refreshesCoalesced: nb.out.refreshesCoalesced,
        lastError: s.lastError,
        lastErrorAt: s.lastErrorAt || undefined,
        md5: !nb.cfg.md5_password_env ? 'none' : this.md5Problem(nb) ? 'unavailable' : 'active',
      };
    });
  }

  adjRibOut(neighbor?: string): AdjRibOutEntry[] {
    const out: AdjRibOutEntry[] = [];
    for (const nb of this.targets(neighbor ? [neighbor] : undefined)) {
      const fams = new Set(nb.session.negotiated?.families ?? []);
      for (const e of nb.rib.desired.values()) {
        const refused = nb.rib.refused.get(e.key);
        const sent = nb.rib.sent.get(e.key);
        const status: AdjRibOutEntry['status'] = refused
          ? 'refused'
          : nb.session.established && !fams.has(e.route.family)
            ? 'held'
            : sent && sent.attrs === e.attrs
              ? 'sent'
              : 'pending';
        const entry: AdjRibOutEntry = { neighbor: nb.id, key: e.key, route: e.route, status };
        if (refused) entry.reason = refused;
        else if (status === 'held') entry.reason = `${e.route.family} not negotiated`;
        if (e.expiresAt) entry.expiresAt = e.expiresAt;
        out.push(entry);
      }
    }
    return out;
  }
}

/** validateRoute plus `next-hop self` (resolved per session). */
export function checkRoute(r: Route): void {
  if (!isFlowspecRoute(r) && (r.attrs.nextHop === 'self' || r.attrs.nextHop6 === 'self')) {
    const copy = { ...r, attrs: { ...r.attrs } };
    if (copy.attrs.nextHop === 'self') copy.attrs.nextHop = '192.0.2.1';
    if (copy.attrs.nextHop6 === 'self') copy.attrs.nextHop6 = '100::1';
    validateRoute(copy);
    return;
  }
  validateRoute(r);
}

export { badNextHop4, badNextHop6 };
