/**
 * The command line operators script against: -version, -check-config (output
 * and exit codes), -log-format text, usage errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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

// ---- the daemon through the real command line: config checks, start failures, signals

import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { stringify } from 'yaml';

function tmp(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'bw-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function daemonConfig(dir: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { networks: ['198.51.100.0/24'], listen: { netflow: '', sflow: '' }, api: { listen: '127.0.0.1:0' }, storage: { data_dir: join(dir, 'data') }, ...extra };
}

test('-log-level with an unknown level is our usage error listing the levels', () => {
  const r = run('-config', join(root, 'examples/breakwater.yaml'), '-log-level', 'verbose');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /-log-level must be one of trace, debug, info, warn, error, fatal \(got "verbose"\)/);
  assert.ok(!/\n\s+at /.test(r.stderr), 'no stack trace');
});

test('-check-config: the daemon needs networks, and no API beyond loopback without tokens unless insecure_no_auth', (t) => {
  const dir = tmp(t);
  const file = join(dir, 'c.yaml');
  const check = (cfg: Record<string, unknown>) => {
    writeFileSync(file, stringify(cfg));
    return run('-config', file, '-check-config');
  };
  const noNets = check({ ...daemonConfig(dir), networks: [] });
  assert.equal(noNets.status, 1);
  assert.match(noNets.stderr, /networks: the daemon needs at least one protected prefix/);
  const open = check(daemonConfig(dir, { api: { listen: '0.0.0.0:8080' } }));
  assert.equal(open.status, 1);
  assert.match(open.stderr, /api\.listen: "0\.0\.0\.0:8080" is beyond loopback and no token is configured/);
  assert.equal(check(daemonConfig(dir, { api: { listen: '0.0.0.0:8080', insecure_no_auth: true } })).status, 0);
  assert.equal(check(daemonConfig(dir, { api: { listen: '0.0.0.0:8080', tokens: [{ name: 'a', token_env: 'X', role: 'admin' }] } })).status, 0);
  assert.equal(check(daemonConfig(dir, { api: { listen: '[::1]:8080' } })).status, 0, 'loopback needs no token');
  writeFileSync(file, '');
  const empty = run('-config', file, '-check-config');
  assert.equal(empty.status, 1);
  assert.match(empty.stderr, /the config is empty/);
  const start = spawnSync(process.execPath, [main, '-config', file], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(start.status, 1, 'the daemon does not start on an empty file');
  assert.match(start.stderr, /the config is empty/);
});

test('a listen address in use names its config key, without a stack trace, and a failed start does not claim routers keep routes', async (t) => {
  const dir = tmp(t);
  const file = join(dir, 'c.yaml');
  const tcp = createServer();
  await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
  t.after(() => tcp.close());
  const tcpPort = (tcp.address() as { port: number }).port;
  const udp = createSocket('udp4');
  await new Promise<void>((r) => udp.bind(0, '127.0.0.1', r));
  t.after(() => udp.close());
  const udpPort = udp.address().port;
  const cases: Array<[string, Record<string, unknown>]> = [
    ['api.listen', { api: { listen: `127.0.0.1:${tcpPort}` } }],
    ['listen.sflow', { listen: { netflow: '', sflow: `127.0.0.1:${udpPort}`, workers: 1 } }],
    ['listen.netflow', { listen: { netflow: `127.0.0.1:${udpPort}`, sflow: '', workers: 1, receiver: 'dgram' } }],
    ['bgp.listen', { bgp: { local_asn: 65000, router_id: '192.0.2.1', listen: `127.0.0.1:${tcpPort}` } }],
  ];
  for (const [key, extra] of cases) {
    writeFileSync(file, stringify(daemonConfig(dir, extra)));
    const r = spawnSync(process.execPath, [main, '-config', file, '-log-format', 'text'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 1, `${key}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`cannot start: ${key.replace('.', '\\.')} "127\\.0\\.0\\.1:\\d+": address already in use`), r.stderr);
    assert.ok(!/\n\s+at /.test(r.stdout + r.stderr), `${key}: no stack trace: ${r.stdout}${r.stderr}`);
    assert.ok(!/routers keep Breakwater routes/.test(r.stdout + r.stderr), `${key}: ${r.stdout}${r.stderr}`);
  }
});

/** A daemon started through the command line, its JSON log lines collected. */
async function daemonProcess(t: { after(fn: () => Promise<void> | void): void }, file: string, env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [main, '-config', file, '-log-format', 'json'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'ignore'] });
  const lines: any[] = [];
  let buf = '';
  // Logs go to stdout.
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d: string) => {
    buf += d;
    for (let i; (i = buf.indexOf('\n')) !== -1; ) {
      const l = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        lines.push(JSON.parse(l));
      } catch {
        lines.push({ raw: l });
      }
    }
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  t.after(async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
  });
  const wait = async (what: string, fn: () => any, ms = 30_000) => {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      const v = fn();
      if (v) return v;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`timed out waiting for ${what}: ${JSON.stringify(lines.slice(-5))}`);
  };
  const ready = await wait('daemon ready', () => lines.find((l) => l.event === 'daemon ready'));
  const port = Number(String(ready.api).split(':').at(-1));
  const api = async (method: string, path: string, body?: unknown, token?: string) => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { method, headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: body ? JSON.stringify(body) : undefined });
    return { status: res.status, json: (await res.json()) as any };
  };
  return { child, lines, wait, api, exited };
}

test('SIGHUP with an emptied file, and -s reload with a file cut before api:, leave the daemon armed; -s reload -force confirms', { timeout: 120_000 }, async (t) => {
  const dir = tmp(t);
  const file = join(dir, 'c.yaml');
  const TOKEN = `tok-${process.pid}`;
  // storage before api: a file cut before api: still names the data directory the CLI signals through.
  const full = stringify({ networks: ['198.51.100.0/24'], listen: { netflow: '', sflow: '' }, storage: { data_dir: join(dir, 'data') }, api: { listen: '127.0.0.1:0', tokens: [{ name: 'root', token_env: 'BW_CLI_TEST_TOKEN', role: 'admin' }] } });
  writeFileSync(file, full);
  const d = await daemonProcess(t, file, { BW_CLI_TEST_TOKEN: TOKEN });
  assert.equal((await d.api('POST', '/api/v1/ban', { ip: '198.51.100.7', ttl_seconds: 600 }, TOKEN)).status, 201);
  const armed = async () => {
    const bans = await d.api('GET', '/api/v1/bans?active=true', undefined, TOKEN);
    assert.deepEqual(bans.json.bans.map((b: any) => b.target), ['198.51.100.7']);
    assert.equal((await d.api('GET', '/api/v1/bans')).status, 401, 'authentication still on');
  };

  writeFileSync(file, '');
  d.child.kill('SIGHUP');
  const failed = await d.wait('reload failed', () => d.lines.find((l) => l.event === 'config reload failed'));
  assert.match(failed.issues[0].message, /empty/);
  await armed();

  writeFileSync(file, full.slice(0, full.indexOf('\napi:') + 1));
  const sig = run('-config', file, '-s', 'reload');
  assert.equal(sig.status, 0, sig.stderr);
  const refused = await d.wait('reload refused', () => d.lines.find((l) => l.event === 'config reload refused'));
  assert.deepEqual(refused.dangers.map((x: any) => x.kind), ['auth_off']);
  await armed();
  const audit = await d.api('GET', '/api/v1/audit?action=reload_refused', undefined, TOKEN);
  assert.equal(audit.json.audit[0].actor, 'signal');

  const forced = run('-config', file, '-s', 'reload', '-force');
  assert.equal(forced.status, 0, forced.stderr);
  assert.match(forced.stdout, /forced reload/);
  const applied = await d.wait('forced reload', () => d.lines.find((l) => l.event === 'config reload' && l.forced === true));
  assert.deepEqual(applied.changed, ['api.listen', 'api.tokens'], 'api.listen (the default now) waits for a restart');
  assert.ok(!existsSync(join(dir, 'data', 'breakwater.reload-force')), 'the marker is one-shot');
  assert.equal((await d.api('GET', '/api/v1/bans')).status, 200, 'confirmed: authentication off');
  assert.equal(run('-config', file, '-s', 'stop', '-force').status, 2, '-force goes with -s reload only');
});

test('api.insecure_no_auth: the daemon starts beyond loopback without tokens and warns at start', { timeout: 60_000 }, async (t) => {
  const dir = tmp(t);
  const file = join(dir, 'c.yaml');
  writeFileSync(file, stringify(daemonConfig(dir, { api: { listen: '0.0.0.0:0', insecure_no_auth: true } })));
  const d = await daemonProcess(t, file);
  const warn = d.lines.find((l) => l.event === 'api insecure');
  assert.ok(warn, 'warned');
  assert.match(warn.msg, /needs no token/);
  assert.equal((await d.api('GET', '/healthz')).status, 200);
  writeFileSync(file, stringify(daemonConfig(dir, { api: { listen: '0.0.0.0:0' } })));
  const r = spawnSync(process.execPath, [main, '-config', file], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /api\.listen: .*insecure_no_auth/);
});
