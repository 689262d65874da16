import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ManualClock } from '../../src/core/clock.ts';
import { routeBuilder } from '../../src/mitigation/route.ts';
import { BanManager } from '../../src/ban/bans.ts';
import { actionLevel, initialLevel, LEVELS, levelRank, nextEscalation, sortLadder } from '../../src/ban/escalation.ts';
import { attack, cfg, ev, record, T0 } from './helpers.ts';

test('levels and actions', () => {
  assert.deepEqual([...LEVELS], ['flowspec_rate_limit', 'flowspec_discard', 'blackhole']);
  assert.equal(initialLevel('blackhole', 'rate_limit'), 'blackhole');
  assert.equal(initialLevel('flowspec', 'rate_limit'), 'flowspec_rate_limit');
  assert.equal(initialLevel('flowspec', 'discard'), 'flowspec_discard');
  assert.equal(actionLevel('flowspec', 'discard'), 'flowspec_discard');
  assert.equal(actionLevel('flowspec_rate_limit', 'discard'), 'flowspec_rate_limit');
});

test('nextEscalation: takes every due step, never steps down, passes weaker steps silently', () => {
  const ladder = sortLadder([
    { after_seconds: 120, action: 'blackhole' },
    { after_seconds: 30, action: 'flowspec_discard' },
    { after_seconds: 60, action: 'flowspec_rate_limit' },
  ]);
  assert.deepEqual(ladder.map((s) => s.after_seconds), [30, 60, 120]);
  assert.equal(nextEscalation('flowspec_rate_limit', -1, ladder, 29, 'discard'), null);
  assert.deepEqual(nextEscalation('flowspec_rate_limit', -1, ladder, 30, 'discard'), { step: 0, level: 'flowspec_discard', changed: true });
  // the rate-limit step at 60 s is weaker: the step index moves, the level does not
  assert.deepEqual(nextEscalation('flowspec_discard', 0, ladder, 61, 'discard'), { step: 1, level: 'flowspec_discard', changed: false });
  // a late tick takes all due steps at once
  assert.deepEqual(nextEscalation('flowspec_rate_limit', -1, ladder, 500, 'discard'), { step: 2, level: 'blackhole', changed: true });
  assert.equal(nextEscalation('blackhole', 2, ladder, 10_000, 'discard'), null);
});

test('property: over random ladders and times, the level never goes down and ends at the strongest due step', () => {
  const action = fc.constantFrom('flowspec', 'flowspec_rate_limit', 'flowspec_discard', 'blackhole') as fc.Arbitrary<'flowspec' | 'flowspec_rate_limit' | 'flowspec_discard' | 'blackhole'>;
  fc.assert(
    fc.property(
      fc.array(fc.record({ after_seconds: fc.integer({ min: 0, max: 300 }), action }), { maxLength: 6 }),
      fc.constantFrom(...LEVELS),
      fc.constantFrom('discard', 'rate_limit') as fc.Arbitrary<'discard' | 'rate_limit'>,
      fc.array(fc.integer({ min: 0, max: 400 }), { maxLength: 10 }),
      (raw, start, fsa, times) => {
        const ladder = sortLadder(raw);
        let level = start;
        let step = -1;
        for (const t of [...times].sort((a, b) => a - b)) {
          const r = nextEscalation(level, step, ladder, t, fsa);
          if (!r) continue;
          assert.ok(levelRank(r.level) >= levelRank(level));
          assert.ok(r.step > step);
          assert.equal(r.changed, r.level !== level);
          level = r.level;
          step = r.step;
        }
        const last = times.length ? Math.max(...times) : -1;
        const due = ladder.filter((s) => s.after_seconds <= last).map((s) => levelRank(actionLevel(s.action, fsa)));
        assert.equal(levelRank(level), Math.max(levelRank(start), ...due));
      },
    ),
    { numRuns: 300 },
  );
});

test('BanManager escalates a persisting attack step by step with escalate events, and stops once it ends', () => {
  const clock = new ManualClock(T0);
  const c = cfg({
    mitigation: 'flowspec',
    flowspec: { action: 'rate_limit', rate_mbps: 100 },
    escalation: [{ after_seconds: 30, action: 'flowspec_discard' }, { after_seconds: 90, action: 'blackhole' }],
  });
  const m = new BanManager(c, { clock, routes: routeBuilder(c) });
  const events = record(m);
  const a = attack('198.51.100.7', { vector: 'ntp_amplification' });
  m.onAttackEvent(ev('attack_start', T0, a));
  const b0 = m.active()[0];
  assert.equal(b0.level, 'flowspec_rate_limit');
  assert.equal(b0.route.type === 'flowspec' && b0.route.rules[0].action.type, 'rate_limit');
  for (let t = 1; t <= 100; t++) m.tick(T0 + t * 1000);
  const esc = events.filter((e) => e.event === 'escalate');
  assert.deepEqual(esc.map((e) => [e.time - T0, e.from, e.to]), [[30_000, 'flowspec_rate_limit', 'flowspec_discard'], [90_000, 'flowspec_discard', 'blackhole']]);
  const b = m.active()[0];
  assert.deepEqual([b.level, b.action, b.escalation_step, b.route.type], ['blackhole', 'blackhole', 1, 'blackhole']);
  assert.equal(esc[0].event === 'escalate' && esc[0].ban.route.type === 'flowspec' && esc[0].ban.route.rules[0].action.type, 'discard');
});

test('no escalation after the attack ended; hostgroup ladder replaces the global one', () => {
  const clock = new ManualClock(T0);
  const c = cfg({
    mitigation: 'flowspec',
    escalation: [{ after_seconds: 30, action: 'blackhole' }],
    hostgroups: [{ name: 'slow', networks: ['203.0.113.0/24'], escalation: [{ after_seconds: 300, action: 'blackhole' }] }],
  });
  const m = new BanManager(c, { clock, routes: routeBuilder(c) });
  const events = record(m);
  const a = attack('198.51.100.7');
  const g = attack('203.0.113.7');
  m.onAttackEvent(ev('attack_start', T0, a));
  m.onAttackEvent(ev('attack_start', T0, g));
  m.onAttackEvent(ev('attack_end', T0 + 10_000, a));
  for (let t = 1; t <= 120; t++) m.tick(T0 + t * 1000);
  assert.deepEqual(events.filter((e) => e.event === 'escalate'), []);
  for (let t = 121; t <= 301; t++) m.tick(T0 + t * 1000);
  const esc = events.filter((e) => e.event === 'escalate');
  assert.deepEqual(esc.map((e) => e.event === 'escalate' && [e.ban.target, e.time - T0]), [['203.0.113.7', 300_000]]);
});

test('a ladder step at 0 s is the start level; dry_run does not change any decision', () => {
  const run = (dry: boolean) => {
    const clock = new ManualClock(T0);
    const m = new BanManager(cfg({ dry_run: dry, mitigation: 'flowspec', escalation: [{ after_seconds: 0, action: 'blackhole' }] }), { clock, routes: routeBuilder(cfg({ dry_run: dry, mitigation: 'flowspec', escalation: [{ after_seconds: 0, action: 'blackhole' }] })) });
    const events = record(m);
    m.onAttackEvent(ev('attack_start', T0, attack('198.51.100.7', { id: 'x' })));
    m.tick(T0 + 1000);
    return events;
  };
  const a = run(true);
  assert.equal(a[0].event === 'ban' && a[0].ban.level, 'blackhole');
  assert.equal(a.length, 1);
  assert.deepEqual(run(false), a);
});
