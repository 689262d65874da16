/**
 * `breakwater detect` over the real-exporter captures in pcaps/ (softflowd,
 * pmacct, fprobe; see pcaps/README.md and scripts/gen-traffic.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { encodePcap, readCapture } from '../../src/flow/pcap.ts';
import { loadConfig, validateConfig } from '../../src/config/load.ts';
import { detectCaptures, eventJson } from '../../src/cli/detect.ts';
import type { AttackView as Attack } from '../../src/ban/types.ts';
import { FlowDecoder } from '../../src/flow/decode.ts';
import type { FlowRecord } from '../../src/flow/record.ts';

const root = resolve(import.meta.dirname, '../..');
const pcaps = join(root, 'pcaps');
const fixture = join(root, 'test/fixtures/engine/detect.yaml');
const cfg = loadConfig(fixture);
const files = existsSync(pcaps) ? readdirSync(pcaps).filter((f) => f.endsWith('.pcap') || f.endsWith('.pcapng')).sort() : [];
const scenarioFiles = (name: string) => files.filter((f) => f.replace(/\.pcap(ng)?$/, '').endsWith(`-${name}`));

test('benign captures from every exporter: no attack, no ban', (t) => {
  const benign = scenarioFiles('benign');
  if (benign.length === 0) { t.skip('no benign captures in pcaps/'); return; }
  for (const f of benign) {
    const r = detectCaptures(cfg, [join(pcaps, f)]);
    assert.ok(r.records > 0, `${f}: records decoded`);
    assert.equal(r.engine.stats().records_outside, 0, `${f}: the fixture networks cover the captures`);
    assert.deepEqual(r.events.map((e) => e.event), [], f);
  }
});

test('long benign flows exported at their end are spread, not spikes (real exporters, tight thresholds)', (t) => {
  const unsampled = ['softflowd-v9-benign.pcap', 'pmacct-ipfix-benign.pcap', 'softflowd-ipfix-benign.pcap'].filter((f) => files.includes(f));
  if (unsampled.length === 0) { t.skip('no unsampled benign captures'); return; }
  const tight = (spread: boolean) => validateConfig({
    networks: cfg.networks, thresholds: { pps: 100, mbps: 2 }, detection: { spread_long_flows: spread },
  });
  let without = 0;
  for (const f of unsampled) {
    const on = detectCaptures(tight(true), [join(pcaps, f)]).events.filter((e) => e.event === 'attack_start');
    assert.equal(on.length, 0, `${f}: ${JSON.stringify(on.map((e) => e.event === 'attack_start' && e.attack.target))}`);
    without += detectCaptures(tight(false), [join(pcaps, f)]).events.filter((e) => e.event === 'attack_start').length;
  }
  assert.ok(without > 0, 'the same captures without spreading do look like attacks (the test can fail)');
});

interface Expect {
  target: string;
  direction: 'incoming' | 'outgoing';
  vector: string;
  refused?: string;
  /** Exporter prefix (file name start) -> the vector that exporter's data can show. */
  vectorBy?: Record<string, string>;
}
const EXPECT: Record<string, Expect> = {
  'syn-flood': { target: '198.51.100.10', direction: 'incoming', vector: 'syn_flood' },
  'ntp-amp': { target: '203.0.113.20', direction: 'incoming', vector: 'ntp_amplification' },
  'dns-amp': { target: '198.51.100.60', direction: 'incoming', vector: 'dns_amplification' },
  'memcached-amp': { target: '203.0.113.30', direction: 'incoming', vector: 'memcached_amplification' },
  'icmp-flood': { target: '198.51.100.20', direction: 'incoming', vector: 'icmp_flood' },
  'carpet-bomb': { target: '203.0.113.0/24', direction: 'incoming', vector: 'carpet_bomb' },
  'outgoing': { target: '198.51.100.77', direction: 'outgoing', vector: 'udp_flood' },
  'ipv6-udp-flood': { target: '2001:db8:100::10', direction: 'incoming', vector: 'udp_flood' },
  // pmacct's nfprobe exports no fragment field (no 4/88/IPv4 flags; see its
  // template in pcaps/) and gives later fragments the ports of the first, so
  // from its IPFIX the flood is indistinguishable from a UDP flood.
  'fragment-flood': { target: '198.51.100.30', direction: 'incoming', vector: 'fragment_flood', vectorBy: { 'pmacct-ipfix': 'udp_flood', 'pmacct-v9': 'udp_flood' } },
  'whitelist': { target: '198.51.100.1', direction: 'incoming', vector: 'syn_flood', refused: 'whitelist' },
};

for (const [scenario, want] of Object.entries(EXPECT)) {
  test(`attack capture ${scenario}: one attack on ${want.target}, ${want.vector}, then its ban (or refusal), then its end`, (t) => {
    const fs = scenarioFiles(scenario);
    if (fs.length === 0) { t.skip(`no ${scenario} captures in pcaps/ yet`); return; }
    for (const f of fs) {
      const r = detectCaptures(cfg, [join(pcaps, f)]);
      const starts = r.events.flatMap((e) => (e.event === 'attack_start' ? [e.attack] : [])) as Attack[];
      assert.deepEqual(starts.map((a) => [a.target, a.direction]), [[want.target, want.direction]], `${f}: attacks`);
      const a = starts[0];
      const wantVector = Object.entries(want.vectorBy ?? {}).find(([p]) => f.startsWith(p))?.[1] ?? want.vector;
      assert.equal(a.vector, wantVector, `${f}: vector (summary ${JSON.stringify(a.summary.protocols)} ${JSON.stringify(a.summary.top_source_ports.slice(0, 2))} size ${a.summary.avg_packet_size})`);
      assert.ok(a.route, `${f}: would-be route`);
      const kinds = r.events.map((e) => e.event);
      if (want.refused) {
        assert.ok(!kinds.includes('ban'), `${f}: never banned`);
        const ref = r.events.find((e) => e.event === 'ban_refused');
        assert.ok(ref && ref.event === 'ban_refused' && ref.reason.includes(want.refused), `${f}: refusal ${JSON.stringify(ref)}`);
      } else {
        assert.equal(kinds[kinds.indexOf('attack_start') + 1], 'ban', `${f}: ban right after the attack`);
      }
      const end = r.events.find((e) => e.event === 'attack_end');
      assert.ok(end && end.event === 'attack_end', `${f}: attack ends`);
      assert.equal(end.attack.id, a.id);
      // an 8-second attack: the end comes after the hysteresis, the duration is in range
      const dur = (end.attack.end! - a.start) / 1000;
      assert.ok(dur >= 5 && dur <= 20, `${f}: duration ${dur}`);
      for (const e of r.events) {
        const j = eventJson(e);
        for (const k of ['event', 'time', 'target']) assert.ok(k in j, `${f}: ${e.event} has ${k}`);
        assert.match(String(j.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      }
    }
  });
}

test('fragment floods from exporters without a fragment field trip frag_pps (TCP/UDP with both ports 0 inferred as fragments)', (t) => {
  const fs = ['softflowd-v9-sampled-fragment-flood.pcap', 'softflowd-ipfix-sampled-fragment-flood.pcap', 'pmacct-sflow5-sampled-fragment-flood.pcap'].filter((f) => files.includes(f));
  if (fs.length === 0) { t.skip('no fragment-flood captures in pcaps/'); return; }
  const fragOnly = validateConfig({ networks: cfg.networks, thresholds: { frag_pps: 100 } });
  for (const f of fs) {
    // softflowd exports no fragment field: every record says fragment 0, the flood's later fragments carry ports 0
    if (f.startsWith('softflowd')) {
      let flagged = 0, portless = 0;
      const sink = { record: (r: FlowRecord) => { if (r.fragment) flagged++; if (r.ipProto === 17 && r.srcPort === 0 && r.dstPort === 0) portless++; } };
      const dec = new FlowDecoder(sink);
      for (const p of readCapture(join(pcaps, f))) dec.datagram(p.payload, p.src, p.time);
      assert.equal(flagged, 0, `${f}: no record carries a fragment flag`);
      assert.ok(portless > 0, `${f}: later fragments exported with ports 0`);
    }
    const starts = detectCaptures(fragOnly, [join(pcaps, f)]).events.flatMap((e) => (e.event === 'attack_start' ? [e.attack] : [])) as Attack[];
    assert.deepEqual(starts.map((a) => [a.target, a.vector, a.triggers]), [['198.51.100.30', 'fragment_flood', ['frag_pps']]], f);
  }
  for (const f of scenarioFiles('benign')) assert.equal(detectCaptures(fragOnly, [join(pcaps, f)]).events.length, 0, `${f}: benign fragments stay below frag_pps 100`);
});

test('breakwater detect CLI: JSON lines, deterministic (two runs, identical output)', (t) => {
  const pick = scenarioFiles('syn-flood')[0] ?? scenarioFiles('benign')[0];
  if (!pick) { t.skip('no captures in pcaps/'); return; }
  const inputs = [join(pcaps, pick), ...scenarioFiles('benign').slice(0, 1).map((f) => join(pcaps, f))];
  const run = () => spawnSync(process.execPath, [join(root, 'src/main.ts'), 'detect', '-config', fixture, ...inputs], { encoding: 'utf8', timeout: 120_000 });
  const a = run(), b = run();
  assert.equal(a.status, 0, a.stderr);
  assert.equal(a.stdout, b.stdout);
  for (const line of a.stdout.split('\n').filter(Boolean)) {
    const o = JSON.parse(line);
    assert.ok(['attack_start', 'attack_end', 'ban', 'ban_refused', 'escalate', 'unban'].includes(o.event), o.event);
  }
  const bad = spawnSync(process.execPath, [join(root, 'src/main.ts'), 'detect', inputs[0]], { encoding: 'utf8' });
  assert.equal(bad.status, 2, 'missing -config is a usage error');
});

// ---- replay clock: unbans and escalations at their due times ---------------------------------

/** The first tick boundary at or after t (the engine and its bans act at boundaries). */
const ceilTick = (t: number, tickMs: number) => Math.ceil(t / tickMs) * tickMs;

function withBan(ban: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return validateConfig({
    networks: cfg.networks, protected_whitelist: cfg.protected_whitelist, thresholds: { pps: 5000, mbps: 200 },
    detection: { attack_hysteresis_seconds: 5, ...(extra.detection as object ?? {}) },
    ban: { max_banned_fraction: 0.5, ...ban },
    ...Object.fromEntries(Object.entries(extra).filter(([k]) => k !== 'detection')),
  });
}

function lastDatagram(paths: string[]): number {
  let t = 0;
  for (const p of paths) for (const pk of readCapture(p)) if (pk.time > t) t = pk.time;
  return t;
}

test('unban after the last datagram: stamped max(created + TTL, attack end + unban hysteresis) rounded up to the tick; -drain=false prints none', (t) => {
  const fs = scenarioFiles('syn-flood');
  if (fs.length === 0) { t.skip('no syn-flood captures'); return; }
  // TTL dominates (20 s after the ban), then the hysteresis dominates (12 s after the attack's end)
  const cases = [{ ttl_seconds: 20, unban_hysteresis_seconds: 2, tick: 100 }, { ttl_seconds: 3, unban_hysteresis_seconds: 12, tick: 250 }];
  for (const f of fs) {
    const file = join(pcaps, f);
    const last = lastDatagram([file]);
    for (const c of cases) {
      const conf = withBan({ ttl_seconds: c.ttl_seconds, unban_hysteresis_seconds: c.unban_hysteresis_seconds }, { detection: { tick_ms: c.tick } });
      const r = detectCaptures(conf, [file]);
      const ban = r.events.find((e) => e.event === 'ban');
      const end = r.events.find((e) => e.event === 'attack_end');
      const unbans = r.events.filter((e) => e.event === 'unban');
      assert.ok(ban && ban.event === 'ban' && end, `${f}: ban and attack end`);
      assert.equal(unbans.length, 1, `${f} ${JSON.stringify(c)}: one unban (${r.events.map((e) => e.event)})`);
      const u = unbans[0];
      assert.ok(u.event === 'unban');
      const due = Math.max(ban.time + c.ttl_seconds * 1000, end.time + c.unban_hysteresis_seconds * 1000);
      assert.equal(u.time, ceilTick(due, c.tick), `${f} ${JSON.stringify(c)}: unban at ${new Date(u.time).toISOString()}, due ${new Date(due).toISOString()}`);
      assert.ok(u.time > last, `${f}: this unban falls after the last datagram`);
      assert.equal(u.reason, 'expired');
      assert.equal(u.ban.id, ban.ban.id);
      const j = eventJson(u, r.rates.get(u));
      assert.equal(j.time, new Date(ceilTick(due, c.tick)).toISOString());
      assert.equal(j.pps, 0, `${f}: no traffic to the target when its ban ends`);
      assert.ok(Number(j.peak_pps) > 5000 && Number(j.peak_mbps) > 0, `${f}: the attack's peaks on the unban line ${JSON.stringify(j)}`);
      // nothing left running, every event in time order
      assert.equal(r.bans.active().length, 0);
      for (let i = 1; i < r.events.length; i++) assert.ok(r.events[i].time >= r.events[i - 1].time, `${f}: events in time order`);
      const nd = detectCaptures(conf, [file], { drain: false });
      assert.ok(!nd.events.some((e) => e.event === 'unban'), `${f}: without drain the ban is still on at the end`);
    }
  }
});

test('a ban that expires in a gap of the capture is stamped within one tick of its deadline, not at the next datagram', (t) => {
  const syn = scenarioFiles('syn-flood').find((f) => f.startsWith('softflowd-v9')) ?? scenarioFiles('syn-flood')[0];
  const benign = scenarioFiles('benign').find((f) => f.startsWith('softflowd-v9')) ?? scenarioFiles('benign')[0];
  if (!syn || !benign) { t.skip('no syn-flood or benign capture'); return; }
  const tmp = mkdtempSync(join(tmpdir(), 'bw-detect-gap-'));
  t.after(() => rmSync(tmp, { recursive: true, force: true }));
  // the flood, a 10-minute silence, then benign traffic from the same exporter
  const a = [...readCapture(join(pcaps, syn))];
  const b = [...readCapture(join(pcaps, benign))];
  const gapStart = a[a.length - 1].time;
  const shift = gapStart + 600_000 - b[0].time;
  const file = join(tmp, 'gap.pcap');
  writeFileSync(file, encodePcap([...a, ...b.map((p) => ({ ...p, time: p.time + shift }))]));
  const gapEnd = b[0].time + shift;
  for (const tick of [100, 1000]) {
    const conf = withBan({ ttl_seconds: 90, unban_hysteresis_seconds: 10 }, { detection: { tick_ms: tick } });
    const r = detectCaptures(conf, [file]);
    const ban = r.events.find((e) => e.event === 'ban');
    const end = r.events.find((e) => e.event === 'attack_end');
    const u = r.events.find((e) => e.event === 'unban');
    assert.ok(ban && end && u && u.event === 'unban', `tick ${tick}: ${r.events.map((e) => e.event)}`);
    const due = Math.max(ban.time + 90_000, end.time + 10_000);
    assert.ok(due > gapStart && due < gapEnd, 'the deadline falls in the gap');
    assert.ok(u.time >= due && u.time - due < tick, `tick ${tick}: unban ${u.time - due} ms after its deadline`);
    assert.ok(u.time < gapEnd, 'stamped inside the gap');
    // the benign part after the gap adds nothing
    assert.deepEqual(r.events.map((e) => e.event), ['attack_start', 'ban', 'attack_end', 'unban']);
  }
});

test('escalate lines carry the attack\'s current rates; escalation steps at its after_seconds boundary', (t) => {
  const f = scenarioFiles('syn-flood')[0];
  if (!f) { t.skip('no syn-flood captures'); return; }
  const conf = withBan({ ttl_seconds: 30, unban_hysteresis_seconds: 5 }, { mitigation: 'flowspec', escalation: [{ after_seconds: 2.05, action: 'blackhole' }] });
  const r = detectCaptures(conf, [join(pcaps, f)]);
  const ban = r.events.find((e) => e.event === 'ban');
  const esc = r.events.filter((e) => e.event === 'escalate');
  assert.ok(ban && ban.event === 'ban');
  assert.equal(ban.ban.level, 'flowspec_discard');
  assert.equal(esc.length, 1, `${f}: ${r.events.map((e) => e.event)}`);
  const e = esc[0];
  assert.ok(e.event === 'escalate');
  assert.equal(e.to, 'blackhole');
  assert.equal(e.time, ceilTick(ban.time + 2050, r.engine.window.tickMs));
  const j = eventJson(e, r.rates.get(e));
  assert.ok(Number(j.pps) > 5000, `escalated while the flood runs above its 5000 pps limit: ${JSON.stringify(j)}`);
  assert.ok(Number(j.fps) > 0 && Number(j.mbps) > 0 && Number(j.peak_pps) >= Number(j.pps));
  assert.equal((j.route as { type: string }).type, 'blackhole');
});
