import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { spreadFraction, tickOf, windowParams } from '../../src/engine/window.ts';
import { CounterTable, NC, C, K } from '../../src/engine/counters.ts';

test('windowParams: buckets = window / tick, window rounded to whole ticks', () => {
  assert.deepEqual(windowParams(1, 100), { tickMs: 100, buckets: 10, windowMs: 1000, windowSec: 1 });
  assert.equal(windowParams(0.1, 250).buckets, 1);
  assert.equal(windowParams(5, 1000).windowSec, 5);
  assert.equal(tickOf(1999, 100), 19);
});

test('spreadFraction: long flows count at their average rate over the window', () => {
  assert.equal(spreadFraction(0, 0, 1000), 1);
  assert.equal(spreadFraction(1000, 1500, 1000), 1);
  assert.equal(spreadFraction(1000, 61000, 1000), 1 / 60);
  assert.equal(spreadFraction(5000, 4000, 1000), 1, 'end before start: unknown duration');
});

test('window sums equal the exact sum of the last B ticks (model check)', () => {
  fc.assert(fc.property(
    fc.integer({ min: 1, max: 12 }),
    fc.array(fc.array(fc.tuple(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 1, max: 1000 })), { maxLength: 8 }), { minLength: 1, maxLength: 60 }),
    (B, ticks) => {
      const t = new CounterTable({ keyWords: 1, maxRows: 64, buckets: B, initialRows: 16 });
      t.start(0);
      const hist: number[][] = [];
      ticks.forEach((adds, tick) => {
        if (tick > 0) t.open(tick);
        const per = new Array(6).fill(0);
        for (const [k, p] of adds) {
          const row = t.upsert1(1000 + k);
          t.add(row, p, p * 10, 1, K.UDP);
          per[k] += p;
        }
        t.close();
        hist.push(per);
        for (let k = 0; k < 6; k++) {
          const row = t.find1(1000 + k);
          let want = 0;
          for (let j = Math.max(0, tick - B + 1); j <= tick; j++) want += hist[j][k];
          const got = row < 0 ? 0 : t.sums[row * NC + C.PKTS];
          assert.equal(got, want, `tick ${tick} key ${k}`);
          if (row >= 0) assert.equal(t.sums[row * NC + C.UDP_P], want);
        }
      });
    },
  ), { numRuns: 200 });
});

test('a time jump longer than the window empties every sum', () => {
  const t = new CounterTable({ keyWords: 1, maxRows: 16, buckets: 10 });
  t.start(0);
  const row = t.upsert1(7);
  t.add(row, 100, 1000, 1, K.TCP | K.SYN);
  t.close();
  assert.equal(t.sums[row * NC + C.SYN_P], 100);
  t.open(5);
  assert.equal(t.sums[row * NC], 100);
  t.open(500);
  for (let i = 0; i < NC; i++) assert.equal(t.sums[row * NC + i], 0);
});
