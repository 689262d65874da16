import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { ApiServer, type ApiBackend, type BanRequest, type MutationResult } from '../../src/api/server.ts';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { Metrics } from '../../src/api/metrics.ts';
import { validateConfig } from '../../src/config/load.ts';
import { silentLogger } from '../../src/core/log.ts';
import { CollectorAdapter } from '../../src/daemon/components.ts';
import { v5 } from '../fixtures/netflow/build.ts';
import { attackDatagram } from '../e2e/helpers.ts';
import { makeAttack, makeBan } from '../store/fixtures.ts';

interface Call {
  what: string;
  req?: BanRequest;
  actor?: string;
  q?: unknown;
}

function fakeBackend() {
  const calls: Call[] = [];
  const attacks = Array.from({ length: 7 }, (_, i) => makeAttack(`198.51.100.${i + 1}`));
  const bans = Array.from({ length: 3 }, (_, i) => makeBan(`198.51.100.${i + 1}`));
  let ready = false;
  let reloadOk = true;
  const metrics = new Metrics(
    {
      dryRun: () => true,
      mitigation: () => ({ announced_routes: { real: 0, dry_run: 3 }, flowspec_rules: { real: 0, dry_run: 1 }, fallbacks: 2, held: 0, repairs: { missing: 1 } }),
      flow: () => ({
        exporters: [{ exporter: '192.0.2.10', datagrams: 10, records: 100, errors: { truncated: 4 }, byProto: { sflow5: 7, netflow9: 3 }, templates: 2, noTemplate: 1, lastSeen: 1_700_000_000_000 }],
        dropped: { not_allowed: 5 },
      }),
      engine: () => ({ tracked_hosts: { incoming: 12, outgoing: 3 }, active_attacks: 1, active_bans: 1, attacks_by_vector: { ntp_amplification: 2 }, bans_total: 2, bans_refused_by_reason: { whitelist: 1 }, records: 100, overflow: 0 }),
      bgp: () => [{ neighbor: '127.0.0.2', state: 'Established', messages_in: 5, messages_out: 6, updates_in: 0, updates_out: 2, flaps: 1, last_error: 'hold timer expired', routes_out: 1 }],
    },
    { defaultMetrics: false },
  );
  const backend: ApiBackend = {
    ready: () => ready,
    status: () => ({ mode: 'dry_run', active_attacks: 1 }),
    attacks: (q) => {
      calls.push({ what: 'attacks', q });
      return { total: attacks.length, items: attacks.slice(q.offset, q.offset + q.limit) };
    },
    bans: (q) => {
      calls.push({ what: 'bans', q });
      return { total: bans.length, items: bans.slice(q.offset, q.offset + q.limit) };
    },
    hosts: (q) => ({ total: 1, items: [{ ip: '198.51.100.1', direction: q.direction ?? 'incoming' }] }),
    host: (ip) => (ip === '198.51.100.1' ? { ip, pps: 5 } : undefined),
    ban: (req, actor): MutationResult => {
      calls.push({ what: 'ban', req, actor });
      if (req.ip === '198.51.100.1') return { ok: false, status: 409, error: 'ban refused', reason: 'whitelist' };
      return { ok: true, status: 201, body: { ban: makeBan(req.ip) } };
    },
    unban: (req, actor): MutationResult => {
      calls.push({ what: 'unban', req, actor });
      return { ok: true, body: { unbanned: req.ip } };
    },
    reload: async (actor) => {
      calls.push({ what: 'reload', actor });
      return reloadOk ? { ok: true, changed: ['thresholds'], mode: 'dry_run' } : { ok: false, error: 'invalid config', issues: [{ path: 'ban.tll', message: 'unknown key' }] };
    },
    metrics: () => metrics.render(),
    audit: (q) => ({ total: 1, items: [{ id: 1, time: '2026-01-01T00:00:00.000Z', actor: 'alice', action: 'ban', target: '198.51.100.9' }].slice(q.offset, q.offset + q.limit) }),
    config: () => ({ dry_run: true }),
  };
  return { backend, calls, setReady: (r: boolean) => (ready = r), setReloadOk: (r: boolean) => (reloadOk = r) };
}

async function startServer(t: { after(fn: () => Promise<void> | void): void }, opts: Partial<ConstructorParameters<typeof ApiServer>[1]> = {}) {
  const f = fakeBackend();
  const srv = new ApiServer(f.backend, { host: '127.0.0.1', port: 0, ...opts });
  const addr = await srv.start();
  t.after(() => srv.stop());
  const base = `http://127.0.0.1:${addr.port}`;
  const req = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(base + path, {
      method,
      headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let json: any;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, json, text, type: res.headers.get('content-type') ?? '' };
  };
  return { ...f, srv, addr, req };
}

test('healthz is 503 until the daemon is ready', async (t) => {
  const s = await startServer(t);
  assert.equal((await s.req('GET', '/healthz')).status, 503);
  s.setReady(true);
  const r = await s.req('GET', '/healthz');
  assert.equal(r.status, 200);
  assert.equal(r.json.status, 'ok');
});

test('lists are paginated and the query is validated', async (t) => {
  const s = await startServer(t);
  const r = await s.req('GET', '/api/v1/attacks?limit=3&offset=5');
  assert.equal(r.status, 200);
  assert.equal(r.json.total, 7);
  assert.equal(r.json.attacks.length, 2);
  assert.equal(r.json.limit, 3);
  assert.equal(r.json.offset, 5);
  assert.ok(r.json.attacks[0].route, 'attacks carry their route');
  const b = await s.req('GET', '/api/v1/bans?active=true');
  assert.equal(b.json.bans.length, 3);
  assert.deepEqual(s.calls.find((c) => c.what === 'bans')?.q, { limit: 100, offset: 0, active: true });
  for (const bad of ['limit=0', 'limit=abc', 'limit=100000', 'offset=-1', 'active=maybe']) {
    const e = await s.req('GET', `/api/v1/attacks?${bad}`);
    assert.equal(e.status, 400, bad);
    assert.equal(typeof e.json.error, 'string', bad);
  }
});

test('hosts: top list, one host by ?ip=, 400 for a bad address and 404 for an unknown one', async (t) => {
  const s = await startServer(t);
  assert.equal((await s.req('GET', '/api/v1/hosts?direction=outgoing')).json.hosts[0].direction, 'outgoing');
  assert.equal((await s.req('GET', '/api/v1/hosts?ip=198.51.100.1')).json.pps, 5);
  assert.equal((await s.req('GET', '/api/v1/hosts?ip=nope')).status, 400);
  const nf = await s.req('GET', '/api/v1/hosts?ip=198.51.100.99');
  assert.equal(nf.status, 404);
  assert.match(nf.json.error, /not tracked/);
  assert.equal((await s.req('GET', '/api/v1/hosts?direction=sideways')).status, 400);
});

test('ban and unban bodies are validated; a guard refusal is a 409 with its reason', async (t) => {
  const s = await startServer(t);
  const ok = await s.req('POST', '/api/v1/ban', { ip: '198.51.100.50', ttl_seconds: 60 });
  assert.equal(ok.status, 201);
  assert.equal(ok.json.ban.target, '198.51.100.50');
  assert.deepEqual(s.calls.find((c) => c.what === 'ban')?.req, { ip: '198.51.100.50', ttl_seconds: 60 });
  assert.equal(s.calls.find((c) => c.what === 'ban')?.actor, 'api');

  const refused = await s.req('POST', '/api/v1/ban', { ip: '198.51.100.1' });
  assert.equal(refused.status, 409);
  assert.equal(refused.json.reason, 'whitelist');

  const cases: Array<[unknown, RegExp]> = [
    [{ ip: 'x' }, /ip/],
    [{}, /ip/],
    [{ ip: '198.51.100.2', ttl_seconds: 'long' }, /ttl_seconds/],
    [{ ip: '198.51.100.2', ttl_seconds: 1.5 }, /ttl_seconds/],
    [{ ip: '198.51.100.2', tll_seconds: 5 }, /tll_seconds/],
  ];
  for (const [body, re] of cases) {
    const r = await s.req('POST', '/api/v1/ban', body);
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.match(JSON.stringify(r.json.issues), re);
  }
  const badJson = await s.req('POST', '/api/v1/ban', '{"ip": ');
  assert.equal(badJson.status, 400);
  assert.match(badJson.json.error, /invalid JSON/);
  const big = await s.req('POST', '/api/v1/ban', JSON.stringify({ ip: '198.51.100.2', reason: 'x'.repeat(100_000) }));
  assert.equal(big.status, 413);

  const un = await s.req('POST', '/api/v1/unban', { ip: '198.51.100.50' });
  assert.equal(un.status, 200);
  assert.equal(un.json.unbanned, '198.51.100.50');
});

test('bearer tokens: reads need a viewer token, viewer may not mutate, actor is the token name', async (t) => {
  const s = await startServer(t, {
    tokens: [
      { name: 'alice', token: 'op-secret', role: 'operator' },
      { name: 'grafana', token: 'view-secret', role: 'viewer' },
    ],
  });
  // Reads need a token too once tokens are configured (roles mean something); see test/api/roles.test.ts.
  assert.equal((await s.req('GET', '/api/v1/status')).status, 401, 'reads need a token');
  assert.equal((await s.req('GET', '/api/v1/status', undefined, { authorization: 'Bearer view-secret' })).status, 200, 'a viewer reads');
  assert.equal((await s.req('POST', '/api/v1/ban', { ip: '198.51.100.9' })).status, 401);
  assert.equal((await s.req('POST', '/api/v1/ban', { ip: '198.51.100.9' }, { authorization: 'Bearer wrong' })).status, 401);
  assert.equal((await s.req('POST', '/api/v1/config/reload', undefined, { authorization: 'Bearer view-secret' })).status, 403);
  const ok = await s.req('POST', '/api/v1/ban', { ip: '198.51.100.9' }, { authorization: 'Bearer op-secret' });
  assert.equal(ok.status, 201);
  assert.equal(s.calls.filter((c) => c.what === 'ban').length, 1, 'refused requests never reach the backend');
  assert.equal(s.calls.find((c) => c.what === 'ban')?.actor, 'alice');
  s.srv.setTokens([]);
  assert.equal((await s.req('POST', '/api/v1/unban', { ip: '198.51.100.9' })).status, 200, 'tokens removed by reload');
});

test('reload: success lists what changed; an invalid file is a 400 naming the keys', async (t) => {
  const s = await startServer(t);
  const ok = await s.req('POST', '/api/v1/config/reload');
  assert.equal(ok.status, 200);
  assert.deepEqual(ok.json.changed, ['thresholds']);
  s.setReloadOk(false);
  const bad = await s.req('POST', '/api/v1/config/reload');
  assert.equal(bad.status, 400);
  assert.equal(bad.json.issues[0].path, 'ban.tll');
});

test('unknown paths and methods answer JSON errors', async (t) => {
  const s = await startServer(t);
  const nf = await s.req('GET', '/api/v1/nothing');
  assert.equal(nf.status, 404);
  assert.match(nf.type, /json/);
  assert.match(nf.json.error, /no route/);
  const m = await s.req('DELETE', '/api/v1/bans');
  assert.equal(m.status, 405);
  assert.match(m.json.error, /not allowed/);
});

test('metrics: per exporter/protocol ingest, engine, mode-labelled routes, BGP per neighbor, build info', async (t) => {
  const s = await startServer(t);
  const r = await s.req('GET', '/metrics');
  assert.equal(r.status, 200);
  assert.match(r.type, /text\/plain/);
  const m = r.text;
  assert.match(m, /breakwater_mitigate_announced_routes\{mode="real"\} 0/);
  assert.match(m, /breakwater_mitigate_announced_routes\{mode="dry_run"\} 3/);
  assert.match(m, /breakwater_flow_datagrams_total\{exporter="192.0.2.10",proto="sflow5"\} 7/);
  // This exporter sent two protocols: its records and errors are labelled "mixed".
  assert.match(m, /breakwater_flow_decode_errors_total\{exporter="192.0.2.10",proto="mixed",reason="truncated"\} 4/);
  assert.match(m, /breakwater_flow_dropped_total\{reason="not_allowed",source=""\} 5/);
  assert.match(m, /breakwater_engine_tracked_hosts\{direction="incoming"\} 12/);
  assert.match(m, /breakwater_engine_attacks_total\{vector="ntp_amplification"\} 2/);
  assert.match(m, /breakwater_engine_bans_refused_total\{reason="whitelist"\} 1/);
  assert.match(m, /breakwater_bgp_neighbor_state\{neighbor="127.0.0.2",state="established"\} 1/);
  assert.match(m, /breakwater_bgp_neighbor_state\{neighbor="127.0.0.2",state="idle"\} 0/);
  assert.match(m, /breakwater_bgp_messages_total\{neighbor="127.0.0.2",direction="out"\} 6/);
  assert.match(m, /breakwater_bgp_neighbor_last_error_info\{neighbor="127.0.0.2",error="hold timer expired"\} 1/);
  assert.match(m, /breakwater_mitigate_fallback_total 2/);
  assert.match(m, /breakwater_build_info\{version="[0-9.]+",node="v24/);
  assert.match(m, /# TYPE breakwater_flow_records_total counter/);
  // A second scrape does not double the counters.
  const again = (await s.req('GET', '/metrics')).text;
  assert.match(again, /breakwater_flow_records_total\{exporter="192.0.2.10",proto="mixed"\} 100/);
});

test('a slow client neither blocks other requests nor holds a connection forever', async (t) => {
  const s = await startServer(t, { headersTimeoutMs: 800, requestTimeoutMs: 800 });
  s.setReady(true);
  const sock = connect(s.addr.port, '127.0.0.1');
  t.after(() => sock.destroy());
  await new Promise<void>((res) => sock.once('connect', () => res()));
  sock.write('GET /api/v1/status HTTP/1.1\r\nHost: x\r\n');
  const drip = setInterval(() => sock.write('X-Slow: 1\r\n'), 100);
  t.after(() => clearInterval(drip));
  const closed = new Promise<number>((res) => {
    const t0 = Date.now();
    sock.once('close', () => res(Date.now() - t0));
  });
  sock.on('error', () => {});
  for (let i = 0; i < 5; i++) assert.equal((await s.req('GET', '/healthz')).status, 200);
  const waited = await Promise.race([closed, new Promise<number>((r) => setTimeout(() => r(-1), 10_000))]);
  clearInterval(drip);
  assert.ok(waited >= 0, 'the slow client was never cut off');
  assert.ok(waited < 5000, `cut off after ${waited} ms`);
});

test('metrics with real decoded traffic: records and errors per exporter and protocol, drops by reason and source', async (t) => {
  const cfg = validateConfig({
    listen: { netflow: '127.0.0.1:0', sflow: '127.0.0.1:0', workers: 1 },
    flow_sources: ['127.0.0.1/32', '127.0.0.3/32'],
  });
  let delivered = 0;
  const collector = new CollectorAdapter(cfg, { record: () => void delivered++ }, silentLogger());
  await collector.start();
  const socks: UdpSocket[] = [];
  t.after(async () => {
    for (const s of socks) s.close();
    await collector.stop();
  });
  const { sflow, netflow } = collector.addresses();
  assert.ok(sflow && netflow);
  const from = async (addr: string) => {
    const s = createSocket('udp4');
    socks.push(s);
    await new Promise<void>((r) => s.bind({ address: addr, port: 0 }, () => r()));
    return (buf: Buffer, port: number) => new Promise<void>((r) => s.send(buf, port, '127.0.0.1', () => r()));
  };
  const sendA = await from('127.0.0.1'); // sFlow exporter
  const sendB = await from('127.0.0.3'); // NetFlow v5 exporter, also sends garbage and some sFlow
  const sendC = await from('127.0.0.2'); // outside flow_sources
  const spec = { victim: '198.51.100.7', pps: 1000, samplingRate: 10 };
  for (let i = 0; i < 4; i++) await sendA(attackDatagram(spec, 5, i + 1), sflow.port); // 4 x 5 samples
  const cut = attackDatagram(spec, 5, 9);
  await sendA(cut.subarray(0, cut.length - 30), sflow.port); // the last sample cut short
  for (let i = 0; i < 3; i++) await sendB(v5(6), netflow.port); // 3 x 6 records
  for (let i = 0; i < 2; i++) await sendB(Buffer.from('ffff0000deadbeefdeadbeef', 'hex'), netflow.port);
  for (let i = 0; i < 2; i++) await sendB(attackDatagram(spec, 4, 20 + i), sflow.port); // 2 x 4 samples
  await sendB(cut.subarray(0, cut.length - 30), sflow.port);
  for (let i = 0; i < 4; i++) await sendC(v5(2), netflow.port);

  const metrics = new Metrics({ flow: () => collector.stats() }, { defaultMetrics: false });
  let m = '';
  const val = (name: string, labels: string) => {
    const line = m.split('\n').find((l) => l.startsWith(`${name}{${labels}} `));
    return line ? Number(line.split(' ')[1]) : NaN;
  };
  // Worker threads push their stats periodically: poll (bounded).
  for (let i = 0; i < 100; i++) {
    m = (await metrics.render()).body;
    if (val('breakwater_flow_records_total', 'exporter="127.0.0.3",proto="netflow5"') === 18 && val('breakwater_flow_datagrams_total', 'exporter="127.0.0.3",proto="sflow5"') === 3 && val('breakwater_flow_dropped_total', 'reason="not_allowed",source="127.0.0.2"') === 4 && val('breakwater_flow_datagrams_total', 'exporter="127.0.0.1",proto="sflow5"') === 5) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const flow = m.split('\n').filter((l) => l.startsWith('breakwater_flow_')).join('\n');
  assert.equal(val('breakwater_flow_datagrams_total', 'exporter="127.0.0.1",proto="sflow5"'), 5, flow);
  const sflowRecords = val('breakwater_flow_records_total', 'exporter="127.0.0.1",proto="sflow5"');
  assert.ok(sflowRecords >= 20 && sflowRecords < 25, `the 20 whole samples decoded, the cut one not all: ${flow}`);
  const sflowErrors = m.split('\n').filter((l) => l.startsWith('breakwater_flow_decode_errors_total{exporter="127.0.0.1",proto="sflow5",reason="'));
  assert.ok(sflowErrors.length >= 1, `the cut datagram is a decode error under sflow5: ${flow}`);
  assert.equal(val('breakwater_flow_datagrams_total', 'exporter="127.0.0.3",proto="netflow5"'), 3, flow);
  assert.equal(val('breakwater_flow_datagrams_total', 'exporter="127.0.0.3",proto="unknown"'), 2, flow);
  assert.equal(val('breakwater_flow_records_total', 'exporter="127.0.0.3",proto="netflow5"'), 18, flow);
  assert.equal(val('breakwater_flow_decode_errors_total', 'exporter="127.0.0.3",proto="unknown",reason="bad_version"'), 2, flow);
  // One exporter, two protocols: records and errors land under the protocol that carried them.
  assert.equal(val('breakwater_flow_datagrams_total', 'exporter="127.0.0.3",proto="sflow5"'), 3, flow);
  const bSflow = val('breakwater_flow_records_total', 'exporter="127.0.0.3",proto="sflow5"');
  assert.equal(bSflow, 8 + sflowRecords - 20, `the 8 samples and what the cut datagram gave, as for 127.0.0.1: ${flow}`);
  const bErrors = m.split('\n').filter((l) => l.startsWith('breakwater_flow_decode_errors_total{exporter="127.0.0.3",'));
  assert.ok(bErrors.some((l) => l.includes('proto="sflow5"')) && bErrors.some((l) => l.includes('proto="unknown"')), flow);
  assert.ok(!bErrors.some((l) => l.includes('proto="netflow5"')) && !/proto="mixed"/.test(flow), flow);
  assert.equal(val('breakwater_flow_dropped_total', 'reason="not_allowed",source="127.0.0.2"'), 4, flow);
  assert.ok(!/exporter="127\.0\.0\.2"/.test(flow), 'a refused source is not an exporter');
  assert.equal(delivered, 18 + sflowRecords + bSflow, 'every decoded record reached the sink');
  // the daemon's adapter says which receiver reads; the gauge names it
  const recv = m.split('\n').filter((l) => l.startsWith('breakwater_flow_receiver_info{'));
  assert.deepEqual(recv, [`breakwater_flow_receiver_info{receiver="${collector.stats().receiver}"} 1`]);
  assert.ok(['batched', 'dgram'].includes(String(collector.stats().receiver)));
});
