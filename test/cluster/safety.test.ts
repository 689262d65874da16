/**
 * Safety of the ledger paths (fast-check, like test/ban/safety.test.ts):
 * whatever the ledger holds — bans from nodes with other networks or
 * whitelists, without a usable TTL, expired, on prefixes, races renaming a
 * local ban — adoption through the sync never leaves a ban outside
 * `networks`, on a whitelisted address or without a finite expiry in the
 * future, and in dry-run nothing adopted reaches the speaker. Local
 * decisions interleave (attacks, manual bans, releases) with the same checks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import pino from 'pino';
import { BanManager } from '../../src/ban/bans.ts';
import type { Ban } from '../../src/ban/types.ts';
import { routeBuilder } from '../../src/mitigation/route.ts';
import { Mitigator } from '../../src/mitigation/reconcile.ts';
import { LedgerSync } from '../../src/cluster/sync.ts';
import type { Ledger } from '../../src/cluster/ledger.ts';
import { parsePrefix, prefixCovers, prefixesOverlap } from '../../src/core/ip.ts';
import { ManualClock } from '../../src/core/clock.ts';
import { FakeSpeaker } from '../mitigation/fake-speaker.ts';
import { attack, cfg, ev, T0 } from '../ban/helpers.ts';

const RUNS = Number(process.env.BREAKWATER_PROPERTY_RUNS ?? 200);
const log = pino({ level: 'silent' });

const NETWORKS = ['198.51.100.0/24', '2001:db8::/32'];
const WHITELIST = ['198.51.100.53/32', '198.51.100.128/28'];

const target = fc.oneof(
  fc.integer({ min: 0, max: 255 }).map((i) => `198.51.100.${i}`),
  fc.integer({ min: 0, max: 255 }).map((i) => `203.0.113.${i}`),
  fc.integer({ min: 0, max: 255 }).map((i) => `2001:db8::${i.toString(16)}`),
  fc.constantFrom('198.51.100.0/24', '198.51.100.128/25', '198.51.0.0/16', '0.0.0.0/0', 'not-an-ip'),
);

const ledgerBan = fc.record({
  id: fc.constantFrom('ban-l1', 'ban-l2', 'ban-l3', 'ban-l4'),
  target,
  expiresIn: fc.oneof(fc.integer({ min: -60_000, max: 600_000 }), fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY)),
  ttl: fc.oneof(fc.integer({ min: -5, max: 3600 }), fc.constant(Number.NaN)),
  level: fc.constantFrom('blackhole', 'flowspec_discard', 'flowspec_rate_limit', undefined),
  ended: fc.boolean(),
  rev: fc.integer({ min: 1, max: 1000 }),
});

const step = fc.oneof(
  ledgerBan.map((b) => ({ kind: 'ledger' as const, b })),
  target.map((t) => ({ kind: 'attack' as const, t })),
  target.map((t) => ({ kind: 'manual' as const, t })),
  fc.constantFrom('ban-l1', 'ban-l2', 'ban-l3', 'ban-l4').map((id) => ({ kind: 'drop' as const, id })),
  fc.integer({ min: 1, max: 120 }).map((s) => ({ kind: 'tick' as const, s })),
);

function inside(t: string, list: string[]): boolean {
  const p = parsePrefix(t);
  if (typeof p === 'string') return false;
  return list.some((n) => {
    const q = parsePrefix(n);
    return typeof q !== 'string' && prefixCovers(q, p);
  });
}

function overlaps(t: string, list: string[]): boolean {
  const p = parsePrefix(t);
  if (typeof p === 'string') return false;
  return list.some((n) => {
    const q = parsePrefix(n);
    return typeof q !== 'string' && prefixesOverlap(q, p);
  });
}

for (const dryRun of [true, false]) {
  let adoptedTotal = 0;
  let announcedTotal = 0;
  test(`no ledger path bans outside networks, on the whitelist or without a TTL${dryRun ? ', and in dry-run none reaches a router' : ''}`, () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 40 }), (steps) => {
        const clock = new ManualClock(T0);
        const config = cfg({ networks: NETWORKS, protected_whitelist: WHITELIST, dry_run: dryRun, ban: { max_active_bans: 20, max_banned_fraction: 0.9, max_bans_per_window: 1000 } });
        const bans = new BanManager(config, { clock, routes: routeBuilder(config), idTag: 'n' });
        const speaker = new FakeSpeaker([{ id: '127.0.0.2' }]);
        const mit = new Mitigator({ port: speaker, bans: { active: () => bans.active(), get: (id) => bans.get(id), clockNow: () => clock.now() }, config, dryRun });
        const sync = new LedgerSync({
          ledger: {} as Ledger,
          bans,
          log,
          nodeId: 'n',
          hooks: {
            adopted(b, replaced) {
              adoptedTotal++;
              mit.changed(b.id);
              if (replaced) mit.changed(replaced);
            },
          },
        });
        bans.on((e) => {
          if (e.event === 'ban' || e.event === 'escalate' || e.event === 'unban') mit.changed(e.ban.id);
        });
        let n = 0;
        for (const s of steps) {
          const now = clock.now();
          if (s.kind === 'ledger') {
            const b: Ban = {
              id: s.b.id,
              target: s.b.target,
              family: s.b.target.includes(':') ? 6 : 4,
              source: 'other',
              reason: 'ledger',
              action: s.b.level === 'blackhole' ? 'blackhole' : 'flowspec',
              escalation_step: -1,
              route: { type: 'blackhole', prefix: '0.0.0.0/0', next_hop: '192.0.2.1', communities: [], large_communities: [] },
              created: now - 1000,
              expires: now + s.b.expiresIn,
              ttl_seconds: s.b.ttl,
              state: 'expiring',
              ...(s.b.level ? { level: s.b.level } : {}),
              ...(s.b.ended ? { ended: now, end_reason: 'manual' } : {}),
            };
            sync.apply({ ban: b, modRevision: String(s.b.rev + n), lease: '1', leaseEnds: now + 60_000 });
          } else if (s.kind === 'attack') {
            bans.onAttackEvent(ev('attack_start', now, attack(s.t, { id: `x${++n}` })));
          } else if (s.kind === 'manual') {
            bans.manualBan({ ip: s.t, actor: 'op', ttlSeconds: 300 });
          } else if (s.kind === 'drop') {
            const b = bans.get(s.id);
            if (b) sync.drop(b);
          } else {
            clock.advance(s.s * 1000);
            bans.tick(clock.now());
          }
          n++;
          for (const b of bans.active()) {
            assert.ok(inside(b.target, NETWORKS), `${b.target} outside networks`);
            assert.ok(!overlaps(b.target, WHITELIST), `${b.target} whitelisted`);
            assert.ok(Number.isFinite(b.expires) && b.expires > b.created, `${b.id} without a usable expiry`);
            assert.ok(Number.isFinite(b.ttl_seconds) && b.ttl_seconds > 0, `${b.id} without a TTL`);
            if (b.route.type === 'blackhole') assert.ok(inside(b.route.prefix, [b.target]), `route ${b.route.prefix} outside ${b.target}`);
          }
          const ids = bans.active().map((b) => b.target);
          assert.equal(new Set(ids).size, ids.length, 'one ban per target');
        }
        announcedTotal += speaker.calls.filter((c) => c.kind === 'announce').length;
        if (dryRun) assert.equal(speaker.calls.filter((c) => c.kind === 'announce').length, 0, 'dry-run announced');
        assert.equal(mit.stats().gate_blocked, 0);
      }),
      { numRuns: RUNS },
    );
    assert.ok(adoptedTotal > 0, 'ledger bans were adopted');
    if (!dryRun) assert.ok(announcedTotal > 0, 'live adoptions reached the speaker');
  });
}
