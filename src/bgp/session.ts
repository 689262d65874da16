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
 * - TCP MD5 (RFC 2385): outgoing sockets signed through md5.ts; incoming
 *   ones are keyed on the listener (listener.ts).
 * - Output: sendBlocked tells the owner to wait for drained(); output the
 *   kernel would not take, of which the peer then reads nothing for
 *   sendStallSeconds, fires SendHoldTimer_Expires (RFC 9687: no progress).
 *
 * Longer than most files because one session's connection, timers and the
 * performer of every FSM action belong together: splitting them would put
 * the session's state behind accessors. The listener and MD5 are apart.
 */
import * as net from 'node:net';
import type { Logger } from 'pino';
import { CEASE_SUB, MSG, ERR, OPEN_SUB } from './constants.ts';
import { BgpError, errorName } from './errors.ts';
import { Framer, encodeKeepalive, type RawMessage } from './header.ts';
import { decodeNotification, encodeNotification } from './notification.ts';
import { decodeOpen, encodeOpen, emptyCapabilities, negotiate, routerIdNumber, validateOpen, type Negotiated, type OpenMessage, type OpenParams } from './open.ts';
import { decodeRouteRefresh, encodeRouteRefresh } from './refresh.ts';
import { AfiSafi, type FamilyName } from './types.ts';
import { transition, type FsmEvent, type FsmState, type Transition } from './fsm.ts';
import { tcpMd5Addon, tcpMd5Info } from './md5.ts';
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
  /** Output queued in user space above which the owner stops writing (sendBlocked) and the send hold timer runs. Default 1 MiB. */
  sendQueueBytes?: number;
  /** How long queued output may make no progress before the session is reset with Cease/Out of Resources. Default 30 s. */
  sendStallSeconds?: number;
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
  /** The socket's queued output was written out ('drain'): the owner may write more. */
  drained?(): void;
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
  /** Sessions reset because the peer left output unread (Cease / Out of Resources). */
  sendStallResets: number;
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
  /** UpdateMsg: the message body. */
  body?: Buffer;
  /** RouteRefreshMsg: what was decoded (family undefined: not decodable). */
  refresh?: { family?: FamilyName; subtype: number; length: number; error?: BgpError };
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
  /** Bytes the kernel had taken when the send hold timer (re)started: progress is measured against it. */
  private sendHoldFlushed = 0;
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
    sendStallResets: 0,
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

  /**
   * Sends already-framed UPDATE messages; false if the session is not
   * Established. They go to the socket as one exact-size buffer: a small
   * message framed in a larger buffer would otherwise keep all of it alive
   * while it waits in the queue.
   */
  sendUpdates(msgs: readonly Buffer[]): boolean {
    if (this.state !== 'Established' || !this.conn) return false;
    if (msgs.length === 1) this.write(this.conn, msgs[0], MSG.UPDATE);
    else if (msgs.length > 1) this.write(this.conn, Buffer.concat(msgs), MSG.UPDATE, msgs);
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

  /** The limit of sendQueueBytes is reached: write more only after hooks.drained(). */
  get sendBlocked(): boolean {
    return this.writeQueue >= this.sendQueueBytes;
  }

  private get sendQueueBytes(): number {
    return this.opts.sendQueueBytes ?? 1 << 20;
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
    let retryMs = -1;
    let counted = false;
    let reason = ctx.reason ?? tr.reason;
    const notice = tr.notify === undefined ? undefined : tr.notify === 'event' ? ctx.error : new BgpError(tr.notify.code, tr.notify.subcode);
    if (notice) {
      if (ev !== 'ManualStop' && ev !== 'AutomaticStop') this.recordError(`sent NOTIFICATION ${errorName(notice.code, notice.subcode)}${notice.message && notice.message !== errorName(notice.code, notice.subcode) ? ': ' + notice.message : ''}`);
      reason = `${tr.reason}: sent ${errorName(notice.code, notice.subcode)}`;
    }
    // The state changes once, before the first action that needs the new state (sessionUp/Down), else after the last.
    let entered = false;
    const enter = () => {
      if (entered) return;
      entered = true;
      if (counted && this.connectRetryCounter === QUIET_RETRIES_AFTER) reason += '; further retries are logged at debug level';
      this.changeState(tr.next, reason, counted);
    };
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
            this.sendNotification(ctx.conn, new BgpError(ERR.CEASE, CEASE_SUB.COLLISION_RESOLUTION));
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
          if (notice && this.conn) {
            if (ev === 'SendHoldTimer_Expires') this.stats.sendStallResets++;
            this.sendNotification(this.conn, notice);
          }
          break;
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
          this.timers.stop('sendHold');
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
          enter();
          if (this.negotiated) {
            this.establishedAt = Date.now();
            this.stats.establishedCount++;
            this.firstSession = false;
            this.idleHold.established(this.sched.now());
            this.hooks.established?.(this.negotiated);
          }
          break;
        case 'sessionDown':
          enter();
          this.stats.flaps++;
          this.hooks.down?.(reason);
          break;
        case 'processUpdate':
          this.processUpdate(ctx.body);
          break;
        case 'processRouteRefresh':
          this.processRouteRefresh(ctx.refresh);
          break;
      }
    }
    enter();
  }

  /** A received UPDATE (Established): handed to the owner, whose BgpError resets the session (RFC 7606). */
  private processUpdate(body: Buffer | undefined): void {
    if (!body) return;
    try {
      this.hooks.update?.(body);
    } catch (e) {
      if (!(e instanceof BgpError)) throw e;
      this.dispatch('UpdateMsgErr', { error: e, reason: `bad UPDATE: ${e.message}` });
    }
  }

  /**
   * A received ROUTE-REFRESH (Established). A malformed BoRR/EoRR earns
   * ROUTE-REFRESH Message Error (RFC 7313 §5); a request for a negotiated
   * family goes to the owner; markers and other families are ignored.
   */
  private processRouteRefresh(r: EventCtx['refresh']): void {
    if (!r) return;
    if (r.error) {
      this.dispatch('UpdateMsgErr', { error: r.error, reason: `bad ROUTE-REFRESH (${r.length} bytes)` });
      return;
    }
    if (r.family && r.subtype === 0 && this.negotiated?.families.includes(r.family)) this.hooks.refresh?.(r.family);
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
      case 'sendHold': {
        // Output waited the whole stall time and the peer took none of it (RFC 9687's
        // "no progress"): reset. Some progress: watch the next period.
        const queued = this.writeQueue;
        const s = this.conn?.socket;
        if (!s || queued === 0) break;
        const flushed = s.bytesWritten - s.writableLength;
        if (flushed > this.sendHoldFlushed) {
          this.sendHoldFlushed = flushed;
          this.timers.start('sendHold', (this.opts.sendStallSeconds ?? 30) * 1000);
        } else {
          this.recordError(`the peer left ${queued} bytes unread for ${this.opts.sendStallSeconds ?? 30} s`);
          this.dispatch('SendHoldTimer_Expires', { reason: `the peer does not read: ${queued} bytes queued for ${this.opts.sendStallSeconds ?? 30} s` });
        }
        break;
      }
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
    socket.on('drain', () => {
      if (c !== this.conn) return;
      this.timers.stop('sendHold');
      this.hooks.drained?.();
    });
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

  /** Writes one message, or (parts given) several messages of one type framed back to back in `msg`. */
  private write(c: Conn, msg: Buffer, type: number, parts?: readonly Buffer[]): void {
    if (c.socket.destroyed || !c.socket.writable) return;
    c.socket.write(msg);
    if (c !== this.conn) return;
    if (this.state === 'Established' && c.socket.writableLength > 0 && !this.timers.running('sendHold')) {
      // the kernel took less than we wrote: from now on the peer must read within sendStallSeconds
      this.sendHoldFlushed = c.socket.bytesWritten - c.socket.writableLength;
      this.timers.start('sendHold', (this.opts.sendStallSeconds ?? 30) * 1000);
    }
    const n = parts?.length ?? 1;
    this.stats.messagesOut += n;
    this.stats.bytesOut += msg.length;
    for (const m of parts ?? [msg]) if (m.length > this.stats.maxMessageOut) this.stats.maxMessageOut = m.length;
    if (type === MSG.UPDATE) this.stats.updatesOut += n;
    else if (type === MSG.KEEPALIVE) this.stats.keepalivesOut += n;
    else if (type === MSG.NOTIFICATION) this.stats.notificationsOut += n;
    else if (type === MSG.ROUTE_REFRESH) this.stats.refreshesOut += n;
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
        this.dispatch('UpdateMsg', { body: m.body });
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
        try {
          const r = decodeRouteRefresh(m.body);
          // without RFC 7313 the subtype octet is reserved: every ROUTE-REFRESH is a request
          this.dispatch('RouteRefreshMsg', { refresh: { family: r.family, subtype: enhanced ? r.subtype : 0, length: m.body.length + 19 } });
        } catch (e) {
          // RFC 7313 §5: a BoRR/EoRR whose length is not 4 is an error once enhanced route refresh
          // is negotiated; any other undecodable ROUTE-REFRESH is ignored
          const marker = enhanced && e instanceof BgpError && m.body.length >= 3 && (m.body[2] === 1 || m.body[2] === 2);
          this.dispatch('RouteRefreshMsg', { refresh: { subtype: -1, length: m.body.length + 19, error: marker ? (e as BgpError) : undefined } });
        }
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
        this.sendNotification(c, new BgpError(ERR.CEASE, CEASE_SUB.COLLISION_RESOLUTION));
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
      this.sendNotification(cand, new BgpError(ERR.CEASE, CEASE_SUB.COLLISION_RESOLUTION));
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
