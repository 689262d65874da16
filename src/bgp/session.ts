/**
 * One BGP session toward one neighbor: the TCP connection(s), the timers and
 * the FSM of fsm.ts. This file is the only user of node:net in Breakwater.
 *
 * - Active connect (optionally from `local_address`) and passive accept
 *   (BgpListener hands accepted sockets to the matching session).
 * - Collision detection (RFC 4271 §6.8): a second connection that arrives in
 *   OpenSent/OpenConfirm is kept aside, sent our OPEN, and when its OPEN
 *   arrives the BGP identifiers decide which one survives; in Established the
 *   new connection is closed with Cease/Connection Collision Resolution.
 * - Every state change goes through changeState(), which logs
 *   `bgp peer state` with neighbor, from, to and reason.
 * - Received UPDATEs are counted (Breakwater does not use them); codec errors
 *   become the NOTIFICATION the RFC asks for.
 * - TCP MD5 (RFC 2385) through the optional addon src/bgp/tcp_md5.c
 *   (tcpMd5Info()): signed outgoing sockets, and a listening socket keyed
 *   per peer for passive sessions and collisions (BgpListener).
 */
import * as net from 'node:net';
import type { Logger } from 'pino';
import { loadAddon, type AddonInfo } from '../core/addon.ts';
import { canonicalAddress } from '../core/ip.ts';
import { MSG, MSG_NAMES, ERR, OPEN_SUB, AFI, SAFI } from './constants.ts';
import { BgpError, errorName } from './errors.ts';
import { Framer, encodeKeepalive, type RawMessage } from './header.ts';
import { decodeNotification, encodeNotification } from './notification.ts';
import { decodeOpen, encodeOpen, emptyCapabilities, negotiate, routerIdNumber, validateOpen, type Negotiated, type OpenMessage, type OpenParams } from './open.ts';
import { decodeRouteRefresh, encodeRouteRefresh } from './refresh.ts';
import { AfiSafi, type FamilyName } from './types.ts';
import { CEASE, transition, type FsmEvent, type FsmState, type Transition } from './fsm.ts';
import { IdleHold, LARGE_HOLD_MS, Timers, backoff, jitter, realScheduler, type Scheduler, type TimerName } from './timers.ts';

export interface SessionOptions {
  /** Name used in logs and status: the neighbor address. */
  neighbor: string;
  address: string;
  port: number;
  localAddress?: string;
  passive: boolean;
  localAsn: number;
  remoteAsn: number;
  routerId: string;
  holdTime: number;
  families: readonly FamilyName[];
  /** Advertise graceful restart (RFC 4724) with this restart time. */
  gracefulRestart?: { restartSeconds: number; restarting: boolean };
  connectRetrySeconds: number;
  /** Upper bound of the ConnectRetry / IdleHold backoff. */
  maxBackoffSeconds?: number;
  /** TCP MD5 password (RFC 2385) for outgoing connections: needs the native addon (tcpMd5Addon). Incoming ones are keyed on the listener. */
  md5Password?: string;
  sched?: Scheduler;
}

export interface SessionHooks {
  state?(from: FsmState, to: FsmState, reason: string): void;
  /** The session reached Established: send the Adj-RIB-Out, then End-of-RIB. */
  established?(neg: Negotiated): void;
  down?(reason: string): void;
  /** The peer asked for a ROUTE-REFRESH of a family. */
  refresh?(family: FamilyName): void;
  /** A received UPDATE body (counted; decoded by the owner if it wants). */
  update?(body: Buffer): void;
}

export interface SessionStats {
  messagesIn: number;
  messagesOut: number;
  updatesIn: number;
  updatesOut: number;
  keepalivesIn: number;
  keepalivesOut: number;
  refreshesIn: number;
  /** ROUTE-REFRESH messages written: requests, and BoRR/EoRR around a re-advertisement (RFC 7313). */
  refreshesOut: number;
  notificationsIn: number;
  notificationsOut: number;
  connectAttempts: number;
  establishedCount: number;
  flaps: number;
  /** Bytes of every message written (all sessions). */
  bytesOut: number;
  /** The largest message written, in bytes (> 4096 only with RFC 8654 extended messages). */
  maxMessageOut: number;
}

/** Failed connection attempts whose Connect/Active transitions are logged at info; later ones at debug. */
export const QUIET_RETRIES_AFTER = 3;
const CHURN_STATES: ReadonlySet<FsmState> = new Set(['Idle', 'Connect', 'Active', 'OpenSent']);

interface Conn {
  socket: net.Socket;
  framer: Framer;
  outgoing: boolean;
  open?: OpenMessage;
  /** Collision candidate only: hold timer while waiting for its OPEN. */
  timer?: NodeJS.Timeout;
  closed?: boolean;
}

interface EventCtx {
  error?: BgpError;
  conn?: Conn;
  reason?: string;
}

export class Session {
  readonly opts: SessionOptions;
  readonly log: Logger;
  private readonly hooks: SessionHooks;
  private readonly sched: Scheduler;
  private readonly timers: Timers;
  private readonly idleHold: IdleHold;
  state: FsmState = 'Idle';
  stateSince = Date.now();
  /** The connection the FSM runs on. */
  private conn: Conn | undefined;
  /** A second connection under collision detection (§6.8). */
  private candidate: Conn | undefined;
  private connectRetryCounter = 0;
  private stopped = true;
  private firstSession = true;
  negotiated: Negotiated | undefined;
  remoteOpen: OpenMessage | undefined;
  localAddress: string | undefined;
  lastError = '';
  lastErrorAt = 0;
  establishedAt = 0;
  readonly stats: SessionStats = {
    messagesIn: 0,
    messagesOut: 0,
    updatesIn: 0,
    updatesOut: 0,
    keepalivesIn: 0,
    keepalivesOut: 0,
    refreshesIn: 0,
    refreshesOut: 0,
    notificationsIn: 0,
    notificationsOut: 0,
    connectAttempts: 0,
    establishedCount: 0,
    flaps: 0,
    bytesOut: 0,
    maxMessageOut: 0,
  };
  private dispatching = false;
  private readonly queue: Array<[FsmEvent, EventCtx]> = [];

  constructor(opts: SessionOptions, log: Logger, hooks: SessionHooks = {}) {
    this.opts = opts;
    this.log = log;
    this.hooks = hooks;
    this.sched = opts.sched ?? realScheduler;
    this.timers = new Timers((n) => this.onTimer(n), this.sched);
    this.idleHold = new IdleHold(opts.connectRetrySeconds * 1000, (opts.maxBackoffSeconds ?? 120) * 1000, 60_000);
  }

  // ------------------------------------------------------------ control

  start(): void {
    this.stopped = false;
    this.dispatch(this.opts.passive ? 'ManualStart_Passive' : 'ManualStart', { reason: 'start' });
  }

  /**
   * Stops the session. graceful: close TCP without NOTIFICATION so a peer
   * with graceful restart keeps our routes; otherwise Cease/Administrative
   * Shutdown (or Peer De-configured when `deconfigured`). Resolves once the
   * socket is closed (bounded by 2 s).
   */
  async stop(opts: { graceful?: boolean; deconfigured?: boolean } = {}): Promise<void> {
    this.stopped = true;
    this.timers.stop('idleHold');
    const sock = this.conn?.socket;
    this.dropCandidate();
    this.dispatch(opts.graceful ? 'ManualStop_Graceful' : opts.deconfigured ? 'AutomaticStop' : 'ManualStop', { reason: 'stop' });
    this.timers.stopAll();
    if (sock && !sock.destroyed) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          sock.destroy();
          resolve();
        }, 2000);
        sock.once('close', () => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** A connection accepted by the listener for this neighbor. */
  acceptIncoming(socket: net.Socket): void {
    if (this.stopped) {
      socket.destroy();
      return;
    }
    const c = this.wrap(socket, false);
    this.dispatch('TcpConnectionConfirmed', { conn: c, reason: `incoming connection from ${socket.remoteAddress}` });
  }

  get established(): boolean {
    return this.state === 'Established';
  }

  /** Consecutive failed connection attempts (ConnectRetryCounter); 0 once Established. */
  get connectRetries(): number {
    return this.connectRetryCounter;
  }

  /** Sends already-framed UPDATE messages; false if the session is not Established. */
  sendUpdates(msgs: readonly Buffer[]): boolean {
    if (this.state !== 'Established' || !this.conn) return false;
    for (const m of msgs) this.write(this.conn, m, MSG.UPDATE);
    return true;
  }

  /** Asks the peer to re-send a family (RFC 2918). */
  requestRefresh(family: FamilyName): boolean {
    if (this.state !== 'Established' || !this.conn || !this.negotiated?.routeRefresh) return false;
    const f = AfiSafi[family];
    this.write(this.conn, encodeRouteRefresh(f.afi, f.safi), MSG.ROUTE_REFRESH);
    return true;
  }

  /**
   * RFC 7313 §4: Beginning ('begin', subtype 1) or End ('end', subtype 2) of
   * Route Refresh around the re-advertisement of a family. Sent only when
   * both sides negotiated enhanced route refresh; false otherwise.
   */
  sendRefreshMarker(family: FamilyName, which: 'begin' | 'end'): boolean {
    if (this.state !== 'Established' || !this.conn || !this.negotiated?.enhancedRouteRefresh) return false;
    const f = AfiSafi[family];
    this.write(this.conn, encodeRouteRefresh(f.afi, f.safi, which === 'begin' ? 1 : 2), MSG.ROUTE_REFRESH);
    return true;
  }

  /** Bytes queued in the socket (backpressure). */
  get writeQueue(): number {
    return this.conn?.socket.writableLength ?? 0;
  }

  // ------------------------------------------------------------ FSM core

  private dispatch(ev: FsmEvent, ctx: EventCtx = {}): void {
    this.queue.push([ev, ctx]);
    if (this.dispatching) return;
    this.dispatching = true;
    try {
      for (let i = 0; i < 10000 && this.queue.length; i++) {
        const [e, c] = this.queue.shift()!;
        this.apply(e, c, transition(this.state, e));
      }
    } finally {
      this.dispatching = false;
    }
  }

  private apply(ev: FsmEvent, ctx: EventCtx, tr: Transition): void {
    const prev = this.state;
    let retryMs = -1;
    let counted = false;
    if (tr.notify !== undefined && this.conn) {
      const n = tr.notify === 'event' ? ctx.error : new BgpError(tr.notify.code, tr.notify.subcode);
      if (n) this.sendNotification(this.conn, n);
    }
    let reason = ctx.reason ?? tr.reason;
    if (tr.notify !== undefined) {
      const n = tr.notify === 'event' ? ctx.error : new BgpError(tr.notify.code, tr.notify.subcode);
      if (n && ev !== 'ManualStop' && ev !== 'AutomaticStop') this.recordError(`sent NOTIFICATION ${errorName(n.code, n.subcode)}${n.message && n.message !== errorName(n.code, n.subcode) ? ': ' + n.message : ''}`);
      if (n) reason = `${tr.reason}: sent ${errorName(n.code, n.subcode)}`;
    }
    for (const a of tr.actions) {
      switch (a) {
        case 'connect':
          this.connect();
          break;
        case 'dropConnection':
          this.closeConn(this.conn);
          this.conn = undefined;
          break;
        case 'acceptConnection':
          if (ctx.conn) this.conn = ctx.conn;
          break;
        case 'refuseConnection':
          if (ctx.conn) this.closeConn(ctx.conn);
          break;
        case 'trackCollision':
          if (ctx.conn) this.trackCollision(ctx.conn);
          break;
        case 'refuseCollision':
          if (ctx.conn) {
            this.sendNotification(ctx.conn, new BgpError(ERR.CEASE, CEASE.COLLISION));
            this.closeConn(ctx.conn);
          }
          break;
        case 'adoptCollision':
          if (this.candidate) {
            const c = this.candidate;
            this.candidate = undefined;
            if (c.timer) clearTimeout(c.timer);
            this.conn = c;
            this.remoteOpen = c.open;
            this.negotiated = c.open ? negotiate(this.openParams(), c.open) : undefined;
            if (this.negotiated) c.framer.extended = this.negotiated.ctx.extendedMessage;
          }
          break;
        case 'sendOpen':
          if (this.conn) this.write(this.conn, encodeOpen(this.openParams()), MSG.OPEN);
          break;
        case 'sendKeepalive':
          if (this.conn) this.write(this.conn, encodeKeepalive(), MSG.KEEPALIVE);
          break;
        case 'sendNotification':
          break; // done above, before the connection is dropped
        case 'startConnectRetryTimer':
          if (!this.opts.passive && !this.stopped) {
            retryMs = backoff(this.opts.connectRetrySeconds * 1000, this.connectRetryCounter, (this.opts.maxBackoffSeconds ?? 120) * 1000);
            this.timers.start('connectRetry', retryMs);
          }
          break;
        case 'stopConnectRetryTimer':
          this.timers.stop('connectRetry');
          break;
        case 'startHoldTimerLarge':
          this.timers.start('hold', LARGE_HOLD_MS);
          break;
        case 'startHoldTimer':
        case 'restartHoldTimer': {
          const h = this.negotiated?.holdTime ?? 0;
          if (h > 0) this.timers.start('hold', h * 1000);
          else this.timers.stop('hold');
          break;
        }
        case 'startKeepaliveTimer':
        case 'restartKeepaliveTimer': {
          const h = this.negotiated?.holdTime ?? 0;
          if (h > 0) this.timers.start('keepalive', jitter(Math.max(1000, Math.floor((h * 1000) / 3))));
          else this.timers.stop('keepalive');
          break;
        }
        case 'stopTimers':
          this.timers.stop('hold');
          this.timers.stop('keepalive');
          break;
        case 'resetConnectRetryCounter':
          this.connectRetryCounter = 0;
          break;
        case 'incrementConnectRetryCounter':
          this.connectRetryCounter++;
          counted = true;
          if (retryMs >= 0) {
            reason += ` (attempt ${this.connectRetryCounter}, retry in ${(retryMs / 1000).toFixed(1)} s)`;
          }
          break;
        case 'dampIdleHold':
          if (!this.stopped) {
            const ms = this.idleHold.next(this.sched.now());
            this.timers.start('idleHold', ms);
            reason += ` (restart in ${(ms / 1000).toFixed(1)} s)`;
          }
          break;
        case 'releaseResources':
          this.dropCandidate();
          break;
        case 'sessionUp':
          break; // after the state change below
        case 'sessionDown':
          break;
        case 'processUpdate':
          break; // counted where the message is read
        case 'processRouteRefresh':
          break;
      }
    }
    if (counted && this.connectRetryCounter === QUIET_RETRIES_AFTER) reason += '; further retries are logged at debug level';
    this.changeState(tr.next, reason, counted);
    if (tr.actions.includes('sessionDown') || (prev === 'Established' && tr.next !== 'Established')) {
      this.stats.flaps++;
      this.hooks.down?.(reason);
    }
    if (tr.actions.includes('sessionUp') && this.negotiated) {
      this.establishedAt = Date.now();
      this.stats.establishedCount++;
      this.firstSession = false;
      this.idleHold.established(this.sched.now());
      this.hooks.established?.(this.negotiated);
    }
  }

  /** The one place the state changes. */
  private changeState(to: FsmState, reason: string, counted = false): void {
    const from = this.state;
    if (from === to) return;
    this.state = to;
    this.stateSince = Date.now();
    // A peer that keeps failing: its first failed attempts at info, then the
    // Idle/Connect/Active/OpenSent churn at debug until it comes up or is stopped.
    const n = this.connectRetryCounter;
    const churn = CHURN_STATES.has(from) && CHURN_STATES.has(to);
    const quiet = churn && (n > QUIET_RETRIES_AFTER || (n === QUIET_RETRIES_AFTER && !counted));
    this.log[quiet ? 'debug' : 'info']({ event: 'bgp peer state', neighbor: this.opts.neighbor, from, to, reason }, 'bgp peer state');
    this.hooks.state?.(from, to, reason);
  }

  private onTimer(n: TimerName): void {
    switch (n) {
      case 'connectRetry':
        this.dispatch('ConnectRetryTimer_Expires');
        break;
      case 'hold':
        this.dispatch('HoldTimer_Expires');
        break;
      case 'keepalive':
        this.dispatch('KeepaliveTimer_Expires');
        break;
      case 'idleHold':
        if (!this.stopped) this.dispatch(this.opts.passive ? 'AutomaticStart_Passive' : 'AutomaticStart', { reason: 'idle hold expired' });
        break;
    }
  }

  private recordError(msg: string): void {
    this.lastError = msg;
    this.lastErrorAt = Date.now();
  }

  /** Records a problem found outside the session (TCP MD5 set-up, refused incoming connection). */
  noteError(msg: string): void {
    this.recordError(msg);
  }

  // ------------------------------------------------------------ OPEN

  openParams(): OpenParams {
    const caps = emptyCapabilities();
    caps.multiprotocol = this.opts.families.map((f) => AfiSafi[f]);
    caps.routeRefresh = true;
    caps.enhancedRouteRefresh = true;
    caps.extendedMessage = true;
    caps.as4 = this.opts.localAsn;
    if (this.opts.gracefulRestart) {
      caps.gracefulRestart = {
        restarting: this.opts.gracefulRestart.restarting && this.firstSession,
        notification: false,
        time: Math.min(4095, this.opts.gracefulRestart.restartSeconds),
        // F bit set: the peer keeps our routes across our restart until End-of-RIB.
        families: this.opts.families.map((f) => ({ ...AfiSafi[f], forwarding: true })),
      };
    }
    return { asn: this.opts.localAsn, holdTime: this.opts.holdTime, routerId: this.opts.routerId, capabilities: caps };
  }

  /** Decodes and validates an OPEN; returns the error to send, if any. */
  private checkOpen(body: Buffer): { open?: OpenMessage; error?: BgpError } {
    try {
      const open = decodeOpen(body);
      validateOpen(open, { peerAs: this.opts.remoteAsn, localRouterId: this.opts.routerId });
      return { open };
    } catch (e) {
      if (e instanceof BgpError) return { error: e };
      return { error: new BgpError(ERR.OPEN, 0, Buffer.alloc(0), (e as Error).message) };
    }
  }

  // ------------------------------------------------------------ connections

  private wrap(socket: net.Socket, outgoing: boolean): Conn {
    const c: Conn = { socket, framer: new Framer(), outgoing };
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(c, chunk));
    socket.on('error', (e) => {
      if (c === this.conn || c === this.candidate) this.log.debug({ neighbor: this.opts.neighbor, err: e.message }, 'bgp socket error');
    });
    socket.on('close', () => this.onClose(c));
    return c;
  }

  private connect(): void {
    this.stats.connectAttempts++;
    const family = net.isIPv6(this.opts.address) ? 6 : 4;
    let socket: net.Socket;
    if (this.opts.md5Password !== undefined) {
      const addon = tcpMd5Addon();
      if (!this.opts.md5Password) {
        this.recordError('TCP MD5 is configured but its password variable is not set');
        setImmediate(() => this.dispatch('TcpConnectionFails', { reason: 'TCP MD5 password missing' }));
        return;
      }
      if (!addon) {
        // never silently open an unsigned session the operator asked to sign
        this.recordError(`TCP MD5 is configured but unavailable: ${tcpMd5Info().error}`);
        setImmediate(() => this.dispatch('TcpConnectionFails', { reason: 'TCP MD5 unavailable' }));
        return;
      }
      try {
        const fd = addon.md5Socket(this.opts.address, this.opts.md5Password, this.opts.localAddress);
        socket = new net.Socket({ fd, readable: true, writable: true });
        socket.connect({ host: this.opts.address, port: this.opts.port });
      } catch (e) {
        this.recordError(`TCP MD5 socket: ${(e as Error).message}`);
        setImmediate(() => this.dispatch('TcpConnectionFails', { reason: 'TCP MD5 socket failed' }));
        return;
      }
    } else {
      socket = net.connect({ host: this.opts.address, port: this.opts.port, localAddress: this.opts.localAddress, family });
    }
    const c = this.wrap(socket, true);
    this.conn = c;
    socket.once('connect', () => {
      if (c.closed) {
        socket.destroy();
        return;
      }
      if (this.conn !== c) {
        // superseded (incoming connection adopted meanwhile)
        if (this.candidate === undefined && (this.state === 'OpenSent' || this.state === 'OpenConfirm')) {
          this.dispatch('Tcp_CR_Acked', { conn: c, reason: 'outgoing connection during OPEN exchange' });
        } else socket.destroy();
        return;
      }
      this.localAddress = socket.localAddress;
      this.dispatch('Tcp_CR_Acked', { reason: `connected to ${this.opts.address} from ${socket.localAddress}` });
    });
  }

  private onClose(c: Conn): void {
    if (c === this.candidate) {
      this.dropCandidate();
      return;
    }
    if (c !== this.conn) return;
    const reason = this.state === 'Connect' ? 'connection failed' : 'connection closed by peer';
    if (this.state === 'Connect') this.recordError(`connect to ${this.opts.address} port ${this.opts.port} failed`);
    else if (this.state !== 'Idle' && this.state !== 'Active') this.recordError('connection closed by peer');
    this.conn = undefined;
    this.dispatch('TcpConnectionFails', { reason });
  }

  private closeConn(c: Conn | undefined): void {
    if (!c) return;
    if (c.timer) clearTimeout(c.timer);
    c.closed = true;
    const s = c.socket;
    if (s.destroyed) return;
    s.end();
    // bounded: a peer that never closes its side does not keep the socket
    setTimeout(() => s.destroy(), 1000).unref();
  }

  private write(c: Conn, msg: Buffer, type: number): void {
    if (c.socket.destroyed || !c.socket.writable) return;
    c.socket.write(msg);
    if (c !== this.conn) return;
    this.stats.messagesOut++;
    this.stats.bytesOut += msg.length;
    if (msg.length > this.stats.maxMessageOut) this.stats.maxMessageOut = msg.length;
    if (type === MSG.UPDATE) this.stats.updatesOut++;
    else if (type === MSG.KEEPALIVE) this.stats.keepalivesOut++;
    else if (type === MSG.NOTIFICATION) this.stats.notificationsOut++;
    else if (type === MSG.ROUTE_REFRESH) this.stats.refreshesOut++;
  }

  private sendNotification(c: Conn, e: BgpError): void {
    this.log.debug({ neighbor: this.opts.neighbor, code: e.code, subcode: e.subcode }, `bgp sending NOTIFICATION ${errorName(e.code, e.subcode)}`);
    this.write(c, encodeNotification(e.code, e.subcode, e.data), MSG.NOTIFICATION);
  }

  private onData(c: Conn, chunk: Buffer): void {
    let msgs: RawMessage[];
    try {
      msgs = c.framer.push(chunk);
    } catch (e) {
      const err = e instanceof BgpError ? e : new BgpError(ERR.HEADER, 1);
      if (c === this.candidate) {
        this.sendNotification(c, err);
        this.dropCandidate();
      } else if (c === this.conn) this.dispatch('BGPHeaderErr', { error: err });
      return;
    }
    for (const m of msgs) {
      if (c === this.candidate) this.onCandidateMessage(c, m);
      else if (c === this.conn) this.onMessage(c, m);
      else return;
    }
  }

  private onMessage(c: Conn, m: RawMessage): void {
    this.stats.messagesIn++;
    switch (m.type) {
      case MSG.OPEN: {
        const { open, error } = this.checkOpen(m.body);
        if (error) {
          this.dispatch('BGPOpenMsgErr', { error, reason: `bad OPEN: ${error.message}` });
          return;
        }
        c.open = open;
        this.remoteOpen = open;
        this.negotiated = negotiate(this.openParams(), open!);
        c.framer.extended = this.negotiated.ctx.extendedMessage;
        if (this.candidate?.open && this.resolveCollision()) return;
        this.dispatch('BGPOpen', { reason: `OPEN from ${open!.routerId} AS${open!.asn} hold ${open!.holdTime}` });
        return;
      }
      case MSG.KEEPALIVE:
        this.stats.keepalivesIn++;
        this.dispatch('KeepAliveMsg');
        return;
      case MSG.UPDATE:
        this.stats.updatesIn++;
        if (this.state === 'Established') {
          try {
            this.hooks.update?.(m.body);
          } catch (e) {
            if (e instanceof BgpError) {
              this.dispatch('UpdateMsgErr', { error: e, reason: `bad UPDATE: ${e.message}` });
              return;
            }
            throw e;
          }
        }
        this.dispatch('UpdateMsg');
        return;
      case MSG.NOTIFICATION: {
        this.stats.notificationsIn++;
        let text = 'malformed NOTIFICATION';
        let ver = false;
        try {
          const n = decodeNotification(m.body);
          text = n.name + (n.shutdownMessage ? `: "${n.shutdownMessage}"` : '');
          ver = n.code === ERR.OPEN && n.subcode === OPEN_SUB.UNSUPPORTED_VERSION;
        } catch {
          /* keep generic text */
        }
        this.recordError(`received NOTIFICATION ${text}`);
        this.dispatch(ver ? 'NotifMsgVerErr' : 'NotifMsg', { reason: `received NOTIFICATION ${text}` });
        return;
      }
      case MSG.ROUTE_REFRESH: {
        this.stats.refreshesIn++;
        const enhanced = !!this.negotiated?.enhancedRouteRefresh;
        let fam: FamilyName | undefined;
        let subtype = 0;
        try {
          const r = decodeRouteRefresh(m.body);
          fam = r.family;
          // without RFC 7313 the subtype octet is reserved: every ROUTE-REFRESH is a request
          subtype = enhanced ? r.subtype : 0;
        } catch (e) {
          // RFC 7313 §5: a BoRR/EoRR whose length is not 4 earns ROUTE-REFRESH Message Error /
          // Invalid Message Length once enhanced route refresh is negotiated; otherwise ignored
          if (enhanced && e instanceof BgpError && this.state === 'Established' && m.body.length >= 3 && (m.body[2] === 1 || m.body[2] === 2)) {
            this.dispatch('UpdateMsgErr', { error: e, reason: `bad ROUTE-REFRESH (${m.body.length + 19} bytes)` });
          }
          return;
        }
        this.dispatch('RouteRefreshMsg');
        if (fam && subtype === 0 && this.state === 'Established' && this.negotiated?.families.includes(fam)) this.hooks.refresh?.(fam);
        return;
      }
    }
  }

  // ------------------------------------------------------------ collision detection (§6.8)

  private trackCollision(c: Conn): void {
    if (this.candidate) {
      // a third connection: keep the newest attempt only
      this.dropCandidate();
    }
    this.candidate = c;
    // the peer waits for our OPEN on its connection before deciding
    c.socket.write(encodeOpen(this.openParams()));
    c.timer = setTimeout(() => this.dropCandidate(), LARGE_HOLD_MS);
    c.timer.unref();
  }

  private onCandidateMessage(c: Conn, m: RawMessage): void {
    if (m.type === MSG.OPEN) {
      const { open, error } = this.checkOpen(m.body);
      if (error) {
        this.sendNotification(c, error);
        this.dropCandidate();
        return;
      }
      c.open = open;
      if (this.state === 'Established') {
        this.sendNotification(c, new BgpError(ERR.CEASE, CEASE.COLLISION));
        this.dropCandidate();
        return;
      }
      if (this.conn?.open || this.state === 'OpenSent' || this.state === 'OpenConfirm') this.resolveCollision();
      return;
    }
    if (m.type === MSG.NOTIFICATION) this.dropCandidate();
  }

  /**
   * Both OPENs known (the peer's router id): the connection initiated by the
   * side with the higher BGP identifier survives. Returns true when the
   * current connection was dumped.
   */
  private resolveCollision(): boolean {
    const cand = this.candidate;
    const openPeer = cand?.open ?? this.conn?.open;
    if (!cand || !openPeer) return false;
    const local = routerIdNumber(this.opts.routerId);
    const remote = routerIdNumber(openPeer.routerId);
    // Keep the connection opened by the speaker with the higher identifier.
    const keepOutgoing = local > remote;
    // Two connections in the same direction: the newer one (the peer restarted).
    const candidateWins = this.conn === undefined || cand.outgoing === this.conn.outgoing ? true : cand.outgoing === keepOutgoing;
    if (candidateWins && cand.open) {
      this.dispatch('OpenCollisionDump', { reason: `connection collision: keeping the ${cand.outgoing ? 'outgoing' : 'incoming'} connection` });
      return true;
    }
    if (!candidateWins) {
      this.sendNotification(cand, new BgpError(ERR.CEASE, CEASE.COLLISION));
      this.dropCandidate();
    }
    return false;
  }

  private dropCandidate(): void {
    const c = this.candidate;
    if (!c) return;
    this.candidate = undefined;
    this.closeConn(c);
  }
}

// ------------------------------------------------------------ TCP MD5 (RFC 2385)

/** The optional native addon built from src/bgp/tcp_md5.c (see the comment there). */
export interface TcpMd5Addon {
  /** An unconnected socket with the peer's key set, bound to `local` if given. */
  md5Socket(peer: string, key: string, local?: string): number;
  /** A listening socket on host:port ("" = dual stack) with the keys installed before listen(). */
  md5Listen?(host: string, port: number, keys?: Array<[peer: string, key: string]>, backlog?: number): number;
  /** Adds, replaces or (key "") removes a peer's key on a socket. */
  md5SetKey?(fd: number, peer: string, key: string): void;
}

export type TcpMd5Info = AddonInfo<TcpMd5Addon>;

/** Name of the addon inside the single executable (scripts/build-sea.ts). */
export const TCP_MD5_ASSET = 'tcp_md5.node';

/**
 * The optional TCP MD5 addon and where it came from, looked up once per
 * thread and value of $BREAKWATER_TCP_MD5_ADDON: that path if set; else,
 * inside the single executable, the embedded copy; else dist/tcp_md5.node
 * (source). See src/core/addon.ts.
 */
export function tcpMd5Info(): TcpMd5Info {
  return loadAddon<TcpMd5Addon>({
    asset: TCP_MD5_ASSET,
    env: 'BREAKWATER_TCP_MD5_ADDON',
    what: 'TCP MD5 addon',
    exports: ['md5Socket'],
    fromSource: () => new URL('../../dist/tcp_md5.node', import.meta.url),
    beside: () => new URL('./tcp_md5.node', import.meta.url),
    build: 'npm run build:native',
  });
}

/** The addon, or null (tcpMd5Info().error says why). */
export function tcpMd5Addon(): TcpMd5Addon | null {
  return tcpMd5Info().addon;
}

/** Keys for the listening socket: canonical peer address → password. */
export interface ListenMd5 {
  addon: TcpMd5Addon;
  keys: ReadonlyMap<string, string>;
}

/** What the listener does with a connection: the session, a refusal reason, or unknown (undefined). */
export type ListenRoute = Session | { refuse: string } | undefined;

/**
 * Accepts passive connections (`bgp.listen`) and hands each to the session
 * whose neighbor address matches; unknown sources are refused with
 * Cease/Connection Rejected. With TCP MD5 the socket is created by the addon
 * with a key per MD5 peer (the kernel drops their unsigned or wrongly signed
 * SYNs, and accepted sockets inherit the key); setKey() changes keys on the
 * live socket.
 */
export class BgpListener {
  private server: net.Server | undefined;
  private readonly log: Logger;
  private readonly route: (remote: string) => ListenRoute;
  private md5: { addon: TcpMd5Addon; fd: number; keys: Map<string, string> } | undefined;
  refused = 0;

  constructor(log: Logger, route: (remote: string) => ListenRoute) {
    this.log = log;
    this.route = route;
  }

  /** true when this listener was created with TCP MD5 support. */
  get signing(): boolean {
    return this.md5 !== undefined;
  }

  /** true when incoming connections from `peer` (canonical address) must carry its TCP MD5 signature. */
  keyed(peer: string): boolean {
    return this.md5?.keys.has(peer) ?? false;
  }

  listen(host: string, port: number, md5?: ListenMd5): Promise<{ address: string; port: number }> {
    return new Promise((resolve, reject) => {
      const srv = net.createServer((sock) => this.onConnection(sock));
      const failed = (e: Error) => {
        this.md5 = undefined;
        reject(e);
      };
      srv.once('error', failed);
      const ready = () => {
        srv.off('error', failed);
        srv.on('error', (e) => this.log.warn({ err: e.message }, 'bgp listener error'));
        this.server = srv;
        const a = srv.address() as net.AddressInfo;
        this.log.info({ address: a.address, port: a.port, md5_peers: this.md5?.keys.size }, 'bgp listening');
        resolve({ address: a.address, port: a.port });
      };
      if (!md5) {
        srv.listen({ host: host || '::', port, ipv6Only: false }, ready);
        return;
      }
      if (!md5.addon.md5Listen || !md5.addon.md5SetKey) {
        reject(new Error('the TCP MD5 addon is too old for passive sessions (no md5Listen): rebuild it from src/bgp/tcp_md5.c'));
        return;
      }
      let fd: number;
      try {
        fd = md5.addon.md5Listen(host === '::' ? '' : host, port, [...md5.keys]);
      } catch (e) {
        reject(new Error(`bgp listen ${host || '::'} port ${port} with TCP MD5: ${(e as Error).message}`));
        return;
      }
      this.md5 = { addon: md5.addon, fd, keys: new Map(md5.keys) };
      srv.listen({ fd }, ready);
    });
  }

  /** Adds, replaces (key) or removes (null) a peer's TCP MD5 key on the listening socket. */
  setKey(peer: string, key: string | null): void {
    const m = this.md5;
    if (!m || !this.server) throw new Error('the listener was not created with TCP MD5');
    if (key === null) {
      if (!m.keys.has(peer)) return;
      m.addon.md5SetKey!(m.fd, peer, '');
      m.keys.delete(peer);
      return;
    }
    if (m.keys.get(peer) === key) return;
    m.addon.md5SetKey!(m.fd, peer, key);
    m.keys.set(peer, key);
  }

  /** Peers whose key is installed. */
  keyedPeers(): string[] {
    return [...(this.md5?.keys.keys() ?? [])];
  }

  private onConnection(sock: net.Socket): void {
    const remote = normalizeAddress(sock.remoteAddress ?? '');
    const s = this.route(remote);
    if (!(s instanceof Session)) {
      this.refused++;
      if (s) this.log.warn({ remote, reason: s.refuse }, 'bgp incoming connection refused');
      else this.log.warn({ remote }, 'bgp connection from an unknown address refused');
      sock.on('error', () => {});
      sock.end(encodeNotification(ERR.CEASE, CEASE.CONNECTION_REJECTED));
      setTimeout(() => sock.destroy(), 1000).unref();
      return;
    }
    s.acceptIncoming(sock);
  }

  close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    this.md5 = undefined;
    if (!s) return Promise.resolve();
    // close() waits for accepted connections; the sessions close those, bounded here
    return new Promise((resolve) => {
      const t = setTimeout(resolve, 3000);
      t.unref();
      s.close(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}

/** Canonical address text: "::ffff:192.0.2.1" → "192.0.2.1", IPv6 compressed lower case. */
/** A neighbor's identity: core/ip.ts canonicalAddress (the one normalisation of config, mitigation and the speaker). */
export function normalizeAddress(a: string): string {
  return canonicalAddress(a);
}

/** Family keys for End-of-RIB and refresh. */
export const FAMILY_AFI_SAFI = { AFI, SAFI };
export { MSG_NAMES };
