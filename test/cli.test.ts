/**
 * The command line operators script against: -version, -check-config (output
 * and exit codes), -log-format text, usage errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import pkg from '../package.json' with { type: 'json' };

const root = resolve(import.meta.dirname, '..');
const main = join(root, 'src/main.ts');
const run = (...args: string[]) => spawnSync(process.execPath, [main, ...args], { encoding: 'utf8', timeout: 60_000 });

test('-version and --version print the package version and exit 0', () => {
  for (const flag of ['-version', '--version']) {
    const r = run(flag);
    assert.equal(r.status, 0);
    assert.equal(r.stdout.trim(), `breakwater ${pkg.version} (node ${process.version})`);
  }
});

test('-check-config prints the normalised config with defaults filled in and exits 0', () => {
  const r = run('-config', join(root, 'examples/breakwater.yaml'), '-check-config');
  assert.equal(r.status, 0, r.stderr);
  const cfg = parse(r.stdout);
  assert.equal(cfg.dry_run, true);
  assert.deepEqual(cfg.networks, ['198.51.100.0/24', '203.0.113.0/24', '2001:db8::/32']);
  assert.equal(cfg.ban.ttl_seconds, 600);
  assert.equal(cfg.bgp.next_hop6, '100::1', 'a default the file does not set');
  assert.equal(cfg.detection.tick_ms, 100, 'a whole section the file does not have');
});

test('-check-config on a broken file names the offending keys and exits 1', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bw-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'bad.yaml');
  writeFileSync(file, 'listen:\n  netflw: ":2055"\nnetworks: ["10.0.0.0/33"]\nthresholds:\n  pps: -1\n');
  const r = run('--config=' + file, '--check-config');
  assert.equal(r.status, 1);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /listen\.netflw: unknown key/);
  assert.match(r.stderr, /networks\.0: .*invalid prefix length/);
  assert.match(r.stderr, /thresholds\.pps: /);
  const missing = run('-config', join(dir, 'nope.yaml'), '-check-config');
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /cannot read .*nope\.yaml/);
});

test('-log-format text gives human lines, json gives JSON lines: the bgp peer state event', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bw-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'bgp.yaml');
  // A neighbor on a closed port: the speaker logs its FSM transitions, then EOF on stdin stops it.
  writeFileSync(file, 'bgp:\n  local_asn: 65000\n  router_id: 192.0.2.254\n  neighbors:\n    - {address: 127.0.0.1, remote_asn: 65001, port: 1}\n');
  const bgp = (...extra: string[]) => spawnSync(process.execPath, [main, 'bgp', '-config', file, ...extra], { encoding: 'utf8', input: '', timeout: 60_000 });
  const text = bgp('-log-format', 'text');
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stderr, /^\d{4}-\d\d-\d\dT[\d:.]+Z INFO bgp peer state event="bgp peer state" neighbor=127\.0\.0\.1 from=Idle to=Connect reason=start$/m);
  const json = bgp('-log-format', 'json');
  assert.equal(json.status, 0, json.stderr);
  const lines = json.stderr.trim().split('\n').map((l) => JSON.parse(l));
  const first = lines.find((l) => l.event === 'bgp peer state');
  assert.deepEqual({ msg: first.msg, neighbor: first.neighbor, from: first.from, to: first.to, level: first.level }, { msg: 'bgp peer state', neighbor: '127.0.0.1', from: 'Idle', to: 'Connect', level: 'info' });
});

test('usage errors exit 2 and say what is wrong', () => {
  const r = run('-config');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /flag -config needs a value/);
  const u = run('-log-format', 'xml', '-config', join(root, 'examples/breakwater.yaml'));
  assert.equal(u.status, 2);
  assert.match(u.stderr, /-log-format must be text or json/);
  const unknown = run('-confg', 'x');
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /unknown flag -confg/);
});
