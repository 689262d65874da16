/**
 * engine.top: the busiest hosts in one pass (a heap of row numbers, objects
 * only for the winners). It agrees with sorting every host, and keyset pages
 * (after the last (value, id) shown) walk every host exactly once even when
 * many hosts tie on the value.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { validateConfig } from '../../src/config/load.ts';
import { ManualClock } from '../../src/core/clock.ts';
import { parseIPv4 } from '../../src/core/ip.ts';
import { F, newFlowRecord } from '../../src/flow/record.ts';
import { Engine } from '../../src/engine/engine.ts';

function engineWith(rates: number[]): Engine {
  const cfg = validateConfig({ networks: ['10.0.0.0/16', '2001:db8::/32'], thresholds: { pps: 1e12 }, hostgroups: [{ name: 'odd', networks: ['10.0.1.0/24'] }] });
  const clock = new ManualClock(Date.UTC(2025, 0, 1));
  const e = new Engine(cfg, { clock });
  const r = newFlowRecord();
  r.exporter = '192.0.2.1';
  r.proto = 'sflow5';
  r.ipProto = 17;
  r.samplingRate = 1;
  r.fields = F.SRC_ADDR | F.DST_ADDR | F.IP_PROTO | F.PACKETS | F.BYTES;
  rates.forEach((p, i) => {
    r.family = 4;
    r.src4 = parseIPv4('192.0.2.7');
    r.dst4 = parseIPv4(`10.0.${i >> 8}.${i & 255}`);
    r.packets = p;
    r.bytes = p * 100;
    r.received = clock.now();
    e.record(r);
  });
  clock.advance(100);
  e.tick(clock.now());
  return e;
}

test('top agrees with a full sort; keyset pages walk every host once through ties', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 400 }), fc.integer({ min: 1, max: 37 }), (rates, page) => {
      const e = engineWith(rates);
      const all = e.top({ limit: 10_000 });
      assert.equal(all.total, rates.length);
      assert.equal(all.items.length, rates.length);
      for (let i = 1; i < all.items.length; i++) assert.ok(all.items[i - 1].pps >= all.items[i].pps);
      const top = e.top({ limit: page });
      assert.deepEqual(top.items.map((h) => h.ip), all.items.slice(0, page).map((h) => h.ip));
      const seen: string[] = [];
      let after: { value: number; id: string } | undefined;
      for (let n = 0; n < 1000; n++) {
        const p = e.top({ limit: page, ...(after ? { after } : {}) });
        seen.push(...p.items.map((h) => h.ip));
        if (p.items.length < page) break;
        after = p.keys[p.keys.length - 1];
      }
      assert.deepEqual(seen, all.items.map((h) => h.ip));
    }),
    { numRuns: 60 },
  );
});

test('top: by bits/s and flows/s, one direction, a hostgroup filter; one host by lookup', () => {
  const e = engineWith([5, 1, 3, ...Array(300).fill(1), 9]);
  assert.equal(e.top({ limit: 1, by: 'bps' }).items[0].ip, '10.0.1.47');
  assert.equal(e.top({ limit: 1, direction: 'outgoing' }).items.length, 0);
  const odd = e.top({ limit: 1000, group: (g) => g === 1 });
  assert.ok(odd.items.length > 0 && odd.items.every((h) => h.hostgroup === 'odd'));
  assert.equal(odd.total, odd.items.length);
  assert.equal(e.hosts({ ip: '10.0.0.0' })[0].pps, 5);
  assert.deepEqual(e.hosts({ ip: '10.0.200.1' }), []);
  assert.deepEqual(e.hosts({ ip: 'nope' }), []);
});
