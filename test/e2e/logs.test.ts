/**
 * Logs where operators look for them: the daemon (a real child process) logs
 * to stdout, so `breakwater -config F -log-format text | grep "bgp peer state"`
 * works, and keeps stderr for fatal start-up errors. Every JSON line has an
 * `event`, `level` as a name and `time` as RFC 3339; an attack's start and end
 * are logged once each; a live start logs a warning banner as dry-run does;
 * the receive-buffer warning names the sysctl to raise.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { removeDir, tempDir, waitFor } from '../helpers/netns.ts';
import { freePort, repoRoot, writeYaml } from './helpers.ts';

const main = join(repoRoot, 'src/main.ts');
const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/;

function config(dir: string, extra: Record<string, unknown> = {}): { file: string; cfg: any } {
  const cfg: any = {
    listen: { netflow: '', sflow: `127.0.0.1:${freePort()}`, workers: 1 },
    networks: ['203.0.113.0/24'],
    detection: { attack_hysteresis_seconds: 1 },
    thresholds: { pps: 10_000 },
    bgp: { local_asn: 65000, router_id: '192.0.2.254', next_hop: '192.0.2.1', connect_retry_seconds: 1, neighbors: [{ address: '127.0.0.1', port: freePort(), remote_asn: 65001 }] },
    api: { listen: `127.0.0.1:${freePort()}` },
    storage: { data_dir: join(dir, 'data') },
    ...extra,
  };
  const file = join(dir, 'breakwater.yaml');
  writeYaml(file, cfg);
  return { file, cfg };
}

interface Run {
  p: ChildProcess;
  out(): string;
  err(): string;
  stop(): Promise<void>;
}

function run(args: string[]): Run {
  const p = spawn(process.execPath, [main, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  p.stdout!.on('data', (b) => (out += b));
  p.stderr!.on('data', (b) => (err += b));
  const exited = new Promise<void>((r) => p.once('exit', () => r()));
  return {
    p,
    out: () => out,
    err: () => err,
    async stop() {
      if (p.exitCode === null && p.signalCode === null) p.kill('SIGTERM');
      const t = setTimeout(() => p.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    },
  };
}

test('text logs on stdout: grep "bgp peer state" sees the FSM transitions; stderr stays empty', { timeout: 60_000 }, async (t) => {
  const dir = tempDir('bw-logs-');
  const { file } = config(dir);
  // The checklist's pipe, word for word (with the file name filled in).
  const sh = spawn('sh', ['-c', `"${process.execPath}" "${main}" -config "${file}" -log-format text | grep --line-buffered "bgp peer state"`], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let grepped = '';
  sh.stdout!.on('data', (b) => (grepped += b));
  t.after(() => {
    try {
      process.kill(-sh.pid!, 'SIGTERM');
    } catch {
      /* gone */
    }
    removeDir(dir);
  });
  await waitFor('bgp peer state lines through grep', () => /INFO bgp peer state .*event="bgp peer state" neighbor=127\.0\.0\.1 from=Idle to=Connect/.test(grepped), 30_000, 100);
  const shExited = new Promise((r) => sh.once('exit', r));
  process.kill(-sh.pid!, 'SIGTERM');
  await shExited;

  // The same daemon, stdout and stderr read apart (a config of its own: fresh ports and data directory).
  const dir2 = tempDir('bw-logs-2-');
  t.after(() => removeDir(dir2));
  const r = run(['-config', config(dir2).file, '-log-format', 'text']);
  t.after(() => r.stop());
  await waitFor('Breakwater ready', () => /Breakwater ready/.test(r.out()), 30_000, 100);
  await r.stop();
  assert.equal(r.err(), '', 'nothing on stderr');
  for (const line of r.out().trim().split('\n')) assert.match(line, /^\d{4}-\d\d-\d\dT[\d:.]+Z (TRACE|DEBUG|INFO|WARN|ERROR|FATAL) .* event=/, line);
});

test('JSON logs: every line has event, level name and RFC 3339 time; attack start and end once each; receive-buffer warning names net.core.rmem_max', { timeout: 90_000 }, async (t) => {
  const dir = tempDir('bw-logs-json-');
  // More than any default net.core.rmem_max: the kernel grants less, and the warning says which sysctl to raise.
  const { file, cfg } = config(dir, {});
  cfg.listen.receive_buffer_bytes = 1024 * 1024 * 1024;
  writeYaml(file, cfg);
  const r = run(['-config', file, '-log-format', 'json']);
  t.after(async () => {
    await r.stop();
    removeDir(dir);
  });
  await waitFor('Breakwater ready', () => /"Breakwater ready"/.test(r.out()), 30_000, 100);
  const replay = spawnSync(process.execPath, [main, 'replay', join(repoRoot, 'pcaps/pmacct-sflow5-sampled-ntp-amp.pcap'), '--to', cfg.listen.sflow, '--speed', '0'], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(replay.status, 0, replay.stderr);
  await waitFor('attack end', () => /"event":"attack end"/.test(r.out()), 60_000, 200);
  await r.stop();
  assert.equal(r.err(), '', 'nothing on stderr');
  const lines = r.out().trim().split('\n').map((l) => JSON.parse(l));
  for (const o of lines) {
    assert.equal(typeof o.event, 'string', JSON.stringify(o));
    assert.ok(o.event.length > 0);
    assert.ok(['trace', 'debug', 'info', 'warn', 'error', 'fatal'].includes(o.level), JSON.stringify(o));
    assert.match(o.time, RFC3339);
  }
  const starts = lines.filter((o) => /attack start/.test(o.event) || o.msg === 'attack start');
  const ends = lines.filter((o) => /attack end/.test(o.event) || o.msg === 'attack end');
  assert.equal(starts.length, 1, JSON.stringify(starts));
  assert.equal(ends.length, 1, JSON.stringify(ends));
  assert.equal(starts[0].target, '203.0.113.20');
  const dry = lines.filter((o) => o.event === 'dry run');
  assert.equal(dry.length, 1);
  assert.equal(dry[0].level, 'warn');
  assert.equal(lines.filter((o) => o.event === 'live').length, 0);
  const buf = lines.find((o) => o.event === 'flow receive buffer small');
  assert.ok(buf, 'receive-buffer warning');
  assert.equal(buf.level, 'warn');
  assert.equal(buf.sysctl, `sysctl -w net.core.rmem_max=${1024 * 1024 * 1024}`);
  assert.match(buf.msg, /net\.core\.rmem_max/);
});

test('live start logs a warning banner, as dry-run does', { timeout: 60_000 }, async (t) => {
  const dir = tempDir('bw-logs-live-');
  const { file } = config(dir, { dry_run: false });
  const r = run(['-config', file, '-log-format', 'json']);
  t.after(async () => {
    await r.stop();
    removeDir(dir);
  });
  await waitFor('Breakwater ready', () => /"Breakwater ready"/.test(r.out()), 30_000, 100);
  const lines = r.out().trim().split('\n').map((l) => JSON.parse(l));
  const live = lines.filter((o) => o.event === 'live');
  assert.equal(live.length, 1);
  assert.equal(live[0].level, 'warn');
  assert.match(live[0].msg, /LIVE/);
  assert.equal(lines.filter((o) => o.event === 'dry run').length, 0);
});

test('a fatal start-up error goes to stderr', { timeout: 60_000 }, async (t) => {
  const dir = tempDir('bw-logs-fatal-');
  t.after(() => removeDir(dir));
  const { file, cfg } = config(dir);
  // The API port is taken: the daemon cannot start.
  const net = await import('node:net');
  const srv = net.createServer().listen(Number(cfg.api.listen.split(':')[1]), '127.0.0.1');
  await new Promise((r) => srv.once('listening', r));
  t.after(() => srv.close());
  const r = spawnSync(process.execPath, [main, '-config', file, '-log-format', 'json'], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /breakwater: cannot start: /);
  // A broken config: stderr names the key.
  writeYaml(file, { ...cfg, thresholdz: {} });
  const bad = spawnSync(process.execPath, [main, '-config', file], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(bad.status, 1);
  assert.equal(bad.stdout, '');
  assert.match(bad.stderr, /thresholdz/);
});
