/**
 * Configs written for Kapkan load unchanged (src/config/kapkan.ts). The
 * fixtures in test/fixtures/kapkan/ follow the key structure of Kapkan's
 * published example and configuration reference: every key Kapkan documents
 * is accepted; what Breakwater does the same is applied, renamed keys land
 * under Breakwater's names, replaced ones get one start-up note, unsupported
 * ones a warning naming the key; empty strings turn channels off. Unknown keys
 * get a "did you mean" hint. docs/kapkan.md lists every key.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { loadConfig, parseConfigText, suggestKey, validateConfig } from '../../src/config/load.ts';
import { compatNotes, KAPKAN_BLOCK_KEYS, KAPKAN_KEYS } from '../../src/config/kapkan.ts';
import { ConfigError } from '../../src/core/errors.ts';
import { readSection } from '../../scripts/config-doc.ts';
import { removeDir, tempDir, waitFor } from '../helpers/netns.ts';
import { freePort } from '../e2e/helpers.ts';

const root = join(import.meta.dirname, '../..');
const fixtures = join(root, 'test/fixtures/kapkan');
const main = join(root, 'src/main.ts');

/** Leaf key paths of a YAML document, lists of objects as `key[]`. */
function leafPaths(o: unknown, base = ''): string[] {
  if (o === null || typeof o !== 'object') return [base];
  if (Array.isArray(o)) {
    if (o.some((x) => x !== null && typeof x === 'object' && !Array.isArray(x))) return [...new Set(o.flatMap((x) => leafPaths(x, `${base}[]`)))];
    return [base];
  }
  return Object.entries(o).flatMap(([k, v]) => leafPaths(v, base ? `${base}.${k}` : k));
}

const documented = (): Set<string> => {
  const s = new Set<string>();
  for (const k of KAPKAN_KEYS) {
    s.add(k.path);
    for (const sub of KAPKAN_BLOCK_KEYS[k.path] ?? []) s.add(`${k.path}.${sub}`);
  }
  return s;
};

test('every-key.yaml holds exactly the keys of the Kapkan table, and the table names each key once', () => {
  const paths = KAPKAN_KEYS.map((k) => k.path);
  assert.equal(new Set(paths).size, paths.length, 'no key twice');
  assert.ok(paths.length > 120, `${paths.length} keys`);
  const doc = parse(readFileSync(join(fixtures, 'every-key.yaml'), 'utf8'), { merge: true });
  const inFile = new Set(leafPaths(doc));
  const table = documented();
  // Keys listed at block level (a whole block handled as one) cover their leaves.
  const covered = (p: string) => table.has(p) || [...table].some((t) => p.startsWith(t + '.') || p.startsWith(t + '[]'));
  assert.deepEqual([...inFile].filter((p) => !covered(p)), [], 'keys in the fixture missing from the table');
  const leaves = [...table].filter((t) => ![...table].some((u) => u !== t && (u.startsWith(t + '.') || u.startsWith(t + '[]'))));
  assert.deepEqual(leaves.filter((t) => !inFile.has(t) && ![...inFile].some((p) => p.startsWith(t + '.') || p.startsWith(t + '['))), [], 'keys of the table missing from the fixture');
});

test('Kapkan-style production config: loads unchanged; empty strings turn channels off; ban.state_file is replaced with one note', () => {
  const cfg = loadConfig(join(fixtures, 'production.yaml'));
  assert.equal(cfg.dry_run, true);
  assert.deepEqual(cfg.networks, ['203.0.113.0/24', '2001:db8::/32']);
  assert.equal(cfg.thresholds.pps, 80000);
  assert.equal(cfg.ban.max_active_bans, 50);
  assert.equal(cfg.bgp.neighbors[0].remote_asn, 65000);
  assert.equal(cfg.bgp.community, '65000:666');
  assert.deepEqual(cfg.notify.telegram, { token_env: 'KAPKAN_TG_TOKEN', chat_id: '-1001234567890', api_url: 'https://api.telegram.org' });
  for (const off of ['webhook', 'slack', 'email', 'exec'] as const) assert.equal(cfg.notify[off], undefined, `notify.${off} "" means off`);
  assert.deepEqual(
    compatNotes(cfg).map((n) => [n.key, n.kind]),
    [['ban.state_file', 'replaced']],
  );
});

test('every Kapkan key: same keys applied, renamed keys moved, replaced and unsupported keys each named once', () => {
  const cfg = loadConfig(join(fixtures, 'every-key.yaml'));
  // same
  assert.equal(cfg.sampling.default_rate, 512);
  assert.deepEqual(cfg.sampling.boundary, [{ exporter: '192.0.2.11', external_ifindexes: [1, 2] }]);
  assert.equal(cfg.thresholds_outgoing.frag_mbps, 300);
  assert.equal(cfg.ban.fallback, 'blackhole');
  assert.equal(cfg.bgp.graceful_restart.restart_seconds, 120);
  assert.equal(cfg.samples.buffer_flows, 65536);
  assert.equal(cfg.flowspec.action, 'discard');
  // renamed
  assert.deepEqual([cfg.baseline.enabled, cfg.baseline.floor_pps, cfg.baseline.floor_mbps, cfg.baseline.floor_flows_per_sec], [true, 5000, 50, 2000]);
  assert.deepEqual([cfg.carpet.enabled, cfg.carpet.prefix_length_v4, cfg.carpet.prefix_length_v6, cfg.carpet.min_hosts], [true, 24, 64, 16]);
  assert.equal(cfg.bgp.listen, ':1179');
  const [web, watch] = cfg.hostgroups;
  assert.deepEqual(web.communities, ['65000:100']);
  assert.equal(web.baseline?.floor_pps, 1000);
  assert.equal(web.ban, undefined, 'ban: true is the default');
  assert.deepEqual(watch.ban, { max_active_bans: 0 }, 'ban: false detects and never bans');
  assert.deepEqual(web.escalation, [{ after_seconds: 30, action: 'flowspec' }, { after_seconds: 300, action: 'blackhole' }]);
  assert.deepEqual(cfg.escalation, [{ after_seconds: 0, action: 'flowspec' }, { after_seconds: 600, action: 'blackhole' }]);
  assert.equal(watch.mitigation, 'blackhole');
  assert.deepEqual([cfg.notify.email?.smtp_host, cfg.notify.email?.smtp_port], ['mail.example.net', 587]);
  assert.equal(cfg.api.tokens[2].role, 'viewer');
  // tenants: applied as written (a scoped token sees only its tenant's hostgroups)
  assert.equal(web.tenant, 'acme');
  assert.equal(cfg.api.tokens[1].tenant, 'acme');
  // notes: every unsupported / replaced key of the file, once, by its place in the file
  const notes = compatNotes(cfg);
  const keys = notes.map((n) => n.key);
  assert.equal(new Set(keys).size, keys.length, 'each key once');
  for (const k of ['dataplane', 'edge', 'scrubbing', 'geoip', 'update_check', 'tenant', 'ban.state_file', 'hostgroups.0.scrubbing', 'hostgroups.0.bgp.next_hop', 'carpet.mitigation', 'carpet.max_active_prefix_bans', 'bgp.graceful_restart.long_lived', 'api.tokens.2.role', 'escalation.1.action', 'hostgroups.0.escalation.2.action', 'hostgroups.1.mitigation', 'sampling.boundary.0.egress_sampling', 'flowspec.source_anchored']) {
    assert.ok(keys.includes(k), `${k} not named: ${keys.join(', ')}`);
  }
  assert.equal(notes.find((n) => n.key === 'ban.state_file')?.kind, 'replaced');
  assert.equal(notes.find((n) => n.key === 'dataplane')?.kind, 'unsupported');
  for (const n of notes) assert.ok(n.note.length > 10, `${n.key} says why`);
  for (const k of ['hostgroups.0.tenant', 'api.tokens.1.tenant']) assert.ok(!keys.includes(k), `${k} is done, not noted`);
});

test('validateConfig on an object stays strict: Kapkan-only keys are unknown there', () => {
  assert.throws(() => validateConfig({ dataplane: { enabled: true } }), (e: unknown) => e instanceof ConfigError && e.issues.some((i) => i.path === 'dataplane'));
  // A Kapkan-shaped baseline block (with floor) is on without `enabled`, as in Kapkan; Breakwater's own shape keeps its default.
  assert.equal(parseConfigText('baseline: {factor: 3, floor: {pps: 5000}}\n').baseline.enabled, true);
  assert.equal(parseConfigText('baseline: {factor: 3, floor: {pps: 5000}, enabled: false}\n').baseline.enabled, false);
  assert.equal(parseConfigText('baseline: {factor: 3}\n').baseline.enabled, false);
  // A Breakwater config without Kapkan keys gets no notes.
  assert.deepEqual(compatNotes(parseConfigText('dry_run: true\nthresholds: {pps: 1000}\n')), []);
});

test('-check-config on a Kapkan config: exit 0, the config on stdout, one line per replaced or unsupported key on stderr', () => {
  const r = spawnSync(process.execPath, [main, '-config', join(fixtures, 'every-key.yaml'), '-check-config'], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(parse(r.stdout).bgp.listen, ':1179');
  assert.match(r.stderr, /^warning: dataplane: accepted but not done by Breakwater \(no effect\): .*XDP/m);
  assert.match(r.stderr, /^note: ban\.state_file: replaced in Breakwater: .*SQLite/m);
  assert.equal(r.stderr.trim().split('\n').filter((l) => /^(warning|note): dataplane:/.test(l)).length, 1);
});

test('the daemon on a Kapkan config logs one start-up line per replaced or unsupported key', { timeout: 60_000 }, async (t) => {
  const dir = tempDir('bw-kapkan-');
  t.after(() => removeDir(dir));
  const cfg = parse(readFileSync(join(fixtures, 'production.yaml'), 'utf8'));
  cfg.listen = { sflow: `127.0.0.1:${freePort()}`, netflow: '' };
  cfg.api.listen = `127.0.0.1:${freePort()}`;
  cfg.bgp.neighbors = [];
  cfg.dataplane = { enabled: true, interfaces: ['eth0'] };
  cfg.storage = { data_dir: join(dir, 'data') };
  const file = join(dir, 'config.yaml');
  writeFileSync(file, stringify(cfg));
  const p = spawn(process.execPath, [main, '-config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout!.on('data', (b) => (out += b));
  const exited = new Promise((r) => p.once('exit', r));
  t.after(async () => {
    p.kill('SIGTERM');
    await exited;
  });
  await waitFor('ready', () => /"Breakwater ready"/.test(out), 30_000, 100);
  const lines = out.trim().split('\n').map((l) => JSON.parse(l)).filter((o) => o.event === 'config compat');
  assert.deepEqual(lines.map((o) => [o.key, o.kind, o.level]), [['ban.state_file', 'replaced', 'info'], ['dataplane', 'unsupported', 'warn']]);
  assert.match(lines[1].msg, /^dataplane: accepted but not done/);
});

test('unknown keys get a "did you mean" hint', () => {
  assert.equal(suggestKey('ppz', ['pps', 'mbps']), 'pps');
  assert.equal(suggestKey('threshold', ['thresholds', 'networks']), 'thresholds');
  assert.equal(suggestKey('bogus', ['pps', 'mbps']), undefined);
  assert.equal(suggestKey('tll', ['ttl_seconds']), undefined, 'too far');
  let err: ConfigError | undefined;
  try {
    parseConfigText('threshold:\n  pps: 1\nban:\n  ttl_secons: 5\nbgp:\n  neighbors:\n    - {address: 127.0.0.2, remote_asn: 1, remote_as: 2}\n');
  } catch (e) {
    err = e as ConfigError;
  }
  assert.ok(err);
  assert.deepEqual(err.issues.map((i) => [i.path, i.message, i.hint]), [
    ['ban.ttl_secons', 'unknown key', 'did you mean "ttl_seconds"?'],
    ['bgp.neighbors.0.remote_as', 'unknown key', 'did you mean "remote_asn"?'],
    ['threshold', 'unknown key', 'did you mean "thresholds"?'],
  ]);
  assert.match(err.message, /^ {2}threshold: unknown key \(did you mean "thresholds"\?\)$/m);
});

test('docs/kapkan.md lists every Kapkan key with what Breakwater does (npm run config-doc)', () => {
  const text = readSection(readFileSync(join(root, 'docs/kapkan.md'), 'utf8'), 'kapkan');
  for (const k of documented()) assert.ok(text.includes(`| \`${k}\` |`), `${k} missing from docs/kapkan.md`);
});
