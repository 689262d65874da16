/**
 * Property tests: random configs (networks, whitelist, caps, corroboration,
 * dry-run) and random sequences of signals from every adapter (targets in
 * and out of networks, whitelisted, prefixes, v4 and v6, starts and ends,
 * TTLs) mixed with clock ticks, through the real engine adapter, ban
 * manager and mitigator (fake speaker). After every step: no ban outside
 * networks, none overlapping the whitelist, every ban with a finite TTL,
 * nothing announced in dry-run, never more bans than max_active_bans, no
 * ban while corroboration is short of sources. A second property bounds the
 * hub's memory.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ManualClock } from '../../src/core/clock.ts';
import { parsePrefix, prefixCovers, prefixesOverlap, type Prefix } from '../../src/core/ip.ts';
import { validateConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { EngineAdapter } from '../../src/daemon/engine-adapter.ts';
import { Mitigator } from '../../src/mitigation/reconcile.ts';
import { SignalHub } from '../../src/signals/hub.ts';
import { ADAPTERS, type AdapterName } from '../../src/signals/adapters.ts';
import { Corroboration } from '../../src/signals/corroboration.ts';
import { FakeSpeaker } from '../mitigation/fake-speaker.ts';

const RUNS = Number(process.env.BREAKWATER_PROPERTY_RUNS ?? 150);
const T0 = 1_700_000_000_000;

const hostArb = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 40 }).map((i) => `10.0.0.${i}`) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 20 }).map((i) => `10.0.1.${i}`) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 9 }).map((i) => `192.0.2.${i}`) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 15 }).map((i) => `2001:db8::${i.toString(16)}`) },
  { weight: 1, arbitrary: fc.constantFrom('10.0.0.0/30', '10.0.0.8/29', '10.0.0.0/24', '10.0.0.0/16', '2001:db8::/124', '0.0.0.0/0') },
);

const rawConfigArb = fc.record({
  dry_run: fc.boolean(),
  networks: fc.subarray(['10.0.0.0/24', '10.0.1.0/28', '2001:db8::/120'], { minLength: 1 }),
  protected_whitelist: fc.subarray(['10.0.0.1/32', '10.0.0.8/30', '2001:db8::2/128', '10.0.1.0/29']),
  ban: fc.record({
    ttl_seconds: fc.integer({ min: 1, max: 30 }),
    unban_hysteresis_seconds: fc.integer({ min: 0, max: 5 }),
    max_active_bans: fc.integer({ min: 0, max: 8 }),
    max_bans_per_window: fc.integer({ min: 0, max: 6 }),
    ban_window_seconds: fc.integer({ min: 1, max: 30 }),
  }),
  signals: fc.record({ require_corroboration: fc.integer({ min: 1, max: 3 }), corroboration_window_seconds: fc.integer({ min: 1, max: 20 }), max_tracked_targets: fc.integer({ min: 1, max: 20 }) }),
});

type Cmd = { kind: 'signal'; adapter: AdapterName; target: string; end: boolean; ttl?: number; source: string; details: boolean } | { kind: 'tick'; ms: number };

const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('signal' as const),
      adapter: fc.constantFrom<AdapterName>('events', 'fastnetmon', 'alertmanager', 'rtbh'),
      target: hostArb,
      end: fc.boolean().map((b) => b && Math.random() < 0.5),
      ttl: fc.option(fc.integer({ min: 1, max: 40 }), { nil: undefined }),
      source: fc.constantFrom('ids', 'probe', 'wanguard'),
      details: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 100, max: 15_000 }) }) },
);

/** The adapter's own wire format for a command. */
function payload(c: Extract<Cmd, { kind: 'signal' }>): unknown {
  switch (c.adapter) {
    case 'events':
      return { victim_ip: c.target, vector: 'udp_flood', pps: 1000, source: c.source, action: c.end ? 'end' : 'start', ...(c.ttl ? { ttl_seconds: c.ttl } : {}) };
    case 'fastnetmon':
      return { ip: c.target, action: c.end ? 'unban' : c.details ? 'attack_details' : 'ban', attack_details: { attack_direction: 'incoming', attack_protocol: 'udp', total_incoming_pps: 5000, total_incoming_traffic: 100000 } };
    case 'alertmanager':
      return { version: '4', alerts: [{ status: c.end ? 'resolved' : 'firing', labels: { victim_ip: c.target, vector: 'dns', ...(c.ttl ? { ttl_seconds: String(c.ttl) } : {}) }, annotations: {} }] };
    case 'rtbh':
      return { action: c.end ? 'withdraw' : 'announce', target_ip: c.target, ...(c.ttl ? { withdraw_after: c.ttl } : {}) };
  }
}

function build(cfg: Readonly<Config>) {
  const clock = new ManualClock(T0);
  const engine = new EngineAdapter(cfg, clock);
  const speaker = new FakeSpeaker([{ id: '127.0.0.2', families: ['ipv4_unicast', 'ipv6_unicast'] }]);
  const m = new Mitigator({ port: speaker, bans: { active: () => engine.activeBans(), get: (id) => engine.banById(id), clockNow: () => clock.now() }, config: cfg, dryRun: cfg.dry_run });
  engine.on((e) => {
    if (e.event === 'ban' || e.event === 'unban' || e.event === 'escalate') m.changed(e.ban.id);
  });
  const hub = new SignalHub({
    port: { signalEvent: (e, to) => engine.signalEvent(e, to), onEvent: (fn) => engine.on(fn), activeBans: () => engine.activeBans(), unban: (target, actor) => engine.manualUnban({ ip: target, actor }) },
    config: () => cfg,
    clock,
  });
  return { clock, engine, speaker, hub, m };
}

const prefixes = (l: readonly string[]): Prefix[] => l.map((s) => parsePrefix(s) as Prefix);

test('no signal yields a ban outside networks, on a whitelisted address, without TTL, over the cap, uncorroborated, or on a router in dry-run', () => {
  // The properties are not vacuous: bans, refusals and live announcements all happen across the runs.
  const seen = { banned: 0, refused: 0, pending: 0, announced: 0 };
  fc.assert(
    fc.property(rawConfigArb, fc.array(cmdArb, { minLength: 1, maxLength: 40 }), (raw, cmds) => {
      const cfg = validateConfig({ ...raw, bgp: { local_asn: 65000, next_hop: '192.0.2.1' } });
      const { clock, engine, speaker, hub } = build(cfg);
      const nets = prefixes(cfg.networks);
      const wl = prefixes(cfg.protected_whitelist);
      /** target → sources that reported it (with time), kept here independently of the hub. */
      const reports = new Map<string, Map<string, number>>();
      for (const c of cmds) {
        if (c.kind === 'tick') {
          clock.advance(c.ms);
          engine.tick(clock.now());
          hub.tick(clock.now());
        } else {
          const parsed = ADAPTERS[c.adapter](payload(c));
          if (!parsed.ok) continue;
          for (const s of parsed.signals) {
            if (s.action === 'start') {
              let r = reports.get(s.target);
              if (!r) reports.set(s.target, (r = new Map()));
              r.set(s.name, clock.now());
            }
            const before = new Set(engine.activeBans().map((b) => b.id));
            const out = hub.handle(s, 'test');
            if (out.status === 'banned') seen.banned++;
            if (out.status === 'refused') seen.refused++;
            if (out.status === 'pending_corroboration') seen.pending++;
            const created = engine.activeBans().filter((b) => !before.has(b.id));
            if (created.length > 0) {
              // A new ban needs enough distinct sources within the window (no flow attacks here).
              const win = cfg.signals.corroboration_window_seconds * 1000;
              const seen = [...(reports.get(created[0].target)?.values() ?? [])].filter((t) => clock.now() - t <= win).length;
              assert.ok(seen >= cfg.signals.require_corroboration, `ban of ${created[0].target} with ${seen} of ${cfg.signals.require_corroboration} sources`);
              assert.equal(out.status, 'banned');
            }
          }
        }
        const bans = engine.activeBans();
        assert.ok(bans.length <= cfg.ban.max_active_bans, `${bans.length} bans > max_active_bans ${cfg.ban.max_active_bans}`);
        for (const b of bans) {
          const p = parsePrefix(b.target) as Prefix;
          assert.ok(nets.some((n) => prefixCovers(n, p)), `${b.target} outside networks`);
          assert.ok(!wl.some((w) => prefixesOverlap(w, p)), `${b.target} overlaps the whitelist`);
          assert.ok(Number.isFinite(b.expires) && b.ttl_seconds >= 1 && b.expires > b.created, `ban ${b.target} without TTL`);
          assert.match(b.source, /^signal:/);
        }
        if (cfg.dry_run) assert.equal(speaker.calls.filter((x) => x.kind === 'announce').length, 0, 'dry-run reached a router');
        else seen.announced += speaker.rib('127.0.0.2').size;
        if (!cfg.dry_run) for (const route of speaker.rib('127.0.0.2').keys()) assert.ok(bans.some((b) => route.includes(b.target.split('/')[0])), `route ${route} without a ban`);
      }
      hub.stop();
    }),
    { numRuns: RUNS },
  );
  assert.ok(seen.banned > 0 && seen.refused > 0 && seen.pending > 0 && seen.announced > 0, JSON.stringify(seen));
});

test('memory stays bounded: open signals and corroboration reports never exceed signals.max_tracked_targets', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 50 }), fc.integer({ min: 1, max: 400 }), fc.integer({ min: 1, max: 3 }), (max, n, need) => {
      const cfg = validateConfig({ networks: ['10.0.0.0/16'], signals: { max_tracked_targets: max, require_corroboration: need }, ban: { max_active_bans: 5 }, bgp: { local_asn: 65000, next_hop: '192.0.2.1' } });
      const { clock, hub } = build(cfg);
      for (let i = 0; i < n; i++) {
        const target = `10.0.${(i >> 8) & 0xff}.${i & 0xff}`;
        hub.handle({ name: i % 2 ? 'a' : 'b', target, action: 'start', ban: true, lift: false, oneShot: false, vector: 'mixed', direction: 'incoming', pps: 1, bps: 1 }, 'test');
        clock.advance(10);
        const s = hub.stats();
        assert.ok(s.open <= max, `${s.open} open signals > ${max}`);
        assert.ok(s.corroboration_targets <= max, `${s.corroboration_targets} targets > ${max}`);
      }
      hub.stop();
    }),
    { numRuns: 60 },
  );
  // The corroboration memory alone: a flood of distinct targets keeps the newest.
  const c = new Corroboration(100);
  for (let i = 0; i < 100_000; i++) c.see(`t${i}`, 'x', i);
  assert.equal(c.size, 100);
  assert.deepEqual(c.sources('t99999', 99_999, 10), ['x']);
  assert.deepEqual(c.sources('t0', 99_999, 1e9), []);
  for (let i = 0; i < 100; i++) c.see('t99999', `s${i}`, 100_000);
  assert.equal(c.sources('t99999', 100_000, 10).length, 32, 'sources per target are bounded too');
});
