/**
 * sFlow sampling rates belong to the sampler: one sample whose rate field was
 * corrupted (still under sampling.max_rate) is dropped as
 * implausible_sampling instead of multiplying its packets; a real rate change
 * is believed once RATE_CONFIRM samples in a row agree; samplers of other
 * agents or source ids keep their own rates; the table stays bounded.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FlowDecoder } from '../../src/flow/decode.ts';
import { MAX_SAMPLERS, RATE_CONFIRM, SamplingRateGuard, agentHash } from '../../src/flow/rate-guard.ts';
import type { FlowRecord } from '../../src/flow/record.ts';
import { datagram, eth, flowSample, ipv4, udp } from '../fixtures/sflow/build.ts';

function sample(rate: number, ifIndex: number, seq: number) {
  const pkt = Buffer.concat([eth(0x0800), ipv4('192.0.2.10', '198.51.100.7', 17, udp(40000, 443, Buffer.alloc(8)))]);
  return flowSample({ rate, input: [0, ifIndex], output: [0, 2], records: [{ kind: 'raw', frameLength: 1200, header: pkt }] }, seq);
}

test('rate guard: a corrupted rate on one sample is dropped and counted; a real change is believed after RATE_CONFIRM samples', () => {
  const got: FlowRecord[] = [];
  const dec = new FlowDecoder({ record: (r) => void got.push({ ...r }) });
  const send = (agent: string, rates: number[], ifIndex = 1) => dec.datagram(datagram(agent, 0, rates.map((r, i) => sample(r, ifIndex, i + 1)), 1), '192.0.2.1', 1_700_000_000_000);
  send('10.0.0.1', [1000, 1000, 1000]);
  send('10.0.0.1', [1000, 65_281, 1000]);
  assert.deepEqual(got.map((r) => r.samplingRate), [1000, 1000, 1000, 1000, 1000], 'the corrupted sample did not reach the sink');
  const s = dec.stats.get('192.0.2.1')!;
  assert.equal(s.implausible.sampling, 1);
  assert.equal(s.implausible.last, 1_700_000_000_000);

  got.length = 0;
  send('10.0.0.1', Array(RATE_CONFIRM + 2).fill(2000));
  assert.deepEqual(got.map((r) => r.samplingRate), Array(3).fill(2000), 'believed from the RATE_CONFIRM-th sample on');
  assert.equal(s.implausible.sampling, 1 + RATE_CONFIRM - 1);

  got.length = 0;
  send('10.0.0.2', [512], 1);
  send('10.0.0.1', [2000], 7);
  send('10.0.0.1', [4096], 7);
  assert.deepEqual(got.map((r) => r.samplingRate), [512, 2000], 'another agent, another source id: own rates');
});

test('rate guard: property — a lone outlier is never believed; RATE_CONFIRM equal samples always are; size stays bounded', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 1_000_000 }), fc.integer({ min: 1, max: 1_000_000 }), fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 50 }), (base, other, pattern) => {
      fc.pre(base !== other);
      const g = new SamplingRateGuard();
      const a = agentHash(0x0a000001, 0);
      assert.equal(g.check(a, 1, base), true);
      for (const p of pattern) {
        // runs of the other rate shorter than RATE_CONFIRM, separated by the believed one
        for (let i = 0; i < Math.min(p, RATE_CONFIRM - 1); i++) assert.equal(g.check(a, 1, other), false);
        assert.equal(g.check(a, 1, base), true);
      }
      for (let i = 1; i < RATE_CONFIRM; i++) assert.equal(g.check(a, 1, other), false);
      assert.equal(g.check(a, 1, other), true);
      assert.equal(g.check(a, 1, other), true);
    }),
  );
  const g = new SamplingRateGuard();
  for (let i = 0; i < 5 * MAX_SAMPLERS; i++) g.check(agentHash(1, 0), i, 1);
  assert.ok(g.size <= MAX_SAMPLERS);
});
