import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/core/clock.ts';
import { routeBuilder } from '../../src/mitigation/route.ts';
import { BanManager } from '../../src/ban/bans.ts';
import { describeLifecycle, LIFECYCLE, LIFECYCLE_ACTIONS, LIFECYCLE_EVENTS, LIFECYCLE_STATES, transition, type LifecycleEvent, type LifecycleState } from '../../src/ban/lifecycle.ts';
import { attack, cfg, ev, record, T0 } from './helpers.ts';

test('lifecycle table is total: every state × event has a transition to a known state', () => {
  assert.equal(Object.keys(LIFECYCLE).length, LIFECYCLE_STATES.length);
  for (const s of LIFECYCLE_STATES) {
    assert.equal(Object.keys(LIFECYCLE[s]).length, LIFECYCLE_EVENTS.length, s);
    for (const e of LIFECYCLE_EVENTS) {
      const t = transition(s, e);
      assert.ok(t, `${s} × ${e}`);
      assert.ok((LIFECYCLE_STATES as readonly string[]).includes(t.next), `${s} × ${e} → ${t.next}`);
      for (const a of t.actions) assert.ok(a in LIFECYCLE_ACTIONS, `unknown action ${a}`);
    }
  }
});

test('lifecycle table: structural safety properties', () => {
  for (const e of LIFECYCLE_EVENTS) {
    // ended is absorbing and does nothing
    assert.equal(transition('ended', e).next, 'ended');
    assert.deepEqual([...transition('ended', e).actions], []);
    // a ban with an attack going on never ends by time
    if (e === 'ttl_due' || e === 'tick' || e === 'escalation_due') assert.equal(transition('active', e).next, 'active');
    // creating a ban always runs the guards first
    const t = transition('none', e);
    if (t.actions.includes('create')) assert.ok(t.actions[0] === 'admit' || t.actions[0] === 'admit_restore', `${e} creates without guards`);
    // none never jumps to ended
    assert.notEqual(t.next, 'ended');
    // every way to end emits an unban
    for (const s of LIFECYCLE_STATES) {
      const u = transition(s, e);
      if (s !== 'ended' && u.next === 'ended') assert.deepEqual([...u.actions], ['end', 'emit_unban'], `${s} × ${e}`);
    }
  }
  // escalation only happens while the attack is active
  for (const s of LIFECYCLE_STATES) if (s !== 'active') for (const e of LIFECYCLE_EVENTS) assert.ok(!transition(s, e).actions.includes('escalate'));
  // whitelist changes end any live ban
  assert.equal(transition('active', 'whitelist_changed').next, 'ended');
  assert.equal(transition('expiring', 'whitelist_changed').next, 'ended');
});

test('describeLifecycle prints every pair and every action', () => {
  const text = describeLifecycle();
  const lines = text.split('\n');
  for (const s of LIFECYCLE_STATES) {
    const at = lines.indexOf(`${s}:`);
    assert.ok(at >= 0, s);
    for (const e of LIFECYCLE_EVENTS) {
      const t = LIFECYCLE[s][e];
      const line = lines.slice(at + 1, at + 1 + LIFECYCLE_EVENTS.length).find((l) => l.trim().startsWith(e + ' ') || l.trim().split(/\s+/)[0] === e);
      assert.ok(line, `${s} × ${e} missing`);
      assert.match(line!, new RegExp(`→ ${t.next}`));
      for (const a of t.actions) assert.ok(line!.includes(a));
    }
  }
  for (const a of Object.keys(LIFECYCLE_ACTIONS)) assert.ok(text.includes(a));
});

/**
 * Drives a real BanManager into each state and feeds the input that stands for
 * each event, then checks the ban ends up where the table says.
 */
const TARGET = '198.51.100.7';
const LADDER_S = 10;

function setup(state: LifecycleState) {
  const clock = new ManualClock(T0);
  const config = cfg({ mitigation: 'flowspec', escalation: [{ after_seconds: LADDER_S, action: 'blackhole' }], ban: { ttl_seconds: 300, unban_hysteresis_seconds: 30 } });
  const m = new BanManager(config, { clock, routes: routeBuilder(config) });
  const events = record(m);
  const a = attack(TARGET);
  let banId: string | undefined;
  if (state !== 'none') {
    m.onAttackEvent(ev('attack_start', T0, a));
    banId = m.active()[0].id;
    if (state === 'expiring') m.onAttackEvent(ev('attack_end', T0 + 1000, a));
    if (state === 'ended') {
      clock.t = T0 + 1000;
      assert.equal(m.manualUnban({ ip: TARGET, actor: 'test' }).ok, true);
    }
  }
  clock.t = T0 + 2000;
  m.tick(clock.t);
  return { m, clock, config, a, banId, events };
}

/** A reload as the daemon does it: the ban slice with a builder of the same config's route policy. */
function reload(m: BanManager, c: ReturnType<typeof cfg>, now: number): void {
  m.reconfigure(c, routeBuilder(c), now);
}

function stateOf(m: BanManager, banId: string | undefined): LifecycleState {
  if (banId) {
    const live = m.active().find((b) => b.id === banId);
    if (live) return live.state!;
    if (m.history().some((b) => b.id === banId)) return 'ended';
    throw new Error('ban vanished');
  }
  const live = m.active().find((b) => b.target === TARGET);
  return live ? live.state! : 'none';
}

function apply(e: LifecycleEvent, x: ReturnType<typeof setup>): void {
  const { m, clock, a } = x;
  const now = clock.t;
  const live = m.get(TARGET);
  switch (e) {
    case 'attack_start': return m.onAttackEvent(ev('attack_start', now, attack(TARGET)));
    case 'attack_update': return m.onAttackEvent(ev('attack_update', now, a));
    case 'attack_end': return m.onAttackEvent(ev('attack_end', now, a));
    case 'tick': return m.tick(now + 1000);
    case 'ttl_due': {
      const t = live ? live.expires : now + 10 * 3600_000;
      clock.t = t;
      return m.tick(t);
    }
    case 'escalation_due': {
      const t = (live ? live.created : T0) + LADDER_S * 1000 + 1;
      clock.t = Math.max(t, now);
      return m.tick(clock.t);
    }
    case 'manual_ban': m.manualBan({ ip: TARGET, actor: 'op' }); return;
    case 'manual_unban': m.manualUnban({ ip: TARGET, actor: 'op' }); return;
    case 'whitelist_changed': reload(m, cfg({ protected_whitelist: ['198.51.100.0/28'] }), now); return;
    case 'config_reload': reload(m, cfg({ mitigation: 'flowspec', escalation: [{ after_seconds: LADDER_S, action: 'blackhole' }], bgp: { communities: ['65000:1'] } }), now); return;
    case 'released': if (live) m.release(live.id, 'manual', 'node-b', now); return;
    case 'restore': {
      m.restore([{ id: 'restored-1', target: TARGET, family: 4, source: 'auto', reason: 'r', action: 'blackhole', escalation_step: -1, route: { type: 'blackhole', prefix: `${TARGET}/32`, next_hop: '192.0.2.1', communities: [], large_communities: [] }, created: now - 1000, expires: now + 100_000, ttl_seconds: 101, state: 'expiring' }], now);
      return;
    }
  }
}

for (const s of LIFECYCLE_STATES) {
  for (const e of LIFECYCLE_EVENTS) {
    test(`lifecycle driven: ${s} × ${e} → ${LIFECYCLE[s][e].next}`, () => {
      const x = setup(s);
      assert.equal(stateOf(x.m, x.banId), s, 'setup reached the state');
      const before = x.banId ? (x.m.get(x.banId) ?? x.m.history().find((b) => b.id === x.banId)) : undefined;
      x.events.length = 0;
      apply(e, x);
      const want = LIFECYCLE[s][e].next;
      if (s === 'ended') {
        // the ended ban object is untouched (a new ban, if any, is another object)
        const after = x.m.history().find((b) => b.id === x.banId);
        assert.deepEqual(after, before);
        return;
      }
      if (s === 'none' && e === 'restore') {
        assert.equal(x.m.get(TARGET)?.id, 'restored-1');
      }
      assert.equal(stateOf(x.m, x.banId), want);
      const acts = LIFECYCLE[s][e].actions;
      if (acts.includes('emit_ban')) assert.ok(x.events.some((v) => v.event === 'ban'));
      if (acts.includes('emit_unban')) assert.ok(x.events.some((v) => v.event === 'unban'));
      if (acts.includes('refuse_already_banned')) assert.ok(x.events.some((v) => v.event === 'ban_refused' && v.reason === 'already_banned'));
      if (acts.includes('escalate')) assert.ok(x.events.some((v) => v.event === 'escalate' && v.from === 'flowspec_discard' && v.to === 'blackhole'));
      // (a tick at the TTL is also past the ladder step, so escalation may come with it)
      if (!acts.includes('escalate') && s !== 'none' && e !== 'ttl_due') assert.ok(!x.events.some((v) => v.event === 'escalate'), 'no escalation outside active');
      if (acts.includes('extend')) {
        const after = x.m.get(x.banId!)!;
        assert.ok(after.expires > before!.expires, 'extended');
      }
      if (acts.length === 0 && s !== 'none') assert.deepEqual(x.events.filter((v) => v.event !== 'ban_refused'), []);
    });
  }
}
