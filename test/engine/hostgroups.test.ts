import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { PrefixMap, formatIPv6, parsePrefix, type Prefix } from '../../src/core/ip.ts';
import { NetworkSet } from '../../src/engine/hostgroups.ts';

test('NetworkSet: IPv6 membership (merged 128-bit ranges) agrees with a PrefixMap longest match (model check)', () => {
  const bytes16 = fc.uint8Array({ minLength: 16, maxLength: 16 });
  fc.assert(fc.property(
    fc.array(fc.tuple(bytes16, fc.integer({ min: 0, max: 128 })), { minLength: 1, maxLength: 8 }),
    fc.array(fc.tuple(fc.nat({ max: 7 }), bytes16, fc.integer({ min: 0, max: 128 })), { maxLength: 40 }),
    (nets, probes) => {
      const prefixes = nets.map(([b, len]) => `${formatIPv6(maskTo(b, len))}/${len}`);
      const set = new NetworkSet(prefixes);
      const ref = new PrefixMap<true>();
      for (const p of prefixes) ref.set(parsePrefix(p, false) as Prefix, true);
      for (const [k, noise, keep] of probes) {
        // an address that shares `keep` leading bits with one of the networks
        const base = maskTo(nets[k % nets.length][0], nets[k % nets.length][1]);
        const a = new Uint8Array(16);
        for (let bit = 0; bit < 128; bit++) {
          const from = bit < keep ? base : noise;
          if (from[bit >> 3] & (0x80 >> (bit & 7))) a[bit >> 3] |= 0x80 >> (bit & 7);
        }
        assert.equal(set.hasV6(a), ref.lookup6(a) !== undefined, `${formatIPv6(a)} in ${prefixes.join(' ')}`);
        const padded = new Uint8Array(20);
        padded.set(a, 3);
        assert.equal(set.hasV6(padded, 3), set.hasV6(a), 'offset');
      }
    },
  ), { numRuns: 300 });
});

test('NetworkSet: IPv4 and IPv6 edges of a range', () => {
  const s = new NetworkSet(['2001:db8::/32', '2001:db9::/32', '10.0.0.0/8', '::/128']);
  const v6 = (t: string) => Uint8Array.from((parsePrefix(`${t}/128`, false) as Prefix).bytes);
  assert.equal(s.hasV6(v6('2001:db8::')), true);
  assert.equal(s.hasV6(v6('2001:db9:ffff:ffff:ffff:ffff:ffff:ffff')), true, 'merged with the adjacent /32');
  assert.equal(s.hasV6(v6('2001:dba::')), false);
  assert.equal(s.hasV6(v6('2001:db7:ffff:ffff:ffff:ffff:ffff:ffff')), false);
  assert.equal(s.hasV6(v6('::')), true);
  assert.equal(s.hasV6(v6('::1')), false);
  assert.equal(s.has4(0x0a000000), true);
  assert.equal(s.has4(0x0b000000), false);
  assert.equal(new NetworkSet(['10.0.0.0/8']).hasV6(v6('::')), false);
});

function maskTo(b: Uint8Array, len: number): Uint8Array {
  const out = Uint8Array.from(b);
  for (let bit = len; bit < 128; bit++) out[bit >> 3] &= ~(0x80 >> (bit & 7));
  return out;
}
