/**
 * One reader of the sampling elements: options records and flow data records
 * both go through readSamplingField(), and it reads exactly the kinds whose
 * ie.ts rows apply to options records (SAMPLING_KINDS), no other.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { APPLIES, ELEMENTS, K, SAMPLING_KINDS } from '../../src/flow/ie.ts';
import { newSamplingFields, readSamplingField, resetSamplingFields, samplingRateOf } from '../../src/flow/sampling.ts';

test('readSamplingField reads exactly the kinds of the ie.ts rows that apply to options records', () => {
  const buf = Buffer.alloc(8);
  buf.writeDoubleBE(0.01);
  const f = newSamplingFields();
  for (const e of ELEMENTS) {
    const len = e.widths.includes(4) ? 4 : e.widths[0];
    assert.equal(readSamplingField(f, e.kind, buf, 0, len), (e.applies & APPLIES.OPTIONS) !== 0, `${e.name} (kind ${e.kind})`);
    assert.equal(SAMPLING_KINDS.has(e.kind), (e.applies & APPLIES.OPTIONS) !== 0, e.name);
  }
  assert.equal(readSamplingField(f, K.SKIP, buf, 0, 4), false);
});

test('the rate of one record: a rate element first, then interval/space, then size/population', () => {
  const f = newSamplingFields();
  const b = Buffer.alloc(4);
  const put = (kind: number, v: number) => {
    b.writeUInt32BE(v);
    readSamplingField(f, kind, b, 0, 4);
  };
  assert.equal(samplingRateOf(f), 0);
  put(K.SAMP_SIZE, 1);
  put(K.SAMP_POP, 512);
  assert.equal(samplingRateOf(f), 512);
  put(K.PKT_INTERVAL, 1);
  put(K.PKT_SPACE, 99);
  assert.equal(samplingRateOf(f), 100);
  put(K.RATE, 1000);
  assert.equal(samplingRateOf(f), 1000);
  put(K.SAMPLER, 7);
  put(K.SYSINIT, 123456);
  assert.deepEqual({ sampler: f.sampler, sysInit: f.sysInit }, { sampler: 7, sysInit: 123456 });
  const p = Buffer.alloc(8);
  p.writeDoubleBE(0.001);
  resetSamplingFields(f);
  readSamplingField(f, K.SAMP_PROB, p, 0, 8);
  assert.equal(samplingRateOf(f), 1000);
  resetSamplingFields(f);
  assert.deepEqual(f, newSamplingFields());
});
