import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CounterTable, C, K, RF } from '../../src/engine/counters.ts';

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
      if (kw === 1) assert.equal(t.key(row), i * 2654435761 >>> 0);
      else assert.deepEqual([0, 1, 2, 3].map((w) => t.key(row, w)), [0x20010db8, 0, i, i * 7]);
    }
    assert.equal(kw === 1 ? t.find1(1) : t.find(1, 2, 3, 4), -1);
  }
});

test('hash table: removal keeps every other key reachable (backward-shift deletion, model check)', () => {
  for (const kw of [1, 4]) {
    fc.assert(fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 200 })), { maxLength: 400 }), (ops) => {
      const t = new CounterTable({ keyWords: kw, maxRows: 1000, buckets: 2, initialRows: 16 });
      t.start(0);
      const model = new Set<number>();
      const find = (k: number) => (kw === 1 ? t.find1(k) : t.find(k, 0, 0, k ^ 0xffffffff));
      for (const [ins, k] of ops) {
        if (ins) { kw === 1 ? t.upsert1(k) : t.upsert(k, 0, 0, k ^ 0xffffffff); model.add(k); }
        else { const r = find(k); if (r >= 0) t.remove(r); model.delete(k); }
      }
      assert.equal(t.size, model.size);
      for (let k = 0; k <= 200; k++) assert.equal(find(k) >= 0, model.has(k), `key ${k}`);
    }), { numRuns: 100 });
  }
});

test('row fields: group and flags share one word without clobbering each other', () => {
  const t = new CounterTable({ keyWords: 1, maxRows: 16, buckets: 10 });
  t.start(0);
  const r = t.upsert1(42);
  t.setGroup(r, 65535);
  t.setFlags(r, RF.PINNED);
  assert.equal(t.group(r), 65535);
  assert.equal(t.flags(r), RF.PINNED);
  t.setGroup(r, 7);
  assert.equal(t.flags(r), RF.PINNED);
  t.setFlags(r, 0);
  assert.equal(t.group(r), 7);
  assert.equal(t.key(r), 42);
});

test('bounded: keys past max_hosts are refused and counted; least active evicted, busiest and pinned kept', () => {
  const t = new CounterTable({ keyWords: 1, maxRows: 1000, buckets: 10, initialRows: 64 });
  t.start(0);
  for (let i = 0; i < 1000; i++) t.add(t.upsert1(i), i === 5 ? 1 : i, 0, 0, 0); // key 5 is tiny but pinned
  t.setFlags(t.find1(5), RF.PINNED);
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

test('idle eviction and row reuse: a reused row starts from zero, the old owner\'s halves never leak', () => {
  const t = new CounterTable({ keyWords: 1, maxRows: 4, buckets: 4, initialRows: 16 });
  t.start(0);
  const a = t.upsert1(1);
  t.add(a, 100, 0, 0, K.UDP);
  t.close();
  t.open(1);
  t.add(a, 50, 0, 0, K.UDP);
  t.close();
  t.open(2); // half boundary: a's 150 packets move to H1
  assert.equal(t.sum(a, C.PKTS), 150);
  t.remove(a);
  const b = t.upsert1(2);
  assert.equal(b, a, 'row reused');
  assert.equal(t.sum(b, C.PKTS), 0);
  assert.equal(t.sum(b, C.UDP_P), 0);
  t.add(b, 7, 0, 0, 0);
  t.close();
  const seen: number[] = [];
  for (let k = 3; k <= 9; k++) {
    t.open(k);
    t.close();
    seen.push(t.sum(b, C.PKTS));
  }
  // B = 4: halves are ticks {2,3} {4,5} {6,7} {8,9}; the 7 packets of tick 2 are in
  // H0 (ticks 3), H1 (4, 5), H2 (6, 7: H2 + H1 is the window that ended at tick 5), then gone
  assert.deepEqual(seen, [7, 7, 7, 7, 7, 0, 0]);
  assert.equal(t.evictIdle(7), 1);
  assert.equal(t.size, 0);
});
