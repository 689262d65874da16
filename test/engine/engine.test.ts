import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Harness, config, T0 } from './engine-helpers.ts';

test('lifecycle: one attack per flood, peaks, updates about once a second, end after hysteresis', () => {
  const h = new Harness(config({ thresholds: { pps: 1000 }, detection: { attack_hysteresis_seconds: 5 } }));
  h.run(10_000, 100, 25, (i) => ({ src: `192.0.2.${i % 50}`, packets: 10, proto: 17, sport: 5000 + (i % 9), bytes: 10 * 80 }));
  const afterFlood = h.now;
  h.idle(20_000);
  const starts = h.starts(), ends = h.ends();
  assert.equal(starts.length, 1);
  assert.equal(ends.length, 1);
  const a = ends[0];
  assert.equal(a.id, starts[0].id);
  assert.equal(a.target, '198.51.100.10');
  assert.equal(a.direction, 'incoming');
  assert.equal(a.vector, 'udp_flood');
  assert.deepEqual(starts[0].triggers, ['pps']);
  assert.equal(a.peak_pps, 2500);
  assert.equal(a.peak_mbps, 1.6);
  // ends once the window has drained (≤ 1 s) plus the 5 s hysteresis
  assert.ok(a.end! - afterFlood >= 5000 && a.end! - afterFlood <= 6500, `end ${a.end! - afterFlood}`);
  const updates = h.of('attack_update').length;
  assert.ok(updates >= 13 && updates <= 17, `updates ${updates}`);
  assert.equal(h.engine.stats().attacks_active, 0);
  assert.equal(h.engine.attacks()[0].id, a.id);
});

test('detection delay: 2.5x threshold is reported within 1 s of the first sample', () => {
  const h = new Harness(config({ thresholds: { pps: 10_000 } }));
  h.idle(1000);
  const first = h.now + 100;
  h.run(3000, 100, 25, () => ({ packets: 1, rate: 1000, proto: 6, flags: 2 }));
  const s = h.starts()[0];
  assert.ok(s, 'attack found');
  assert.equal(s.vector, 'syn_flood');
  assert.ok(s.start - first <= 1000, `delay ${s.start - first} ms`);
});

test('below threshold never fires; no event for traffic outside networks', () => {
  const h = new Harness(config({ thresholds: { pps: 1000 } }));
  h.run(5000, 100, 9, () => ({ packets: 10 }));
  h.run(5000, 100, 50, () => ({ dst: '192.0.2.99', packets: 100 }));
  assert.equal(h.events.length, 0);
  assert.ok(h.engine.stats().records_outside >= 2500);
});

test('per-protocol thresholds: SYN, UDP, ICMP, fragments and mbps fire with their names', () => {
  const cases: Array<[Record<string, number>, Record<string, unknown>, string]> = [
    [{ tcp_syn_pps: 500 }, { proto: 6, flags: 0x02 }, 'tcp_syn_pps'],
    [{ udp_pps: 500 }, { proto: 17 }, 'udp_pps'],
    [{ icmp_pps: 500 }, { proto: 1 }, 'icmp_pps'],
    [{ frag_pps: 500 }, { proto: 17, frag: true }, 'frag_pps'],
    // no fragment field (softflowd, pmacct nfprobe): UDP or TCP with both ports 0 is a later fragment
    [{ frag_pps: 500 }, { proto: 17, sport: 0, dport: 0 }, 'frag_pps'],
    [{ frag_pps: 500 }, { proto: 6, sport: 0, dport: 0, flags: 0x10 }, 'frag_pps'],
    [{ tcp_pps: 500 }, { proto: 6, flags: 0x10 }, 'tcp_pps'],
    [{ udp_mbps: 5 }, { proto: 17, bytes: 10 * 1000 }, 'udp_mbps'],
  ];
  for (const [th, rec, name] of cases) {
    const h = new Harness(config({ thresholds: th }));
    h.run(2000, 100, 10, () => ({ packets: 10, ...rec }));
    assert.deepEqual(h.starts().map((a) => a.triggers), [[name]], name);
    // the same traffic of another protocol does not fire
    const other = new Harness(config({ thresholds: th }));
    other.run(2000, 100, 10, () => ({ packets: 10, proto: 47 }));
    assert.equal(other.starts().length, 0, `${name} vs GRE`);
  }
});

test('fragment inference: only TCP/UDP with BOTH ports 0 counts as a fragment (ICMP, one port 0: not)', () => {
  for (const rec of [{ proto: 1, sport: 0, dport: 0 }, { proto: 58, sport: 0, dport: 0 }, { proto: 17, sport: 0, dport: 53 }, { proto: 6, sport: 443, dport: 0 }, { proto: 47, sport: 0, dport: 0 }]) {
    const h = new Harness(config({ thresholds: { frag_pps: 500 } }));
    h.run(2000, 100, 10, () => ({ packets: 10, ...rec }));
    assert.equal(h.starts().length, 0, JSON.stringify(rec));
    assert.equal(h.engine.hosts({ limit: 1 })[0].frag_pps, 0, JSON.stringify(rec));
  }
  const h = new Harness(config({ thresholds: { frag_pps: 500 } }));
  h.run(2000, 100, 10, () => ({ packets: 10, proto: 17, sport: 0, dport: 0 }));
  assert.equal(h.engine.hosts({ limit: 1 })[0].frag_pps, 1000);
});

test('ACK-only TCP does not count as SYN; SYN+ACK neither', () => {
  const h = new Harness(config({ thresholds: { tcp_syn_pps: 100 } }));
  h.run(2000, 100, 10, (i) => ({ packets: 10, proto: 6, flags: i % 2 ? 0x10 : 0x12 }));
  assert.equal(h.starts().length, 0);
});

test('sampling rate multiplies every record', () => {
  const h = new Harness(config({ thresholds: { pps: 1000 } }));
  h.run(2000, 100, 1, () => ({ packets: 1, rate: 2000 }));
  assert.equal(h.starts().length, 1);
  assert.equal(h.engine.hosts({ limit: 1 })[0].pps, 10 * 2000 / 1); // 10 records/s x 2000
});

test('long benign flows (NetFlow, spread over their duration) do not trigger', () => {
  const h = new Harness(config({ thresholds: { pps: 10_000, mbps: 100 } }));
  // 20 long flows, each 600 s at 1000 pps / 8 Mbit/s, all exported in the same second
  h.idle(1000);
  h.run(100, 100, 20, (i) => ({ src: `192.0.2.${i}`, dst: `198.51.100.${i}`, kind: 'netflow9', proto: 6, flags: 0x1b, packets: 600_000, bytes: 600_000 * 1000, start: h.now - 600_000, end: h.now }));
  h.idle(5000);
  assert.equal(h.starts().length, 0);
  // without spreading the same export is a spike
  const raw = new Harness(config({ thresholds: { pps: 10_000, mbps: 100 }, detection: { spread_long_flows: false } }));
  raw.idle(1000);
  raw.run(100, 100, 20, (i) => ({ src: `192.0.2.${i}`, dst: `198.51.100.${i}`, kind: 'netflow9', proto: 6, flags: 0x1b, packets: 600_000, bytes: 600_000 * 1000, start: raw.now - 600_000, end: raw.now }));
  raw.idle(2000);
  assert.equal(raw.starts().length, 20);
});

test('NetFlow exported every second at 2.5x threshold is detected at once', () => {
  const h = new Harness(config({ thresholds: { pps: 10_000 } }));
  h.idle(1000);
  let first = 0;
  for (let s = 0; s < 5; s++) {
    h.idle(1000);
    if (!first) first = h.now;
    for (let k = 0; k < 10; k++) h.engine.record(require_fill(h.now, k));
  }
  h.idle(1000);
  const a = h.starts()[0];
  assert.ok(a);
  assert.ok(a.start - first <= 1000, `delay ${a.start - first}`);
});
import { fill } from './engine-helpers.ts';
function require_fill(now: number, k: number) {
  return fill({ src: `192.0.2.${k}`, kind: 'netflow9', proto: 17, sport: 123, packets: 2500, bytes: 2500 * 468, start: now - 1000, end: now }, now);
}

test('outgoing: thresholds_outgoing apply to our sources', () => {
  const h = new Harness(config({ thresholds: { pps: 1_000_000 }, thresholds_outgoing: { pps: 1000 } }));
  h.run(2000, 100, 25, (i) => ({ src: '203.0.113.5', dst: `192.0.2.${i % 200}`, packets: 10, proto: 17, sport: 123, bytes: 4680 }));
  const s = h.starts();
  assert.equal(s.length, 1);
  assert.equal(s[0].direction, 'outgoing');
  assert.equal(s[0].target, '203.0.113.5');
  assert.equal(s[0].vector, 'ntp_amplification');
});

test('IPv6 hosts are counted and attacked', () => {
  const h = new Harness(config({ thresholds: { pps: 1000 } }));
  h.run(2000, 100, 25, (i) => ({ src: `2001:db9::${i % 7 + 1}`, dst: '2001:db8::7', packets: 10, proto: 58 }));
  const s = h.starts();
  assert.equal(s.length, 1);
  assert.equal(s[0].target, '2001:db8::7');
  assert.equal(s[0].family, 6);
  assert.equal(s[0].vector, 'icmp_flood');
  assert.equal(s[0].summary.top_sources.length, 7);
});

test('hostgroups: most specific prefix wins; unset keys inherit the global thresholds; 0 disables', () => {
  const cfg = config({
    thresholds: { pps: 1000, udp_pps: 800 },
    hostgroups: [
      { name: 'wide', networks: ['198.51.100.0/24'], thresholds: { pps: 5000 } },
      { name: 'narrow', networks: ['198.51.100.128/25'], thresholds: { pps: 100_000, udp_pps: 0 } },
    ],
  });
  const h = new Harness(cfg);
  // 2000 pps TCP to each of: .10 (wide: pps 5000 → no), .200 (narrow: no), 203.0.113.1 (global 1000 → yes)
  h.run(2000, 100, 3, (i) => ({ dst: ['198.51.100.10', '198.51.100.200', '203.0.113.1'][i % 3], packets: 200, proto: 6, flags: 0x18 }));
  assert.deepEqual(h.starts().map((a) => a.target), ['203.0.113.1']);
  // UDP 2000 pps: .10 crosses the inherited udp_pps 800; .200 has udp_pps disabled
  const u = new Harness(cfg);
  u.run(2000, 100, 2, (i) => ({ dst: ['198.51.100.10', '198.51.100.200'][i % 2], packets: 200, proto: 17 }));
  const s = u.starts();
  assert.deepEqual(s.map((a) => [a.target, a.hostgroup, a.triggers]), [['198.51.100.10', 'wide', ['udp_pps']]]);
});

test('hostgroup calculation total: the group sum is one target; per_host would not fire', () => {
  const mk = (calculation: string) => new Harness(config({ hostgroups: [{ name: 'web', networks: ['203.0.113.0/26'], calculation, thresholds: { pps: 5000 } }] }));
  const gen = (i: number) => ({ dst: `203.0.113.${i % 40}`, packets: 10, proto: 6, flags: 2 });
  const total = mk('total');
  total.run(2000, 100, 80, gen); // 8000 pps over 40 hosts: 200 each
  const s = total.starts();
  assert.equal(s.length, 1);
  assert.equal(s[0].target, '203.0.113.0/26');
  assert.equal(s[0].hostgroup, 'web');
  assert.equal(s[0].vector, 'syn_flood');
  const per = mk('per_host');
  per.run(2000, 100, 80, gen);
  assert.equal(per.starts().length, 0);
});

test('carpet: many hosts of a /24 each below threshold → one carpet_bomb on the prefix', () => {
  const mk = (hosts: number) => {
    const h = new Harness(config({ thresholds: { pps: 10_000 }, carpet: { enabled: true, min_hosts: 16, thresholds: { pps: 20_000 } } }));
    h.run(3000, 100, 100, (i) => ({ dst: `198.51.100.${i % hosts}`, sport: 53, packets: 30, proto: 17, bytes: 30 * 1200 }));
    return h;
  };
  const h = mk(200); // 30000 pps over 200 hosts: 150 each
  const s = h.starts();
  assert.equal(s.length, 1);
  assert.equal(s[0].target, '198.51.100.0/24');
  assert.equal(s[0].vector, 'carpet_bomb');
  assert.equal(s[0].summary.top_source_ports[0].key, 'udp/53');
  assert.ok(s[0].triggers.includes('pps'));
  // the same total on fewer hosts than min_hosts is not a carpet (and each host is under 10k pps)
  assert.equal(mk(8).starts().length, 0);
});

test('baseline: no verdict during warm-up; then max(factor x baseline, floor) with a static threshold as the lower bound', () => {
  const cfg = config({ baseline: { enabled: true, half_life_seconds: 60, warmup_seconds: 30, factor: 3, floor_pps: 500, floor_mbps: 1000, floor_flows_per_sec: 1e9 } });
  const h = new Harness(cfg);
  // normal: 1000 pps for 60 s → no attack (no static threshold, warming up then at baseline)
  h.run(60_000, 100, 10, () => ({ packets: 10, proto: 6, flags: 0x18 }));
  assert.equal(h.starts().length, 0);
  const b = h.engine.hosts({ ip: '198.51.100.10' })[0].baseline!;
  assert.ok(b.pps > 500 && b.pps <= 1000, `baseline ${b.pps}`);
  // 2x normal is under 3x baseline: nothing; 5x is an attack
  h.run(5000, 100, 20, () => ({ packets: 10, proto: 6, flags: 0x18 }));
  assert.equal(h.starts().length, 0);
  h.run(3000, 100, 50, () => ({ packets: 10, proto: 6, flags: 0x18 }));
  assert.equal(h.starts().length, 1);

  // floor: a quiet host (10 pps baseline) jumping to 400 pps stays under the 500 pps floor
  const q = new Harness(cfg);
  q.run(40_000, 100, 1, (i) => ({ packets: i % 10 === 0 ? 10 : 0 }));
  q.run(3000, 100, 4, () => ({ packets: 10 }));
  assert.equal(q.starts().length, 0);
  q.run(3000, 100, 8, () => ({ packets: 10 }));
  assert.equal(q.starts().length, 1, 'above the floor and 3x baseline');

  // during warm-up only a static threshold can fire
  const w = new Harness(config({ thresholds: { pps: 2000 }, baseline: { enabled: true, warmup_seconds: 600, floor_pps: 10 } }));
  w.run(3000, 100, 15, () => ({ packets: 10 }));
  assert.equal(w.starts().length, 0, '1500 pps < static 2000, baseline not warm');
  w.run(3000, 100, 30, () => ({ packets: 10 }));
  assert.equal(w.starts().length, 1);
});

function spoofed(i: number): string {
  const x = Math.imul(i + 1, 2654435761) >>> 8;
  return `10.${x >>> 16}.${(x >>> 8) & 255}.${x & 255}`;
}

test('table bound at engine level: a spoofed-destination flood does not grow memory past max_hosts and keeps the busy host', () => {
  const h = new Harness(config({ networks: ['10.0.0.0/8'], thresholds: { pps: 5000 }, detection: { max_hosts: 2000 } }));
  h.run(5000, 100, 500, (i) => (i % 10 === 0 ? { dst: '10.9.9.9', packets: 100 } : { dst: spoofed(i), packets: 1 }));
  const st = h.engine.stats();
  assert.ok(st.hosts.incoming4 <= 2000);
  assert.ok(st.overflow > 0);
  assert.deepEqual(h.starts().map((a) => a.target), ['10.9.9.9']);
  assert.equal(h.engine.hosts({ limit: 1 })[0].ip, '10.9.9.9');
});

test('reconfigure: thresholds change without losing counters; hosts leaving networks are dropped', () => {
  const h = new Harness(config({ thresholds: { pps: 100_000 } }));
  h.run(2000, 100, 10, () => ({ packets: 50 }));
  assert.equal(h.starts().length, 0);
  h.engine.reconfigure(config({ thresholds: { pps: 1000 } }));
  assert.equal(h.engine.hosts({ limit: 1 })[0].pps, 5000, 'counters kept');
  h.run(200, 100, 10, () => ({ packets: 50 }));
  assert.equal(h.starts().length, 1);
  h.engine.reconfigure(config({ networks: ['203.0.113.0/24'], thresholds: { pps: 1000 } }));
  assert.equal(h.ends().length, 1);
  assert.equal(h.ends()[0].end_reason, 'outside networks');
  assert.equal(h.engine.hosts({ ip: '198.51.100.10' }).length, 0);
});

test('determinism: same records and times → identical events', () => {
  const run = () => {
    const h = new Harness(config({ thresholds: { pps: 1000 }, carpet: { enabled: true, min_hosts: 4, thresholds: { pps: 3000 } } }));
    h.run(4000, 100, 40, (i) => ({ src: `192.0.2.${(i * 13) % 97}`, dst: `198.51.100.${i % 9}`, sport: 123, packets: 10, bytes: 4000 }));
    h.idle(40_000);
    return JSON.stringify(h.events);
  };
  const a = run();
  assert.ok(a.includes('attack_end'));
  assert.equal(run(), a);
  assert.ok(T0 > 0);
});

test('batched counting decides exactly what record-by-record counting decides (random traffic, property)', () => {
  const hosts4 = ['198.51.100.10', '198.51.100.11', '198.51.100.77', '203.0.113.5', '203.0.113.9', '192.0.2.1'];
  const hosts6 = ['2001:db8::7', '2001:db8::8', '2001:db9::1'];
  const rec = fc.record({
    v6: fc.boolean(), d: fc.nat({ max: 5 }), s: fc.nat({ max: 5 }), proto: fc.constantFrom(6, 17, 1, 58, 47),
    flags: fc.constantFrom(0x02, 0x10, 0x12, 0x04), frag: fc.boolean(), sport: fc.constantFrom(53, 123, 11211, 40000),
    packets: fc.integer({ min: 1, max: 400 }), rate: fc.constantFrom(1, 100, 1000), nf: fc.boolean(),
  });
  fc.assert(fc.property(fc.array(fc.array(rec, { maxLength: 40 }), { minLength: 5, maxLength: 40 }), (ticks) => {
    const cfg = config({
      thresholds: { pps: 3000, udp_pps: 2000, tcp_syn_pps: 1500 }, thresholds_outgoing: { pps: 4000 },
      carpet: { enabled: true, min_hosts: 2, thresholds: { pps: 5000 } },
      hostgroups: [{ name: 'web', networks: ['203.0.113.0/28'], calculation: 'total', thresholds: { pps: 6000 } }],
      detection: { attack_hysteresis_seconds: 1 },
    });
    const run = (batchSize: number) => {
      const h = new Harness(cfg, { batchSize });
      for (const recs of ticks) {
        h.clock.advance(100);
        h.engine.tick(h.clock.t);
        for (const x of recs) {
          const pick = (i: number) => (x.v6 ? hosts6[i % hosts6.length] : hosts4[i]);
          h.engine.record(fill({
            src: pick(x.s), dst: pick(x.d), proto: x.proto, flags: x.flags, frag: x.frag, sport: x.sport, packets: x.packets,
            bytes: x.packets * 500, rate: x.rate, kind: x.nf ? 'netflow9' : 'sflow5',
            ...(x.nf ? { start: h.clock.t - 3000, end: h.clock.t } : {}),
          }, h.clock.t));
        }
        if (recs.length % 7 === 3) h.engine.hosts({ limit: 3 }); // a read in the middle of a tick
      }
      h.idle(5000);
      return JSON.stringify([h.events, h.engine.hosts({ limit: 1000 }), h.engine.stats()]);
    };
    assert.equal(run(256), run(1));
  }), { numRuns: 60 });
});
