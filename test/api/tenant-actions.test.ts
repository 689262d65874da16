/**
 * Tenant scoping of the routes that act on targets, on a real daemon:
 * signals (events, FastNetMon, Alertmanager, RTBH), the command pipe's
 * ban/unban lines over HTTP, and manual mitigations (preview, start, end,
 * infer). A scoped token acts on its tenant's hosts; about anything else the
 * answer is the same whether another tenant has something there or nothing
 * is there at all (and for an end or unban, the same as for its own host
 * with nothing to end), and the other tenant's state is untouched. whoami
 * names the tenant of a scoped token.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, type Harness } from '../daemon/harness.ts';
import { fastnetmonBan } from '../signals/payloads.ts';
import { accessConfig, TOKENS } from './access-fixtures.ts';

/** globex's, with a ban, an open signal and a mitigation on it. */
const THEIRS = '198.51.100.70';
/** globex's range, nothing there. */
const EMPTY = '198.51.100.100';
/** Nobody's (the shared hostgroup). */
const SHARED = '198.51.100.200';
/** acme's own, nothing there. */
const MINE_EMPTY = '198.51.100.30';

function alert(status: 'firing' | 'resolved', ip: string) {
  return { version: '4', status, receiver: 'breakwater', groupLabels: {}, commonLabels: {}, commonAnnotations: {}, externalURL: 'http://am', groupKey: 'k', truncatedAlerts: 0, alerts: [{ status, labels: { alertname: 'DDoS', victim_ip: ip }, annotations: {}, startsAt: new Date().toISOString(), endsAt: '0001-01-01T00:00:00Z', generatorURL: 'http://prom', fingerprint: 'abc' }] };
}

interface Row {
  name: string;
  req: (ip: string) => { method: string; path: string; body?: unknown; text?: string; headers?: Record<string, string> };
  /** The answer to a target outside the tenant: status and, where the body tells, what it says. */
  status: number;
  check?: (json: any) => void;
  /** An end or unban: also the same answer as for the tenant's own host with nothing to end. */
  likeOwnNothing?: boolean;
}

const ROWS: Row[] = [
  { name: 'event start', req: (ip) => ({ method: 'POST', path: '/api/v1/events', body: { victim_ip: ip, source: 'ids' } }), status: 404, check: (j) => assert.deepEqual([j.code, j.reason], ['not_found', 'outside_tenant']) },
  { name: 'event end', req: (ip) => ({ method: 'POST', path: '/api/v1/events', body: { victim_ip: ip, source: 'ids', action: 'end' } }), status: 404, likeOwnNothing: true },
  { name: 'FastNetMon ban', req: (ip) => ({ method: 'POST', path: '/api/v1/signals/fastnetmon', body: fastnetmonBan(ip) }), status: 404, check: (j) => assert.equal(j.reason, 'outside_tenant') },
  { name: 'FastNetMon unban', req: (ip) => ({ method: 'POST', path: '/api/v1/signals/fastnetmon', body: fastnetmonBan(ip, 'unban') }), status: 404, likeOwnNothing: true },
  { name: 'Alertmanager firing', req: (ip) => ({ method: 'POST', path: '/api/v1/signals/alertmanager', body: alert('firing', ip) }), status: 200, check: (j) => assert.deepEqual([j.results[0].status_code, j.results[0].reason], [404, 'outside_tenant']) },
  { name: 'Alertmanager resolved', req: (ip) => ({ method: 'POST', path: '/api/v1/signals/alertmanager', body: alert('resolved', ip) }), status: 200, check: (j) => assert.equal(j.results[0].status_code, 404), likeOwnNothing: true },
  // the RTBH webhook answers 403 for a target it will not touch, as for one outside networks
  { name: 'RTBH announce', req: (ip) => ({ method: 'POST', path: '/api/v1/signals/rtbh', body: { action: 'announce', target_ip: ip }, headers: { 'x-auth-token': TOKENS.acme } }), status: 403, check: (j) => assert.equal(j.reason, 'outside_tenant') },
  { name: 'RTBH withdraw', req: (ip) => ({ method: 'POST', path: '/api/v1/signals/rtbh', body: { action: 'withdraw', target_ip: ip }, headers: { 'x-auth-token': TOKENS.acme } }), status: 404, likeOwnNothing: true },
  { name: 'command announce', req: (ip) => ({ method: 'POST', path: '/api/v1/commands', text: `announce ${ip}/32` }), status: 200, check: (j) => assert.deepEqual([j.accepted, j.results[0].code], [0, 'outside_tenant']) },
  { name: 'command withdraw', req: (ip) => ({ method: 'POST', path: '/api/v1/commands', text: `withdraw ${ip}/32` }), status: 200, check: (j) => assert.deepEqual([j.accepted, j.results[0].code], [0, 'not_banned']), likeOwnNothing: true },
  { name: 'ExaBGP flow route', req: (ip) => ({ method: 'POST', path: '/api/v1/commands', text: `announce flow route { match { destination ${ip}/32; protocol udp; } then { discard; } }` }), status: 200, check: (j) => assert.equal(j.results[0].code, 'outside_tenant') },
  { name: 'mitigation preview', req: (ip) => ({ method: 'GET', path: `/api/v1/mitigations/preview?target=${ip}&method=ntp-drop` }), status: 404, check: (j) => assert.deepEqual([j.code, j.reason], ['not_found', 'outside_tenant']) },
  { name: 'mitigation start', req: (ip) => ({ method: 'POST', path: '/api/v1/mitigations', body: { target: ip, method: 'ntp-drop' } }), status: 404, check: (j) => assert.deepEqual([j.code, j.reason], ['not_found', 'outside_tenant']) },
];

async function call(h: Harness, token: string, r: ReturnType<Row['req']>) {
  if (r.text !== undefined) {
    const res = await fetch(h.base + r.path, { method: r.method, headers: { authorization: `Bearer ${token}`, 'content-type': 'text/plain' }, body: r.text });
    const text = await res.text();
    return { status: res.status, text, json: JSON.parse(text) };
  }
  return h.req(r.method, r.path, r.body, r.headers ?? { authorization: `Bearer ${token}` });
}

/** The answer with the address (and ids made from the clock) written out. */
const norm = (text: string, ip: string) => text.split(ip).join('IP');

test('a scoped token signals, commands and mitigates only inside its tenant; outside, the answer reads as if nothing were there', { timeout: 120_000 }, async (t) => {
  const h = await startHarness(t, {
    ...accessConfig(),
    flowspec_methods: [{ name: 'ntp-drop', match: { protocol: ['udp'], source_port: [123] }, action: { discard: true } }],
  });
  const globex = (method: string, path: string, body?: unknown) => h.req(method, path, body, { authorization: `Bearer ${TOKENS.globex}` });
  const acme = (method: string, path: string, body?: unknown) => h.req(method, path, body, { authorization: `Bearer ${TOKENS.acme}` });
  const all = (method: string, path: string) => h.req(method, path, undefined, { authorization: `Bearer ${TOKENS.viewer}` });

  // whoami names a scoped token's tenant (and nothing for an unscoped one)
  assert.deepEqual((await acme('GET', '/api/v1/whoami')).json, { name: 'acme-ops', role: 'admin', tenant: 'acme' });
  assert.deepEqual((await globex('GET', '/api/v1/whoami')).json, { name: 'globex-ops', role: 'operator', tenant: 'globex' });
  assert.deepEqual((await all('GET', '/api/v1/whoami')).json, { name: 'grafana', role: 'viewer' });

  // globex has a ban by signal, open signals of every sender, a mitigation and an attack on its host
  const ev = await globex('POST', '/api/v1/events', { victim_ip: THEIRS, source: 'ids' });
  assert.equal(ev.status, 201, ev.text);
  assert.equal((await globex('POST', '/api/v1/signals/fastnetmon', fastnetmonBan(THEIRS))).status, 200);
  assert.equal((await globex('POST', '/api/v1/signals/alertmanager', alert('firing', THEIRS))).json.results[0].status_code, 200);
  assert.equal((await h.req('POST', '/api/v1/signals/rtbh', { action: 'announce', target_ip: THEIRS }, { 'x-auth-token': TOKENS.globex })).status, 200);
  const gm = await globex('POST', '/api/v1/mitigations', { target: '198.51.100.72', method: 'ntp-drop' });
  assert.equal(gm.status, 201, gm.text);
  const before = (await all('GET', '/api/v1/bans?active=true')).json.bans.map((b: any) => `${b.id} ${b.target}`).sort();
  assert.equal(before.length, 2, before.join('\n'));

  const table: string[] = [];
  for (const row of ROWS) {
    const theirs = await call(h, TOKENS.acme, row.req(THEIRS));
    const empty = await call(h, TOKENS.acme, row.req(EMPTY));
    const shared = await call(h, TOKENS.acme, row.req(SHARED));
    const line = `${row.name}: ${theirs.status} ${theirs.text}`;
    if (theirs.status !== row.status) table.push(`${line} (want ${row.status})`);
    try {
      row.check?.(theirs.json);
    } catch (e) {
      table.push(`${line} (${(e as Error).message.split('\n')[0]})`);
    }
    if (norm(theirs.text, THEIRS) !== norm(empty.text, EMPTY) || theirs.status !== empty.status) table.push(`${row.name}: another tenant's host with something there answers unlike one with nothing: ${theirs.text} / ${empty.text}`);
    if (norm(theirs.text, THEIRS) !== norm(shared.text, SHARED) || theirs.status !== shared.status) table.push(`${row.name}: unlike a host of no tenant: ${theirs.text} / ${shared.text}`);
    if (row.likeOwnNothing) {
      const mine = await call(h, TOKENS.acme, row.req(MINE_EMPTY));
      if (norm(theirs.text, THEIRS) !== norm(mine.text, MINE_EMPTY) || theirs.status !== mine.status) table.push(`${row.name}: unlike its own host with nothing to end: ${theirs.text} / ${mine.text}`);
    }
  }
  assert.deepEqual(table, [], table.join('\n'));

  // Ending another tenant's mitigation reads as ending one that does not exist; the attack behind globex's ban as no attack.
  const endTheirs = await acme('DELETE', `/api/v1/mitigations/${gm.json.id}`);
  const endNone = await acme('DELETE', '/api/v1/mitigations/ban-no-such-mitigation');
  assert.equal(endTheirs.status, 404, endTheirs.text);
  assert.equal(norm(endTheirs.text, gm.json.id), norm(endNone.text, 'ban-no-such-mitigation'));
  const attackId = ev.json.attack_id;
  const inferTheirs = await acme('GET', `/api/v1/attacks/${attackId}/infer`);
  const inferNone = await acme('GET', '/api/v1/attacks/no-such-attack/infer');
  assert.equal(inferTheirs.status, 404);
  assert.equal(norm(inferTheirs.text, attackId), norm(inferNone.text, 'no-such-attack'));
  assert.equal((await globex('GET', `/api/v1/attacks/${attackId}/infer`)).status, 200, 'its own tenant may');

  // Nothing of globex's changed: the same bans, its signals still open.
  assert.deepEqual((await all('GET', '/api/v1/bans?active=true')).json.bans.map((b: any) => `${b.id} ${b.target}`).sort(), before);
  assert.equal(h.d.signalHub!.openSignals().filter((s) => s.target === THEIRS).length, 4);

  // Inside its tenant a scoped token acts as any operator: through the same guards.
  const own = await acme('POST', '/api/v1/events', { victim_ip: '198.51.100.5', source: 'ids' });
  assert.equal(own.status, 201, own.text);
  const white = await acme('POST', '/api/v1/events', { victim_ip: '198.51.100.1', source: 'ids' });
  assert.deepEqual([white.status, white.json.reason], [409, 'whitelisted'], 'the guards still decide inside the tenant');
  const cmd = (await call(h, TOKENS.acme, { method: 'POST', path: '/api/v1/commands', text: 'announce 198.51.100.6/32\nannounce 198.51.100.70/32' })).json;
  assert.deepEqual(cmd.results.map((r: any) => [r.ok, r.code ?? 'ok']), [[true, 'ok'], [false, 'outside_tenant']]);
  const pv = await acme('GET', '/api/v1/mitigations/preview?target=198.51.100.7&method=ntp-drop');
  assert.equal(pv.status, 200, pv.text);
  const m = await acme('POST', '/api/v1/mitigations', { target: '198.51.100.7', method: 'ntp-drop' });
  assert.equal(m.status, 201, m.text);
  assert.equal((await acme('DELETE', `/api/v1/mitigations/${m.json.id}`)).status, 200);
  assert.equal((await acme('GET', `/api/v1/attacks/${own.json.attack_id}/infer`)).status, 200);
  // Its withdraw-all lifts its own bans only.
  const wa = (await call(h, TOKENS.acme, { method: 'POST', path: '/api/v1/commands', text: 'withdraw-all' })).json;
  assert.deepEqual([wa.results[0].ok, wa.results[0].unbanned], [true, 2], JSON.stringify(wa));
  assert.deepEqual((await all('GET', '/api/v1/bans?active=true')).json.bans.map((b: any) => `${b.id} ${b.target}`).sort(), before, 'globex keeps its bans');
  // The scoped token's actions are audited under its name, and it sees them.
  const audit = (await acme('GET', '/api/v1/audit?limit=1000')).json.audit;
  assert.ok(audit.some((e: any) => e.actor === 'acme-ops' && e.action === 'ban' && e.target === '198.51.100.6'), JSON.stringify(audit));
});

/** Server-sent events of one open stream, read on demand (each wait bounded in time). */
function sse(res: Response) {
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  const evs: Array<{ event: string; data: any }> = [];
  let buf = '';
  return {
    evs,
    async until(ok: () => boolean, ms = 8000): Promise<void> {
      const deadline = Date.now() + ms;
      while (!ok()) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`timed out; got ${evs.map((e) => `${e.event}:${e.data.target ?? ''}`).join(',')}`);
        let timer: NodeJS.Timeout | undefined;
        const { value, done } = await Promise.race([reader.read(), new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new Error(`no data; got ${evs.map((e) => e.event).join(',')}`)), left)))]).finally(() => clearTimeout(timer));
        if (done) throw new Error('the stream ended');
        buf += dec.decode(value, { stream: true });
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const ev = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (ev && data) evs.push({ event: ev, data: JSON.parse(data) });
        }
      }
    },
    close: () => reader.cancel().catch(() => undefined),
  };
}

test('a scoped token\'s live stream carries its tenant\'s status, attacks and bans only', { timeout: 60_000 }, async (t) => {
  const h = await startHarness(t, accessConfig());
  const acme = (method: string, path: string, body?: unknown) => h.req(method, path, body, { authorization: `Bearer ${TOKENS.acme}` });
  const globex = (method: string, path: string, body?: unknown) => h.req(method, path, body, { authorization: `Bearer ${TOKENS.globex}` });
  assert.equal((await acme('POST', '/api/v1/ban', { ip: '198.51.100.5', ttl_seconds: 600 })).status, 201);
  assert.equal((await globex('POST', '/api/v1/ban', { ip: THEIRS, ttl_seconds: 600 })).status, 201);

  const scoped = sse(await fetch(`${h.base}/api/v1/stream?token=${TOKENS.acme}`));
  const everyone = sse(await fetch(`${h.base}/api/v1/stream`, { headers: { authorization: `Bearer ${TOKENS.viewer}` } }));
  t.after(async () => {
    await scoped.close();
    await everyone.close();
  });
  const bans = (s: ReturnType<typeof sse>) => s.evs.filter((e) => e.event === 'ban').map((e) => e.data.target);
  await scoped.until(() => scoped.evs.some((e) => e.event === 'status') && bans(scoped).length >= 1);
  const status = scoped.evs.find((e) => e.event === 'status')!.data;
  assert.equal(status.tenant, 'acme');
  assert.equal(status.active_bans, 1);
  assert.equal(status.neighbors, undefined, 'no infrastructure for a tenant');
  await everyone.until(() => bans(everyone).length >= 2);

  // Changes: each stream hears of its own scope's.
  assert.equal((await globex('POST', '/api/v1/ban', { ip: '198.51.100.71', ttl_seconds: 600 })).status, 201);
  assert.equal((await acme('POST', '/api/v1/ban', { ip: '198.51.100.6', ttl_seconds: 600 })).status, 201);
  await everyone.until(() => bans(everyone).includes('198.51.100.71') && bans(everyone).includes('198.51.100.6'));
  await scoped.until(() => bans(scoped).includes('198.51.100.6'));
  assert.equal((await acme('POST', '/api/v1/unban', { ip: '198.51.100.5' })).status, 200);
  await scoped.until(() => scoped.evs.some((e) => e.event === 'ban' && e.data.target === '198.51.100.5' && e.data.active === false));
  assert.deepEqual([...new Set(bans(scoped))].sort(), ['198.51.100.5', '198.51.100.6'], 'nothing of globex\'s');
  assert.ok(scoped.evs.filter((e) => e.event === 'status').every((e) => e.data.tenant === 'acme'));
});
