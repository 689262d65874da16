/**
 * `npm run demo` (the quick start's second command) shows a real detection:
 * the bundled NTP amplification replayed at its own pace exceeds the example
 * config's threshold, and the attack the demo prints agrees with what
 * `breakwater detect` reports on the same capture and config, and with the
 * rate pcaps/README.md documents for the capture. A second run shows its own
 * attack, not the first run's one left in the data directory. Ctrl-C (SIGINT
 * to the demo's process group, as a terminal sends it) stops the daemon
 * gracefully. The example config is used as is, with only ports and the data
 * directory moved so that tests can run in parallel.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { removeDir, tempDir, waitFor } from '../helpers/netns.ts';
import { freePort, repoRoot, writeYaml } from './helpers.ts';

const CAPTURE = 'pcaps/pmacct-sflow5-sampled-ntp-amp.pcap';

function demoConfig(dir: string): { file: string; cfg: any } {
  const cfg = parse(readFileSync(join(repoRoot, 'examples/breakwater.yaml'), 'utf8'));
  cfg.listen.sflow = `127.0.0.1:${freePort()}`;
  cfg.listen.netflow = `127.0.0.1:${freePort()}`;
  cfg.api.listen = `127.0.0.1:${freePort()}`;
  cfg.storage.data_dir = join(dir, 'data');
  const file = join(dir, 'breakwater.yaml');
  writeYaml(file, cfg);
  return { file, cfg };
}

function printedAttack(stdout: string): any {
  const json = /\n(\{\n[\s\S]*?\n\})\n/.exec(stdout);
  assert.ok(json, `no attack printed:\n${stdout}`);
  return JSON.parse(json[1]);
}

/** The capture's documented attack rate: average and highest one-second pps (pcaps/README.md). */
function documentedRate(file: string): { avg: number; peak: number } {
  const readme = readFileSync(join(repoRoot, 'pcaps/README.md'), 'utf8');
  const row = readme.split('\n').find((l) => l.startsWith(`| ${file.split('/').pop()} |`));
  assert.ok(row, `${file} is not in pcaps/README.md`);
  const m = /avg ([\d,]+) pps, peak ([\d,]+) pps\/s/.exec(row);
  assert.ok(m, row);
  return { avg: Number(m[1].replace(/,/g, '')), peak: Number(m[2].replace(/,/g, '')) };
}

test('npm run demo: a real-pace replay is detected; demo, breakwater detect and pcaps/README.md agree; a second run shows only its own attack', { timeout: 180_000 }, (t) => {
  const dir = tempDir('bw-demo-');
  t.after(() => removeDir(dir));
  const { file, cfg } = demoConfig(dir);
  const demo = () => spawnSync(process.execPath, [join(repoRoot, 'scripts/demo.ts'), '--exit', '--config', file], { cwd: repoRoot, encoding: 'utf8', timeout: 80_000 });

  const t0 = Date.now();
  const r = demo();
  assert.equal(r.status, 0, r.stderr + r.stdout);
  assert.ok(Date.now() - t0 >= 14_000, 'the capture is replayed at its own pace (about 15 s), not as fast as possible');
  const a = printedAttack(r.stdout);
  assert.equal(a.target, '203.0.113.20');
  assert.equal(a.vector, 'ntp_amplification');
  assert.equal(a.mode, 'dry_run');
  assert.equal(a.route.prefix, '203.0.113.20/32');
  assert.ok(a.route.communities.includes('65535:666'));
  assert.ok(Date.parse(a.start) >= t0, 'the attack started during this run');
  assert.match(r.stdout, /NOT announced/);
  assert.doesNotMatch(r.stdout + r.stderr, /second signal/);

  // The threshold is really exceeded: the attack crossed pps, the example's threshold is below the documented rate.
  const doc = documentedRate(CAPTURE);
  assert.deepEqual(a.triggers, ['pps']);
  assert.equal(a.thresholds.pps, cfg.thresholds.pps);
  assert.ok(doc.avg > cfg.thresholds.pps, `documented ${doc.avg} pps exceeds the threshold ${cfg.thresholds.pps}`);
  assert.ok(a.peak_pps >= doc.avg && a.peak_pps <= doc.peak * 1.25, `demo peak ${a.peak_pps} pps vs documented avg ${doc.avg}, peak ${doc.peak}`);

  // breakwater detect on the same capture and config reports the same attack.
  const d = spawnSync(process.execPath, [join(repoRoot, 'src/main.ts'), 'detect', '-config', file, '-drain=false', join(repoRoot, CAPTURE)], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(d.status, 0, d.stderr);
  const starts = d.stdout.trim().split('\n').map((l) => JSON.parse(l)).filter((e) => e.event === 'attack_start');
  assert.equal(starts.length, 1, d.stdout);
  const s = starts[0];
  assert.deepEqual([s.target, s.direction, s.vector, s.triggers, s.route], [a.target, a.direction, a.vector, a.triggers, a.route]);
  assert.ok(s.pps >= cfg.thresholds.pps);
  assert.ok(s.pps <= doc.peak * 1.25 && a.peak_pps <= doc.peak * 1.25);

  // A second run in the same data directory shows a new attack (the first one is history there).
  const t1 = Date.now();
  const r2 = demo();
  assert.equal(r2.status, 0, r2.stderr + r2.stdout);
  const a2 = printedAttack(r2.stdout);
  assert.ok(Date.parse(a2.start) >= t1, `second run shows an attack of its own (started ${a2.start})`);
});

test('npm run demo: Ctrl-C stops the daemon gracefully, without a second signal', { timeout: 120_000 }, async (t) => {
  const dir = tempDir('bw-demo-int-');
  t.after(() => removeDir(dir));
  const { file } = demoConfig(dir);
  // A process group of its own, as a terminal gives a foreground job; Ctrl-C signals the whole group.
  const p = spawn(process.execPath, [join(repoRoot, 'scripts/demo.ts'), '--config', file], { cwd: repoRoot, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout!.on('data', (b) => (out += b));
  p.stderr!.on('data', (b) => (out += b));
  const exited = new Promise<number | null>((res) => p.once('exit', (c) => res(c)));
  t.after(() => {
    try {
      process.kill(-p.pid!, 'SIGKILL');
    } catch {
      /* gone */
    }
  });
  await waitFor('the demo to finish and keep running', () => /keeps running; Ctrl-C stops it/.test(out), 90_000, 200);
  process.kill(-p.pid!, 'SIGINT');
  const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('timeout'), 20_000))]);
  assert.equal(code, 0, out);
  assert.match(out, /breakwater stopped \(exit 0\)/);
  assert.doesNotMatch(out, /second signal/);
  const pidFile = join(dir, 'data', 'breakwater.pid');
  await waitFor('the daemon to be gone', () => {
    try {
      process.kill(Number(readFileSync(pidFile, 'utf8')), 0);
      return false;
    } catch {
      return true;
    }
  }, 10_000, 100);
});
