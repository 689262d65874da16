import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatIPv4, formatIPv6, maskBytes } from '../../src/core/ip.ts';
import { decodeUpdate, decodeUpdateCounted, encodeEndOfRib, encodeUpdates, newUpdateStats } from '../../src/bgp/update.ts';
import { BgpError } from '../../src/bgp/errors.ts';
import { anyOf, range } from '../../src/bgp/flowspec.ts';
import { attrsKey, routeKey, FAMILY_NAMES, type CodecContext, type PathAttributes, type Route, type UnicastRoute } from '../../src/bgp/types.ts';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const MARKER = 'ff'.repeat(16);
const body = (m: Buffer) => m.subarray(19);
const AS4: CodecContext = { as4: true, extendedMessage: false };
const AS2: CodecContext = { as4: false, extendedMessage: false };

test('IPv4 RTBH UPDATE known answer (RFC 4271 §4.3 layout, RFC 1997, RFC 7999)', () => {
  const r: UnicastRoute = {
    family: 'ipv4_unicast', prefix: '198.51.100.7/32',
    attrs: { origin: 0, asPath: [{ type: 2, asns: [65001] }], nextHop: '192.0.2.1', communities: [0xffff029a] },
  };
  const [m] = encodeUpdates({ announce: [r] }, AS4);
  const expected = hex(
    MARKER + '0037 02' + '0000' + '001b' +
      '40 01 01 00' + // ORIGIN IGP
      '40 02 06 02 01 0000fde9' + // AS_PATH SEQUENCE [65001], 4-octet
      '40 03 04 c0000201' + // NEXT_HOP
      'c0 08 04 ffff029a' + // COMMUNITIES 65535:666
      '20 c6336407', // 198.51.100.7/32
  );
  assert.deepEqual(m, expected);
});

test('IPv6 /128 over MP_REACH with global + link-local next hop, MP_REACH first', () => {
  const r: UnicastRoute = { family: 'ipv6_unicast', prefix: '2001:db8::7/128', attrs: { origin: 0, asPath: [], nextHop6: '2001:db8::1', nextHop6LinkLocal: 'fe80::1', largeCommunities: [[65001, 666, 1]] } };
  const [m] = encodeUpdates({ announce: [r] }, AS4);
  const b = body(m);
  assert.equal(b.readUInt16BE(0), 0);
  assert.equal(b[4] & 0x80, 0x80);
  assert.equal(b[5], 14, 'first attribute is MP_REACH_NLRI');
  const d = decodeUpdate(b, AS4);
  assert.equal(d.treatAsWithdraw, false, d.errors.join());
  assert.equal(d.announced.length, 1);
  assert.equal((d.announced[0] as UnicastRoute).prefix, '2001:db8::7/128');
  assert.equal(d.attrs.nextHop6, '2001:db8::1');
  assert.equal(d.attrs.nextHop6LinkLocal, 'fe80::1');
  assert.deepEqual(d.attrs.largeCommunities, [[65001, 666, 1]]);
});

test('routes that must not be sent are refused', () => {
  assert.throws(() => encodeUpdates({ announce: [{ family: 'ipv6_unicast', prefix: '2001:db8::7/128', attrs: { nextHop: '192.0.2.1' } }] }, AS4), /IPv6 next hop/);
  assert.throws(() => encodeUpdates({ announce: [{ family: 'ipv4_unicast', prefix: '198.51.100.7/32', attrs: {} }] }, AS4), /IPv4 next hop/);
  assert.throws(() => encodeUpdates({ announce: [{ family: 'ipv4_unicast', prefix: '2001:db8::/32', attrs: { nextHop: '192.0.2.1' } }] }, AS4), /not an IPv4 prefix/);
  assert.throws(() => encodeUpdates({ announce: [{ family: 'ipv4_flowspec', rule: {}, attrs: {} }] }, AS4), /empty match/);
  const only4: CodecContext = { ...AS4, families: new Set(['ipv4_unicast'] as const) };
  assert.throws(() => encodeUpdates({ announce: [{ family: 'ipv4_flowspec', rule: { destination: { prefix: '192.0.2.1/32' } }, attrs: {} }] }, only4), /not negotiated/);
});

// ---------------------------------------------------------------- round trips

const asn = fc.oneof(fc.integer({ min: 1, max: 65535 }), fc.integer({ min: 65536, max: 0xffffffff }));
const attrsArb: fc.Arbitrary<PathAttributes> = fc.record({
  origin: fc.constantFrom(0 as const, 1 as const, 2 as const),
  asPath: fc.array(fc.record({ type: fc.constantFrom(1 as const, 2 as const), asns: fc.array(asn, { minLength: 1, maxLength: 6 }) }), { maxLength: 3 }),
  med: fc.option(fc.integer({ min: 0, max: 0xffffffff }), { nil: undefined }),
  localPref: fc.option(fc.integer({ min: 0, max: 0xffffffff }), { nil: undefined }),
  atomicAggregate: fc.option(fc.constant(true), { nil: undefined }),
  aggregator: fc.option(fc.record({ asn, address: fc.ipV4() }), { nil: undefined }),
  communities: fc.option(fc.array(fc.integer({ min: 0, max: 0xffffffff }), { minLength: 1, maxLength: 5 }), { nil: undefined }),
  largeCommunities: fc.option(fc.array(fc.tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffffffff })), { minLength: 1, maxLength: 3 }), { nil: undefined }),
  extCommunities: fc.option(fc.array(fc.record({ type: fc.constant('traffic-marking' as const), dscp: fc.integer({ min: 0, max: 63 }) }), { minLength: 1, maxLength: 2 }), { nil: undefined }),
});

function clean<T extends object>(o: T): T {
  return JSON.parse(JSON.stringify(o));
}

const routeArb: fc.Arbitrary<Route> = fc.oneof(
  fc.tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 32 }), attrsArb, fc.ipV4()).map(([a, len, attrs, nh]) => ({
    family: 'ipv4_unicast' as const, prefix: `${formatIPv4(len === 0 ? 0 : (a & (0xffffffff << (32 - len))) >>> 0)}/${len}`, attrs: { ...attrs, nextHop: nh },
  })),
  fc.tuple(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.integer({ min: 0, max: 128 }), attrsArb).map(([b, len, attrs]) => ({
    family: 'ipv6_unicast' as const, prefix: `${formatIPv6(maskBytes(Uint8Array.from(b), len))}/${len}`, attrs: { ...attrs, nextHop6: '2001:db8::1' },
  })),
  fc.tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 1, max: 65535 }), attrsArb).map(([a, p, attrs]) => ({
    family: 'ipv4_flowspec' as const, rule: { destination: { prefix: `${formatIPv4(a)}/32` }, destinationPort: anyOf([p]), packetLength: range(0, 1500) },
    attrs: { ...attrs, extCommunities: [{ type: 'traffic-rate' as const, asn: 0, rate: 0 }] },
  })),
);

for (const [name, ctx] of [['4-octet', AS4], ['2-octet (AS_TRANS + AS4_PATH)', AS2]] as const) {
  test(`UPDATE encode→decode round trip, ${name} session (property)`, () => {
    fc.assert(
      fc.property(fc.array(routeArb, { minLength: 1, maxLength: 40 }), fc.boolean(), (routes, ext) => {
        const c = { ...ctx, extendedMessage: ext };
        const seen = new Map<string, Route>();
        for (const r of routes) {
          // RFC 6793 §4.2.3: a 2-octet AGGREGATOR that is not AS_TRANS makes the receiver ignore AS4_PATH
          if (!ctx.as4 && r.attrs.aggregator && r.attrs.aggregator.asn <= 0xffff) delete r.attrs.aggregator;
          seen.set(routeKey(r), r);
        }
        const uniq = [...seen.values()];
        const msgs = encodeUpdates({ announce: uniq }, c);
        const got = new Map<string, string>();
        for (const m of msgs) {
          assert.ok(m.length <= (ext ? 65535 : 4096));
          const d = decodeUpdate(body(m), c);
          assert.equal(d.treatAsWithdraw, false, d.errors.join('; '));
          assert.deepEqual(d.discardedAttrs, []);
          for (const r of d.announced) got.set(routeKey(r), attrsKey(clean(r.attrs)));
        }
        assert.equal(got.size, uniq.length);
        for (const r of uniq) assert.equal(got.get(routeKey(r)), attrsKey(clean(r.attrs)), routeKey(r));
        // and the withdrawals
        const wd = encodeUpdates({ withdraw: uniq }, c);
        const gone = new Set<string>();
        for (const m of wd) for (const r of decodeUpdate(body(m), c).withdrawn) gone.add(routeKey(r));
        assert.equal(gone.size, uniq.length);
      }),
      { numRuns: 150 },
    );
  });
}

test('2-octet peer: 4-octet ASNs travel as AS_TRANS in AS_PATH plus AS4_PATH', () => {
  const r: UnicastRoute = { family: 'ipv4_unicast', prefix: '10.0.0.0/8', attrs: { origin: 0, asPath: [{ type: 2, asns: [65001, 4200000001] }], nextHop: '192.0.2.1', aggregator: { asn: 4200000001, address: '192.0.2.9' } } };
  const [m] = encodeUpdates({ announce: [r] }, AS2);
  const h = m.toString('hex');
  assert.ok(h.includes('400206' + '0202' + 'fde9' + '5ba0'), 'AS_PATH: SEQUENCE 65001, 23456');
  assert.ok(h.includes('c01106' + '0201'.slice(0, 4) + 'fa56ea01') || h.includes('c0110a02020000fde9fa56ea01'), 'AS4_PATH with both 4-octet ASNs');
  assert.ok(h.includes('c00706' + '5ba0' + 'c0000209'), 'AGGREGATOR with AS_TRANS');
  assert.ok(h.includes('c01208' + 'fa56ea01' + 'c0000209'), 'AS4_AGGREGATOR');
  const d = decodeUpdate(body(m), AS2);
  assert.deepEqual(d.attrs.asPath, [{ type: 2, asns: [65001, 4200000001] }]);
  assert.deepEqual(d.attrs.aggregator, { asn: 4200000001, address: '192.0.2.9' });
});

test('packing: 10,000 RTBH /32 sharing attributes fill 4096-byte UPDATEs', () => {
  const attrs: PathAttributes = { origin: 0, asPath: [{ type: 2, asns: [65001] }], nextHop: '192.0.2.1', communities: [0xffff029a, 65001 * 65536 + 1] };
  const routes: Route[] = Array.from({ length: 10000 }, (_, i) => ({ family: 'ipv4_unicast', prefix: `198.${18 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32`, attrs }));
  const t0 = performance.now();
  const msgs = encodeUpdates({ announce: routes }, AS4);
  const ms = performance.now() - t0;
  // 5 bytes per /32; 4096 - 19 - 4 - 32 bytes of attributes leaves room for 808 per message
  assert.equal(msgs.length, Math.ceil(10000 / 808));
  for (const m of msgs) assert.ok(m.length <= 4096);
  let n = 0;
  for (const m of msgs) n += decodeUpdate(body(m), AS4).announced.length;
  assert.equal(n, 10000);
  const ext = encodeUpdates({ announce: routes }, { ...AS4, extendedMessage: true });
  assert.equal(ext.length, 1);
  assert.ok(ms < 2000, `encoding took ${ms} ms`);
  // distinct attributes are never merged
  const two = encodeUpdates({ announce: [routes[0], { ...routes[1], attrs: { ...attrs, med: 5 } }] }, AS4);
  assert.equal(two.length, 2);
});

test('End-of-RIB for every family', () => {
  assert.deepEqual(encodeEndOfRib('ipv4_unicast'), hex(MARKER + '0017 02 0000 0000'));
  assert.deepEqual(encodeEndOfRib('ipv6_flowspec'), hex(MARKER + '001d 02 0000 0006 800f03 0002 85'));
  for (const f of FAMILY_NAMES) {
    const d = decodeUpdate(body(encodeEndOfRib(f)), AS4);
    assert.equal(d.eor, f);
    assert.equal(d.withdrawn.length + d.announced.length, 0);
  }
  const notEor = decodeUpdate(body(encodeUpdates({ withdraw: [{ family: 'ipv6_unicast', prefix: '2001:db8::/32', attrs: {} }] }, AS4)[0]), AS4);
  assert.equal(notEor.eor, undefined);
  assert.equal(notEor.withdrawn.length, 1);
});

// ---------------------------------------------------------------- RFC 7606

function upd(attrs: string, nlri = '18 0a0000', withdrawn = ''): Buffer {
  const a = hex(attrs), n = hex(nlri), w = hex(withdrawn);
  const b = Buffer.alloc(4 + w.length + a.length + n.length);
  b.writeUInt16BE(w.length, 0);
  w.copy(b, 2);
  b.writeUInt16BE(a.length, 2 + w.length);
  a.copy(b, 4 + w.length);
  n.copy(b, 4 + w.length + a.length);
  return b;
}
const ORIGIN = '40 01 01 00', PATH = '40 02 06 02 01 0000fde9', NH = '40 03 04 c0000201';
const BASE = ORIGIN + PATH + NH;

function reset(b: Buffer, subcode: number): void {
  assert.throws(() => decodeUpdate(b, AS4), (e: unknown) => e instanceof BgpError && e.code === 3 && e.subcode === subcode);
}

test('RFC 7606: treat-as-withdraw, attribute discard and session reset where required', () => {
  const ok = decodeUpdate(upd(BASE), AS4);
  assert.equal(ok.announced.length, 1);
  assert.equal(ok.treatAsWithdraw, false);

  const taw = (attrs: string, why: RegExp) => {
    const d = decodeUpdate(upd(attrs), AS4);
    assert.equal(d.treatAsWithdraw, true, `expected treat-as-withdraw for ${why}`);
    assert.equal(d.announced.length, 0);
    assert.deepEqual(d.withdrawn.map(routeKey), ['ipv4_unicast 10.0.0.0/24']);
    assert.ok(d.errors.some((e) => why.test(e)), d.errors.join('; '));
  };
  taw('40 01 02 0000' + PATH + NH, /ORIGIN/);
  taw('40 01 01 05' + PATH + NH, /ORIGIN: undefined value 5/);
  taw(ORIGIN + NH, /missing .*AS_PATH/);
  taw(ORIGIN + PATH, /missing .*NEXT_HOP/);
  taw('c0 01 01 00' + PATH + NH, /flags/);
  taw(ORIGIN + '40 02 06 05 01 0000fde9' + NH, /segment type 5/);
  taw(ORIGIN + '40 02 02 02 00' + NH, /empty segment/);
  taw(BASE + 'c0 08 03 ffff02', /COMMUNITIES/);
  taw(BASE + 'c0 20 0b' + '00'.repeat(11), /LARGE_COMMUNITY/);
  taw(BASE + 'c0 10 07' + '00'.repeat(7), /EXTENDED_COMMUNITIES/);
  taw(BASE + '80 04 02 0000', /MULTI_EXIT_DISC/);
  taw(BASE + '40 63 00', /unrecognised well-known attribute 99/);
  taw(BASE + 'c0 08', /truncated attribute header/);
  taw(BASE + 'c0 08 08 ffff029a', /overruns/);

  // attribute discard
  const disc = decodeUpdate(upd(BASE + '40 06 01 00' + 'c0 07 05 0000000000'), AS4);
  assert.equal(disc.treatAsWithdraw, false);
  assert.deepEqual(disc.discardedAttrs, [6, 7]);
  assert.equal(disc.announced.length, 1);
  const as4 = decodeUpdate(upd(BASE + 'c0 11 06 02 01 0000fde9'), AS4);
  assert.deepEqual(as4.discardedAttrs, [17], 'AS4_PATH from a 4-octet speaker is discarded');
  const dup = decodeUpdate(upd(BASE + '40 02 04 02 02 fde9'), AS4);
  assert.equal(dup.treatAsWithdraw, false);
  assert.deepEqual(dup.discardedAttrs, [2], 'RFC 7606 §3(g): later copies of an attribute are discarded');
  assert.deepEqual(dup.attrs.asPath, [{ type: 2, asns: [65001] }]);
  const ebgpLp = decodeUpdate(upd(BASE + '40 05 04 00000064'), { ...AS4, ibgp: false });
  assert.deepEqual(ebgpLp.discardedAttrs, [5]);
  assert.equal(ebgpLp.attrs.localPref, undefined);

  // unknown optional transitive kept (partial), optional non-transitive dropped
  const unk = decodeUpdate(upd(BASE + 'c0 63 02 abcd' + '80 64 01 00'), AS4);
  assert.equal(unk.attrs.unknown?.length, 1);
  assert.equal(unk.attrs.unknown![0].code, 99);
  assert.equal(unk.attrs.unknown![0].flags, 0xe0);

  // session reset
  reset(Buffer.from('00ff0000', 'hex'), 1); // withdrawn length overruns
  reset(Buffer.from('00000010', 'hex'), 1); // attribute length overruns
  reset(upd(BASE, '21 0a000000 00'), 10); // prefix length 33
  reset(upd(BASE, '', '18 0a00'), 10); // withdrawn prefix overruns
  const mpu = '80 0f 03 0001 01';
  reset(upd(mpu + mpu, ''), 1); // MP_UNREACH twice
  reset(upd(BASE + '80 0e 02 0002', ''), 9); // MP_REACH too short for AFI/SAFI
  reset(upd(ORIGIN + PATH + '80 0e 09 0002 01 04 c0000201 00 00', ''), 9); // IPv6 unicast with a 4-byte next hop
  reset(upd(ORIGIN + PATH + '80 0e 0a 0001 85 00 00 05 01 20 c0 00', ''), 9); // FlowSpec NLRI overruns
});

test('RFC 7606: a malformed FlowSpec NLRI withdraws the UPDATE instead of resetting', () => {
  // component order violated (port before destination) but lengths consistent
  const d = decodeUpdate(upd(ORIGIN + PATH + '80 0e 0e 0001 85 00 00 08 04 81 50 01 20 c0000201', ''), AS4);
  assert.equal(d.treatAsWithdraw, true);
  assert.ok(d.errors.some((e) => /order/.test(e)));
  const stats = newUpdateStats();
  decodeUpdateCounted(upd(ORIGIN + PATH + '80 0e 0e 0001 85 00 00 08 04 81 50 01 20 c0000201', ''), AS4, stats);
  decodeUpdateCounted(upd(BASE + '40 06 01 00'), AS4, stats);
  assert.throws(() => decodeUpdateCounted(Buffer.from('00ff0000', 'hex'), AS4, stats));
  assert.deepEqual(stats, { updates: 3, routesAnnounced: 1, routesWithdrawn: 0, endOfRib: 0, treatAsWithdraw: 1, attributeDiscard: 1, sessionReset: 1, ignoredFamilies: 0 });
});

test('NLRI of a family that was not negotiated is ignored, not fatal', () => {
  const only4: CodecContext = { ...AS4, families: new Set(['ipv4_unicast'] as const) };
  const m = encodeUpdates({ announce: [{ family: 'ipv6_unicast', prefix: '2001:db8::/32', attrs: { origin: 0, asPath: [], nextHop6: '2001:db8::1' } }] }, AS4)[0];
  const d = decodeUpdate(body(m), only4);
  assert.equal(d.announced.length, 0);
  assert.deepEqual(d.ignoredFamilies, ['afi 2/safi 1']);
  // AFI 25 (L2VPN) is unknown altogether
  const l2 = decodeUpdate(upd(ORIGIN + PATH + '80 0e 05 0019 46 00 00', ''), AS4);
  assert.deepEqual(l2.ignoredFamilies, ['afi 25/safi 70']);
});
