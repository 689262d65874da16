/**
 * The plausibility check runs in several forms: inline in the NetFlow v5
 * loop, compiled into v9/IPFIX template plans, at the sFlow sample, and as
 * plausible() on a record (the variable-length walk). These properties hold
 * each fast form to the generic one: for random records around every bound,
 * the same records reach the sink and the same drops are counted by reason.
 * And the sFlow rate guard's one-entry memo answers as its maps would.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Writer } from '../../src/core/writer.ts';
import { FlowDecoder } from '../../src/flow/decode.ts';
import { newFlowRecord, F, type FlowRecord } from '../../src/flow/record.ts';
import { newImplausibleStats, plausible, Plausibility, type PlausibilityLimits } from '../../src/flow/plausible.ts';
import { setCompiledPlans } from '../../src/flow/templates.ts';
import { RATE_CONFIRM, SamplingRateGuard, agentHash, samplerKey } from '../../src/flow/rate-guard.ts';

interface Rec {
  packets: number;
  bytes: number;
  first: number;
  last: number;
  dst: number;
}

const LIMITS: PlausibilityLimits = { maxSamplingRate: 5000, maxInterfaceGbps: 1, maxFlowSeconds: 600 };
const UPTIME = 864_000_000;
const EXPORT_S = 1_700_000_000;

/** Records around every bound: sizes near 20 and 65 599 bytes a packet, rates near 1 Gbit/s, times backwards and long. */
const rec = fc.record({
  packets: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 100 }), fc.integer({ min: 1, max: 4_000_000 }), fc.constant(2 ** 32 - 1)),
  bytesPer: fc.oneof(fc.integer({ min: 0, max: 70_000 }), fc.constantFrom(19, 20, 21, 65_599, 65_600)),
  first: fc.integer({ min: 0, max: 1_000_000 }),
  dur: fc.oneof(fc.integer({ min: -2000, max: 2000 }), fc.integer({ min: -1_000_000, max: 1_000_000 })),
  dst: fc.integer({ min: 1, max: 2 ** 32 - 1 }),
}).map(({ packets, bytesPer, first, dur, dst }): Rec => ({ packets, bytes: Math.min(2 ** 32 - 1, packets * bytesPer + (bytesPer & 7)), first: UPTIME - first, last: Math.max(0, UPTIME - first + dur), dst }));

function v5(recs: Rec[], interval: number): Buffer {
  const w = new Writer(24 + recs.length * 48);
  w.u16(5).u16(recs.length).u32(UPTIME).u32(EXPORT_S).u32(0).u32(0).u8(0).u8(0).u16(interval);
  for (const r of recs) {
    w.u32(0x0a000001).u32(r.dst).u32(0).u16(1).u16(2).u32(r.packets).u32(r.bytes).u32(r.first).u32(r.last);
    w.u16(1024).u16(53).u8(0).u8(0).u8(17).u8(0).u16(0).u16(0).u8(0).u8(0).u16(0);
  }
  return w.finish();
}

const V9_FIELDS: [number, number][] = [[8, 4], [12, 4], [4, 1], [1, 4], [2, 4], [34, 4], [22, 4], [21, 4]];
function v9(recs: Rec[], rates: number[]): Buffer {
  const w = new Writer(64 + recs.length * 32);
  w.u16(9).u16(1 + recs.length).u32(UPTIME).u32(EXPORT_S).u32(0).u32(7);
  w.u16(0).u16(8 + V9_FIELDS.length * 4).u16(256).u16(V9_FIELDS.length);
  for (const [id, len] of V9_FIELDS) w.u16(id).u16(len);
  w.u16(256);
  const at = w.reserve16();
  recs.forEach((r, i) => w.u32(0x0a000001).u32(r.dst).u8(17).u32(r.bytes).u32(r.packets).u32(rates[i % rates.length]).u32(r.first).u32(r.last));
  while ((w.pos - at + 2) % 4) w.u8(0);
  w.put16(at, w.pos - at + 2);
  return w.finish();
}

function decode(bufs: Buffer[]): { got: FlowRecord[]; imp: object } {
  const got: FlowRecord[] = [];
  const dec = new FlowDecoder({ record: (r) => void got.push({ ...r, src6: r.src6.slice(), dst6: r.dst6.slice() }) }, { plausibility: LIMITS });
  for (const b of bufs) dec.datagram(b, '192.0.2.1', EXPORT_S * 1000);
  const s = dec.stats.get('192.0.2.1')!;
  assert.deepEqual(s.errors, {});
  return { got, imp: { ...s.implausible } };
}

test('plausibility: the NetFlow v5 loop passes and drops exactly what plausible() does on the same record', () => {
  fc.assert(
    fc.property(fc.array(rec, { minLength: 1, maxLength: 30 }), fc.constantFrom(0, 1, 100, 4999, 5000, 5001, 0x3fff), (recs, interval) => {
      const L = new Plausibility(LIMITS);
      const want = newImplausibleStats();
      const pass: number[] = [];
      const exportMs = EXPORT_S * 1000;
      for (const r of recs) {
        const x = newFlowRecord();
        x.packets = r.packets;
        x.bytes = r.bytes;
        x.start = exportMs - ((UPTIME - r.first) | 0);
        x.end = exportMs - ((UPTIME - r.last) | 0);
        x.samplingRate = interval > 0 ? interval : 1;
        x.received = exportMs;
        x.fields = F.BYTES | F.PACKETS | F.START | F.END;
        if (plausible(x, L, want)) pass.push(r.dst);
      }
      const { got, imp } = decode([v5(recs, interval)]);
      assert.deepEqual(got.map((g) => g.dst4), pass);
      assert.deepEqual(imp, want);
    }),
    { numRuns: 300 },
  );
});

test('plausibility: a compiled v9 plan passes and drops exactly what the generic walk does', () => {
  fc.assert(
    fc.property(fc.array(rec, { minLength: 1, maxLength: 30 }), fc.array(fc.constantFrom(0, 1, 100, 5000, 5001), { minLength: 1, maxLength: 3 }), (recs, rates) => {
      const dg = v9(recs, rates);
      const fast = decode([dg]);
      setCompiledPlans(false);
      let slow;
      try {
        slow = decode([dg]);
      } finally {
        setCompiledPlans(true);
      }
      assert.deepEqual(fast.got, slow.got);
      assert.deepEqual(fast.imp, slow.imp);
    }),
    { numRuns: 300 },
  );
});

/** The rate guard as its maps alone answer (no memo): the reference for check(). */
class MapsOnly {
  rate = new Map<number, number>();
  cand = new Map<number, number>();
  seen = new Map<number, number>();
  check(key: number, rate: number): boolean {
    const known = this.rate.get(key);
    if (known === rate) {
      this.seen.set(key, 0);
      return true;
    }
    if (known === undefined) {
      this.rate.set(key, rate);
      this.seen.set(key, 0);
      return true;
    }
    const n = this.cand.get(key) === rate ? (this.seen.get(key) ?? 0) + 1 : 1;
    this.cand.set(key, rate);
    if (n >= RATE_CONFIRM) {
      this.rate.set(key, rate);
      this.seen.set(key, 0);
      return true;
    }
    this.seen.set(key, n);
    return false;
  }
}

test('sFlow rate guard: the memo of the last believed sampler answers as the maps do', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.constantFrom(agentHash(0x0a000001, 0), agentHash(0x0a000001, 1)), fc.constantFrom(0, 1, 2 ** 31 + 3), fc.constantFrom(1, 2, 1000)), { maxLength: 200 }), (calls) => {
      const g = new SamplingRateGuard();
      const m = new MapsOnly();
      for (const [a, s, r] of calls) assert.equal(g.check(a, s, r), m.check(samplerKey(a, s), r));
    }),
    { numRuns: 500 },
  );
});

test('sFlow rate guard: two samplers that share a key (a hash collision) answer as the maps do, memo or not', () => {
  // agent ^ 2048 with source 2^31 + 3 hashes to the key of agent with source 3
  const a = agentHash(0x0a000001, 0), b = a ^ 2048, s = 2 ** 31 + 3;
  assert.equal(samplerKey(a, 3), samplerKey(b, s));
  const calls: Array<[number, number, number]> = [[a, 3, 1], [b, s, 2], [a, 3, 1], [b, s, 2], [b, s, 2], [b, s, 2], [a, 3, 1], [a, 3, 2]];
  const g = new SamplingRateGuard();
  const m = new MapsOnly();
  assert.deepEqual(calls.map(([x, y, r]) => g.check(x, y, r)), calls.map(([x, y, r]) => m.check(samplerKey(x, y), r)));
});
