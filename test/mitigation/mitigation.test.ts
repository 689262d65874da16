import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { validateConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import type { Ban, RouteIntent } from '../../src/ban/types.ts';
import { routeKey, type FlowspecRoute, type UnicastRoute } from '../../src/bgp/types.ts';
import { blackholeRoute } from '../../src/mitigation/blackhole.ts';
import { flowspecRoutes } from '../../src/mitigation/flowspec.ts';
import { globalPolicy, neighborPolicy } from '../../src/mitigation/policy.ts';
import { FakeSpeaker, mitigator } from './fake-speaker.ts';
import { makeBan } from '../store/fixtures.ts';

const BLACKHOLE = 0xffff029a;

function cfg(extra: Record<string, unknown> = {}): Readonly<Config> {
  return validateConfig({
    networks: ['198.51.100.0/24', '2001:db8::/32'],
    bgp: {
      local_asn: 65000,
      next_hop: '192.0.2.1',
      communities: ['65000:666'],
      large_communities: ['65000:1:666'],
      neighbors: [
        { address: '127.0.0.2', remote_asn: 65001 },
        { address: '127.0.0.3', remote_asn: 65000, next_hop: '203.0.113.99', communities: ['65010:9'], local_pref: 250 },
      ],
    },
    ...extra,
  });
}

function bhIntent(prefix: string, c: Readonly<Config>): RouteIntent {
  return {
    type: 'blackhole',
    prefix,
    next_hop: prefix.includes(':') ? c.bgp.next_hop6 : c.bgp.next_hop,
    communities: [c.bgp.community, ...c.bgp.communities],
    large_communities: [...c.bgp.large_communities],
    local_pref: c.bgp.local_pref,
  };
}

function fsBan(target: string, over: Partial<Ban> = {}): Ban {
  const fam = target.includes(':') ? 6 : 4;
  return makeBan(target, {
    action: 'flowspec',
    route: {
      type: 'flowspec',
      rules: [
        { family: fam, destination: `${target}/${fam === 4 ? 32 : 128}`, protocols: [17], source_ports: [123], action: { type: 'discard' } },
        { family: fam, destination: `${target}/${fam === 4 ? 32 : 128}`, protocols: [17], fragment: true, action: { type: 'discard' } },
      ],
    },
    ...over,
  });
}

test('RTBH translation: /32 and /128 with next hops, BLACKHOLE + communities + large communities, per-neighbor overrides', () => {
  const c = cfg();
  const g = globalPolicy(c);
  const ebgp = neighborPolicy(c, c.bgp.neighbors[0]);
  const ibgp = neighborPolicy(c, c.bgp.neighbors[1]);

  const r4 = blackholeRoute(bhIntent('198.51.100.7/32', c) as any, g, ebgp);
  assert.equal(r4.family, 'ipv4_unicast');
  assert.equal(r4.prefix, '198.51.100.7/32');
  assert.equal(r4.attrs.nextHop, '192.0.2.1');
  assert.deepEqual(r4.attrs.communities, [BLACKHOLE, 65000 * 65536 + 666]);
  assert.deepEqual(r4.attrs.largeCommunities, [[65000, 1, 666]]);
  assert.equal(r4.attrs.localPref, undefined, 'no LOCAL_PREF on eBGP');
  assert.equal(r4.attrs.origin, 0);

  const r6 = blackholeRoute(bhIntent('2001:db8::7/128', c) as any, g, ebgp);
  assert.equal(r6.family, 'ipv6_unicast');
  assert.equal(r6.attrs.nextHop6, '100::1');
  assert.equal(r6.attrs.nextHop, undefined);

  const ri = blackholeRoute({ ...(bhIntent('198.51.100.7/32', c) as any), communities: ['65535:666', '65000:666', '64999:1'] }, g, ibgp);
  assert.equal(ri.attrs.nextHop, '203.0.113.99', 'neighbor next hop override');
  assert.deepEqual(ri.attrs.communities, [BLACKHOLE, 65010 * 65536 + 9, 64999 * 65536 + 1], 'neighbor communities replace the global list, hostgroup extras stay');
  assert.equal(ri.attrs.localPref, 250);
});

test('FlowSpec translation: components, OR lists, SYN-without-ACK, fragments, rate-limit, bounded rule count', () => {
  const routes = flowspecRoutes(
    {
      type: 'flowspec',
      rules: [
        { family: 4, destination: '198.51.100.7/32', protocols: [6], tcp_flags: { set: 0x02, clear: 0x10 }, action: { type: 'discard' } },
        { family: 4, destination: '198.51.100.7/32', protocols: [17], source_ports: [53, 123], fragment: true, packet_length: { min: 500, max: 1500 }, action: { type: 'rate_limit', bytes_per_second: 1_250_000 } },
        { family: 4, destination: '198.51.100.7/32', protocols: [1], action: { type: 'discard' } },
      ],
    },
    2,
  ) as FlowspecRoute[];
  assert.equal(routes.length, 2, 'max rules per ban');
  const [syn, amp] = routes;
  assert.equal(syn.family, 'ipv4_flowspec');
  assert.deepEqual(syn.rule.destination, { prefix: '198.51.100.7/32' });
  assert.deepEqual(syn.rule.protocol, [{ and: false, lt: false, gt: false, eq: true, value: 6 }]);
  assert.deepEqual(syn.rule.tcpFlags, [
    { and: false, not: false, match: true, value: 0x02 },
    { and: true, not: true, match: false, value: 0x10 },
  ]);
  assert.deepEqual(syn.attrs.extCommunities, [{ type: 'traffic-rate', asn: 0, rate: 0 }]);
  assert.match(routeKey(syn), /tcp-flags =syn&!ack/);
  assert.deepEqual(amp.rule.sourcePort?.map((o) => o.value), [53, 123]);
  assert.ok(amp.rule.sourcePort?.every((o) => !o.and && o.eq), 'ports are ORed');
  assert.deepEqual(amp.rule.fragment, [{ and: false, not: false, match: false, value: 0x02 }]);
  assert.deepEqual(amp.rule.packetLength?.map((o) => [o.gt, o.lt, o.eq, o.and, o.value]), [[true, false, true, false, 500], [false, true, true, true, 1500]]);
  assert.deepEqual(amp.attrs.extCommunities, [{ type: 'traffic-rate', asn: 0, rate: 1_250_000 }]);

  const v6 = flowspecRoutes({ type: 'flowspec', rules: [{ family: 6, destination: '2001:db8::7/128', protocols: [58], action: { type: 'discard' } }] }, 4);
  assert.equal(v6[0].family, 'ipv6_flowspec');
});

test('dry-run: sessions are listed but nothing is announced; going live announces at once; back to dry-run withdraws all', async () => {
  const c = cfg();
  const sp = new FakeSpeaker([{ id: '127.0.0.2' }, { id: '127.0.0.3' }]);
  const announced: Array<[string, string[]]> = [];
  const m = mitigator({ port: sp, config: c, dryRun: true, onAnnounced: (b, n) => announced.push([b, n]) });
  const b1 = makeBan('198.51.100.7', { route: bhIntent('198.51.100.7/32', c) });
  const b2 = fsBan('198.51.100.8');
  m.upsert(b1);
  m.upsert(b2);
  await m.reconcile();
  assert.equal(sp.announces(), 0);
  assert.equal(sp.total(), 0);
  assert.deepEqual(m.stats().announced_routes, { real: 0, dry_run: 3 });
  assert.deepEqual(m.stats().flowspec_rules, { real: 0, dry_run: 2 });

  m.setDryRun(false);
  assert.equal(sp.rib('127.0.0.2').size, 3);
  assert.equal(sp.rib('127.0.0.3').size, 3);
  assert.deepEqual(m.stats().announced_routes, { real: 3, dry_run: 0 });
  assert.deepEqual(m.announcedNeighbors(b1.id), ['127.0.0.2', '127.0.0.3']);
  assert.ok(announced.some(([b, n]) => b === b1.id && n.length === 2));

  m.setDryRun(true);
  assert.equal(sp.total(), 0, 'every real route withdrawn');
  assert.deepEqual(m.announcedNeighbors(b1.id), []);
  assert.deepEqual(m.stats().announced_routes, { real: 0, dry_run: 3 });
  assert.equal(m.stats().gate_blocked, 0);
});

test('property: in dry-run no operation sequence ever announces; live state always equals the active bans', async () => {
  const c = cfg({ ban: { fallback: 'blackhole' } });
  const targets = ['198.51.100.1', '198.51.100.2', '198.51.100.3', '2001:db8::1', '2001:db8::2'];
  const op = fc.oneof(
    fc.record({ k: fc.constant('ban' as const), t: fc.constantFrom(...targets), fs: fc.boolean() }),
    fc.record({ k: fc.constant('unban' as const), t: fc.constantFrom(...targets) }),
    fc.record({ k: fc.constant('mode' as const), dry: fc.boolean() }),
    fc.record({ k: fc.constant('reconcile' as const) }),
    fc.record({ k: fc.constant('drift' as const), nb: fc.constantFrom('127.0.0.2', '127.0.0.3') }),
    fc.record({ k: fc.constant('flap' as const), nb: fc.constantFrom('127.0.0.2', '127.0.0.3'), fs: fc.boolean() }),
  );
  await fc.assert(
    fc.asyncProperty(fc.array(op, { maxLength: 40 }), async (ops) => {
      const sp = new FakeSpeaker([{ id: '127.0.0.2' }, { id: '127.0.0.3', families: ['ipv4_unicast', 'ipv6_unicast'] }]);
      const m = mitigator({ port: sp, config: c, dryRun: true });
      let dry = true;
      const byTarget = new Map<string, string>();
      for (const o of ops) {
        const before = sp.announces();
        if (o.k === 'ban') {
          const old = byTarget.get(o.t);
          if (old) m.remove(old);
          const b = o.fs ? fsBan(o.t) : makeBan(o.t, { route: bhIntent(`${o.t}/${o.t.includes(':') ? 128 : 32}`, c) });
          byTarget.set(o.t, b.id);
          m.upsert(b);
        } else if (o.k === 'unban') {
          const id = byTarget.get(o.t);
          if (id) m.remove(id);
          byTarget.delete(o.t);
        } else if (o.k === 'mode') {
          dry = o.dry;
          m.setDryRun(o.dry);
        } else if (o.k === 'reconcile') await m.reconcile();
        else if (o.k === 'drift') {
          // Someone else's route appears, one of ours disappears.
          const r = sp.rib(o.nb);
          const first = r.keys().next();
          if (!first.done) r.delete(first.value);
          const stray: UnicastRoute = { family: 'ipv4_unicast', prefix: '198.51.100.200/32', attrs: { nextHop: '192.0.2.1' } };
          r.set(routeKey(stray), stray);
          await m.reconcile();
        } else if (o.k === 'flap') {
          const p = sp.peerList.find((x) => x.id === o.nb)!;
          p.families = o.fs ? ['ipv4_unicast', 'ipv6_unicast', 'ipv4_flowspec', 'ipv6_flowspec'] : ['ipv4_unicast', 'ipv6_unicast'];
          await m.reconcile();
        }
        if (dry) {
          assert.equal(sp.announces(), before, `announce during dry-run after ${o.k}`);
        }
      }
      await m.reconcile();
      if (dry) assert.equal(sp.total(), 0, 'dry-run leaves no route anywhere');
      else {
        // Every neighbor holds exactly the routes of the active bans.
        for (const peer of sp.peerList) {
          const want = new Set<string>();
          for (const b of m.activeBans()) for (const r of m.routesForBan(b, undefined, peer.families).routes) want.add(routeKey(r).replace(/^/, ''));
          assert.deepEqual([...sp.rib(peer.id).keys()].sort(), [...want].sort(), `rib of ${peer.id}`);
        }
      }
      assert.equal(m.stats().gate_blocked, 0);
    }),
    { numRuns: 200 },
  );
});

test('FlowSpec ban to a neighbor without FlowSpec: blackhole fallback (counted once) or held when fallback is none', async () => {
  for (const fallback of ['blackhole', 'none'] as const) {
    const c = cfg({ ban: { fallback } });
    const sp = new FakeSpeaker([{ id: '127.0.0.2' }, { id: '127.0.0.3', families: ['ipv4_unicast', 'ipv6_unicast'] }]);
    const m = mitigator({ port: sp, config: c, dryRun: false });
    const b = fsBan('198.51.100.9');
    m.upsert(b);
    await m.reconcile();
    m.upsert({ ...b, expires: b.expires + 1000 });
    assert.equal(sp.rib('127.0.0.2').size, 2, 'FlowSpec neighbor gets both rules');
    assert.ok([...sp.rib('127.0.0.2').values()].every((r) => r.family === 'ipv4_flowspec'));
    if (fallback === 'blackhole') {
      const r = [...sp.rib('127.0.0.3').values()];
      assert.equal(r.length, 1);
      assert.equal(r[0].family, 'ipv4_unicast');
      assert.equal((r[0] as UnicastRoute).prefix, '198.51.100.9/32');
      assert.equal((r[0] as UnicastRoute).attrs.nextHop, '203.0.113.99', 'fallback uses the neighbor overrides');
      assert.ok((r[0] as UnicastRoute).attrs.communities?.includes(BLACKHOLE));
      assert.equal(m.stats().fallbacks, 1);
      assert.equal(m.stats().held, 0);
    } else {
      assert.equal(sp.rib('127.0.0.3').size, 0);
      assert.equal(m.stats().fallbacks, 0);
      assert.equal(m.stats().held, 2);
    }
  }
});

test('reconcile repairs drift (missing, changed, stale) and logs it; a route shared by two bans stays until both end', async () => {
  const c = cfg();
  const sp = new FakeSpeaker([{ id: '127.0.0.2' }]);
  const lines: any[] = [];
  const log = { warn: (o: unknown) => lines.push(o), error: (o: unknown) => lines.push(o), info: () => {} } as any;
  const m = mitigator({ port: sp, config: c, dryRun: false, log });
  const a = makeBan('198.51.100.7', { route: bhIntent('198.51.100.7/32', c) });
  const a2 = makeBan('198.51.100.7', { route: bhIntent('198.51.100.7/32', c), source: 'alice' });
  const b = makeBan('198.51.100.8', { route: bhIntent('198.51.100.8/32', c) });
  m.upsert(a);
  m.upsert(a2);
  m.upsert(b);
  assert.deepEqual(await m.reconcile(), { missing: 0, changed: 0, stale: 0 });

  const rib = sp.rib('127.0.0.2');
  rib.delete('ipv4_unicast 198.51.100.8/32');
  const changed = rib.get('ipv4_unicast 198.51.100.7/32') as UnicastRoute;
  rib.set('ipv4_unicast 198.51.100.7/32', { ...changed, attrs: { ...changed.attrs, nextHop: '192.0.2.77' } });
  const stray: UnicastRoute = { family: 'ipv4_unicast', prefix: '198.51.100.99/32', attrs: { nextHop: '192.0.2.1' } };
  rib.set(routeKey(stray), stray);

  // A reconcile that overlaps a change does nothing (the next round checks again).
  const overlapping = m.reconcile();
  m.upsert(makeBan('198.51.100.20', { route: bhIntent('198.51.100.20/32', c) }));
  assert.equal(await overlapping, null);
  m.remove([...m.activeBans()].find((x) => x.target === '198.51.100.20')!.id);

  assert.deepEqual(await m.reconcile(), { missing: 1, changed: 1, stale: 1 });
  assert.deepEqual([...rib.keys()].sort(), ['ipv4_unicast 198.51.100.7/32', 'ipv4_unicast 198.51.100.8/32']);
  assert.equal((rib.get('ipv4_unicast 198.51.100.7/32') as UnicastRoute).attrs.nextHop, '192.0.2.1');
  const logged = lines.find((l) => l.event === 'mitigation drift repaired');
  assert.ok(logged);
  assert.deepEqual([logged.missing, logged.changed, logged.stale], [1, 1, 1]);
  assert.deepEqual(m.stats().repairs, { missing: 1, changed: 1, stale: 1 });

  m.remove(a.id);
  assert.ok(rib.has('ipv4_unicast 198.51.100.7/32'), 'the other ban still wants it');
  m.remove(a2.id);
  assert.ok(!rib.has('ipv4_unicast 198.51.100.7/32'));
});

test('reconfigure applies new neighbor overrides to active bans without a new ban', () => {
  const c = cfg();
  const sp = new FakeSpeaker([{ id: '127.0.0.2' }]);
  const m = mitigator({ port: sp, config: c, dryRun: false });
  m.upsert(makeBan('198.51.100.7', { route: bhIntent('198.51.100.7/32', c) }));
  const before = sp.rib('127.0.0.2').get('ipv4_unicast 198.51.100.7/32') as UnicastRoute;
  assert.equal(before.attrs.nextHop, '192.0.2.1');
  const raw = JSON.parse(JSON.stringify(c));
  raw.bgp.neighbors[0].next_hop = '192.0.2.55';
  m.reconfigure(validateConfig(raw));
  const after = sp.rib('127.0.0.2').get('ipv4_unicast 198.51.100.7/32') as UnicastRoute;
  assert.equal(after.attrs.nextHop, '192.0.2.55');
});

test('changes are applied per ban: a new, escalated or ended ban touches only its own routes', () => {
  const c = cfg();
  const sp = new FakeSpeaker([{ id: '127.0.0.2' }, { id: '127.0.0.3' }]);
  const m = mitigator({ port: sp, config: c, dryRun: false });
  for (let i = 1; i <= 50; i++) m.upsert(makeBan(`198.51.100.${i}`, { route: bhIntent(`198.51.100.${i}/32`, c) }));
  assert.equal(sp.rib('127.0.0.2').size, 50);
  sp.calls.length = 0;
  const extra = makeBan('198.51.100.200', { route: bhIntent('198.51.100.200/32', c) });
  m.upsert(extra);
  assert.deepEqual(sp.calls.map((x) => [x.kind, x.neighbor, x.keys]), [
    ['announce', '127.0.0.2', ['ipv4_unicast 198.51.100.200/32']],
    ['announce', '127.0.0.3', ['ipv4_unicast 198.51.100.200/32']],
  ], 'a new ban announces its route and nothing else');
  sp.calls.length = 0;
  m.upsert({ ...extra, expires: extra.expires + 60_000 });
  assert.equal(sp.calls.length, 0, 'a ban whose routes did not change sends nothing');
  m.upsert(fsBan('198.51.100.200', { id: extra.id }));
  assert.deepEqual(sp.calls.map((x) => [x.kind, x.neighbor, x.keys.length]), [
    ['withdraw', '127.0.0.2', 1], ['announce', '127.0.0.2', 2],
    ['withdraw', '127.0.0.3', 1], ['announce', '127.0.0.3', 2],
  ], 'an escalated (rerouted) ban swaps its own routes');
  sp.calls.length = 0;
  m.remove(extra.id);
  assert.deepEqual(sp.calls.map((x) => [x.kind, x.neighbor, x.keys.length]), [['withdraw', '127.0.0.2', 2], ['withdraw', '127.0.0.3', 2]]);
  assert.equal(sp.rib('127.0.0.2').size, 50);
});

test('the Mitigator keeps no copy of the bans: what it announces follows the ban source', async () => {
  const c = cfg();
  const sp = new FakeSpeaker([{ id: '127.0.0.2' }]);
  const m = mitigator({ port: sp, config: c, dryRun: false });
  const b = makeBan('198.51.100.7', { route: bhIntent('198.51.100.7/32', c) });
  m.upsert(b);
  // The ban ends in the ban module; the next reconcile withdraws its route even without a call for it.
  m.source.delete(b.id);
  assert.equal(m.activeBans().length, 0);
  await m.reconcile();
  assert.equal(sp.rib('127.0.0.2').size, 0);
});
