/**
 * The BGP finite state machine of RFC 4271 §8 as a pure, total table:
 * `transition(state, event) → { next, actions, notify?, reason }`.
 * session.ts performs the actions; nothing here does I/O or keeps time.
 *
 *           ManualStart/AutomaticStart              ManualStart_Passive/AutomaticStart_Passive
 *   Idle ─────────────────────────────▶ Connect      Idle ───────────────────────────▶ Active
 *   Connect ── Tcp_CR_Acked / TcpConnectionConfirmed ──▶ OpenSent  (send OPEN)
 *   Connect ── TcpConnectionFails ──▶ Active  (ConnectRetry timer with backoff reconnects)
 *   Active  ── ConnectRetryTimer_Expires ──▶ Connect
 *   OpenSent ── BGPOpen ──▶ OpenConfirm  (send KEEPALIVE)
 *   OpenConfirm ── KeepAliveMsg ──▶ Established
 *   any error ──▶ Idle (NOTIFICATION where the RFC sends one; IdleHold timer damps restarts)
 *
 * Deviations, all allowed by the RFC's optional attributes:
 * - No DelayOpen timer (DelayOpen = FALSE).
 * - Connect + TcpConnectionFails goes to Active and keeps the ConnectRetry
 *   timer running (what the RFC does with DelayOpen), so an unreachable peer
 *   shows as Active and is retried with exponential backoff: every failed
 *   attempt (refused, timed out, closed before the OPEN) starts the timer
 *   with the current ConnectRetryCounter, then increments it; the timer runs
 *   base · 2^counter (capped, jittered). Established resets the counter, so
 *   does ManualStart (and a changed neighbor starts a fresh session).
 * - Passive start (PassiveTcpEstablishment) does not start the ConnectRetry
 *   timer: a passive neighbor never connects out.
 * - Restarts after errors go through Idle with the IdleHold timer
 *   (DampPeerOscillations); the session turns its expiry into AutomaticStart.
 * - Collision detection (§6.8): a second connection in OpenSent/OpenConfirm
 *   is tracked by the session; when it wins, OpenCollisionDump closes the
 *   current connection with Cease/Connection Collision Resolution and the
 *   winning connection (OPENs already exchanged) continues in OpenConfirm.
 * - RouteRefreshMsg (RFC 2918) is an extra event, valid in Established.
 * - ManualStop_Graceful closes the connection without a NOTIFICATION, so a
 *   peer that negotiated graceful restart (RFC 4724) keeps our routes.
 * - SendHoldTimer_Expires (after RFC 9687's Send Hold Timer): output stayed
 *   queued above the neighbor's limit for its stall time, the peer does not
 *   read; Established resets with Cease / Out of Resources (RFC 4486 subcode 8)
 *   so its queue is freed. Other states ignore it (the timer runs only while
 *   Established).
 */

import { CEASE_SUB as CEASE, ERR } from './constants.ts';

export const STATES = ['Idle', 'Connect', 'Active', 'OpenSent', 'OpenConfirm', 'Established'] as const;
export type FsmState = (typeof STATES)[number];

export const EVENTS = [
  'ManualStart', // 1
  'ManualStop', // 2
  'AutomaticStart', // 3
  'ManualStart_Passive', // 4
  'AutomaticStart_Passive', // 5
  'AutomaticStop', // 8
  'ConnectRetryTimer_Expires', // 9
  'HoldTimer_Expires', // 10
  'KeepaliveTimer_Expires', // 11
  'Tcp_CR_Acked', // 16: our outgoing connection is up
  'TcpConnectionConfirmed', // 17: we accepted the peer's connection
  'TcpConnectionFails', // 18
  'BGPOpen', // 19: a valid OPEN
  'BGPHeaderErr', // 21
  'BGPOpenMsgErr', // 22
  'OpenCollisionDump', // 23
  'NotifMsgVerErr', // 24
  'NotifMsg', // 25
  'KeepAliveMsg', // 26
  'UpdateMsg', // 27
  'UpdateMsgErr', // 28
  'RouteRefreshMsg', // RFC 2918
  'ManualStop_Graceful', // stop without NOTIFICATION (graceful restart)
  'SendHoldTimer_Expires', // RFC 9687 idea: output stayed queued above the limit (the peer does not read)
] as const;
export type FsmEvent = (typeof EVENTS)[number];

export const ACTIONS = [
  'connect', // open the outgoing TCP connection
  'dropConnection', // close the TCP connection
  'acceptConnection', // the connection the event brought in becomes the session's connection
  'refuseConnection', // close the connection the event brought in (Idle)
  'trackCollision', // keep the new connection aside until §6.8 decides (OpenSent/OpenConfirm)
  'refuseCollision', // close the new connection with Cease/7 (Established)
  'adoptCollision', // the tracked connection replaces the current one
  'sendOpen',
  'sendKeepalive',
  'sendNotification', // code/subcode in Transition.notify
  'startConnectRetryTimer', // (re)start with the backoff interval
  'stopConnectRetryTimer',
  'startHoldTimerLarge', // 4 minutes while waiting for OPEN
  'startHoldTimer', // negotiated hold time (0 = none)
  'restartHoldTimer',
  'startKeepaliveTimer', // hold / 3
  'restartKeepaliveTimer',
  'stopTimers', // hold and keepalive
  'resetConnectRetryCounter',
  'incrementConnectRetryCounter',
  'dampIdleHold', // schedule an automatic restart after the (growing) IdleHold time
  'releaseResources',
  'sessionUp', // send the Adj-RIB-Out then End-of-RIB
  'sessionDown',
  'processUpdate',
  'processRouteRefresh',
] as const;
export type FsmAction = (typeof ACTIONS)[number];

/** NOTIFICATION to send; 'event' means the error carried by the event (BgpError). */
export type FsmNotify = { code: number; subcode: number } | 'event';

export interface Transition {
  readonly next: FsmState;
  readonly actions: readonly FsmAction[];
  readonly notify?: FsmNotify;
  /** Short human reason, logged with the state change. */
  readonly reason: string;
}

/** RFC 6608 FSM error subcodes. */
const FSM_SUB: Partial<Record<FsmState, number>> = { OpenSent: 1, OpenConfirm: 2, Established: 3 };

/** A transition; with a NOTIFICATION, 'sendNotification' comes first (before the connection is dropped). */
const t = (next: FsmState, reason: string, actions: FsmAction[], notify?: FsmNotify): Transition =>
  Object.freeze(
    notify === undefined
      ? { next, actions: Object.freeze(actions), reason }
      : { next, actions: Object.freeze(['sendNotification' as FsmAction, ...actions.filter((a) => a !== 'sendNotification')]), notify, reason },
  );

/** Errors after which the peer is restarted only after the IdleHold time. */
const TO_IDLE_DAMPED: FsmAction[] = ['stopConnectRetryTimer', 'stopTimers', 'dropConnection', 'releaseResources', 'incrementConnectRetryCounter', 'dampIdleHold'];
// sessionDown last: it reports the reason the other actions completed (restart delay)
const TO_IDLE_DOWN: FsmAction[] = ['stopConnectRetryTimer', 'stopTimers', 'dropConnection', 'releaseResources', 'incrementConnectRetryCounter', 'dampIdleHold', 'sessionDown'];
const STOP: FsmAction[] = ['stopConnectRetryTimer', 'stopTimers', 'dropConnection', 'releaseResources', 'resetConnectRetryCounter'];
const STOP_DOWN: FsmAction[] = ['stopConnectRetryTimer', 'stopTimers', 'dropConnection', 'releaseResources', 'resetConnectRetryCounter', 'sessionDown'];

function idle(ev: FsmEvent): Transition {
  switch (ev) {
    case 'ManualStart':
      return t('Connect', 'start', ['resetConnectRetryCounter', 'startConnectRetryTimer', 'connect']);
    case 'AutomaticStart':
      return t('Connect', 'automatic restart', ['startConnectRetryTimer', 'connect']);
    case 'ManualStart_Passive':
      return t('Active', 'start (passive)', ['resetConnectRetryCounter']);
    case 'AutomaticStart_Passive':
      return t('Active', 'automatic restart (passive)', []);
    case 'TcpConnectionConfirmed':
    case 'Tcp_CR_Acked':
      return t('Idle', 'connection refused while idle', ['refuseConnection']);
    default:
      return t('Idle', `${ev} ignored in Idle`, []);
  }
}

function connectOrActive(state: 'Connect' | 'Active', ev: FsmEvent): Transition {
  switch (ev) {
    case 'ManualStart':
    case 'AutomaticStart':
    case 'ManualStart_Passive':
    case 'AutomaticStart_Passive':
      return t(state, `${ev} ignored in ${state}`, []);
    case 'ManualStop':
    case 'ManualStop_Graceful':
      return t('Idle', 'stopped', STOP);
    case 'AutomaticStop':
      return t('Idle', 'stopped (configuration)', STOP);
    case 'ConnectRetryTimer_Expires':
      // In Connect the attempt did not complete in time: a failed attempt too.
      return state === 'Connect'
        ? t('Connect', 'connect retry (attempt timed out)', ['dropConnection', 'startConnectRetryTimer', 'incrementConnectRetryCounter', 'connect'])
        : t('Connect', 'connect retry', ['dropConnection', 'startConnectRetryTimer', 'connect']);
    case 'Tcp_CR_Acked':
      return t('OpenSent', 'connection established (outgoing)', ['stopConnectRetryTimer', 'sendOpen', 'startHoldTimerLarge']);
    case 'TcpConnectionConfirmed':
      return t('OpenSent', 'connection established (incoming)', ['stopConnectRetryTimer', 'dropConnection', 'acceptConnection', 'sendOpen', 'startHoldTimerLarge']);
    case 'TcpConnectionFails':
      return state === 'Connect'
        ? t('Active', 'connection failed', ['dropConnection', 'startConnectRetryTimer', 'incrementConnectRetryCounter'])
        : t('Idle', 'connection failed', TO_IDLE_DAMPED);
    case 'BGPHeaderErr':
    case 'BGPOpenMsgErr':
      return t('Idle', 'message error', TO_IDLE_DAMPED, 'event');
    case 'NotifMsgVerErr':
      return t('Idle', 'NOTIFICATION (version) received', ['stopConnectRetryTimer', 'stopTimers', 'dropConnection', 'releaseResources']);
    case 'SendHoldTimer_Expires':
      return t(state, `${ev} ignored in ${state}`, []);
    default:
      return t('Idle', `unexpected ${ev} in ${state}`, TO_IDLE_DAMPED);
  }
}

function openSentOrConfirm(state: 'OpenSent' | 'OpenConfirm', ev: FsmEvent): Transition {
  const fsmErr = { code: ERR.FSM, subcode: FSM_SUB[state]! };
  switch (ev) {
    case 'ManualStart':
    case 'AutomaticStart':
    case 'ManualStart_Passive':
    case 'AutomaticStart_Passive':
      return t(state, `${ev} ignored in ${state}`, []);
    case 'ManualStop':
      return t('Idle', 'administrative shutdown', STOP, { code: ERR.CEASE, subcode: CEASE.ADMIN_SHUTDOWN });
    case 'ManualStop_Graceful':
      return t('Idle', 'stopped (graceful)', STOP);
    case 'AutomaticStop':
      return t('Idle', 'peer de-configured', STOP, { code: ERR.CEASE, subcode: CEASE.PEER_DECONFIGURED });
    case 'HoldTimer_Expires':
      return t('Idle', 'hold timer expired', TO_IDLE_DAMPED, { code: ERR.HOLD_TIMER, subcode: 0 });
    case 'KeepaliveTimer_Expires':
      return state === 'OpenConfirm'
        ? t('OpenConfirm', 'keepalive', ['sendKeepalive', 'restartKeepaliveTimer'])
        : t('Idle', 'unexpected KeepaliveTimer_Expires in OpenSent', TO_IDLE_DAMPED, fsmErr);
    case 'Tcp_CR_Acked':
    case 'TcpConnectionConfirmed':
      return t(state, 'second connection (collision detection)', ['trackCollision']);
    case 'SendHoldTimer_Expires':
      return t(state, `${ev} ignored in ${state}`, []);
    case 'TcpConnectionFails':
      return state === 'OpenSent'
        ? t('Active', 'connection closed by peer', ['stopTimers', 'dropConnection', 'startConnectRetryTimer', 'incrementConnectRetryCounter'])
        : t('Idle', 'connection closed by peer', TO_IDLE_DAMPED);
    case 'BGPOpen':
      return state === 'OpenSent'
        ? t('OpenConfirm', 'OPEN received', ['stopConnectRetryTimer', 'sendKeepalive', 'startHoldTimer', 'startKeepaliveTimer'])
        : t('Idle', 'unexpected OPEN in OpenConfirm', TO_IDLE_DAMPED, fsmErr);
    case 'OpenCollisionDump':
      return t('OpenConfirm', 'connection collision: the other connection is kept', [
        'dropConnection',
        'adoptCollision',
        'stopConnectRetryTimer',
        'sendKeepalive',
        'startHoldTimer',
        'startKeepaliveTimer',
      ], { code: ERR.CEASE, subcode: CEASE.COLLISION_RESOLUTION });
    case 'BGPHeaderErr':
    case 'BGPOpenMsgErr':
      return t('Idle', 'message error', TO_IDLE_DAMPED, 'event');
    case 'NotifMsgVerErr':
      return t('Idle', 'NOTIFICATION (version) received', ['stopConnectRetryTimer', 'stopTimers', 'dropConnection', 'releaseResources']);
    case 'NotifMsg':
      return t('Idle', 'NOTIFICATION received', TO_IDLE_DAMPED);
    case 'KeepAliveMsg':
      return state === 'OpenConfirm'
        ? t('Established', 'KEEPALIVE received', ['restartHoldTimer', 'resetConnectRetryCounter', 'sessionUp'])
        : t('Idle', 'unexpected KEEPALIVE in OpenSent', TO_IDLE_DAMPED, fsmErr);
    default:
      return t('Idle', `unexpected ${ev} in ${state}`, TO_IDLE_DAMPED, fsmErr);
  }
}

function established(ev: FsmEvent): Transition {
  const fsmErr = { code: ERR.FSM, subcode: FSM_SUB.Established! };
  switch (ev) {
    case 'ManualStart':
    case 'AutomaticStart':
    case 'ManualStart_Passive':
    case 'AutomaticStart_Passive':
      return t('Established', `${ev} ignored in Established`, []);
    case 'ManualStop':
      return t('Idle', 'administrative shutdown', STOP_DOWN, { code: ERR.CEASE, subcode: CEASE.ADMIN_SHUTDOWN });
    case 'ManualStop_Graceful':
      return t('Idle', 'stopped (graceful restart)', STOP_DOWN);
    case 'AutomaticStop':
      return t('Idle', 'peer de-configured', STOP_DOWN, { code: ERR.CEASE, subcode: CEASE.PEER_DECONFIGURED });
    case 'HoldTimer_Expires':
      return t('Idle', 'hold timer expired', TO_IDLE_DOWN, { code: ERR.HOLD_TIMER, subcode: 0 });
    case 'SendHoldTimer_Expires':
      return t('Idle', 'the peer does not read: output stalled', TO_IDLE_DOWN, { code: ERR.CEASE, subcode: CEASE.OUT_OF_RESOURCES });
    case 'KeepaliveTimer_Expires':
      return t('Established', 'keepalive', ['sendKeepalive', 'restartKeepaliveTimer']);
    case 'Tcp_CR_Acked':
    case 'TcpConnectionConfirmed':
      return t('Established', 'connection collision with an established session', ['refuseCollision']);
    case 'KeepAliveMsg':
      return t('Established', 'KEEPALIVE received', ['restartHoldTimer']);
    case 'UpdateMsg':
      return t('Established', 'UPDATE received', ['processUpdate', 'restartHoldTimer']);
    case 'RouteRefreshMsg':
      return t('Established', 'ROUTE-REFRESH received', ['processRouteRefresh', 'restartHoldTimer']);
    case 'UpdateMsgErr':
    case 'BGPHeaderErr':
    case 'BGPOpenMsgErr':
      return t('Idle', 'message error', TO_IDLE_DOWN, 'event');
    case 'NotifMsgVerErr':
    case 'NotifMsg':
      return t('Idle', 'NOTIFICATION received', TO_IDLE_DOWN);
    case 'TcpConnectionFails':
      return t('Idle', 'connection closed by peer', TO_IDLE_DOWN);
    default:
      return t('Idle', `unexpected ${ev} in Established`, TO_IDLE_DOWN, fsmErr);
  }
}

function compute(state: FsmState, ev: FsmEvent): Transition {
  switch (state) {
    case 'Idle':
      return idle(ev);
    case 'Connect':
    case 'Active':
      return connectOrActive(state, ev);
    case 'OpenSent':
    case 'OpenConfirm':
      return openSentOrConfirm(state, ev);
    case 'Established':
      return established(ev);
  }
}

/** The whole table, computed once: TABLE[state][event]. */
export const TABLE: Readonly<Record<FsmState, Readonly<Record<FsmEvent, Transition>>>> = Object.freeze(
  Object.fromEntries(STATES.map((s) => [s, Object.freeze(Object.fromEntries(EVENTS.map((e) => [e, compute(s, e)])))])) as Record<
    FsmState,
    Record<FsmEvent, Transition>
  >,
);

export function transition(state: FsmState, event: FsmEvent): Transition {
  return TABLE[state][event];
}

/** The table as text, one line per (state, event), for docs and debugging. */
export function printTable(): string {
  const lines: string[] = [];
  for (const s of STATES) {
    for (const e of EVENTS) {
      const r = TABLE[s][e];
      const n = r.notify === undefined ? '' : r.notify === 'event' ? ' notify=<error>' : ` notify=${r.notify.code}/${r.notify.subcode}`;
      lines.push(`${s.padEnd(11)} ${e.padEnd(26)} → ${r.next.padEnd(11)} [${r.actions.join(', ')}]${n}`);
    }
  }
  return lines.join('\n');
}
