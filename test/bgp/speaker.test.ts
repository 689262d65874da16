/**
 * Adj-RIB-Out bookkeeping and route checks (no sockets).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AdjRibOut, badNextHop4, badNextHop6, outgoingAttrs, refuseForSession, validateRoute } from '../../src/bgp/adjrib.ts';
import { BgpSpeaker } from '../../src/bgp/index.ts';
import { RouteError } from '../../src/bgp/errors.ts';
import { validateConfig } from '../../src/config/load.ts';
import { silentLogger } from '../../src/core/log.ts';
import type { FamilyName, Route, UnicastRoute } from '../../src/bgp/types.ts';

const r4 = (prefix: string, nextHop = '192.0.2.1', communities = [0xffff029a]): UnicastRoute => ({ family: 'ipv4_unicast', prefix, attrs: { nextHop, communities } });
const ALL = new Set<FamilyName>(['ipv4_unicast', 'ipv6_unicast', 'ipv4_flowspec', 'ipv6_flowspec']);

test('adjrib: dedup, replace, withdraw, resend after reset', () => {
  const rib = new AdjRibOut();
  assert.equal(rib.announce(r4('203.0.113.1/32')), true);
  assert.equal(rib.announce(r4('203.0.113.1/32')), false, 'same route twice: no change');
  let ch = rib.takeChanges(ALL);
  assert.equal(ch.announce.length, 1);
  assert.equal(rib.takeChanges(ALL).announce.length, 0);
  rib.announce(r4('203.0.113.1/32', '192.0.2.2'));
  ch = rib.takeChanges(ALL);
  assert.equal(ch.announce.length, 1, 'changed attributes are re-sent');
  assert.equal(ch.announce[0].family === 'ipv4_unicast' && ch.announce[0].attrs.nextHop, '192.0.2.2');
  // announce then withdraw before a flush: nothing on the wire
  rib.announce(r4('203.0.113.2/32'));
  rib.withdraw(r4('203.0.113.2/32'));
  ch = rib.takeChanges(ALL);
  assert.deepEqual([ch.announce.length, ch.withdraw.length], [0, 0]);
  rib.withdraw('ipv4_unicast 203.0.113.1/32');
  ch = rib.takeChanges(ALL);
  assert.equal(ch.withdraw.length, 1);
  assert.equal(rib.sentCount(), 0);
  rib.announce(r4('203.0.113.3/32'));
  rib.takeChanges(ALL);
  rib.resetSent();
  assert.equal(rib.takeChanges(ALL).announce.length, 1, 'everything again after session reset');
});

test('adjrib: a family not negotiated is held and sent once it is', () => {
  const rib = new AdjRibOut();
  const flow: Route = { family: 'ipv4_flowspec', rule: { destination: { prefix: '203.0.113.1/32' } }, attrs: {} };
  rib.announce(flow);
  rib.announce(r4('203.0.113.1/32'));
  const v4only = new Set<FamilyName>(['ipv4_unicast']);
  const ch = rib.takeChanges(v4only);
  assert.equal(ch.announce.length, 1);
  assert.equal(rib.held(v4only).length, 1);
  assert.equal(rib.takeChanges(ALL).announce.length, 1);
});

test('adjrib: property — after takeChanges the sent set equals the desired set', () => {
  const prefix = fc.integer({ min: 0, max: 15 }).map((i) => `203.0.113.${i}/32`);
  const op = fc.oneof(
    fc.record({ k: fc.constant('a' as const), p: prefix, nh: fc.constantFrom('192.0.2.1', '192.0.2.2') }),
    fc.record({ k: fc.constant('w' as const), p: prefix }),
    fc.record({ k: fc.constant('f' as const) }),
    fc.record({ k: fc.constant('r' as const) }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
      const rib = new AdjRibOut();
      const peer = new Map<string, string>(); // what the peer holds: prefix → next hop
      const apply = () => {
        const ch = rib.takeChanges(ALL);
        for (const w of ch.withdraw) {
          assert.ok(peer.has((w as UnicastRoute).prefix), 'never withdraw what the peer does not hold');
          peer.delete((w as UnicastRoute).prefix);
        }
        for (const a of ch.announce) peer.set((a as UnicastRoute).prefix, (a as UnicastRoute).attrs.nextHop!);
      };
      for (const o of ops) {
        if (o.k === 'a') rib.announce(r4(o.p, o.nh));
        else if (o.k === 'w') rib.withdraw(r4(o.p));
        else if (o.k === 'f') apply();
        else {
          rib.resetSent();
          peer.clear();
        }
      }
      apply();
      const want = new Map([...rib.desired.values()].map((e) => [(e.route as UnicastRoute).prefix, (e.route as UnicastRoute).attrs.nextHop!]));
      assert.deepEqual(peer, want);
    }),
    { numRuns: 300 },
  );
});

test('routes: martian and mismatched next hops are refused with a clear error', () => {
  assert.throws(() => validateRoute(r4('203.0.113.1/32', '127.0.0.1')), (e: Error) => e instanceof RouteError && /loopback/.test(e.message));
  assert.throws(() => validateRoute(r4('203.0.113.1/32', '0.1.2.3')), /0\.0\.0\.0\/8/);
  assert.throws(() => validateRoute(r4('203.0.113.1/32', '224.0.0.5')), /multicast/);
  assert.throws(() => validateRoute(r4('203.0.113.1/32', '255.255.255.255')), /reserved or broadcast/);
  assert.throws(() => validateRoute(r4('203.0.113.1/31')), /host bits set/);
  assert.throws(() => validateRoute({ family: 'ipv6_unicast', prefix: '2001:db8::1/128', attrs: { nextHop: '192.0.2.1' } }), /IPv6 and needs an IPv6 next hop/);
  assert.throws(() => validateRoute({ family: 'ipv6_unicast', prefix: '2001:db8::1/128', attrs: { nextHop6: '::1' } }), /loopback/);
  assert.throws(() => validateRoute({ family: 'ipv6_unicast', prefix: '2001:db8::1/128', attrs: { nextHop6: 'ff02::1' } }), /multicast/);
  assert.throws(() => validateRoute({ family: 'ipv4_unicast', prefix: '2001:db8::1/128', attrs: { nextHop: '192.0.2.1' } }), /does not belong/);
  assert.throws(() => validateRoute({ family: 'ipv4_flowspec', rule: {}, attrs: {} }), /empty match/);
  validateRoute(r4('203.0.113.1/32'));
  validateRoute({ family: 'ipv6_unicast', prefix: '2001:db8::1/128', attrs: { nextHop6: '100::1' } });
  assert.equal(badNextHop4('192.0.2.1'), null);
  assert.equal(badNextHop6('2001:db8::1'), null);
  assert.match(refuseForSession(r4('203.0.113.1/32', '198.51.100.9'), '198.51.100.9') ?? '', /neighbor's own address/);
  assert.equal(refuseForSession(r4('203.0.113.1/32', '198.51.100.9'), '198.51.100.8'), null);
  assert.match(refuseForSession(r4('203.0.113.1/32', 'self'), '198.51.100.8', '127.0.0.5') ?? '', /loopback/);
  assert.equal(refuseForSession(r4('203.0.113.1/32', 'self'), '198.51.100.8', '198.51.100.7'), null);
});

test('routes: eBGP prepends our AS and drops LOCAL_PREF; iBGP keeps the path and sets LOCAL_PREF', () => {
  const ctx = { as4: true, extendedMessage: false };
  const e = outgoingAttrs({ nextHop: '192.0.2.1', localPref: 500 }, { ctx, localAsn: 65001, ibgp: false, localPref: 100 });
  assert.deepEqual(e.asPath, [{ type: 2, asns: [65001] }]);
  assert.equal(e.localPref, undefined);
  assert.equal(e.origin, 0);
  const i = outgoingAttrs({ nextHop: 'self' }, { ctx, localAsn: 65001, ibgp: true, localPref: 200, localAddress: '198.51.100.7' });
  assert.deepEqual(i.asPath, []);
  assert.equal(i.localPref, 200);
  assert.equal(i.nextHop, '198.51.100.7');
});

test('speaker API: errors are synchronous, unknown neighbors refused, mirror tracks routes', async () => {
  const cfg = validateConfig({ bgp: { neighbors: [{ address: '2001:DB8::0001', remote_asn: 65002 }, { address: '198.51.100.2', remote_asn: 65003 }] } }).bgp;
  const sp = new BgpSpeaker(cfg, silentLogger());
  assert.deepEqual(sp.neighbors().map((n) => [n.address, n.state]), [['2001:db8::1', 'Idle'], ['198.51.100.2', 'Idle']]);
  assert.throws(() => sp.announce(r4('203.0.113.1/32', '127.0.0.1')), RouteError);
  assert.throws(() => sp.announce(r4('203.0.113.1/32'), { neighbors: ['192.0.2.99'] }), /unknown neighbor/);
  sp.announce(r4('203.0.113.1/32'), { neighbors: ['2001:db8::1'] });
  sp.announce(r4('203.0.113.2/32'));
  assert.equal(sp.routes('2001:db8::1').length, 2);
  assert.equal(sp.routes('198.51.100.2').length, 1);
  sp.withdraw(r4('203.0.113.2/32'));
  assert.equal(sp.routes('198.51.100.2').length, 0);
  const rib = await sp.adjRibOut();
  assert.deepEqual(rib.map((e) => [e.neighbor, e.status]), [['2001:db8::1', 'pending']]);
  sp.flush();
  assert.equal(sp.routes('2001:db8::1').length, 0);
});
