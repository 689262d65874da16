import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Framer, encodeKeepalive, frameMessage, splitMessages } from '../../src/bgp/header.ts';
import { decodeOpen, encodeOpen, emptyCapabilities, negotiate, validateOpen, type Capabilities, type OpenParams } from '../../src/bgp/open.ts';
import { decodeNotification, encodeNotification, encodeShutdown } from '../../src/bgp/notification.ts';
import { decodeRouteRefresh, encodeRouteRefresh } from '../../src/bgp/refresh.ts';
import { BgpError } from '../../src/bgp/errors.ts';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const MARKER = 'ff'.repeat(16);
const plain = (x: unknown) => JSON.parse(JSON.stringify(x ?? null));

function bgpErr(fn: () => unknown, code: number, subcode: number): BgpError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof BgpError, `expected BgpError, got ${e}`);
    assert.equal(e.code, code, `code (${e.message})`);
    assert.equal(e.subcode, subcode, `subcode (${e.message})`);
    return e;
  }
  assert.fail('no error thrown');
}

test('KEEPALIVE is the 19-byte header of RFC 4271 §4.4', () => {
  assert.deepEqual(encodeKeepalive(), hex(MARKER + '0013 04'));
});

test('OPEN known answer: AS 65001, hold 90, id 192.0.2.1, MP IPv4 unicast + 4-octet AS', () => {
  const caps: Capabilities = { ...emptyCapabilities(), multiprotocol: [{ afi: 1, safi: 1 }], as4: 65001 };
  const msg = encodeOpen({ asn: 65001, holdTime: 90, routerId: '192.0.2.1', capabilities: caps });
  // version 4, My AS fde9, hold 005a, id c0000201, opt len 0e, param 2 len 0c,
  // cap 1 len 4 0001 00 01, cap 65 len 4 0000fde9
  const expected = hex(MARKER + '002b 01' + '04 fde9 005a c0000201 0e 02 0c 01 04 0001 0001 41 04 0000fde9');
  assert.deepEqual(msg, expected);
  const o = decodeOpen(msg.subarray(19));
  assert.equal(o.asn, 65001);
  assert.equal(o.holdTime, 90);
  assert.equal(o.routerId, '192.0.2.1');
  assert.deepEqual(o.capabilities.multiprotocol, [{ afi: 1, safi: 1 }]);
});

test('OPEN with a 4-octet AS sends AS_TRANS in My AS', () => {
  const msg = encodeOpen({ asn: 4200000001, holdTime: 180, routerId: '10.0.0.1', capabilities: emptyCapabilities() });
  const o = decodeOpen(msg.subarray(19));
  assert.equal(o.myAs, 23456);
  assert.equal(o.asn, 4200000001);
  assert.equal(o.capabilities.as4, 4200000001);
});

const capsArb: fc.Arbitrary<Capabilities> = fc.record({
  multiprotocol: fc.array(fc.constantFrom({ afi: 1, safi: 1 }, { afi: 2, safi: 1 }, { afi: 1, safi: 133 }, { afi: 2, safi: 133 }), { maxLength: 4 }),
  as4: fc.option(fc.integer({ min: 0, max: 0xffffffff }), { nil: undefined }),
  routeRefresh: fc.boolean(),
  enhancedRouteRefresh: fc.boolean(),
  extendedMessage: fc.boolean(),
  gracefulRestart: fc.option(
    fc.record({
      restarting: fc.boolean(),
      notification: fc.boolean(),
      time: fc.integer({ min: 0, max: 4095 }),
      families: fc.array(fc.record({ afi: fc.constantFrom(1, 2), safi: fc.constantFrom(1, 133), forwarding: fc.boolean() }), { maxLength: 4 }),
    }),
    { nil: undefined },
  ),
  addPath: fc.option(fc.array(fc.record({ afi: fc.constantFrom(1, 2), safi: fc.constantFrom(1, 133), send: fc.boolean(), receive: fc.boolean() }), { minLength: 1, maxLength: 3 }), { nil: undefined }),
  unknown: fc.array(fc.record({ code: fc.constantFrom(3, 5, 73, 200, 250), value: fc.uint8Array({ maxLength: 20 }).map((u) => Buffer.from(u)) }), { maxLength: 3 }),
});

test('OPEN encode→decode round trip (property), including RFC 9072 long parameters', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 0xffffffff }),
      fc.oneof(fc.constant(0), fc.integer({ min: 3, max: 65535 })),
      fc.integer({ min: 1, max: 0xffffffff }),
      capsArb,
      fc.integer({ min: 0, max: 30 }),
      (asn, holdTime, id, caps, padUnknown) => {
        // Large unknown capabilities push the parameters past 255 bytes sometimes.
        const c = { ...caps, unknown: [...caps.unknown, ...Array.from({ length: padUnknown > 25 ? 3 : 0 }, () => ({ code: 201, value: Buffer.alloc(100, 7) }))] };
        if (asn > 0xffff && c.as4 === undefined) c.as4 = asn;
        if (c.as4 !== undefined && asn > 0xffff) c.as4 = asn;
        const routerId = `${id >>> 24}.${(id >>> 16) & 255}.${(id >>> 8) & 255}.${id & 255}`;
        const p: OpenParams = { asn, holdTime, routerId, capabilities: c };
        const o = decodeOpen(encodeOpen(p).subarray(19));
        assert.equal(o.holdTime, holdTime);
        assert.equal(o.routerId, routerId);
        assert.equal(o.asn, c.as4 ?? asn);
        assert.deepEqual(plain(o.capabilities.multiprotocol), plain(c.multiprotocol));
        assert.equal(o.capabilities.routeRefresh, c.routeRefresh);
        assert.equal(o.capabilities.enhancedRouteRefresh, c.enhancedRouteRefresh);
        assert.equal(o.capabilities.extendedMessage, c.extendedMessage);
        assert.deepEqual(plain(o.capabilities.gracefulRestart), plain(c.gracefulRestart));
        assert.deepEqual(plain(o.capabilities.addPath), plain(c.addPath));
        assert.deepEqual(plain(o.capabilities.unknown), plain(c.unknown));
      },
    ),
    { numRuns: 300 },
  );
});

test('bad OPENs earn the right NOTIFICATION subcodes', () => {
  const good = encodeOpen({ asn: 65001, holdTime: 90, routerId: '192.0.2.1', capabilities: emptyCapabilities() }).subarray(19);
  const v3 = Buffer.from(good);
  v3[0] = 3;
  const e = bgpErr(() => decodeOpen(v3), 2, 1);
  assert.deepEqual(e.data, Buffer.from([0, 4]), 'data carries the version we support');
  const hold2 = Buffer.from(good);
  hold2.writeUInt16BE(2, 3);
  bgpErr(() => decodeOpen(hold2), 2, 6);
  const id0 = Buffer.from(good);
  id0.writeUInt32BE(0, 5);
  bgpErr(() => decodeOpen(id0), 2, 3);
  // optional parameter of type 1 (authentication, deprecated)
  bgpErr(() => decodeOpen(Buffer.concat([good.subarray(0, 9), hex('03 01 01 00')])), 2, 4);
  const o = decodeOpen(good);
  bgpErr(() => validateOpen(o, { peerAs: 65002 }), 2, 2);
  bgpErr(() => validateOpen(o, { peerAs: 65001, localRouterId: '192.0.2.1' }), 2, 3);
  bgpErr(() => validateOpen(o, { peerAs: 65001, minHoldTime: 120 }), 2, 6);
  validateOpen(o, { peerAs: 65001, localRouterId: '192.0.2.2' });
});

test('unknown capabilities are kept and ignored', () => {
  // cap 73 (FQDN) and cap 1 MP ipv6 unicast
  const body = hex('04 fde9 005a c0000201 10 02 0e 49 04 01020304 01 04 0002 0001 40 00');
  // the last cap (GR with length 0) is malformed: kept raw, not fatal
  body[9] = body.length - 10;
  body[11] = body.length - 12;
  const o = decodeOpen(body);
  assert.deepEqual(o.capabilities.multiprotocol, [{ afi: 2, safi: 1 }]);
  assert.deepEqual(o.capabilities.unknown.map((u) => u.code), [73, 64]);
});

test('negotiate: families, as4, hold time, RFC 4760 default of IPv4 unicast', () => {
  const local: OpenParams = {
    asn: 65001, holdTime: 90, routerId: '192.0.2.1',
    capabilities: { ...emptyCapabilities(), as4: 65001, routeRefresh: true, multiprotocol: [{ afi: 1, safi: 1 }, { afi: 2, safi: 1 }, { afi: 1, safi: 133 }] },
  };
  const remote = decodeOpen(encodeOpen({ asn: 65002, holdTime: 30, routerId: '192.0.2.2', capabilities: { ...emptyCapabilities(), routeRefresh: true, multiprotocol: [{ afi: 1, safi: 1 }, { afi: 1, safi: 133 }] } }).subarray(19));
  const n = negotiate(local, remote);
  assert.deepEqual(n.families, ['ipv4_unicast', 'ipv4_flowspec']);
  assert.deepEqual(n.missingFamilies, ['ipv6_unicast']);
  assert.equal(n.holdTime, 30);
  assert.equal(n.ctx.as4, false, 'peer did not send capability 65');
  assert.equal(n.routeRefresh, true);
  const bare = decodeOpen(encodeOpen({ asn: 65002, holdTime: 90, routerId: '192.0.2.2', capabilities: emptyCapabilities() }).subarray(19));
  assert.deepEqual(negotiate(local, bare).families, ['ipv4_unicast']);
});

test('NOTIFICATION encode/decode with names and RFC 9003 shutdown text', () => {
  const m = encodeNotification(3, 11, Buffer.from([1, 2]));
  assert.deepEqual(m, hex(MARKER + '0017 03 030b 0102'));
  const n = decodeNotification(m.subarray(19));
  assert.equal(n.name, 'UPDATE Message Error / Malformed AS_PATH');
  const s = decodeNotification(encodeShutdown('maintenance — back at 10:00').subarray(19));
  assert.equal(s.code, 6);
  assert.equal(s.subcode, 2);
  assert.equal(s.shutdownMessage, 'maintenance — back at 10:00');
  fc.assert(fc.property(fc.integer({ min: 1, max: 7 }), fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 200 }), (c, sc, d) => {
    const x = decodeNotification(encodeNotification(c, sc, d).subarray(19));
    assert.equal(x.code, c);
    assert.equal(x.subcode, sc);
    assert.deepEqual(new Uint8Array(x.data), d);
  }));
});

test('ROUTE-REFRESH normal, BoRR and EoRR; bad length is 7/1', () => {
  assert.deepEqual(encodeRouteRefresh(1, 1), hex(MARKER + '0017 05 0001 00 01'));
  for (const st of [0, 1, 2]) {
    const r = decodeRouteRefresh(encodeRouteRefresh(2, 133, st).subarray(19));
    assert.deepEqual(r, { afi: 2, safi: 133, subtype: st, family: 'ipv6_flowspec' });
  }
  bgpErr(() => decodeRouteRefresh(hex('0001 00 01 00')), 7, 1);
});

test('Framer: messages split and merged across chunks, any chunking (property)', () => {
  const msgs = [
    encodeKeepalive(),
    encodeOpen({ asn: 65001, holdTime: 90, routerId: '192.0.2.1', capabilities: { ...emptyCapabilities(), routeRefresh: true } }),
    encodeNotification(6, 2),
    encodeRouteRefresh(1, 133),
    frameMessage(2, hex('0000 0000')),
  ];
  const stream = Buffer.concat(msgs);
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 1, max: stream.length }), { maxLength: 12 }), (cuts) => {
      const points = [...new Set(cuts)].sort((a, b) => a - b);
      const f = new Framer();
      const got: Buffer[] = [];
      let prev = 0;
      for (const p of [...points, stream.length]) {
        for (const m of f.push(stream.subarray(prev, p))) got.push(Buffer.concat([Buffer.alloc(16, 0xff), Buffer.from([0, 0, m.type]), m.body]));
        prev = p;
      }
      assert.equal(got.length, msgs.length);
      got.forEach((g, i) => {
        g.writeUInt16BE(g.length, 16);
        assert.deepEqual(g, msgs[i]);
      });
      assert.equal(f.buffered, 0);
    }),
  );
  assert.equal(splitMessages(stream).length, 5);
});

test('header errors: marker, length, type; extended message limits', () => {
  bgpErr(() => new Framer().push(hex('ff'.repeat(15) + 'fe 0013 04')), 1, 1);
  const e = bgpErr(() => new Framer().push(hex(MARKER + '0012 04')), 1, 2);
  assert.deepEqual(e.data, hex('0012'));
  bgpErr(() => new Framer().push(hex(MARKER + '0014 04 00')), 1, 2);
  const t = bgpErr(() => new Framer().push(hex(MARKER + '0013 09')), 1, 3);
  assert.deepEqual(t.data, hex('09'));
  bgpErr(() => new Framer().push(hex(MARKER + '1001 02')), 1, 2);
  const ext = new Framer();
  ext.extended = true;
  assert.equal(ext.push(hex(MARKER + '1001 02')).length, 0, 'a 4097-byte UPDATE is fine with RFC 8654, waiting for the rest');
  // ...but an OPEN may never exceed 4096
  const ext2 = new Framer();
  ext2.extended = true;
  bgpErr(() => ext2.push(hex(MARKER + "1001 01")), 1, 2);
  bgpErr(() => new Framer().push(hex(MARKER + '0016 05 000100')), 1, 2);
});
