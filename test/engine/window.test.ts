import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { spreadFraction, tickOf, windowParams } from '../../src/engine/window.ts';
import { CounterTable, C, K } from '../../src/engine/counters.ts';

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

/**
 * Reference for the window rule, written from its definition (window.ts) over
 * the full per-tick history: half h = ticks [ceil(h·B/2), ceil((h+1)·B/2));
 * after closing tick t of half N the sum is
 *   max(ticks of halves N-2 and N-1, ticks of half N-1 and of half N up to t)
 * (B = 1: the tick itself).
 */
function reference(hist: Map<number, number>, t: number, B: number): number {
  const at = (k: number) => hist.get(k) ?? 0;
  const range = (a: number, b: number) => { let s = 0; for (let k = a; k <= b; k++) s += at(k); return s; };
  if (B === 1) return at(t);
  const start = (h: number) => Math.ceil((h * B) / 2);
  const N = Math.floor((2 * t) / B);
  return Math.max(range(start(N - 2), start(N) - 1), range(start(N - 1), t));
}

/** The exact sum of the B ticks ending at t. */
function exact(hist: Map<number, number>, t: number, B: number): number {
  let s = 0;
  for (let k = t - B + 1; k <= t; k++) s += hist.get(k) ?? 0;
  return s;
}

const schedule = fc.array(
  fc.record({
    gap: fc.oneof(fc.constant(1), fc.constant(1), fc.constant(1), fc.integer({ min: 2, max: 30 })),
    adds: fc.array(fc.tuple(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 1, max: 1000 }), fc.constantFrom(K.UDP, K.TCP | K.SYN, K.ICMP | K.FRAG, 0)), { maxLength: 8 }),
  }),
  { minLength: 1, maxLength: 60 },
);

test('window sums follow the reference rule for every counter, with time jumps and odd windows (model check)', () => {
  fc.assert(fc.property(fc.integer({ min: 1, max: 13 }), schedule, (B, ticks) => {
    const t = new CounterTable({ keyWords: 1, maxRows: 64, buckets: B, initialRows: 16 });
    t.start(0);
    const hist = Array.from({ length: 6 }, () => ({ pk: new Map<number, number>(), udp: new Map<number, number>(), syn: new Map<number, number>(), frag: new Map<number, number>(), by: new Map<number, number>(), fl: new Map<number, number>() }));
    const bump = (m: Map<number, number>, k: number, v: number) => m.set(k, (m.get(k) ?? 0) + v);
    let tick = 0;
    ticks.forEach(({ gap, adds }, i) => {
      if (i > 0) { tick += gap; t.open(tick); }
      for (const [k, p, cls] of adds) {
        t.add(t.upsert1(1000 + k), p, p * 10, 1, cls);
        const h = hist[k];
        bump(h.pk, tick, p);
        bump(h.by, tick, p * 10);
        bump(h.fl, tick, 1);
        if (cls & K.UDP) bump(h.udp, tick, p);
        if (cls & K.SYN) bump(h.syn, tick, p);
        if (cls & K.FRAG) bump(h.frag, tick, p);
      }
      t.close();
      for (let k = 0; k < 6; k++) {
        const row = t.find1(1000 + k);
        const got = (i: number) => (row < 0 ? 0 : t.sum(row, i));
        const h = hist[k];
        assert.equal(got(C.PKTS), reference(h.pk, tick, B), `B ${B} tick ${tick} key ${k}`);
        assert.equal(got(C.BYTES), reference(h.by, tick, B));
        assert.equal(got(C.UDP_P), reference(h.udp, tick, B));
        assert.equal(got(C.SYN_P), reference(h.syn, tick, B));
        assert.equal(got(C.FRAG_P), reference(h.frag, tick, B));
        if (row >= 0) {
          const all = t.sums(row, new Float64Array(13));
          assert.equal(all[C.PKTS], got(C.PKTS));
          assert.equal(all[C.FLOWS], reference(h.fl, tick, B));
        }
      }
    });
  }), { numRuns: 300 });
});

test('window bounds: never above the exact B-tick sum at t or at the last half boundary; misses only ticks older than the previous half', () => {
  fc.assert(fc.property(
    fc.integer({ min: 2, max: 12 }),
    fc.array(fc.nat({ max: 50 }), { minLength: 1, maxLength: 80 }),
    (B, per) => {
      const t = new CounterTable({ keyWords: 1, maxRows: 4, buckets: B, initialRows: 16 });
      t.start(0);
      const hist = new Map<number, number>();
      const row = t.upsert1(1);
      per.forEach((p, tick) => {
        if (tick > 0) t.open(tick);
        if (p > 0) t.add(row, p, 0, 0, 0);
        hist.set(tick, p);
        t.close();
        const s = t.sum(row, C.PKTS);
        const N = Math.floor((2 * tick) / B);
        const boundary = Math.ceil((N * B) / 2) - 1; // last tick of the previous half
        const upper = Math.max(exact(hist, tick, B), exact(hist, boundary, B));
        assert.ok(s <= upper, `tick ${tick}: ${s} > ${upper}`);
        // the part of the exact window older than the previous half is all it can miss
        const missed = exact(hist, tick, B) - s;
        let older = 0;
        for (let k = tick - B + 1; k < Math.ceil(((N - 1) * B) / 2); k++) older += hist.get(k) ?? 0;
        assert.ok(missed <= older, `tick ${tick}: misses ${missed} > ${older}`);
        if (Math.floor((2 * (tick + 1)) / B) !== N) assert.ok(s >= exact(hist, tick, B), `half end ${tick}: nothing missed`);
      });
    },
  ), { numRuns: 300 });
});

test('steady traffic: the window sum is exact; an attack at >= 2x a limit crosses at the same tick as the exact window', () => {
  fc.assert(fc.property(
    fc.integer({ min: 2, max: 20 }), fc.integer({ min: 0, max: 40 }), fc.integer({ min: 1, max: 100 }), fc.double({ min: 2, max: 20, noNaN: true }),
    (B, startTick, base, k) => {
      const t = new CounterTable({ keyWords: 1, maxRows: 4, buckets: B, initialRows: 16 });
      t.start(0);
      const row = t.upsert1(1);
      const limit = base * B; // window packets
      const rate = Math.ceil((k * limit) / B); // per tick
      const hist = new Map<number, number>();
      let firstExact = -1, firstModel = -1;
      for (let tick = 0; tick < startTick + 3 * B + 2; tick++) {
        if (tick > 0) t.open(tick);
        const p = tick < startTick ? 0 : rate;
        if (p) t.add(row, p, 0, 0, 0);
        hist.set(tick, p);
        t.close();
        const s = t.sum(row, C.PKTS);
        // steady for 1.5 windows (H2 is traffic too): exact
        if (tick >= startTick + B + Math.ceil(B / 2) - 1) assert.equal(s, rate * B, 'steady: exact');
        if (firstExact < 0 && exact(hist, tick, B) > limit) firstExact = tick;
        if (firstModel < 0 && s > limit) firstModel = tick;
      }
      assert.equal(firstModel, firstExact);
    },
  ), { numRuns: 300 });
});

test('a time jump longer than 1.5 windows empties every sum', () => {
  const t = new CounterTable({ keyWords: 1, maxRows: 16, buckets: 10 });
  t.start(0);
  const row = t.upsert1(7);
  t.add(row, 100, 1000, 1, K.TCP | K.SYN);
  t.close();
  assert.equal(t.sum(row, C.SYN_P), 100);
  t.open(5);
  assert.equal(t.sum(row, C.PKTS), 100);
  t.open(500);
  const s = t.sums(row, new Float64Array(13));
  for (let i = 0; i < 13; i++) assert.equal(s[i], 0);
});
