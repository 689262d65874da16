import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CounterTable, NC, K, RF } from '../../src/engine/counters.ts';

test('hash table: grows from a small start and finds every key (1-word and 4-word keys)', () => {
  for (const kw of [1, 4]) {
    const t = new CounterTable({ keyWords: kw, maxRows: 100_000, buckets: 10, initialRows: 16 });
    t.start(0);
    const N = 20_000;
    for (let i = 0; i < N; i++) {
      const row = kw === 1 ? t.upsert1(i * 2654435761 >>> 0) : t.upsert(0x20010db8, 0, i, i * 7);
      assert.ok(row >= 0);
      t.add(row, 1, 1, 1, 0);
    }
    assert.equal(t.size, N);
    assert.ok(t.cap >= N);
    for (let i = 0; i < N; i++) {
      const row = kw === 1 ? t.find1(i * 2654435761 >>> 0) : t.find(0x20010db8, 0, i, i * 7);
      assert.ok(row >= 0, `key ${i}`);
    }
    assert.equal(kw === 1 ? t.find1(1) : t.find(1, 2, 3, 4), -1);
  }
});

test('hash table: removal keeps every other key reachable (backward-shift deletion, model check)', () => {
  fc.assert(fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 200 })), { maxLength: 400 }), (ops) => {
    const t = new CounterTable({ keyWords: 1, maxRows: 1000, buckets: 2, initialRows: 16 });
    t.start(0);
    const model = new Set<number>();
    for (const [ins, k] of ops) {
      if (ins) { t.upsert1(k); model.add(k); }
      else { const r = t.find1(k); if (r >= 0) t.remove(r); model.delete(k); }
    }
    assert.equal(t.size, model.size);
    for (let k = 0; k <= 200; k++) assert.equal(t.find1(k) >= 0, model.has(k), `key ${k}`);
  }), { numRuns: 200 });
});

test('bounded: keys past max_hosts are refused and counted; least active evicted, busiest and pinned kept', () => {
  const t = new CounterTable({ keyWords: 1, maxRows: 1000, buckets: 10, initialRows: 64 });
  t.start(0);
  for (let i = 0; i < 1000; i++) t.add(t.upsert1(i), i === 5 ? 1 : i, 0, 0, 0); // key 5 is tiny but pinned
  t.flags[t.find1(5)] |= RF.PINNED;
  for (let i = 1000; i < 1500; i++) assert.equal(t.upsert1(i), -1);
  assert.equal(t.overflow, 500);
  t.close();
  const evicted = t.evictLeastActive(800);
  assert.ok(evicted >= 200, `evicted ${evicted}`);
  assert.ok(t.size <= 800);
  assert.ok(t.find1(5) >= 0, 'pinned row kept');
  for (let i = 900; i < 1000; i++) assert.ok(t.find1(i) >= 0, `busy host ${i} kept`);
  assert.equal(t.find1(10), -1, 'quiet host evicted');
  // room again: new keys are accepted
  assert.ok(t.upsert1(5000) >= 0);
});

test('idle eviction and row reuse: stale log entries of a reused row are ignored', () => {
  const t = new CounterTable({ keyWords: 1, maxRows: 4, buckets: 5, initialRows: 16 });
  t.start(0);
  const a = t.upsert1(1);
  t.add(a, 100, 0, 0, K.UDP);
  t.close();
  t.open(1);
  t.remove(a);
  const b = t.upsert1(2);
  assert.equal(b, a, 'row reused');
  t.add(b, 7, 0, 0, 0);
  t.close();
  for (let k = 2; k <= 8; k++) {
    t.open(k);
    t.close();
    assert.ok(t.sums[b * NC] === 7 || k >= 6, `tick ${k}: only the new owner's counts (${t.sums[b * NC]})`);
    assert.ok(t.sums[b * NC] >= 0);
  }
  assert.equal(t.sums[b * NC], 0);
  assert.equal(t.evictIdle(7), 1);
  assert.equal(t.size, 0);
});
