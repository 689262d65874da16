/**
 * `breakwater detect` over the real-exporter captures in pcaps/ (softflowd,
 * pmacct, fprobe; see pcaps/README.md and scripts/gen-traffic.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { loadConfig, validateConfig } from '../../src/config/load.ts';
import { detectCaptures, eventJson } from '../../src/cli/detect.ts';
import type { Attack } from '../../src/engine/events.ts';

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
