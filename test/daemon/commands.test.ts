/**
 * Commands in a running daemon (real engine, ban module, mitigator, store,
 * API; the speaker is the fake one): the FIFO of api.command_pipe and
 * POST /api/v1/commands both become manual bans and unbans through the guards,
 * audited with actor `pipe` or the token's name; refusals reach no route;
 * withdraw-all needs admin through the API; the pipe moves on reload and is
 * removed at stop; metrics count lines by source and result.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, lstatSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { baseConfig, startHarness, type Harness } from './harness.ts';
import { Daemon } from '../../src/daemon/daemon.ts';
import { silentLogger } from '../../src/core/log.ts';

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ADMIN = 'cmd-admin-token-0123456789';
const OPS = 'cmd-ops-token-0123456789';
process.env.BW_CMD_ADMIN = ADMIN;
process.env.BW_CMD_OPS = OPS;

async function until<T>(what: string, fn: () => T | Promise<T>, ms = 10_000): Promise<NonNullable<T>> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const rib = (h: Harness) => [...h.speaker.rib('127.0.0.2').values()].map((r: any) => r.prefix ?? r.rule?.destination?.prefix).sort();
const write = (path: string, text: string) => run('sh', ['-c', `printf '%s\\n' "$1" > "$2"`, 'sh', text, path], { timeout: 5000 });
const post = async (h: Harness, text: string, token?: string) => {
  const res = await fetch(`${h.base}/api/v1/commands`, { method: 'POST', headers: { 'content-type': 'text/plain', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: text });
  return { status: res.status, json: (await res.json()) as any };
};
const metric = async (h: Harness, name: string, labels: string) => {
  const text = await (await fetch(`${h.base}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line ? Number(line.split(' ').pop()) : 0;
};

test('the command pipe: FastNetMon and guide lines ban and unban through the guards, audited as pipe; withdraw-all lifts every ban', { timeout: 60_000 }, async (t) => {
  const pipeDir = join(process.env.TMPDIR ?? '/tmp', `bw-cmd-${process.pid}-${Date.now()}`);
  const path = join(pipeDir, 'fastnetmon.pipe');
  t.after(() => rmSync(pipeDir, { recursive: true, force: true }));
  const h = await startHarness(t, { dry_run: false, api: { listen: '127.0.0.1:0', command_pipe: path } });
  assert.ok(lstatSync(path).isFIFO(), 'the daemon made the FIFO');

  // FastNetMon's exabgp_command_pipe line, unchanged.
  await write(path, 'announce route 198.51.100.10/32 next-hop 192.0.2.1 community [65535:666]');
  await until('BIRD-side route for .10', () => rib(h).includes('198.51.100.10/32'));
  const bans = (await h.req('GET', '/api/v1/bans?active=true')).json.bans;
  const b10 = bans.find((b: any) => b.target === '198.51.100.10');
  assert.equal(b10.source, 'pipe');
  assert.equal(b10.ttl_seconds, 5, 'default TTL: ban.ttl_seconds');
  // The guide's simple language, with and without a TTL; a flow route names its target.
  await write(path, 'announce 198.51.100.11/32');
  await write(path, 'announce 198.51.100.12 ttl 600');
  await write(path, 'announce flow route { match { destination 198.51.100.13/32; protocol udp; } then { discard; } }');
  await until('three more routes', () => ['198.51.100.11/32', '198.51.100.12/32', '198.51.100.13/32'].every((p) => rib(h).includes(p)));
  const b12 = (await h.req('GET', '/api/v1/bans?active=true')).json.bans.find((b: any) => b.target === '198.51.100.12');
  assert.equal(b12.ttl_seconds, 600);

  // Refused: whitelisted, outside networks, already banned, not banned, malformed. None reaches a route.
  const before = rib(h);
  await write(path, 'announce route 198.51.100.1/32 next-hop self community [65535:666]');
  await write(path, 'announce 192.0.2.77/32');
  await write(path, 'announce 198.51.100.10');
  await write(path, 'withdraw 198.51.100.99');
  await write(path, 'show neighbor summary');
  await write(path, 'announce ' + 'x'.repeat(5000));
  await until('refusals counted', async () => (await metric(h, 'breakwater_commands_total', 'result="refused"')) >= 4 && (await metric(h, 'breakwater_commands_total', 'result="malformed"')) >= 1);
  assert.deepEqual(rib(h), before);
  assert.equal(await metric(h, 'breakwater_commands_total', 'source="pipe",result="accepted"'), 4);
  assert.equal(await metric(h, 'breakwater_commands_total', 'source="pipe",result="refused"'), 4);
  assert.equal(await metric(h, 'breakwater_commands_total', 'source="pipe",result="malformed"'), 1);
  assert.equal(await metric(h, 'breakwater_commands_refused_total', 'code="whitelisted"'), 1);
  assert.equal(await metric(h, 'breakwater_commands_refused_total', 'code="outside_networks"'), 1);
  assert.match(await (await fetch(`${h.base}/metrics`)).text(), /^breakwater_command_pipe_dropped_lines_total 1$/m);

  const audit = (await h.req('GET', '/api/v1/audit?limit=100')).json.audit;
  assert.ok(audit.some((a: any) => a.action === 'ban' && a.actor === 'pipe' && a.target === '198.51.100.10'));
  assert.ok(audit.some((a: any) => a.action === 'ban_refused' && a.actor === 'pipe' && a.target === '198.51.100.1' && a.detail.reason === 'whitelisted'));

  // withdraw (ExaBGP form), then withdraw-all.
  await write(path, 'withdraw route 198.51.100.10/32 next-hop self');
  await until('.10 withdrawn', () => !rib(h).includes('198.51.100.10/32'));
  await write(path, 'withdraw-all');
  await until('every route withdrawn', () => rib(h).length === 0);
  assert.equal((await h.req('GET', '/api/v1/bans?active=true')).json.total, 0);
  const audit2 = (await h.req('GET', '/api/v1/audit?action=unban&limit=100')).json.audit;
  assert.ok(audit2.filter((a: any) => a.actor === 'pipe').length >= 4, 'unbans audited with actor pipe');

  await h.stop();
  assert.ok(!existsSync(path), 'the FIFO is removed at stop');
});

test('dry-run: pipe bans exist and are audited, but no route reaches the speaker', { timeout: 30_000 }, async (t) => {
  const path = join(process.env.TMPDIR ?? '/tmp', `bw-cmd-dry-${process.pid}-${Date.now()}.pipe`);
  const h = await startHarness(t, { api: { listen: '127.0.0.1:0', command_pipe: path } });
  await write(path, 'announce route 198.51.100.20/32 next-hop 192.0.2.1 community [65535:666]');
  const ban = await until('ban', async () => (await h.req('GET', '/api/v1/bans?active=true')).json.bans.find((b: any) => b.target === '198.51.100.20'));
  assert.equal(ban.mode, 'dry_run');
  assert.equal(ban.announced, false);
  await sleep(200);
  assert.deepEqual(rib(h), []);
  assert.equal(h.speaker.announces(), 0);
});

test('POST /api/v1/commands: operator runs lines (each with its result, audited with the token name); withdraw-all needs admin', { timeout: 30_000 }, async (t) => {
  const h = await startHarness(t, { dry_run: false, api: { listen: '127.0.0.1:0', tokens: [{ name: 'root', token_env: 'BW_CMD_ADMIN', role: 'admin' }, { name: 'noc', token_env: 'BW_CMD_OPS', role: 'operator' }, { name: 'eyes', token_env: 'BW_CMD_OPS_NOPE', role: 'viewer' }] } });
  const body = ['announce route 198.51.100.30/32 next-hop self community [65535:666]', '', '# a comment', 'announce 198.51.100.1', 'bogus words', 'withdraw 198.51.100.31', 'announce 198.51.100.32 ttl 60'].join('\n');
  assert.equal((await post(h, body)).status, 401);
  const r = await post(h, body, OPS);
  assert.equal(r.status, 200);
  assert.equal(r.json.accepted, 2);
  assert.equal(r.json.refused, 2);
  assert.equal(r.json.malformed, 1);
  const byLine = new Map(r.json.results.map((x: any) => [x.line, x]));
  assert.deepEqual([...byLine.keys()], [1, 4, 5, 6, 7]);
  assert.equal((byLine.get(1) as any).ok, true);
  assert.equal((byLine.get(1) as any).target, '198.51.100.30');
  assert.match((byLine.get(1) as any).ban_id, /.+/);
  assert.equal((byLine.get(4) as any).code, 'whitelisted');
  assert.equal((byLine.get(5) as any).code, 'malformed');
  assert.equal((byLine.get(6) as any).code, 'not_banned');
  assert.equal((byLine.get(7) as any).ttl_seconds, 60);
  assert.deepEqual(rib(h), ['198.51.100.30/32', '198.51.100.32/32']);
  const audit = (await h.req('GET', '/api/v1/audit?action=ban&limit=10', undefined, { authorization: `Bearer ${ADMIN}` })).json.audit;
  assert.ok(audit.some((a: any) => a.actor === 'noc' && a.target === '198.51.100.30'));

  // withdraw-all: 403 for an operator, before any line of the body runs.
  const f = await post(h, 'announce 198.51.100.33\nwithdraw-all', OPS);
  assert.equal(f.status, 403);
  assert.equal(f.json.code, 'forbidden');
  assert.deepEqual(rib(h), ['198.51.100.30/32', '198.51.100.32/32']);
  const a = await post(h, 'withdraw-all', ADMIN);
  assert.equal(a.status, 200);
  assert.equal(a.json.results[0].unbanned, 2);
  assert.deepEqual(rib(h), []);
  assert.equal(await metric(h, 'breakwater_commands_total', 'source="api",result="accepted"'), 3);

  assert.equal((await post(h, '\n# nothing\n', OPS)).status, 400);
  assert.equal((await post(h, 'x'.repeat(70 * 1024), OPS)).status, 413);
});

test('reload moves the pipe to a new path (the old one removed); a path that is not a FIFO stops the start with the key named', { timeout: 30_000 }, async (t) => {
  const p1 = join(process.env.TMPDIR ?? '/tmp', `bw-cmd-r1-${process.pid}-${Date.now()}.pipe`);
  const p2 = join(process.env.TMPDIR ?? '/tmp', `bw-cmd-r2-${process.pid}-${Date.now()}.pipe`);
  const h = await startHarness(t, { dry_run: false, api: { listen: '127.0.0.1:0', command_pipe: p1 } });
  assert.ok(lstatSync(p1).isFIFO());
  h.writeConfig(baseConfig(join(h.dir, 'data'), { dry_run: false, api: { listen: '127.0.0.1:0', command_pipe: p2 } }));
  const r = await h.req('POST', '/api/v1/config/reload');
  assert.equal(r.status, 200, r.text);
  assert.ok(r.json.applied.some((m: any) => m.module === 'commands'), JSON.stringify(r.json.applied));
  assert.ok(!existsSync(p1), 'old pipe removed');
  assert.ok(lstatSync(p2).isFIFO(), 'new pipe made');
  await write(p2, 'announce 198.51.100.40');
  await until('route from the new pipe', () => rib(h).includes('198.51.100.40/32'));
  // Switched off by reload.
  h.writeConfig(baseConfig(join(h.dir, 'data'), { dry_run: false, api: { listen: '127.0.0.1:0' } }));
  assert.equal((await h.req('POST', '/api/v1/config/reload')).status, 200);
  assert.ok(!existsSync(p2));
  await h.stop();

  // A regular file at the path: the daemon refuses to start and names the key; the file stays.
  const file = join(h.dir, 'plain-file');
  writeFileSync(file, 'data\n');
  h.writeConfig(baseConfig(join(h.dir, 'data2'), { api: { listen: '127.0.0.1:0', command_pipe: file } }));
  const d = new Daemon({ configFile: h.configFile, log: silentLogger() });
  await assert.rejects(d.start(), (e: any) => e.key === 'api.command_pipe' && /not a named pipe/.test(e.message));
  await d.stop('test');
  assert.ok(lstatSync(file).isFile());
});
