import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ACTIONS, EVENTS, STATES, TABLE, transition, printTable, type FsmEvent, type FsmState } from '../../src/bgp/fsm.ts';
import { backoff, IdleHold, ManualScheduler, negotiateHold, Timers, jitter } from '../../src/bgp/timers.ts';

test('fsm: the table is total and every action is known', () => {
  for (const s of STATES) {
    for (const e of EVENTS) {
      const r = TABLE[s][e];
      assert.ok(r, `${s}/${e}`);
      assert.ok(STATES.includes(r.next), `${s}/${e} next`);
      for (const a of r.actions) assert.ok((ACTIONS as readonly string[]).includes(a), `${s}/${e} action ${a}`);
      assert.ok(r.reason.length > 0);
    }
  }
  assert.equal(printTable().split('\n').length, STATES.length * EVENTS.length);
});

function run(events: FsmEvent[], from: FsmState = 'Idle'): FsmState[] {
  const out: FsmState[] = [];
  let s = from;
  for (const e of events) {
    s = transition(s, e).next;
    out.push(s);
  }
  return out;
}

test('fsm: active open reaches Established (RFC 4271 §8.2.2)', () => {
  assert.deepEqual(run(['ManualStart', 'Tcp_CR_Acked', 'BGPOpen', 'KeepAliveMsg']), ['Connect', 'OpenSent', 'OpenConfirm', 'Established']);
  const up = transition('OpenConfirm', 'KeepAliveMsg');
  assert.ok(up.actions.includes('sessionUp'));
  assert.ok(transition('OpenSent', 'BGPOpen').actions.includes('sendKeepalive'));
  assert.ok(transition('Connect', 'Tcp_CR_Acked').actions.includes('sendOpen'));
});

test('fsm: passive start waits in Active, never connects, accepts', () => {
  const r = transition('Idle', 'ManualStart_Passive');
  assert.equal(r.next, 'Active');
  assert.ok(!r.actions.includes('connect'));
  assert.ok(!r.actions.includes('startConnectRetryTimer'));
  const acc = transition('Active', 'TcpConnectionConfirmed');
  assert.equal(acc.next, 'OpenSent');
  assert.ok(acc.actions.includes('acceptConnection'));
  assert.ok(acc.actions.indexOf('dropConnection') < acc.actions.indexOf('acceptConnection'));
});

test('fsm: failed connect goes Active and retries', () => {
  assert.equal(transition('Connect', 'TcpConnectionFails').next, 'Active');
  assert.ok(transition('Connect', 'TcpConnectionFails').actions.includes('startConnectRetryTimer'));
  const r = transition('Active', 'ConnectRetryTimer_Expires');
  assert.equal(r.next, 'Connect');
  assert.ok(r.actions.includes('connect'));
});

test('fsm: every failed connection attempt increments the ConnectRetryCounter after starting the timer; Established resets it', () => {
  const failures: Array<[FsmState, FsmEvent]> = [
    ['Connect', 'TcpConnectionFails'],
    ['Connect', 'ConnectRetryTimer_Expires'],
    ['OpenSent', 'TcpConnectionFails'],
  ];
  for (const [s, e] of failures) {
    const a = transition(s, e).actions;
    assert.ok(a.includes('startConnectRetryTimer'), `${s}/${e} restarts the timer`);
    assert.ok(a.indexOf('incrementConnectRetryCounter') > a.indexOf('startConnectRetryTimer'), `${s}/${e}: timer first (base · 2^failures so far), then the counter`);
  }
  // a retry that merely starts the next attempt is not a failure
  assert.ok(!transition('Active', 'ConnectRetryTimer_Expires').actions.includes('incrementConnectRetryCounter'));
  assert.ok(transition('OpenConfirm', 'KeepAliveMsg').actions.includes('resetConnectRetryCounter'));
  assert.ok(transition('Idle', 'ManualStart').actions.includes('resetConnectRetryCounter'));
  // any path that leaves Connect/Active/OpenSent for Active or Idle on an error counts it
  for (const s of ['Connect', 'Active', 'OpenSent', 'OpenConfirm'] as const) {
    for (const e of EVENTS) {
      const r = transition(s, e);
      const stop = e === 'ManualStop' || e === 'ManualStop_Graceful' || e === 'AutomaticStop' || e === 'NotifMsgVerErr';
      if (stop || r.next === s || r.next === 'OpenSent' || r.next === 'OpenConfirm' || r.next === 'Established' || r.next === 'Connect') continue;
      assert.ok(r.actions.includes('incrementConnectRetryCounter'), `${s}/${e} → ${r.next} counts as a failure`);
    }
  }
});

test('fsm: NOTIFICATION codes the RFC requires', () => {
  assert.deepEqual(transition('Established', 'HoldTimer_Expires').notify, { code: 4, subcode: 0 });
  assert.deepEqual(transition('OpenSent', 'HoldTimer_Expires').notify, { code: 4, subcode: 0 });
  assert.deepEqual(transition('Established', 'ManualStop').notify, { code: 6, subcode: 2 });
  assert.equal(transition('Established', 'ManualStop_Graceful').notify, undefined);
  assert.equal(transition('OpenSent', 'BGPOpenMsgErr').notify, 'event');
  // RFC 6608 FSM error subcodes
  assert.deepEqual(transition('OpenSent', 'UpdateMsg').notify, { code: 5, subcode: 1 });
  assert.deepEqual(transition('OpenConfirm', 'UpdateMsg').notify, { code: 5, subcode: 2 });
  assert.deepEqual(transition('Established', 'BGPOpen').notify, { code: 5, subcode: 3 });
  // a received NOTIFICATION is never answered with one
  for (const s of STATES) assert.equal(transition(s, 'NotifMsg').notify, undefined);
});

test('fsm: collision handling (§6.8)', () => {
  assert.ok(transition('OpenSent', 'TcpConnectionConfirmed').actions.includes('trackCollision'));
  assert.ok(transition('Established', 'TcpConnectionConfirmed').actions.includes('refuseCollision'));
  const dump = transition('OpenSent', 'OpenCollisionDump');
  assert.equal(dump.next, 'OpenConfirm');
  assert.deepEqual(dump.notify, { code: 6, subcode: 7 });
  assert.ok(dump.actions.includes('adoptCollision'));
});

test('fsm: properties over random event sequences', () => {
  fc.assert(
    fc.property(fc.array(fc.constantFrom(...EVENTS), { maxLength: 60 }), (evs) => {
      let s: FsmState = 'Idle';
      let up = false;
      for (const e of evs) {
        const r = transition(s, e);
        // sessionUp only on OpenConfirm→Established, sessionDown only when leaving Established
        if (r.actions.includes('sessionUp')) {
          assert.equal(s, 'OpenConfirm');
          assert.equal(r.next, 'Established');
          up = true;
        }
        if (r.actions.includes('sessionDown')) {
          assert.equal(s, 'Established');
          assert.notEqual(r.next, 'Established');
          up = false;
        }
        if (s === 'Established' && r.next !== 'Established') assert.ok(r.actions.includes('sessionDown'), `${s}/${e}`);
        // Established is only reached through a KEEPALIVE in OpenConfirm
        if (r.next === 'Established' && s !== 'Established') assert.equal(e, 'KeepAliveMsg');
        // leaving for Idle always drops the connection
        if (r.next === 'Idle' && s !== 'Idle') assert.ok(r.actions.includes('dropConnection'), `${s}/${e}`);
        // a stop never schedules an automatic restart
        if (e === 'ManualStop' || e === 'ManualStop_Graceful' || e === 'AutomaticStop') assert.ok(!r.actions.includes('dampIdleHold'));
        s = r.next;
        assert.equal(up, s === 'Established');
      }
    }),
    { numRuns: 2000 },
  );
});

test('timers: backoff doubles with jitter in [75%, 100%] and is capped', () => {
  const lo = () => 0;
  const hi = () => 1;
  assert.equal(backoff(1000, 0, 60000, hi), 1000);
  assert.equal(backoff(1000, 3, 60000, hi), 8000);
  assert.equal(backoff(1000, 3, 60000, lo), 6000);
  assert.equal(backoff(1000, 20, 60000, hi), 60000);
  for (let i = 0; i < 200; i++) {
    const j = jitter(4000);
    assert.ok(j >= 3000 && j <= 4000);
  }
});

test('timers: hold negotiation', () => {
  assert.deepEqual(negotiateHold(90, 6), { holdSeconds: 6, keepaliveSeconds: 2 });
  assert.deepEqual(negotiateHold(0, 90), { holdSeconds: 0, keepaliveSeconds: 0 });
  assert.deepEqual(negotiateHold(3, 90), { holdSeconds: 3, keepaliveSeconds: 1 });
});

test('timers: idle hold grows and resets after a stable session', () => {
  const ih = new IdleHold(1000, 30000, 60000);
  const hi = () => 1;
  assert.deepEqual([ih.next(0, hi), ih.next(0, hi), ih.next(0, hi), ih.next(0, hi)], [1000, 2000, 4000, 8000]);
  ih.established(0);
  assert.equal(ih.next(10_000, hi), 16000, 'short-lived session keeps damping');
  ih.established(20_000);
  assert.equal(ih.next(90_000, hi), 1000, 'stable session resets');
});

test('timers: named timers fire once, restart and stop', () => {
  const s = new ManualScheduler();
  const fired: string[] = [];
  const tm = new Timers((n) => fired.push(`${n}@${s.now()}`), s);
  tm.start('hold', 100);
  tm.start('keepalive', 30);
  s.advance(50);
  tm.start('hold', 100); // restart at 50
  assert.equal(tm.remaining('hold'), 100);
  s.advance(90);
  assert.deepEqual(fired, ['keepalive@30']);
  s.advance(20);
  assert.deepEqual(fired, ['keepalive@30', 'hold@150']);
  tm.start('idleHold', 10);
  tm.stopAll();
  s.advance(100);
  assert.equal(fired.length, 2);
  assert.equal(tm.running('hold'), false);
});

test('fsm: a peer that leaves output unread (SendHoldTimer_Expires) is reset from Established with Cease / Out of Resources; other states ignore it', () => {
  const r = transition('Established', 'SendHoldTimer_Expires');
  assert.equal(r.next, 'Idle');
  assert.deepEqual(r.notify, { code: 6, subcode: 8 });
  assert.ok(r.actions.includes('sessionDown'));
  assert.ok(r.actions.includes('dropConnection'));
  assert.ok(r.actions.includes('dampIdleHold'), 'restarted after the IdleHold time like other errors');
  for (const s of STATES) {
    if (s === 'Established') continue;
    const x = transition(s, 'SendHoldTimer_Expires');
    assert.equal(x.next, s, `${s}: ignored`);
    assert.deepEqual(x.actions, [], `${s}: no action`);
  }
});

test('fsm: the actions carry the work: a NOTIFICATION is the first action, sessionDown the last', () => {
  for (const s of STATES) {
    for (const e of EVENTS) {
      const r = transition(s, e);
      if (r.notify !== undefined) assert.equal(r.actions[0], 'sendNotification', `${s}/${e}: NOTIFICATION before the connection is dropped`);
      else assert.ok(!r.actions.includes('sendNotification'), `${s}/${e}: sendNotification without a NOTIFICATION`);
      if (r.actions.includes('sessionDown')) assert.equal(r.actions.at(-1), 'sessionDown', `${s}/${e}: sessionDown reports the completed reason`);
      if (r.actions.includes('sessionUp')) assert.equal(r.actions.at(-1), 'sessionUp', `${s}/${e}`);
    }
  }
  // received UPDATEs and ROUTE-REFRESHes are processed by the table's action, in Established only
  for (const s of STATES) {
    assert.equal(transition(s, 'UpdateMsg').actions.includes('processUpdate'), s === 'Established', `${s}/UpdateMsg`);
    assert.equal(transition(s, 'RouteRefreshMsg').actions.includes('processRouteRefresh'), s === 'Established', `${s}/RouteRefreshMsg`);
  }
});
