import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatIPv6, parseIPv4, formatIPv4, parseIPv6, parsePrefix, PrefixMap, prefixContains, type Prefix } from '../../src/core/ip.ts';

test('IPv4 parse/format round trip', () => {
  fc.assert(fc.property(fc.integer({ min: 0, max: 0xffffffff }), (v) => parseIPv4(formatIPv4(v)) === v));
  assert.equal(parseIPv4('256.1.1.1'), -1);
  assert.equal(parseIPv4('1.2.3'), -1);
  assert.equal(parseIPv4('01.2.3.4'), -1);
});

test('IPv6 parse/format round trip and RFC 5952 form', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (b) => {
      const s = formatIPv6(b);
      assert.deepEqual(parseIPv6(s), b);
    }),
  );
  assert.equal(formatIPv6(parseIPv6('2001:0db8:0000:0000:0000:0000:0000:0001')!), '2001:db8::1');
  assert.equal(formatIPv6(parseIPv6('2001:db8:0:1:1:1:1:1')!), '2001:db8:0:1:1:1:1:1');
  assert.equal(formatIPv6(parseIPv6('::')!), '::');
  assert.equal(parseIPv6('1::2::3'), null);
  assert.equal(parseIPv6('12345::'), null);
});

test('prefixes: host bits, containment, longest match', () => {
  assert.match(String(parsePrefix('10.0.0.1/24')), /host bits set.*10\.0\.0\.0\/24/);
  assert.match(String(parsePrefix('10.0.0.0/33')), /invalid prefix length/);
  const p = parsePrefix('10.1.0.0/16') as Prefix;
  assert.ok(prefixContains(p, 4, new Uint8Array([10, 1, 200, 3])));
  assert.ok(!prefixContains(p, 4, new Uint8Array([10, 2, 0, 0])));
  const m = new PrefixMap<string>();
  m.set(parsePrefix('10.0.0.0/8') as Prefix, 'wide');
  m.set(parsePrefix('10.1.2.0/24') as Prefix, 'narrow');
  m.set(parsePrefix('2001:db8::/32') as Prefix, 'v6');
  assert.equal(m.lookup4(parseIPv4('10.1.2.3')), 'narrow');
  assert.equal(m.lookup4(parseIPv4('10.9.2.3')), 'wide');
  assert.equal(m.lookup4(parseIPv4('11.0.0.1')), undefined);
  assert.equal(m.lookup6(parseIPv6('2001:db8:1::5')!), 'v6');
  assert.equal(m.lookup6(parseIPv6('2001:db9::5')!), undefined);
});
