/**
 * The first contact of docs/getting-started.md, kept true: the daemon on
 * examples/breakwater.yaml (only its ports and data directory moved so tests
 * can run in parallel) and one replay of a bundled attack capture at its own
 * pace with `breakwater replay` show a detected attack with its would-be route
 * in GET /api/v1/attacks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { removeDir, tempDir, waitFor } from '../helpers/netns.ts';
import { freePort, repoRoot, startBreakwater, writeYaml, type Breakwater } from './helpers.ts';

const CAPTURE = join(repoRoot, 'pcaps/pmacct-sflow5-sampled-ntp-amp.pcap');
const skip = existsSync(CAPTURE) ? false : 'bundled attack capture missing';

test('quick start: example config + real-pace replay of a bundled NTP amplification capture → attack with route, dry-run', { skip, timeout: 90_000 }, async (t) => {
  const dir = tempDir('bw-quick-');
  const cfg = parse(readFileSync(join(repoRoot, 'examples/breakwater.yaml'), 'utf8'));
  assert.equal(cfg.dry_run, true, 'the example stays in dry-run');
  assert.deepEqual(cfg.bgp.neighbors, [], 'the example needs no neighbor');
  cfg.listen.sflow = `127.0.0.1:${freePort()}`;
  cfg.listen.netflow = `127.0.0.1:${freePort()}`;
  cfg.api.listen = `127.0.0.1:${freePort()}`;
  cfg.storage.data_dir = join(dir, 'data');
  const file = join(dir, 'breakwater.yaml');
  writeYaml(file, cfg);
  let bw: Breakwater | undefined;
  t.after(async () => {
    await bw?.stop();
    removeDir(dir);
  });
  const t0 = Date.now();
  bw = await startBreakwater(file, cfg);
  execFileSync(process.execPath, [join(repoRoot, 'src/main.ts'), 'replay', CAPTURE, '--to', cfg.listen.sflow], { stdio: 'ignore', timeout: 40_000 });
  const a = await waitFor('the attack in the API', async () => (await bw!.api('GET', '/api/v1/attacks')).json.attacks.find((x: any) => x.target === '203.0.113.20'), 30_000, 200);
  assert.ok(Date.now() - t0 < 60_000, 'within a minute');
  assert.equal(a.vector, 'ntp_amplification');
  assert.equal(a.mode, 'dry_run');
  assert.deepEqual(a.route, { ...a.route, type: 'blackhole', prefix: '203.0.113.20/32', next_hop: cfg.bgp.next_hop });
  assert.ok(a.route.communities.includes('65535:666'));
  assert.equal(metric(await bw.metrics()), 1, 'one would-be route counted under dry_run');
});

function metric(text: string): number {
  const m = /^breakwater_mitigate_announced_routes\{mode="dry_run"\} (\d+)/m.exec(text);
  return m ? Number(m[1]) : NaN;
}
