import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeUpdate } from '../../src/bgp/update.ts';
import { encodeUpdates } from '../../src/bgp/update.ts';
import { decodeOpen, encodeOpen, emptyCapabilities } from '../../src/bgp/open.ts';
import { decodeNotification } from '../../src/bgp/notification.ts';
import { decodeRouteRefresh } from '../../src/bgp/refresh.ts';
import { Framer } from '../../src/bgp/header.ts';
import { BgpError } from '../../src/bgp/errors.ts';
import { anyOf, range, flagsMatch } from '../../src/bgp/flowspec.ts';
import type { CodecContext, Route } from '../../src/bgp/types.ts';

const CTXS: CodecContext[] = [
  { as4: true, extendedMessage: false },
  { as4: false, extendedMessage: false, ibgp: false },
  { as4: true, extendedMessage: true, addPathReceive: new Set(['ipv4_unicast', 'ipv6_unicast'] as const) },
];
const attrs = { origin: 0 as const, asPath: [{ type: 2 as const, asns: [65001, 4200000001] }], nextHop: '192.0.2.1', nextHop6: '2001:db8::1', communities: [0xffff029a], largeCommunities: [[65001, 1, 2]] as [number, number, number][], aggregator: { asn: 4200000001, address: '192.0.2.1' }, med: 5, extCommunities: [{ type: 'traffic-rate' as const, asn: 0, rate: 1000 }] };
const seeds: Buffer[] = encodeUpdates({
  announce: [
    { family: 'ipv4_unicast', prefix: '198.51.100.7/32', attrs },
    { family: 'ipv6_unicast', prefix: '2001:db8::7/128', attrs },
    { family: 'ipv4_flowspec', rule: { destination: { prefix: '198.51.100.7/32' }, protocol: anyOf([17]), sourcePort: anyOf([53, 123]), packetLength: range(512, 1500), tcpFlags: flagsMatch(2, 16), fragment: flagsMatch(2) }, attrs },
    { family: 'ipv6_flowspec', rule: { destination: { prefix: '0:db8::/64', offset: 16 }, flowLabel: anyOf([7]) }, attrs },
  ] as Route[],
  withdraw: [{ family: 'ipv4_unicast', prefix: '10.0.0.0/8', attrs: {} }, { family: 'ipv6_flowspec', rule: { destination: { prefix: '2001:db8::1/128' } }, attrs: {} }],
}, CTXS[1]).map((m) => m.subarray(19));

function mutate(b: Buffer, edits: Array<[number, number]>, cut: number): Buffer {
  const out = Buffer.from(b);
  for (const [pos, val] of edits) out[pos % out.length] = val;
  return out.subarray(0, Math.max(0, out.length - cut));
}

test('mutated UPDATEs only ever produce a result or a BgpError (property, bounded time)', () => {
  const t0 = performance.now();
  let outcomes = { ok: 0, taw: 0, reset: 0 };
  fc.assert(
    fc.property(fc.constantFrom(...seeds), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }), fc.nat(8), fc.constantFrom(...CTXS), (seed, edits, cut, ctx) => {
      const b = mutate(seed, edits, cut % 3 === 0 ? cut : 0);
      try {
        const r = decodeUpdate(b, ctx);
        if (r.treatAsWithdraw) outcomes.taw++;
        else outcomes.ok++;
      } catch (e) {
        assert.ok(e instanceof BgpError, `unexpected ${(e as Error).stack}`);
        outcomes.reset++;
      }
    }),
    { numRuns: 20000 },
  );
  const ms = performance.now() - t0;
  assert.ok(ms < 20000, `took ${ms} ms`);
  assert.ok(outcomes.ok > 0 && outcomes.taw > 0 && outcomes.reset > 0, JSON.stringify(outcomes));
});

test('random bytes never crash any decoder', () => {
  const open = encodeOpen({ asn: 65001, holdTime: 90, routerId: '192.0.2.1', capabilities: { ...emptyCapabilities(), multiprotocol: [{ afi: 1, safi: 1 }], routeRefresh: true, gracefulRestart: { restarting: false, notification: true, time: 120, families: [{ afi: 1, safi: 1, forwarding: true }] } } }).subarray(19);
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 5 }), (bytes, edits) => {
      const b = Buffer.from(bytes);
      for (const fn of [
        () => decodeUpdate(b, CTXS[0]),
        () => decodeOpen(b),
        () => decodeOpen(mutate(open, edits, 0)),
        () => decodeNotification(b),
        () => decodeRouteRefresh(b),
        () => new Framer().push(Buffer.concat([Buffer.alloc(16, 0xff), b])),
      ]) {
        try {
          fn();
        } catch (e) {
          assert.ok(e instanceof BgpError, `unexpected ${(e as Error).stack}`);
        }
      }
    }),
    { numRuns: 5000 },
  );
});
