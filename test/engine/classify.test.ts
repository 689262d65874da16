import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Classifier, FlowRing } from '../../src/engine/classify.ts';
import type { Vector } from '../../src/engine/events.ts';
import { fill, type Rec } from './engine-helpers.ts';

function classify(gen: (i: number) => Rec, n = 200): Classifier {
  const c = new Classifier({ sampleFlows: 20, seed: 42 });
  for (let i = 0; i < n; i++) c.add(fill(gen(i), 1000 + i));
  return c;
}

const src = (i: number) => `192.0.2.${(i % 200) + 1}`;

const cases: Array<[Vector, (i: number) => Rec]> = [
  ['ntp_amplification', (i) => ({ src: src(i), sport: 123, dport: 1000 + i, proto: 17, packets: 10, bytes: 4680 })],
  ['dns_amplification', (i) => ({ src: src(i), sport: 53, dport: 1000 + i, proto: 17, packets: 3, bytes: 3 * 1400 })],
  ['cldap_amplification', (i) => ({ src: src(i), sport: 389, proto: 17, packets: 2, bytes: 2 * 1500 })],
  ['memcached_amplification', (i) => ({ src: src(i), sport: 11211, proto: 17, packets: 5, bytes: 5 * 1400 })],
  ['ssdp_amplification', (i) => ({ src: src(i), sport: 1900, proto: 17, packets: 4, bytes: 4 * 320 })],
  ['chargen_amplification', (i) => ({ src: src(i), sport: 19, proto: 17, packets: 4, bytes: 4 * 1000 })],
  ['snmp_amplification', (i) => ({ src: src(i), sport: 161, proto: 17, packets: 4, bytes: 4 * 1200 })],
  ['wsd_amplification', (i) => ({ src: src(i), sport: 3702, proto: 17, packets: 4, bytes: 4 * 900 })],
  ['udp_amplification', (i) => ({ src: src(i), sport: 27015, proto: 17, packets: 4, bytes: 4 * 1200 })],
  ['udp_flood', (i) => ({ src: src(i), sport: 1024 + i, dport: i, proto: 17, packets: 4, bytes: 4 * 60 })],
  ['syn_flood', (i) => ({ src: src(i), sport: 1024 + i, dport: 80, proto: 6, flags: 0x02, packets: 1, bytes: 60 })],
  ['ack_flood', (i) => ({ src: src(i), sport: 1024 + i, dport: 443, proto: 6, flags: 0x10, packets: 1, bytes: 60 })],
  ['rst_flood', (i) => ({ src: src(i), sport: 1024 + i, dport: 443, proto: 6, flags: 0x14, packets: 1, bytes: 60 })],
  ['tcp_flood', (i) => ({ src: src(i), sport: 1024 + i, dport: 80, proto: 6, flags: 0x18 | (i % 2 ? 0x01 : 0x02 | 0x10), packets: 10, bytes: 4000 })],
  ['icmp_flood', (i) => ({ src: src(i), sport: 0, dport: 0, proto: 1, packets: 5, bytes: 5 * 84 })],
  ['fragment_flood', (i) => ({ src: src(i), sport: 0, dport: 0, proto: 17, frag: true, packets: 5, bytes: 5 * 1480 })],
  ['mixed', (i) => (i % 2 ? { src: src(i), proto: 6, flags: 0x02, bytes: 60 } : { src: src(i), proto: 1, bytes: 84 })],
];

for (const [want, gen] of cases) {
  test(`classifies ${want}`, () => {
    const c = classify(gen);
    assert.equal(c.vector(), want);
  });
}

test('small DNS answers from port 53 are not amplification', () => {
  assert.equal(classify((i) => ({ src: src(i), sport: 53, proto: 17, packets: 1, bytes: 90 })).vector(), 'udp_flood');
});

test('amplification by source port wins over fragments of the same attack', () => {
  const c = classify((i) => (i % 3 === 0 ? { src: src(i), sport: 11211, proto: 17, packets: 1, bytes: 1400 } : { src: src(i), sport: 0, proto: 17, frag: true, packets: 1, bytes: 1400 }));
  assert.equal(c.vector(), 'memcached_amplification');
});

test('summary: sampling-corrected tops, shares, bounded deterministic sample', () => {
  const mk = () => classify((i) => ({ src: i < 150 ? '192.0.2.7' : '192.0.2.8', sport: 123, dport: 80, proto: 17, packets: 2, bytes: 960, rate: 100 }), 300);
  const s = mk().summary();
  assert.equal(s.top_sources[0].key, '192.0.2.7');
  assert.equal(s.top_sources[0].packets, 150 * 2 * 100);
  assert.equal(s.top_sources[0].share, 0.5);
  assert.equal(s.top_source_ports[0].key, 'udp/123');
  assert.equal(s.protocols[0].key, 'udp');
  assert.equal(s.avg_packet_size, 480);
  assert.equal(s.sample.length, 20);
  assert.deepEqual(mk().summary(), s, 'same input, same summary');
});

test('FlowRing replays only matching records, oldest first, and wraps', () => {
  const ring = new FlowRing(50);
  for (let i = 0; i < 120; i++) ring.push(fill({ dst: i % 2 ? '198.51.100.1' : '198.51.100.2', sport: 123, bytes: 500 }, i));
  const c = new Classifier({ sampleFlows: 100, seed: 1 });
  const n = ring.replay(c, (_f, _s, d) => d === ((198 << 24) >>> 0) + (51 << 16) + (100 << 8) + 1);
  assert.equal(n, 25);
  assert.equal(c.summary().sample[0].time, 71);
});
