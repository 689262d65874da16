/**
 * Property tests of manual FlowSpec mitigations: random configs (networks,
 * whitelist, caps, dry-run, methods, platforms, neighbor profiles) and random
 * sequences of mitigation requests (targets in and out of networks, methods
 * known and unknown, inline matches, TTLs valid and not) and ends, through
 * the real ban module and the real Mitigator over an in-memory speaker.
 * After every step: a ban only inside networks and never over the
 * whitelist, every ban with a TTL, the caps hold, dry-run never reaches a
 * router, a method's rule reaches only its platforms' neighbors, a
 * packet-length rule never reaches a `junos` neighbor, and every rule's
 * target side is inside the ban's target.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ManualClock } from '../../src/core/clock.ts';
import { parsePrefix, prefixCovers, prefixesOverlap, type Prefix } from '../../src/core/ip.ts';
import { validateConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { BanManager } from '../../src/ban/bans.ts';
import type { FlowspecChoice } from '../../src/ban/types.ts';
import { routeBuilder, routeTargets } from '../../src/mitigation/route.ts';
import { isFlowspecRoute } from '../../src/bgp/index.ts';
import { FakeSpeaker } from '../mitigation/fake-speaker.ts';
import { Mitigator } from '../../src/mitigation/reconcile.ts';
import { T0 } from './helpers.ts';

const RUNS = Number(process.env.BREAKWATER_PROPERTY_RUNS ?? 150);
const NB = { bird: '127.0.0.2', junos: '127.0.0.3', frr: '127.0.0.4' } as const;

const configArb = fc.record({
  dry_run: fc.boolean(),
  whitelist: fc.subarray(['10.0.0.5/32', '10.0.1.0/28', '10.0.3.0/24'], { minLength: 0 }),
  max_active_bans: fc.integer({ min: 0, max: 6 }),
  max_bans_per_window: fc.integer({ min: 0, max: 8 }),
  platform: fc.subarray([NB.bird, NB.junos, NB.frr], { minLength: 1 }),
});

function makeConfig(c: { dry_run: boolean; whitelist: string[]; max_active_bans: number; max_bans_per_window: number; platform: string[] }): Readonly<Config> {
  return validateConfig({
    dry_run: c.dry_run,
    networks: ['10.0.0.0/22', '2001:db8::/64'],
    protected_whitelist: c.whitelist,
    ban: { ttl_seconds: 120, max_active_bans: c.max_active_bans, max_bans_per_window: c.max_bans_per_window, ban_window_seconds: 60, max_banned_fraction: 1 },
    flowspec_methods: [
      { name: 'ntp', match: { protocol: ['udp'], source_port: [123] }, action: { discard: true }, platforms: ['edge'] },
      { name: 'big', match: { protocol: ['udp'], packet_length: { min: 1200, max: 1500 } }, action: { rate_limit_mbps: 5 } },
      { name: 'syn', match: { protocol: ['tcp'], destination_port: ['1-1024'], tcp_flags: 'syn&!ack' }, action: { redirect_rt: '65000:7' } },
    ],
    platforms: [{ name: 'edge', neighbors: c.platform }],
    bgp: {
      neighbors: [
        { address: NB.bird, remote_asn: 65001, profile: 'bird' },
        { address: NB.junos, remote_asn: 65002, profile: 'junos' },
        { address: NB.frr, remote_asn: 65003, profile: 'frr' },
      ],
    },
  });
}

const targetArb = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 1023 }).map((o) => `10.0.${o >> 8}.${o & 255}`) },
  { weight: 1, arbitrary: fc.constantFrom('10.0.1.0/29', '10.0.2.0/24', '10.0.0.0/22', '10.0.0.0/21', '192.0.2.7', '2001:db8::9', '2001:db8:1::9', '0.0.0.0/0') },
);

const choiceArb = fc.oneof(
  fc.constantFrom('ntp', 'big', 'syn', 'missing').map((method) => ({ method })),
  fc.record({
    match: fc.record({ protocol: fc.constantFrom<Array<'udp' | 'tcp' | number>>(['udp'], ['tcp'], [6, 17]), source_port: fc.option(fc.constantFrom<Array<number | string>>([53], ['1000-2000']), { nil: undefined }), packet_length: fc.option(fc.constant({ min: 100 }), { nil: undefined }) }, { requiredKeys: ['protocol'] }),
    action: fc.constantFrom<NonNullable<FlowspecChoice['action']>>({ discard: true }, { rate_limit_mbps: 1 }, { mark_dscp: 8 }),
  }),
) as fc.Arbitrary<FlowspecChoice>;

const stepArb = fc.oneof(
  { weight: 5, arbitrary: fc.record({ op: fc.constant('mitigate' as const), target: targetArb, choice: choiceArb, ttl: fc.option(fc.oneof(fc.integer({ min: 1, max: 3600 }), fc.constantFrom(0, -5, 1e12)), { nil: undefined }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('end' as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('tick' as const), seconds: fc.integer({ min: 1, max: 200 }) }) },
);

const P = (s: string): Prefix => parsePrefix(s) as Prefix;

test('manual FlowSpec mitigations keep the safety model: networks, whitelist, TTL, caps, dry-run, platforms, lint', () => {
  const seen = { created: 0, refused: 0, sent: 0, lintRefused: 0 };
  fc.assert(
    fc.property(configArb, fc.array(stepArb, { minLength: 1, maxLength: 25 }), (c, steps) => {
      const cfg = makeConfig(c);
      const clock = new ManualClock(T0);
      const bans = new BanManager(cfg, { clock, routes: routeBuilder(cfg) });
      const speaker = new FakeSpeaker([{ id: NB.bird }, { id: NB.junos }, { id: NB.frr }]);
      const mit = new Mitigator({ port: speaker, bans, config: cfg, dryRun: cfg.dry_run });
      bans.on((e) => {
        if (e.event !== 'ban_refused') mit.changed(e.ban.id);
      });
      const created: number[] = [];
      const nets = cfg.networks.map(P);
      const white = cfg.protected_whitelist.map(P);
      const edge = new Set(c.platform);
      for (const s of steps) {
        if (s.op === 'tick') {
          clock.advance(s.seconds * 1000);
          bans.tick(clock.now());
          mit.applyAll();
        } else if (s.op === 'end') {
          const act = bans.active();
          if (act.length) assert.equal(bans.manualUnban({ id: act[s.pick % act.length].id, actor: 'op' }).ok, true);
        } else {
          let res;
          try {
            res = bans.manualBan({ ...(s.target.includes('/') ? { prefix: s.target } : { ip: s.target }), ttlSeconds: s.ttl, actor: 'op', flowspec: s.choice });
          } catch (e) {
            assert.fail(`the ban module threw: ${e}`);
          }
          if (res.ok) {
            seen.created++;
            created.push(clock.now());
            const b = res.ban;
            const t = P(b.target);
            assert.ok(nets.some((n) => prefixCovers(n, t)), `${b.target} inside networks`);
            assert.ok(!white.some((w) => prefixesOverlap(w, t)), `${b.target} not whitelisted`);
            assert.ok(b.ttl_seconds >= 1 && b.expires === b.created + b.ttl_seconds * 1000, 'every ban has a TTL');
            assert.ok(s.ttl === undefined || (s.ttl >= 1 && s.ttl <= 365 * 86400), 'an invalid TTL is refused');
            assert.equal(b.route.type, 'flowspec', 'a FlowSpec choice makes a FlowSpec ban');
            for (const x of routeTargets(b.route)) assert.ok(prefixCovers(t, P(x)), `rule target ${x} inside ${b.target}`);
          } else {
            seen.refused++;
            assert.ok(res.reason, 'a refusal has a reason');
          }
        }
        // ---- invariants after every step
        const active = bans.active();
        assert.ok(active.length <= cfg.ban.max_active_bans, 'max_active_bans');
        const now = clock.now();
        assert.ok(created.filter((x) => x > now - 60_000).length <= cfg.ban.max_bans_per_window, 'max_bans_per_window');
        for (const nb of Object.values(NB)) {
          for (const r of speaker.rib(nb).values()) {
            assert.ok(!cfg.dry_run, 'dry-run never reaches a router');
            if (!isFlowspecRoute(r)) continue;
            seen.sent++;
            if (nb === NB.junos) assert.equal(r.rule.packetLength, undefined, 'no packet-length rule reaches a junos neighbor');
            const ban = active.find((b) => b.route.type === 'flowspec' && b.route.rules.some((x) => x.destination === r.rule.destination?.prefix));
            assert.ok(ban, 'every route belongs to an active ban');
            if (ban.route.type === 'flowspec' && ban.route.platforms) assert.ok(edge.has(nb), `${nb} is in the method's platforms`);
          }
        }
        if (cfg.dry_run) assert.equal(speaker.calls.filter((x) => x.kind === 'announce').length, 0);
      }
      seen.lintRefused += mit.stats().lint_refused;
    }),
    { numRuns: RUNS },
  );
  // The runs reached every branch: bans made and refused, rules sent, rules kept back by lint.
  assert.ok(seen.created > 0 && seen.refused > 0 && seen.sent > 0 && seen.lintRefused > 0, JSON.stringify(seen));
});
