import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseCommand, type RouteCommand } from '../../src/bgp/command.ts';
import { encodeUpdates, decodeUpdate } from '../../src/bgp/update.ts';
import { formatFlowspecRule, routeKey, type FlowspecRoute, type UnicastRoute } from '../../src/bgp/types.ts';

function ok(line: string): RouteCommand {
  const r = parseCommand(line);
  assert.ok(r.ok, `${line}\n→ ${r.ok ? '' : r.error}`);
  return r.command as RouteCommand;
}
function err(line: string, re: RegExp): void {
  const r = parseCommand(line);
  assert.equal(r.ok, false, `${line} should fail`);
  assert.match((r as { error: string }).error, re);
}

test('announce route with communities, large communities and attributes (IPv4 and IPv6)', () => {
  const c = ok('announce route 198.51.100.7/32 next-hop 192.0.2.1 community [65535:666 65001:100] large-community [65001:666:1] local-preference 200 med 10 origin egp as-path [65001 65002]');
  assert.equal(c.kind, 'announce');
  const r = c.route as UnicastRoute;
  assert.equal(r.family, 'ipv4_unicast');
  assert.equal(r.prefix, '198.51.100.7/32');
  assert.deepEqual(r.attrs, {
    nextHop: '192.0.2.1', communities: [0xffff029a, 65001 * 65536 + 100], largeCommunities: [[65001, 666, 1]],
    localPref: 200, med: 10, origin: 1, asPath: [{ type: 2, asns: [65001, 65002] }],
  });
  const v6 = ok('announce route 2001:db8::7/128 next-hop 2001:db8::1 community blackhole');
  assert.equal(v6.route.family, 'ipv6_unicast');
  assert.equal((v6.route as UnicastRoute).attrs.nextHop6, '2001:db8::1');
  assert.deepEqual(v6.route.attrs.communities, [0xffff029a]);
  const self = ok('neighbor 192.0.2.9 announce route 10.1.1.1 next-hop self community no-export ttl 300');
  assert.equal(self.nextHopSelf, true);
  assert.equal(self.ttl, 300);
  assert.deepEqual(self.neighbors, ['192.0.2.9']);
  assert.equal((self.route as UnicastRoute).prefix, '10.1.1.1/32');
  assert.deepEqual(ok('neighbor 192.0.2.9, neighbor 2001:db8::9 withdraw route 10.1.1.1/32').neighbors, ['192.0.2.9', '2001:db8::9']);
  assert.deepEqual(ok('withdraw route 10.1.1.1/32 next-hop 192.0.2.1').route.attrs, { nextHop: '192.0.2.1' });
  const ext = ok('announce route 10.0.0.0/24 next-hop 192.0.2.1 extended-community [target:65000:1 origin:192.0.2.1:5]');
  assert.deepEqual(ext.route.attrs.extCommunities, [
    { type: 'target', format: 'as2', global: '65000', local: 1 },
    { type: 'origin', format: 'ipv4', global: '192.0.2.1', local: 5 },
  ]);
});

test('FastNetMon / ExaBGP flow route lines', () => {
  const c = ok('announce flow route { match { source 10.0.0.0/8; destination 198.51.100.7/32; protocol udp; source-port =53; packet-length >=1000&<=1500; } then { rate-limit 125000; } }');
  const r = c.route as FlowspecRoute;
  assert.equal(r.family, 'ipv4_flowspec');
  assert.equal(formatFlowspecRule(r.rule), 'destination 198.51.100.7/32; source 10.0.0.0/8; protocol =17; source-port =53; packet-length >=1000&<=1500;');
  assert.deepEqual(r.attrs.extCommunities, [{ type: 'traffic-rate', asn: 0, rate: 125000 }]);
  const d = ok('announce flow route { match { destination 198.51.100.7/32; destination-port [=53 =123]; tcp-flags [syn]; fragment [first-fragment is-fragment]; } then { discard; } }');
  assert.equal(formatFlowspecRule((d.route as FlowspecRoute).rule), 'destination 198.51.100.7/32; destination-port =53 =123; tcp-flags syn; fragment first-fragment is-fragment;');
  const e = ok('announce flow route { match { destination 198.51.100.7/32; protocol =tcp; tcp-flags [=syn&!ack]; dscp [=10 =46] } then { redirect 65000:100; mark 10; action sample-terminal; community [65001:1] } } ttl 60');
  const er = e.route as FlowspecRoute;
  assert.deepEqual(er.rule.tcpFlags, [{ and: false, not: false, match: true, value: 2 }, { and: true, not: true, match: false, value: 0x10 }]);
  assert.deepEqual(er.attrs.extCommunities, [
    { type: 'redirect', asn: 65000, value: 100, as4: false },
    { type: 'traffic-marking', dscp: 10 },
    { type: 'traffic-action', sample: true, terminal: true },
  ]);
  assert.deepEqual(er.attrs.communities, [65001 * 65536 + 1]);
  assert.equal(e.ttl, 60);
  const v6 = ok('announce flow route { match { destination 2001:db8::7/128; next-header udp; flow-label 5; fragment [!is-fragment]; } then { rate-limit-packets 1000; } }');
  assert.equal(v6.route.family, 'ipv6_flowspec');
  const off = ok('announce flow route { match { destination ::1234:5678:9a00:0/104/64; } then { discard; } }');
  assert.deepEqual((off.route as FlowspecRoute).rule.destination, { prefix: '::1234:5678:9a00:0/104', offset: 64 });
  const w = ok('withdraw flow route { match { destination 198.51.100.7/32; protocol udp; } }');
  assert.equal(w.kind, 'withdraw');
  // the parsed objects are directly encodable
  for (const cmd of [c, d, e, v6]) {
    const msgs = encodeUpdates({ announce: [{ ...cmd.route, attrs: { ...cmd.route.attrs, origin: 0, asPath: [] } } as FlowspecRoute] }, { as4: true, extendedMessage: false });
    assert.equal(routeKey(decodeUpdate(msgs[0].subarray(19), { as4: true, extendedMessage: false }).announced[0]), routeKey(cmd.route));
  }
});

test('show / flush commands', () => {
  assert.deepEqual(parseCommand('show neighbor summary'), { ok: true, command: { kind: 'show-neighbor-summary' } });
  assert.deepEqual(parseCommand('show adj-rib out'), { ok: true, command: { kind: 'show-adj-rib-out' } });
  assert.deepEqual(parseCommand('neighbor 192.0.2.9 flush adj-rib out'), { ok: true, command: { kind: 'flush-adj-rib-out', neighbors: ['192.0.2.9'] } });
});

test('bad input gets a precise reason', () => {
  err('', /empty/);
  err('announce route 10.0.0.1/33 next-hop 1.2.3.4', /invalid prefix length/);
  err('announce route 10.0.0.1/24 next-hop 1.2.3.4', /host bits/);
  err('announce route 10.0.0.1/32', /next-hop/);
  err('announce route 10.0.0.1/32 next-hop 2001:db8::1', /IPv4 route needs an IPv4 next hop/);
  err('announce route 2001:db8::1/128 next-hop 192.0.2.1', /IPv6 route needs an IPv6 next hop/);
  err('announce route 10.0.0.1/32 next-hop 1.2.3.4 community [65536:1]', /0\.\.65535/);
  err('announce route 10.0.0.1/32 next-hop 1.2.3.4 community [65535:666', /"\]"/);
  err('announce route 10.0.0.1/32 next-hop 1.2.3.4 colour red', /unknown route attribute "colour"/);
  err('announce route 10.0.0.1/32 next-hop 1.2.3.4 ttl 0', /ttl/);
  err('withdraw route 10.0.0.1/32 ttl 5', /announce only/);
  err('neighbor foo announce route 10.0.0.1/32 next-hop 1.2.3.4', /neighbor "foo"/);
  err('announce flow route { match { } then { discard; } }', /empty match/);
  err('announce flow route { match { protocol udp; } then { discard; } }', /without a destination/);
  err('announce flow route { match { destination 10.0.0.1/32; packet-length >70000; } then { discard; } }', /packet-length: value 70000/);
  err('announce flow route { match { destination 10.0.0.1/32; destination-port =99999; } then { discard; } }', /destination-port/);
  err('announce flow route { match { destination 10.0.0.1/32; dscp 64; } then { discard; } }', /dscp/);
  err('announce flow route { match { destination 10.0.0.1/32; flow-label 1; } then { discard; } }', /IPv6 but the rule is IPv4/);
  err('announce flow route { match { destination 10.0.0.1/32; source 2001:db8::/32; } then { discard; } }', /IPv6 but the rule is IPv4/);
  err('announce flow route { match { destination 10.0.0.1/32; protocol udp; protocol tcp; } then { discard; } }', /given twice/);
  err('announce flow route { match { destination 10.0.0.1/32; tcp-flags [bogus]; } then { discard; } }', /tcp-flags/);
  err('announce flow route { match { destination 10.0.0.1/32; fragment [dont-fragment&]; } then { discard; } }', /empty term/);
  err('announce flow route { match { destination 10.0.0.1/32; } then { mark 64; } }', /mark/);
  err('announce flow route { match { destination 10.0.0.1/32; } then { teleport; } }', /unknown action "teleport"/);
  err('announce flow route { match { destination 10.0.0.1/32; } }', /needs an action/);
  err('announce flow route { match { destination 10.0.0.1/32; } then { discard; }', /"\}"/);
  err('announce flow route { match { destination 10.0.0.1/32; colour red; } then { discard; } }', /unknown match condition "colour"/);
  err('announce vpn route x', /not "vpn"/);
  err('show me everything', /unknown command/);
});

test('parseCommand never throws on arbitrary input (property)', () => {
  const words = fc.constantFrom('announce', 'withdraw', 'flow', 'route', '{', '}', 'match', 'then', ';', '[', ']', 'destination', '10.0.0.1/32', 'protocol', 'udp', '=53', '>=1&<=2', 'tcp-flags', 'syn', '!ack', 'discard', 'rate-limit', '9600', 'neighbor', '1.2.3.4', 'next-hop', 'self', 'community', '65535:666', 'ttl', '&', '!=', 'fragment', 'not-a-fragment', 'redirect', '65000:1', '2001:db8::/32/16');
  fc.assert(fc.property(fc.oneof(fc.string({ maxLength: 200 }), fc.array(words, { maxLength: 40 }).map((w) => w.join(' '))), (s) => {
    const r = parseCommand(s);
    assert.equal(typeof r.ok, 'boolean');
    if (!r.ok) assert.ok(r.error.length > 0 && !r.error.startsWith('internal error'), r.error);
  }), { numRuns: 3000 });
});
