/**
 * `breakwater ctl` as operators run it: the real binary entry (src/main.ts)
 * in a child process against a real daemon's API on loopback, with
 * BREAKWATER_URL / BREAKWATER_TOKEN or -url / -token; tables for people,
 * -json for scripts; the API's refusals on stderr with exit 1, usage
 * errors exit 2. And `breakwater -print-schema`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import { startHarness } from '../daemon/harness.ts';
import { accessConfig, TOKENS } from '../api/access-fixtures.ts';

const main = join(resolve(import.meta.dirname, '../..'), 'src/main.ts');

function ctl(args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  return new Promise((res) => {
    execFile(process.execPath, [main, 'ctl', ...args], { env: { ...process.env, BREAKWATER_URL: '', BREAKWATER_TOKEN: '', ...env }, timeout: 30_000 }, (e, out, err) => {
      res({ code: e ? ((e as { code?: number }).code ?? 1) : 0, out, err });
    });
  });
}

test('ctl: status, attacks, bans, ban, unban, audit, reload, hosts, exporters, neighbors; tables and -json; refusals exit 1', { timeout: 180_000 }, async (t) => {
  const h = await startHarness(t, { ...accessConfig(), ban: { ttl_seconds: 600, unban_hysteresis_seconds: 1 } });
  const op = { BREAKWATER_URL: h.base, BREAKWATER_TOKEN: TOKENS.operator };

  const st = await ctl(['status'], op);
  assert.equal(st.code, 0, st.err);
  assert.match(st.out, /^KEY\s+VALUE$/m);
  assert.match(st.out, /^mode\s+dry_run \(nothing is announced\)$/m);
  assert.match(st.out, /^NEIGHBOR\s+STATE/m);
  const sj = await ctl(['-json', 'status'], op);
  assert.equal(JSON.parse(sj.out).mode, 'dry_run');

  // An attack, to list.
  h.advance(200);
  for (let i = 0; i < 10; i++) {
    h.flood('198.51.100.5', 50, 10, { srcPort: 123, bytes: 468 });
    h.advance(100);
  }
  const at = await ctl(['attacks'], op);
  assert.equal(at.code, 0, at.err);
  assert.match(at.out, /^ID\s+TARGET\s+VECTOR\s+PEAK PPS/m);
  assert.match(at.out, /198\.51\.100\.5\s+ntp_amplification/);

  // Flags instead of the environment.
  const ban = await ctl(['-url', h.base, '-token', TOKENS.operator, 'ban', '198.51.100.9', '-ttl', '120', '-reason', 'ctl test']);
  assert.equal(ban.code, 0, ban.err);
  assert.match(ban.out, /^banned 198\.51\.100\.9: ban \S+, blackhole, expires .* \(dry-run: not announced\)$/m);
  const bans = await ctl(['bans', '-active'], op);
  assert.match(bans.out, /^ID\s+TARGET\s+ACTION\s+SOURCE\s+CREATED\s+TTL LEFT/m);
  assert.match(bans.out, /198\.51\.100\.9\s+blackhole\s+noc\s+\S+\s+120s\s+yes/);
  // -all follows next_cursor.
  const all = JSON.parse((await ctl(['-json', 'bans', '-all', '-limit', '1'], op)).out);
  assert.deepEqual(all.bans.map((b: any) => b.target).sort(), ['198.51.100.5', '198.51.100.9']);
  assert.equal(all.next_cursor, null);
  const page = await ctl(['bans', '-limit', '1'], op);
  assert.match(page.out, /\(1 of 2; next page: -cursor \S+\)/);

  // The API's refusals: exit 1, the error and its code on stderr.
  const viewerBan = await ctl(['ban', '198.51.100.10'], { ...op, BREAKWATER_TOKEN: TOKENS.viewer });
  assert.equal(viewerBan.code, 1);
  assert.match(viewerBan.err, /^breakwater ctl: ban: token "grafana" has role viewer; operator or above is needed \(HTTP 403, forbidden\)$/m);
  const again = await ctl(['ban', '198.51.100.9'], op);
  assert.equal(again.code, 1);
  assert.match(again.err, /HTTP 409, conflict, already_banned/);
  const noToken = await ctl(['status'], { BREAKWATER_URL: h.base });
  assert.equal(noToken.code, 1);
  assert.match(noToken.err, /HTTP 401/);

  const un = await ctl(['unban', '198.51.100.9'], op);
  assert.equal(un.code, 0, un.err);
  assert.match(un.out, /^unbanned 198\.51\.100\.9/m);

  const audit = await ctl(['audit', '-action', 'ban'], op);
  assert.match(audit.out, /^TIME\s+ACTOR\s+ACTION\s+TARGET\s+RESULT$/m);
  assert.match(audit.out, /noc\s+ban\s+198\.51\.100\.9\s+ok/);
  const refused = JSON.parse((await ctl(['-json', 'audit'], op)).out);
  assert.ok(refused.audit.every((e: any) => ['ok', 'refused', 'failed'].includes(e.result)));

  const rl = await ctl(['reload'], op);
  assert.equal(rl.code, 1, 'operators do not reload');
  const rla = await ctl(['reload'], { ...op, BREAKWATER_TOKEN: TOKENS.admin });
  assert.equal(rla.code, 0, rla.err);
  assert.match(rla.out, /^reloaded \(dry_run\); changed: /m);

  h.d.sampleTraffic();
  const hosts = await ctl(['hosts', '-sort', 'bps', '-limit', '3'], op);
  assert.match(hosts.out, /^IP\s+DIRECTION\s+PPS\s+MBPS/m);
  assert.match(hosts.out, /^198\.51\.100\.5\s+incoming/m);
  assert.match((await ctl(['neighbors'], op)).out, /^127\.0\.0\.2\s+65001\s+/m);
  assert.match((await ctl(['exporters'], op)).out, /^EXPORTER\s+PROTOCOL/m);

  // mitigate speaks POST /api/v1/mitigations; whatever the daemon answers, a refusal is reported, not thrown.
  const mit = await ctl(['mitigate', '198.51.100.11', '-method', 'udp-flood', '-ttl', '60'], op);
  if (mit.code !== 0) assert.match(mit.err, /^breakwater ctl: mitigate: .*\(HTTP \d{3}/m);

  // Usage errors and an unreachable daemon.
  assert.equal((await ctl(['frobnicate'], op)).code, 2);
  assert.equal((await ctl(['ban'], op)).code, 2);
  assert.equal((await ctl([], op)).code, 2);
  const down = await ctl(['status'], { BREAKWATER_URL: 'http://127.0.0.1:9', BREAKWATER_TOKEN: 'x' });
  assert.equal(down.code, 1);
  assert.match(down.err, /cannot reach http:\/\/127\.0\.0\.1:9/);
});

test('-print-schema: the config\'s JSON Schema from the schema that validates the file', async () => {
  const r = await new Promise<{ out: string; code: number }>((res) => execFile(process.execPath, [main, '-print-schema'], { timeout: 30_000 }, (e, out) => res({ out, code: e ? 1 : 0 })));
  assert.equal(r.code, 0);
  const s = JSON.parse(r.out);
  assert.equal(s.$schema, 'https://json-schema.org/draft/2020-12/schema');
  assert.equal(s.type, 'object');
  assert.equal(s.additionalProperties, false, 'unknown keys are errors, as in the daemon');
  assert.equal(s.properties.dry_run.default, true);
  const tok = s.properties.api.properties.tokens.items;
  assert.deepEqual(tok.properties.role.enum, ['viewer', 'operator', 'admin']);
  assert.match(tok.properties.tenant.description, /tenant/);
  assert.ok(s.properties.hostgroups.items.properties.tenant);
  assert.ok(Object.keys(s.properties).length > 15);
});
