/**
 * Property: whatever command lines arrive (ExaBGP unicast and flow lines, the
 * guide's simple language, withdraw-all, garbage), run through the real
 * command runner, ban module (EngineAdapter) and mitigator, no route reaches
 * a router outside `networks`, on a whitelisted address, in dry-run, or for
 * a ban without a TTL; refused and malformed lines change no route.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ManualClock } from '../../src/core/clock.ts';
import { parsePrefix, prefixCovers, prefixesOverlap, type Prefix } from '../../src/core/ip.ts';
import { validateConfig } from '../../src/config/load.ts';
import { parseCommand } from '../../src/bgp/command.ts';
import { EngineAdapter } from '../../src/daemon/engine-adapter.ts';
import { Mitigator } from '../../src/mitigation/reconcile.ts';
import { CommandRunner } from '../../src/command/run.ts';
import { FakeSpeaker } from '../mitigation/fake-speaker.ts';

const RUNS = Number(process.env.BREAKWATER_PROPERTY_RUNS ?? 150);

const NETWORKS = ['198.51.100.0/24', '2001:db8::/48'];
const WHITELIST = ['198.51.100.1/32', '198.51.100.128/28', '2001:db8::53/128'];
const pfx = (s: string) => parsePrefix(s) as Prefix;
const nets = NETWORKS.map(pfx);
const wl = WHITELIST.map(pfx);

const hostArb = fc.oneof(
  { weight: 5, arbitrary: fc.integer({ min: 0, max: 255 }).map((o) => `198.51.100.${o}`) },
  { weight: 2, arbitrary: fc.integer({ min: 128, max: 143 }).map((o) => `198.51.100.${o}`) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }).map((o) => `198.51.101.${o}`) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 254 }).map((o) => `192.0.2.${o}`) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 0xff }).map((o) => `2001:db8::${o.toString(16)}`) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xff }).map((o) => `2001:db9::${o.toString(16)}`) },
);
/** A host with its full length, or a covering prefix (some not aligned: refused as malformed). */
const targetArb = fc.oneof(
  { weight: 4, arbitrary: hostArb.map((h) => `${h}/${h.includes(':') ? 128 : 32}`) },
  { weight: 2, arbitrary: hostArb },
  { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 23, max: 31 })).map(([o, l]) => {
    const a = (o >> (32 - l >= 8 ? 8 : 32 - l)) << (32 - l >= 8 ? 8 : 32 - l);
    return `198.51.100.${a & 255}/${l}`;
  }) },
  { weight: 1, arbitrary: fc.constantFrom('198.51.100.0/24', '198.51.100.128/25', '198.51.100.0/25', '0.0.0.0/0', '2001:db8::/48', '::/0', '198.51.100.144/28') },
);
const ttlArb = fc.option(fc.integer({ min: 0, max: 40_000_000 }), { nil: undefined });

const lineArb = fc.oneof(
  targetArb.chain((t) => ttlArb.map((ttl) => `announce route ${t} next-hop 192.0.2.1 community [65535:666]${ttl !== undefined ? ` ttl ${ttl}` : ''}`)),
  targetArb.map((t) => `neighbor 127.0.0.2 announce route ${t} next-hop self`),
  targetArb.chain((t) => ttlArb.map((ttl) => `announce ${t}${ttl !== undefined ? ` ttl ${ttl}` : ''}`)),
  targetArb.map((t) => `announce flow route { match { destination ${t}; protocol udp; source-port =123; } then { discard; } }`),
  targetArb.map((t) => `announce flow route source 203.0.113.0/24 destination ${t} protocol [ udp ] source-port [ =53 ] rate-limit 1024`),
  targetArb.map((t) => `withdraw route ${t} next-hop self`),
  targetArb.map((t) => `withdraw ${t}`),
  targetArb.map((t) => `withdraw flow route { match { destination ${t}; } }`),
  fc.constant('withdraw-all'),
  fc.string({ maxLength: 60 }),
);

function routeTarget(r: any): Prefix {
  const text = r.prefix ?? r.rule?.destination?.prefix;
  assert.ok(text, `route without a destination: ${JSON.stringify(r)}`);
  return pfx(text);
}

test('command lines never put a route outside networks, on the whitelist, in dry-run or without a TTL', { timeout: 120_000 }, () => {
  const seen = { routes: 0, refused: 0, accepted: 0, unbanAll: 0 };
  fc.assert(
    fc.property(
      fc.boolean(),
      fc.constantFrom('blackhole', 'flowspec'),
      fc.record({ max_active_bans: fc.integer({ min: 0, max: 8 }), max_bans_per_window: fc.integer({ min: 0, max: 6 }) }),
      fc.array(lineArb, { minLength: 1, maxLength: 25 }),
      (dryRun, mitigation, caps, lines) => {
        const cfg = validateConfig({
          dry_run: dryRun,
          networks: NETWORKS,
          protected_whitelist: WHITELIST,
          mitigation,
          ban: { ttl_seconds: 300, unban_hysteresis_seconds: 10, max_banned_fraction: 1, ban_window_seconds: 60, ...caps },
          bgp: { local_asn: 65000, next_hop: '192.0.2.1', neighbors: [{ address: '127.0.0.2', remote_asn: 65001, families: ['ipv4_unicast', 'ipv6_unicast', 'ipv4_flowspec', 'ipv6_flowspec'] }] },
        });
        const clock = new ManualClock(Date.UTC(2026, 0, 1));
        const engine = new EngineAdapter(cfg, clock);
        const speaker = new FakeSpeaker([{ id: '127.0.0.2', families: ['ipv4_unicast', 'ipv6_unicast', 'ipv4_flowspec', 'ipv6_flowspec'] }]);
        const mitigator = new Mitigator({ port: speaker, bans: { active: () => engine.activeBans(), get: (id) => engine.banById(id), clockNow: () => clock.now() }, config: cfg, dryRun });
        engine.on((e) => {
          if (e.event === 'ban' || e.event === 'unban' || e.event === 'escalate') mitigator.changed(e.ban.id);
        });
        const runner = new CommandRunner({ port: () => engine, exabgp: parseCommand });
        const ribKeys = () => [...speaker.rib('127.0.0.2').keys()].sort().join('|');
        engine.tick(clock.now()); // the daemon ticks from its start, before the first line can arrive
        for (const line of lines) {
          const before = ribKeys();
          const r = runner.runLine(line, 1, { source: 'pipe', actor: 'pipe', admin: true });
          if (r) {
            if (r.ok) seen.accepted++;
            else seen.refused++;
            if (r.ok && r.action === 'unban_all') seen.unbanAll++;
          }
          if (r && !r.ok) assert.equal(ribKeys(), before, `refused line changed routes: ${line} → ${r.code}`);
          const rib = [...speaker.rib('127.0.0.2').values()];
          seen.routes += rib.length;
          if (dryRun) assert.equal(rib.length, 0, `dry-run sent a route after: ${line}`);
          for (const route of rib) {
            const t = routeTarget(route);
            assert.ok(nets.some((n) => prefixCovers(n, t)), `route outside networks after "${line}": ${JSON.stringify(route)}`);
            assert.ok(!wl.some((w) => prefixesOverlap(w, t)), `route on the whitelist after "${line}": ${JSON.stringify(route)}`);
          }
          for (const b of engine.activeBans()) {
            assert.ok(b.ttl_seconds >= 1 && b.ttl_seconds <= 365 * 86400, `ban without a valid TTL: ${JSON.stringify(b)}`);
            assert.ok(Number.isFinite(b.expires) && b.expires > clock.now() && b.expires <= b.created + b.ttl_seconds * 1000, `ban ${b.target} expires ${b.expires}`);
            assert.equal(b.source, 'pipe');
          }
          if (r?.ok && r.action === 'unban_all') assert.equal(engine.activeBans().length, 0, 'withdraw-all left a ban');
          clock.advance(1000);
          engine.tick(clock.now());
        }
      },
    ),
    { numRuns: RUNS },
  );
  // The property is not vacuous: routes were sent, lines were accepted and refused.
  assert.ok(seen.routes > 0 && seen.accepted > 0 && seen.refused > 0 && seen.unbanAll > 0, JSON.stringify(seen));
});
