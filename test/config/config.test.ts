import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseConfigText, defaultConfig, unknownKeyPaths } from '../../src/config/load.ts';
import { ConfigSchema } from '../../src/config/schema.ts';
import { ConfigError } from '../../src/core/errors.ts';
import { createLogger } from '../../src/core/log.ts';
import { baseConfig, startHarness } from '../daemon/harness.ts';

const repoRoot = resolve(import.meta.dirname, '../..');

function issuesOf(text: string): Array<{ path: string; message: string }> {
  try {
    parseConfigText(text);
  } catch (e) {
    if (e instanceof ConfigError) return e.issues;
    throw e;
  }
  assert.fail('config was accepted');
}

test('defaults: dry-run on, listeners, SQLite under data dir', () => {
  const c = defaultConfig();
  assert.equal(c.dry_run, true);
  assert.equal(c.listen.netflow, ':2055');
  assert.equal(c.api.listen, '127.0.0.1:8080');
  assert.equal(c.bgp.next_hop6, '100::1');
  assert.equal(c.bgp.community, '65535:666');
  assert.ok(Object.isFrozen(c.ban));
});

test('unknown keys are rejected with their dotted path', () => {
  const issues = issuesOf('ban:\n  ttl_seconds: 60\n  tll: 5\n');
  assert.deepEqual(issues, [{ path: 'ban.tll', message: 'unknown key' }]);
});

test('wrong types and invalid prefixes name the key', () => {
  const issues = issuesOf('networks: ["10.0.0.0/8", "10.0.0.1/24"]\nthresholds:\n  pps: "lots"\n');
  const paths = issues.map((i) => i.path).sort();
  assert.deepEqual(paths, ['networks.1', 'thresholds.pps']);
  assert.match(issues.find((i) => i.path === 'networks.1')!.message, /host bits/);
});

test('hostgroup networks must be inside networks; duplicate neighbors rejected', () => {
  const issues = issuesOf(`
networks: ["198.51.100.0/24"]
hostgroups:
  - name: web
    networks: ["203.0.113.0/24"]
bgp:
  local_asn: 65001
  neighbors:
    - {address: 127.0.0.2, remote_asn: 65002}
    - {address: 127.0.0.2, remote_asn: 65003}
`);
  assert.deepEqual(issues.map((i) => i.path).sort(), ['bgp.neighbors.1.address', 'hostgroups.0.networks.0']);
});

test('YAML syntax errors and non-mapping documents are reported', () => {
  assert.match(issuesOf('dry_run: [\n')[0].message, /^YAML:/);
  assert.match(issuesOf('- a\n- b\n')[0].message, /mapping/);
});

/** Two unknown keys in `ban`, one in a neighbor (inside an array), one in a hostgroup's partial ban, one at the root. */
const MANY_UNKNOWN = `
bogus_root: 1
ban:
  ttl_seconds: 60
  tll: 5
  bogus: true
bgp:
  local_asn: 65001
  neighbors:
    - {address: 127.0.0.2, remote_asn: 65002, hold: 9}
networks: ["198.51.100.0/24"]
hostgroups:
  - name: web
    networks: ["198.51.100.0/25"]
    ban: {ttl: 5}
`;
const MANY_PATHS = ['ban.bogus', 'ban.tll', 'bgp.neighbors.0.hold', 'bogus_root', 'hostgroups.0.ban.ttl'];

test('every unknown key is reported with its dotted path, not only the first of each object', () => {
  const issues = issuesOf(MANY_UNKNOWN);
  assert.deepEqual(issues.map((i) => i.path), MANY_PATHS, JSON.stringify(issues));
  assert.ok(issues.every((i) => i.message === 'unknown key'));
  // Mixed with other errors: each path once, the type error kept.
  const mixed = issuesOf('thresholds:\n  pps: "lots"\n  ppz: 1\n  mbpz: 2\nban:\n  tll: 1\n');
  assert.deepEqual(mixed.map((i) => `${i.path}: ${i.message}`).sort(), ['ban.tll: unknown key', 'thresholds.mbpz: unknown key', 'thresholds.pps: wrong type: Expected number but received "lots"', 'thresholds.ppz: unknown key']);
  // The walker alone: through optional, pipe (described keys), arrays and partial objects.
  assert.deepEqual(unknownKeyPaths(ConfigSchema, { listen: { sflow: ':1', x: 1 }, api: { tokens: [{ name: 'a', token_env: 'B', y: 2 }] }, storage: { sqlite: { z: 3 } } }).sort(), ['api.tokens.0.y', 'listen.x', 'storage.sqlite.z']);
  assert.deepEqual(unknownKeyPaths(ConfigSchema, { ban: 'not an object', hostgroups: 'nope' }), []);
});

test('-check-config prints every unknown key and exits 1', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bw-cfg-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'bad.yaml');
  writeFileSync(file, MANY_UNKNOWN);
  const r = spawnSync(process.execPath, [join(repoRoot, 'src/main.ts'), '-config', file, '-check-config'], { cwd: repoRoot, encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 1, r.stderr);
  assert.equal(r.stdout, '', 'no config printed');
  for (const p of MANY_PATHS) assert.match(r.stderr, new RegExp(`^  ${p.replace(/\./g, '\\.')}: unknown key$`, 'm'), r.stderr);
});

test('a reload with several bad keys returns all of them in the API response and the log; the old config keeps running', async (t) => {
  const lines: string[] = [];
  const log = createLogger({ format: 'json', level: 'info', destination: { write: (s: string) => lines.push(...s.split('\n').filter(Boolean)) } });
  const h = await startHarness(t, {}, log);
  const dataDir = join(h.dir, 'data');
  const good = baseConfig(dataDir);
  h.writeConfig({ ...good, bogus_root: 1, ban: { ttl_seconds: 5, tll: 5, bogus: true }, thresholds: { pps: 'lots', ppz: 1 } });
  const r = await h.req('POST', '/api/v1/config/reload');
  assert.equal(r.status, 400, r.text);
  const want = ['ban.bogus', 'ban.tll', 'bogus_root', 'thresholds.pps', 'thresholds.ppz'];
  assert.deepEqual(r.json.issues.map((i: any) => i.path).sort(), want);
  assert.equal(r.json.issues.filter((i: any) => i.message === 'unknown key').length, 4);
  const failed = lines.map((l) => JSON.parse(l)).filter((o) => o.event === 'config reload failed');
  assert.equal(failed.length, 1, lines.join('\n'));
  assert.deepEqual([...failed[0].keys].sort(), want);
  assert.deepEqual(failed[0].issues.map((i: any) => i.path).sort(), want);
  assert.equal(failed[0].level, 'error', 'logged as an error');
  assert.equal(h.d.cfg.ban.ttl_seconds, 5);
  assert.equal(h.d.cfg.thresholds.pps, 1000, 'the old thresholds stay');
});
