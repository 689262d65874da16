/**
 * `npm run demo` (the README's first quick-start command) detects the bundled
 * attack and prints it with its would-be route, in dry-run. The example config
 * is used as is, with only ports and the data directory moved so that tests
 * can run in parallel.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { removeDir, tempDir } from '../helpers/netns.ts';
import { freePort, repoRoot, writeYaml } from './helpers.ts';

test('npm run demo: daemon on the example config detects the bundled NTP amplification and shows its route', { timeout: 120_000 }, (t) => {
  const dir = tempDir('bw-demo-');
  t.after(() => removeDir(dir));
  const cfg = parse(readFileSync(join(repoRoot, 'examples/breakwater.yaml'), 'utf8'));
  cfg.listen.sflow = `127.0.0.1:${freePort()}`;
  cfg.listen.netflow = `127.0.0.1:${freePort()}`;
  cfg.api.listen = `127.0.0.1:${freePort()}`;
  cfg.storage.data_dir = join(dir, 'data');
  const file = join(dir, 'breakwater.yaml');
  writeYaml(file, cfg);
  const r = spawnSync(process.execPath, [join(repoRoot, 'scripts/demo.ts'), '--exit', '--config', file], { cwd: repoRoot, encoding: 'utf8', timeout: 100_000 });
  assert.equal(r.status, 0, r.stderr);
  const json = /\n(\{\n[\s\S]*?\n\})\n/.exec(r.stdout);
  assert.ok(json, `no attack printed:\n${r.stdout}`);
  const a = JSON.parse(json[1]);
  assert.equal(a.target, '203.0.113.20');
  assert.equal(a.vector, 'ntp_amplification');
  assert.equal(a.mode, 'dry_run');
  assert.equal(a.route.prefix, '203.0.113.20/32');
  assert.ok(a.route.communities.includes('65535:666'));
  assert.match(r.stdout, /NOT announced/);
});
