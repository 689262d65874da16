/**
 * Engine decisions not covered elsewhere: the flows_per_sec limit (NetFlow
 * counts flows, sFlow does not), IPv6 /64 carpet bombing, the baseline rule
 * against a static threshold and per hostgroup (calculation total),
 * hostgroup thresholds_outgoing, and a busy host arriving after the host table
 * filled up. Each test also runs the contrasting case that must NOT fire, so
 * it fails if the rule it checks is broken either way.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Harness, config } from './engine-helpers.ts';

// ---- flows_per_sec -------------------------------------------------------------------------

test('flows_per_sec fires on NetFlow/IPFIX records (one flow each, times the sampling rate) below every packet limit', () => {
  const cfg = config({ thresholds: { pps: 100_000, mbps: 1000, flows_per_sec: 1000 } });
  for (const kind of ['netflow5', 'netflow9', 'ipfix'] as const) {
    // 20 records per 100 ms tick = 200 records/s; sampled 1:10 → 2000 flows/s, 4000 pps
    const h = new Harness(cfg);
    h.run(3000, 100, 20, (i) => ({ kind, src: `192.0.2.${i % 250}`, sport: 1024 + i, dport: 80, proto: 6, flags: 0x18, packets: 2, bytes: 120, rate: 10 }));
    const s = h.starts();
    assert.equal(s.length, 1, `${kind}: one attack`);
    assert.deepEqual(s[0].triggers, ['flows_per_sec'], kind);
    assert.ok(s[0].fps > 1000, `${kind}: fps at the start ${s[0].fps}`);
    assert.equal(h.engine.hosts({ ip: '198.51.100.10' })[0].fps, 2000, `${kind}: steady fps, sampling-corrected`);
    assert.equal(s[0].thresholds?.flows_per_sec, 1000);
    // the same record count at half the rate stays below
    const q = new Harness(cfg);
    q.run(3000, 100, 20, (i) => ({ kind, src: `192.0.2.${i % 250}`, proto: 6, flags: 0x18, packets: 2, bytes: 120, rate: 4 }));
    assert.equal(q.starts().length, 0, `${kind}: 800 flows/s is below 1000`);
    assert.equal(q.engine.hosts({ ip: '198.51.100.10' })[0].fps, 800);
  }
});

test('sFlow samples are packets, not flows: they never count toward flows_per_sec (documented), only toward pps', () => {
  const h = new Harness(config({ thresholds: { flows_per_sec: 100 } }));
  // 20 samples per tick at 1:100 = 20,000 sampled packets/s from 250 sources
  h.run(3000, 100, 20, (i) => ({ kind: 'sflow5', src: `192.0.2.${i % 250}`, sport: 1024 + i, proto: 6, flags: 0x18, packets: 1, bytes: 60, rate: 100 }));
  assert.equal(h.starts().length, 0);
  const host = h.engine.hosts({ ip: '198.51.100.10' })[0];
  assert.equal(host.fps, 0);
  assert.equal(host.pps, 20_000, 'the samples were counted (as packets)');
  // the same stream as NetFlow records crosses the flows limit at once
  const n = new Harness(config({ thresholds: { flows_per_sec: 100 } }));
  n.run(3000, 100, 20, (i) => ({ kind: 'netflow9', src: `192.0.2.${i % 250}`, sport: 1024 + i, proto: 6, flags: 0x18, packets: 1, bytes: 60, rate: 100 }));
  assert.deepEqual(n.starts().map((a) => a.triggers), [['flows_per_sec']]);
});

// ---- IPv6 carpet ------------------------------------------------------------------------------

test('IPv6 carpet: many hosts of one /64, each below its threshold, are one carpet_bomb on the /64', () => {
  const cfg = config({ thresholds: { pps: 5000 }, carpet: { enabled: true, min_hosts: 16, thresholds: { pps: 20_000 } } });
  const run = (dst: (i: number) => string) => {
    const h = new Harness(cfg);
    // 100 records per tick × 30 packets = 30,000 pps in total
    h.run(3000, 100, 100, (i) => ({ src: `2a02:6b8::${(i % 300).toString(16)}`, dst: dst(i), sport: 123, proto: 17, packets: 30, bytes: 30 * 468 }));
    return h;
  };
  // 200 hosts of 2001:db8:5:7::/64: 150 pps each
  const h = run((i) => `2001:db8:5:7::${(i % 200 + 1).toString(16)}`);
  const s = h.starts();
  assert.equal(s.length, 1, JSON.stringify(s.map((a) => a.target)));
  assert.equal(s[0].target, '2001:db8:5:7::/64');
  assert.equal(s[0].family, 6);
  assert.equal(s[0].kind, 'carpet');
  assert.equal(s[0].vector, 'carpet_bomb');
  assert.ok((s[0].hosts ?? 0) >= 16, `hosts ${s[0].hosts}`);
  assert.ok(s[0].triggers.includes('pps'));
  assert.ok(s[0].pps >= 20_000);
  // the same total spread over 200 different /64s (one host each) is no carpet of any /64
  const spread = run((i) => `2001:db8:5:${(i % 200 + 1).toString(16)}::1`);
  assert.equal(spread.starts().length, 0);
  // the same total on 8 hosts (< min_hosts 16) of one /64: each host 3750 pps < 5000, no carpet
  const few = run((i) => `2001:db8:5:7::${(i % 8 + 1).toString(16)}`);
  assert.equal(few.starts().length, 0);
});

// ---- baseline -----------------------------------------------------------------------------------

test('baseline after warm-up: a static threshold above factor × baseline dominates; one below it is raised to factor × baseline', () => {
  const base = { enabled: true, half_life_seconds: 60, warmup_seconds: 10, factor: 3, floor_pps: 100, floor_mbps: 1000, floor_flows_per_sec: 1e9 };
  const normal = () => ({ packets: 10, proto: 6, flags: 0x18 });
  // 1000 pps of normal traffic for 30 s: baseline ≈ 1000, factor × baseline ≈ 3000
  const learn = (pps: number) => {
    const h = new Harness(config({ thresholds: { pps }, baseline: base }));
    h.run(30_000, 100, 10, normal);
    assert.equal(h.starts().length, 0);
    const b = h.engine.hosts({ ip: '198.51.100.10' })[0].baseline!;
    assert.ok(b.pps > 900 && b.pps <= 1000, `baseline ${b.pps}`);
    return h;
  };
  // static 5000 > 3 × 1000: 4000 pps (4x baseline) is no attack, 6000 pps is, against 5000
  const hi = learn(5000);
  hi.run(3000, 100, 40, normal);
  assert.equal(hi.starts().length, 0, '4000 pps: above 3x baseline but below the static 5000');
  hi.run(3000, 100, 60, normal);
  assert.equal(hi.starts().length, 1);
  assert.equal(hi.starts()[0].thresholds?.pps, 5000);
  // static 2000 < 3 × 1000: 2500 pps is above the static value but below factor × baseline
  const lo = learn(2000);
  lo.run(3000, 100, 25, normal);
  assert.equal(lo.starts().length, 0, '2500 pps: above the static 2000 but below 3x baseline');
  // 4000 pps, tick by tick until the attack opens; the baseline is read at that tick
  for (let i = 0; i < 30 && lo.starts().length === 0; i++) lo.run(100, 100, 40, normal);
  assert.equal(lo.starts().length, 1);
  // the limit in force is factor × the baseline it had learnt, not the static 2000
  const lim = lo.starts()[0].thresholds!.pps;
  const learnt = lo.engine.hosts({ ip: '198.51.100.10' })[0].baseline!.pps;
  assert.ok(lim > 2700, `limit ${lim} above the static 2000`);
  assert.ok(Math.abs(lim - 3 * learnt) / lim < 0.03, `limit ${lim} = 3 x baseline ${learnt}`);
});

test('per-group baseline: a hostgroup with calculation total learns the group total and opens one group attack', () => {
  const cfg = config({
    // no static limits anywhere; only the group has a baseline
    hostgroups: [{ name: 'web', networks: ['203.0.113.0/26'], calculation: 'total', baseline: { enabled: true, half_life_seconds: 60, warmup_seconds: 10, factor: 3, floor_pps: 100, floor_mbps: 1000, floor_flows_per_sec: 1e9 } }],
  });
  const h = new Harness(cfg);
  const gen = (i: number) => ({ dst: `203.0.113.${i % 40}`, packets: 10, proto: 17, sport: 40000 + (i % 7) });
  h.run(30_000, 100, 20, gen); // 2000 pps for the group, 50 pps per host
  assert.equal(h.starts().length, 0, 'learning');
  // a host outside the group at the same per-host rate has no limit at all (baseline off globally)
  h.run(3000, 100, 40, gen); // 2x normal: below 3x the group baseline
  assert.equal(h.starts().length, 0, '4000 pps for the group is under 3x its baseline');
  h.run(3000, 100, 100, gen); // 5x normal
  const s = h.starts();
  assert.equal(s.length, 1);
  assert.equal(s[0].target, '203.0.113.0/26');
  assert.equal(s[0].kind, 'group');
  assert.equal(s[0].hostgroup, 'web');
  // 3 × the group's baseline: ~2000 pps learnt over 30 s, pulled up a little by the 3 s at
  // 4000 pps (the baseline keeps learning below the limit; bias-corrected EWMA, half-life 60 s)
  const lim = s[0].thresholds!.pps;
  assert.ok(lim > 5400 && lim < 7500, `group limit = 3x its ~2000-2500 pps baseline: ${lim}`);
  // per host the same hosts carry only 250 pps: nothing else opened
  assert.ok(h.starts().every((a) => a.kind === 'group'));
});

test('baseline disabled for a hostgroup that does not enable it: the same traffic never fires there', () => {
  const cfg = config({ hostgroups: [{ name: 'web', networks: ['203.0.113.0/26'], calculation: 'total' }] });
  const h = new Harness(cfg);
  const gen = (i: number) => ({ dst: `203.0.113.${i % 40}`, packets: 10, proto: 17 });
  h.run(30_000, 100, 20, gen);
  h.run(3000, 100, 100, gen);
  assert.equal(h.starts().length, 0);
});

// ---- hostgroup thresholds_outgoing -----------------------------------------------------------

test('hostgroup thresholds_outgoing override the global outgoing limits key by key, for the group\'s sources only', () => {
  const cfg = config({
    thresholds: { pps: 1_000_000 },
    thresholds_outgoing: { pps: 10_000, tcp_syn_pps: 500 },
    hostgroups: [{ name: 'servers', networks: ['198.51.100.0/28'], thresholds_outgoing: { pps: 1000 } }],
  });
  const h = new Harness(cfg);
  // 2000 pps out from a group member and from a host outside the group; 2000 pps into the member
  h.run(3000, 100, 3, (i) => {
    const k = i % 3;
    if (k === 0) return { src: '198.51.100.5', dst: `192.0.2.${i % 200}`, packets: 200, proto: 17, sport: 40000, dport: 27015 };
    if (k === 1) return { src: '198.51.100.100', dst: `192.0.2.${i % 200}`, packets: 200, proto: 17, sport: 40000, dport: 27015 };
    return { src: `192.0.2.${i % 200}`, dst: '198.51.100.5', packets: 200, proto: 17 };
  });
  const s = h.starts();
  assert.deepEqual(s.map((a) => [a.target, a.direction, a.hostgroup, a.triggers]), [['198.51.100.5', 'outgoing', 'servers', ['pps']]]);
  assert.equal(s[0].thresholds?.pps, 1000);
  assert.equal(s[0].thresholds?.tcp_syn_pps, 500, 'tcp_syn_pps inherited from the global thresholds_outgoing');
  // the inherited key fires for the member on its own: 700 SYN/s is under the group's 1000 pps
  const u = new Harness(cfg);
  u.run(3000, 100, 1, () => ({ src: '198.51.100.5', dst: '192.0.2.9', packets: 70, proto: 6, flags: 0x02 }));
  assert.deepEqual(u.starts().map((a) => [a.direction, a.triggers, a.vector]), [['outgoing', ['tcp_syn_pps'], 'syn_flood']]);
});

// ---- full table ----------------------------------------------------------------------------------

function spoofed(i: number): string {
  const x = Math.imul(i + 1, 2654435761) >>> 8;
  return `10.${x >>> 16}.${(x >>> 8) & 255}.${x & 255}`;
}

test('a busy host that first appears after the host table filled up is still detected (overflow keeps the busiest)', () => {
  const h = new Harness(config({ networks: ['10.0.0.0/8'], thresholds: { pps: 5000 }, detection: { max_hosts: 2000 } }));
  // 5 s of spoofed destinations: 500 new hosts per tick, far more than the table holds
  h.run(5000, 100, 500, (i) => ({ dst: spoofed(i), packets: 1 }));
  const before = h.engine.stats();
  assert.ok(before.overflow > 0, 'the table was full and refused keys');
  assert.ok(before.hosts.incoming4 <= 2000);
  assert.equal(h.starts().length, 0);
  // now a new host at 10,000 pps joins the spoofed flood (1 record in 10)
  const joined = h.now;
  let k = 1_000_000;
  h.run(4000, 100, 500, (i) => (i % 10 === 0 ? { dst: '10.9.9.9', packets: 20 } : { dst: spoofed(k++), packets: 1 }));
  const s = h.starts();
  assert.deepEqual(s.map((a) => a.target), ['10.9.9.9']);
  assert.ok(s[0].start - joined <= 2000, `found ${s[0].start - joined} ms after it appeared`);
  const st = h.engine.stats();
  assert.ok(st.hosts.incoming4 <= 2000, `bounded: ${st.hosts.incoming4}`);
  assert.ok(st.overflow > before.overflow, 'still overflowing');
  assert.equal(h.engine.hosts({ limit: 1 })[0].ip, '10.9.9.9');
});
