import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Reader } from '../../src/core/reader.ts';
import { formatIPv4, formatIPv6, maskBytes } from '../../src/core/ip.ts';
import { decodeFlowspecNlri, flowspecNlriBytes, validateFlowspecRule, anyOf, range, flagsMatch, op } from '../../src/bgp/flowspec.ts';
import { decodeExtCommunity, encodeExtCommunity, parseExtCommunity, formatExtCommunity } from '../../src/bgp/community.ts';
import { formatFlowspecRule, type BitmaskOp, type ExtCommunity, type FlowspecRule, type NumericOp } from '../../src/bgp/types.ts';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const plain = (x: unknown) => JSON.parse(JSON.stringify(x));

function decode(family: 'ipv4_flowspec' | 'ipv6_flowspec', b: Buffer): FlowspecRule {
  const r = new Reader(b);
  const d = decodeFlowspecNlri(r, family);
  assert.ok(d.ok, d.ok ? '' : d.error);
  assert.equal(r.remaining(), 0);
  return d.rule;
}

// Expected bytes below are transcribed from the RFC text, not produced by our encoder.

test('RFC 8955 §4.2.3 example 1: packets to 192.0.2.0/24 and TCP port 25', () => {
  const wire = hex('0b 01 18 c0 00 02 03 81 06 04 81 19');
  const rule: FlowspecRule = { destination: { prefix: '192.0.2.0/24' }, protocol: anyOf([6]), port: anyOf([25]) };
  assert.deepEqual(flowspecNlriBytes('ipv4_flowspec', rule), wire);
  assert.deepEqual(plain(decode('ipv4_flowspec', wire)), plain(rule));
});

test('RFC 8955 §4.2.3 example 2: 192.0.2.0/24 from 203.0.113.0/24, port [137..139] or 8080', () => {
  const wire = hex('12 01 18 c0 00 02 02 18 cb 00 71 04 03 89 45 8b 91 1f 90');
  const rule: FlowspecRule = {
    destination: { prefix: '192.0.2.0/24' },
    source: { prefix: '203.0.113.0/24' },
    port: [op.gte(137), op.lte(139, true), op.eq(8080)],
  };
  assert.deepEqual(flowspecNlriBytes('ipv4_flowspec', rule), wire);
  assert.deepEqual(plain(decode('ipv4_flowspec', wire)), plain(rule));
  assert.equal(formatFlowspecRule(rule), 'destination 192.0.2.0/24; source 203.0.113.0/24; port >=137&<=139 =8080;');
});

test('RFC 8955 §4.2.3 example 3: 192.0.2.1/32 and fragment { DF or FF }', () => {
  const wire = hex('09 01 20 c0 00 02 01 0c 80 05');
  const rule: FlowspecRule = { destination: { prefix: '192.0.2.1/32' }, fragment: [{ and: false, not: false, match: false, value: 0x05 }] };
  assert.deepEqual(flowspecNlriBytes('ipv4_flowspec', rule), wire);
  assert.deepEqual(plain(decode('ipv4_flowspec', wire)), plain(rule));
});

test('RFC 8956 §3.8.1: to 2001:db8::/32 from ::1234:5678:9a00:0/64-104, next header TCP', () => {
  const wire = hex('12 01 20 00 20 01 0d b8 02 68 40 12 34 56 78 9a 03 81 06');
  const rule: FlowspecRule = {
    destination: { prefix: '2001:db8::/32' },
    source: { prefix: '::1234:5678:9a00:0/104', offset: 64 },
    protocol: anyOf([6]),
  };
  assert.deepEqual(flowspecNlriBytes('ipv6_flowspec', rule), wire);
  assert.deepEqual(plain(decode('ipv6_flowspec', wire)), plain(rule));
});

test('RFC 8956 §3.8.2: source ::1234:5678:9a00:0/65-104 (pattern shifted by one bit)', () => {
  const wire = hex('0f 01 20 00 20 01 0d b8 02 68 41 24 68 ac f1 34');
  const rule: FlowspecRule = { destination: { prefix: '2001:db8::/32' }, source: { prefix: '::1234:5678:9a00:0/104', offset: 65 } };
  // bit 64 of ::1234:5678:9a00:0 is 0, so bits before offset 65 are zero as required
  assert.deepEqual(flowspecNlriBytes('ipv6_flowspec', rule), wire);
  assert.deepEqual(plain(decode('ipv6_flowspec', wire)), plain(rule));
});

test('NLRI of 240+ bytes uses the 2-byte 0xfnnn length', () => {
  const rule: FlowspecRule = { destination: { prefix: '10.0.0.0/8' }, port: anyOf(Array.from({ length: 80 }, (_, i) => 1000 + i)) };
  const b = flowspecNlriBytes('ipv4_flowspec', rule);
  const len = 3 + 1 + 80 * 3; // 10.0.0.0/8 is 3 bytes, each 2-byte port 3
  assert.equal(b[0], 0xf0 | (len >> 8));
  assert.equal(b[1], len & 0xff);
  assert.equal(b.length, len + 2);
  assert.deepEqual(plain(decode('ipv4_flowspec', b)), plain(rule));
  const small = flowspecNlriBytes('ipv4_flowspec', { destination: { prefix: '10.0.0.0/8' }, port: anyOf(Array.from({ length: 78 }, (_, i) => 1000 + i)) });
  assert.equal(small[0], 3 + 1 + 78 * 3, '238 bytes still use one length byte');
});

test('value widths are chosen minimally (1, 2, 4 bytes)', () => {
  const b = flowspecNlriBytes('ipv6_flowspec', { destination: { prefix: '2001:db8::/32' }, destinationPort: anyOf([80, 8080]), flowLabel: anyOf([0xfffff]) });
  // ... 05 01 50 91 1f 90 0d a1 00 0f ff ff
  assert.ok(b.toString('hex').endsWith('0501509' + '11f900da1000fffff'));
});

// ---------------------------------------------------------------- property round trips

const numOps = (max: number): fc.Arbitrary<NumericOp[]> =>
  fc.array(fc.record({ and: fc.boolean(), lt: fc.boolean(), gt: fc.boolean(), eq: fc.boolean(), value: fc.integer({ min: 0, max }) }), { minLength: 1, maxLength: 5 })
    .map((ops) => ops.map((o, i) => ({ ...o, and: i === 0 ? false : o.and })));
const bitOps = (max: number): fc.Arbitrary<BitmaskOp[]> =>
  fc.array(fc.record({ and: fc.boolean(), not: fc.boolean(), match: fc.boolean(), value: fc.integer({ min: 0, max }) }), { minLength: 1, maxLength: 4 })
    .map((ops) => ops.map((o, i) => ({ ...o, and: i === 0 ? false : o.and })));

const v4prefix = fc.tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 32 })).map(([a, len]) => {
  const m = len === 0 ? 0 : (a & (0xffffffff << (32 - len))) >>> 0;
  return { prefix: `${formatIPv4(m)}/${len}` };
});
const v6prefix = fc.tuple(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.integer({ min: 0, max: 128 }), fc.integer({ min: 0, max: 127 })).map(([b, len, off]) => {
  const bytes = maskBytes(Uint8Array.from(b), len);
  const offset = len === 0 ? 0 : off % len;
  for (let bit = 0; bit < offset; bit++) bytes[bit >> 3] &= ~(0x80 >> (bit & 7));
  const p: { prefix: string; offset?: number } = { prefix: `${formatIPv6(bytes)}/${len}` };
  if (offset) p.offset = offset;
  return p;
});

function ruleArb(v6: boolean): fc.Arbitrary<FlowspecRule> {
  const o = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });
  return fc.record({
    destination: o(v6 ? v6prefix : v4prefix),
    source: o(v6 ? v6prefix : v4prefix),
    protocol: o(numOps(255)),
    port: o(numOps(65535)),
    destinationPort: o(numOps(65535)),
    sourcePort: o(numOps(65535)),
    icmpType: o(numOps(255)),
    icmpCode: o(numOps(255)),
    tcpFlags: o(bitOps(0xfff)),
    packetLength: o(numOps(65535)),
    dscp: o(numOps(63)),
    fragment: o(bitOps(v6 ? 0x0e : 0x0f).map((ops) => ops.map((x) => ({ ...x, value: v6 ? x.value & 0x0e : x.value })))),
    flowLabel: v6 ? o(numOps(0xfffff)) : fc.constant(undefined),
  }).map((r) => {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(r)) if (v !== undefined) out[k] = v;
    if (Object.keys(out).length === 0) out.destination = v6 ? { prefix: '2001:db8::/32' } : { prefix: '192.0.2.0/24' };
    return out as FlowspecRule;
  });
}

for (const fam of ['ipv4_flowspec', 'ipv6_flowspec'] as const) {
  test(`${fam}: every component encode→decode round trip (property)`, () => {
    fc.assert(
      fc.property(ruleArb(fam === 'ipv6_flowspec'), (rule) => {
        assert.equal(validateFlowspecRule(fam, rule, { requireDestination: false }), null);
        const b = flowspecNlriBytes(fam, rule);
        const back = decode(fam, b);
        assert.deepEqual(plain(back), plain(rule));
        assert.equal(formatFlowspecRule(back), formatFlowspecRule(rule));
      }),
      { numRuns: 400 },
    );
  });
}

test('validation rejects unsafe or malformed rules with a clear reason', () => {
  const v4 = (r: FlowspecRule, opts = {}) => validateFlowspecRule('ipv4_flowspec', r, opts);
  const dst = { prefix: '198.51.100.7/32' };
  assert.match(v4({})!, /empty match/);
  assert.match(v4({ port: anyOf([80]) })!, /without a destination/);
  assert.equal(v4({ port: anyOf([80]) }, { requireDestination: false }), null);
  assert.match(v4({ destination: { prefix: '0.0.0.0/0' } })!, /\/0/);
  assert.match(v4({ destination: dst, packetLength: range(0, 70000) })!, /packet-length: value 70000 is outside 0\.\.65535/);
  assert.match(v4({ destination: dst, destinationPort: anyOf([65536]) })!, /destination-port/);
  assert.match(v4({ destination: dst, dscp: anyOf([64]) })!, /dscp: value 64/);
  assert.match(v4({ destination: dst, fragment: [{ and: false, not: false, match: true, value: 0x10 }] })!, /fragment/);
  assert.match(v4({ destination: dst, flowLabel: anyOf([1]) })!, /IPv6 component/);
  assert.match(v4({ destination: { prefix: '2001:db8::1/128' } })!, /IPv6 in an IPv4 rule/);
  assert.match(validateFlowspecRule('ipv6_flowspec', { destination: { prefix: '192.0.2.1/32' } })!, /IPv4 in an IPv6 rule/);
  assert.match(v4({ destination: { prefix: '192.0.2.1/24' } })!, /host bits/);
  assert.match(v4({ destination: { prefix: '192.0.2.0/24', offset: 8 } })!, /offset/);
  assert.match(validateFlowspecRule('ipv6_flowspec', { destination: { prefix: '2001:db8::/32', offset: 8 } })!, /before offset/);
  assert.match(validateFlowspecRule('ipv6_flowspec', { destination: { prefix: '2001:db8::/32' }, fragment: flagsMatch(0x01) })!, /dont-fragment/);
  assert.match(v4({ destination: dst, port: [] })!, /empty operator list/);
  assert.match(v4({ destination: dst, protocol: [{ and: false, lt: false, gt: false, eq: true, value: 1.5 }] })!, /not a non-negative integer/);
  assert.throws(() => flowspecNlriBytes('ipv4_flowspec', { destination: dst, dscp: anyOf([99]) }), /dscp/);
});

test('decoder rejects malformed NLRI: order, duplicates, unknown types, overruns', () => {
  const bad = (fam: 'ipv4_flowspec' | 'ipv6_flowspec', h: string, re: RegExp) => {
    const d = decodeFlowspecNlri(new Reader(hex(h)), fam);
    assert.equal(d.ok, false);
    assert.match((d as { error: string }).error, re);
  };
  bad('ipv4_flowspec', '06 03 81 06 01 08 0a', /order/);
  bad('ipv4_flowspec', '06 03 81 06 03 81 11', /order or duplicate/);
  bad('ipv4_flowspec', '03 0d 81 01', /unknown component type 13/);
  bad('ipv4_flowspec', '03 0e 81 01', /unknown component type 14/);
  bad('ipv4_flowspec', '04 04 01 50 01', /runs past/);
  bad('ipv4_flowspec', '05 01 21 0a 00 00', /prefix length 33/);
  bad('ipv4_flowspec', '09 01 20', /overruns/);
  bad('ipv6_flowspec', '04 01 20 30 00', /offset 48 not below length 32/);
  bad('ipv4_flowspec', '03 03 91 01', /protocol: value runs past|outside/);
});

// ---------------------------------------------------------------- actions

test('FlowSpec action extended communities, bytes from RFC 8955 §7', () => {
  const enc = (e: ExtCommunity) => {
    const b = Buffer.alloc(8);
    encodeExtCommunity(e, b, 0);
    return b.toString('hex');
  };
  // traffic-rate-bytes 0x8006: 2-octet AS, IEEE float32 (12500 = 0x46435000); 0 = discard
  assert.equal(enc({ type: 'traffic-rate', asn: 0, rate: 0 }), '8006000000000000');
  assert.equal(enc({ type: 'traffic-rate', asn: 65000, rate: 12500 }), '8006fde846435000');
  assert.equal(enc({ type: 'traffic-rate-packets', asn: 0, rate: 1000 }), '800c0000447a0000');
  assert.equal(enc({ type: 'traffic-action', sample: true, terminal: true }), '8007000000000003');
  assert.equal(enc({ type: 'traffic-action', sample: false, terminal: true }), '8007000000000001');
  assert.equal(enc({ type: 'redirect', asn: 65000, value: 100, as4: false }), '8008fde800000064');
  assert.equal(enc({ type: 'redirect-ip', ip: '192.0.2.1', value: 7 }), '8108c00002010007');
  assert.equal(enc({ type: 'redirect', asn: 4200000000, value: 7, as4: true }), '8208fa56ea000007');
  assert.equal(enc({ type: 'traffic-marking', dscp: 46 }), '800900000000002e');
  assert.equal(enc({ type: 'target', format: 'as2', global: '65000', local: 1 }), '0002fde800000001');
  assert.throws(() => enc({ type: 'traffic-marking', dscp: 64 }), /DSCP/);
  assert.throws(() => enc({ type: 'redirect', asn: 70000, value: 1, as4: false }), /2-octet/);
});

const extArb: fc.Arbitrary<ExtCommunity> = fc.oneof(
  fc.record({ type: fc.constantFrom('traffic-rate' as const, 'traffic-rate-packets' as const), asn: fc.integer({ min: 0, max: 65535 }), rate: fc.float({ min: 0, max: Math.fround(1e12), noNaN: true }).map(Math.fround) }),
  fc.record({ type: fc.constant('traffic-action' as const), sample: fc.boolean(), terminal: fc.boolean() }),
  fc.record({ type: fc.constant('redirect' as const), asn: fc.integer({ min: 0, max: 65535 }), value: fc.integer({ min: 0, max: 0xffffffff }), as4: fc.constant(false) }),
  fc.record({ type: fc.constant('redirect' as const), asn: fc.integer({ min: 0, max: 0xffffffff }), value: fc.integer({ min: 0, max: 65535 }), as4: fc.constant(true) }),
  fc.record({ type: fc.constant('redirect-ip' as const), ip: fc.ipV4(), value: fc.integer({ min: 0, max: 65535 }) }),
  fc.record({ type: fc.constant('traffic-marking' as const), dscp: fc.integer({ min: 0, max: 63 }) }),
  fc.record({ type: fc.constantFrom('target' as const, 'origin' as const), format: fc.constant('as2' as const), global: fc.integer({ min: 0, max: 65535 }).map(String), local: fc.integer({ min: 0, max: 0xffffffff }) }),
  fc.record({ type: fc.constantFrom('target' as const, 'origin' as const), format: fc.constant('as4' as const), global: fc.integer({ min: 0, max: 0xffffffff }).map(String), local: fc.integer({ min: 0, max: 65535 }) }),
  fc.record({ type: fc.constant('raw' as const), hex: fc.uint8Array({ minLength: 8, maxLength: 8 }).map((u) => '4' + Buffer.from(u).toString('hex').slice(1)) }),
);

test('extended communities: binary and text round trips (property)', () => {
  fc.assert(
    fc.property(extArb, (e) => {
      const b = Buffer.alloc(8);
      encodeExtCommunity(e, b, 0);
      const back = decodeExtCommunity(b, 0);
      const norm = (x: ExtCommunity) => plain(x.type === 'traffic-rate' || x.type === 'traffic-rate-packets' ? { ...x, rate: Object.is(x.rate, -0) ? 0 : x.rate } : x);
      assert.deepEqual(norm(back), norm(e));
      const t = parseExtCommunity(formatExtCommunity(e));
      assert.notEqual(typeof t, 'string', `${formatExtCommunity(e)}: ${t}`);
      const b2 = Buffer.alloc(8);
      encodeExtCommunity(t as ExtCommunity, b2, 0);
      assert.deepEqual(b2, b, formatExtCommunity(e));
    }),
    { numRuns: 500 },
  );
});
