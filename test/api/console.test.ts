/**
 * The console's routes on a real ApiServer (fake backend) on loopback: the
 * page and its assets only with api.dashboard, with a strict CSP; whoami per
 * token; the live stream (?token= or bearer) sends the state at once, then
 * status every interval and attack/ban events when the backend changes.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { ApiServer, type ApiBackend, type ApiToken } from '../../src/api/server.ts';
import { buildConsole } from '../../scripts/build-console.ts';

const TOKENS: ApiToken[] = [
  { name: 'noc', token: 'viewer-secret', role: 'viewer' },
  { name: 'oncall', token: 'operator-secret', role: 'operator' },
  { name: 'root', token: 'admin-secret', role: 'admin' },
];

interface Fake extends ApiBackend {
  attackList: any[];
  banList: any[];
  endedBans: any[];
}

function backend(): Fake {
  const f: Fake = {
    attackList: [],
    banList: [],
    endedBans: [],
    ready: () => true,
    status: () => ({ mode: 'dry_run', active_attacks: f.attackList.length, active_bans: f.banList.length }),
    attacks: (q) => ({ total: f.attackList.length, items: q.active === false ? [] : f.attackList }),
    bans: (q) => (q.active === false ? { total: f.endedBans.length, items: f.endedBans } : { total: f.banList.length, items: f.banList }),
    hosts: () => ({ total: 0, items: [] }),
    host: () => undefined,
    ban: () => ({ ok: true, status: 201, body: { ban: {} } }),
    unban: () => ({ ok: true, body: { unbanned: 'x' } }),
    reload: async () => ({ ok: true, changed: [], mode: 'dry_run' }),
    metrics: async () => ({ contentType: 'text/plain', body: 'm 1\n' }),
    audit: () => ({ total: 0, items: [] }),
    config: () => ({ dry_run: true }),
  };
  return f;
}

before(async () => {
  await buildConsole({ quiet: true });
});

async function serve(t: { after(fn: () => Promise<void>): void }, opts: { dashboard: boolean; tokens?: ApiToken[]; b?: ApiBackend }) {
  const srv = new ApiServer(opts.b ?? backend(), { host: '127.0.0.1', port: 0, tokens: opts.tokens ?? TOKENS, dashboard: () => opts.dashboard, streamIntervalMs: 100 });
  const { port } = await srv.start();
  t.after(() => srv.stop());
  return `http://127.0.0.1:${port}`;
}

test('console: / and /assets only with api.dashboard, no token needed, strict CSP, no CDN', async (t) => {
  const off = await serve(t, { dashboard: false });
  for (const p of ['/', '/assets/console.js', '/assets/console.css']) {
    const r = await fetch(off + p);
    assert.equal(r.status, 404, p);
    assert.equal(((await r.json()) as { code: string }).code, 'not_found');
  }
  const on = await serve(t, { dashboard: true });
  const page = await fetch(on + '/');
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type') ?? '', /text\/html/);
  assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'none'; script-src 'self'/);
  assert.equal(page.headers.get('x-frame-options'), 'DENY');
  const html = await page.text();
  assert.match(html, /src="\/assets\/console\.js"/);
  assert.doesNotMatch(html, /https?:\/\//, 'nothing loaded from another origin');
  const js = await fetch(on + '/assets/console.js');
  assert.equal(js.status, 200);
  assert.match(js.headers.get('content-type') ?? '', /text\/javascript/);
  const body = await js.text();
  assert.ok(body.length > 20_000, 'the bundle holds Preact and uPlot');
  assert.doesNotMatch(body, /(import|from)\s*["']https?:/, 'no import from a CDN');
  const css = await fetch(on + '/assets/console.css');
  assert.equal(css.status, 200);
  assert.match(await css.text(), /\.uplot/, 'uPlot styles are in the one CSS asset');
  assert.equal((await fetch(on + '/assets/other.js')).status, 404);
  assert.equal((await fetch(on + '/assets/..%2Fpackage.json')).status, 404);
});

test('console: whoami names the token and its role; without tokens everyone is admin', async (t) => {
  const base = await serve(t, { dashboard: true });
  assert.equal((await fetch(base + '/api/v1/whoami')).status, 401);
  assert.equal((await fetch(base + '/api/v1/whoami', { headers: { authorization: 'Bearer nope' } })).status, 401);
  for (const tok of TOKENS) {
    const r = await fetch(base + '/api/v1/whoami', { headers: { authorization: `Bearer ${tok.token}` } });
    assert.deepEqual(await r.json(), { name: tok.name, role: tok.role });
  }
  // ?token= is for the stream only
  assert.equal((await fetch(base + '/api/v1/whoami?token=viewer-secret')).status, 401);
  const open = await serve(t, { dashboard: true, tokens: [] });
  assert.deepEqual(await (await fetch(open + '/api/v1/whoami')).json(), { name: 'api', role: 'admin' });
});

/** Reads SSE events from a response until `until` says stop (bounded by time). */
async function readEvents(res: Response, until: (evs: Array<{ event: string; data: any }>) => boolean, ms = 5000) {
  const evs: Array<{ event: string; data: any }> = [];
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let buf = '';
  const deadline = Date.now() + ms;
  try {
    while (!until(evs)) {
      if (Date.now() > deadline) throw new Error(`timed out; got ${evs.map((e) => e.event).join(',')}`);
      const { value, done } = await Promise.race([reader.read(), new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`no data; got ${evs.map((e) => e.event + ':' + (e.data.id ?? '')).join(',')}`)), deadline - Date.now()))]);
      if (done) break;
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
  } finally {
    await reader.cancel().catch(() => {});
  }
  return evs;
}

test('stream: viewer token in the query or as bearer; state at once, then status, attack and ban on change', async (t) => {
  const b = backend();
  b.attackList = [{ id: 'a1', target: '198.51.100.10', vector: 'syn_flood', pps: 1 }];
  const base = await serve(t, { dashboard: true, b });
  assert.equal((await fetch(base + '/api/v1/stream')).status, 401);
  const bad = await fetch(base + '/api/v1/stream?token=nope');
  assert.equal(bad.status, 401);

  const res = await fetch(base + '/api/v1/stream?token=viewer-secret');
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
  let step = 0;
  const evs = await readEvents(res, (e) => {
    if (step === 0 && e.some((x) => x.event === 'attack' && x.data.id === 'a1') && e.filter((x) => x.event === 'status').length >= 2) {
      step = 1;
      b.banList = [{ id: 'b1', target: '198.51.100.10', ttl_left_seconds: 60 }];
      b.attackList = [{ ...b.attackList[0], pps: 2 }];
    }
    if (step === 1 && e.some((x) => x.event === 'ban' && x.data.id === 'b1')) {
      step = 2;
      b.banList = [];
      b.endedBans = [{ id: 'b1', target: '198.51.100.10', active: false, end_reason: 'manual' }];
    }
    return step === 2 && e.some((x) => x.event === 'ban' && x.data.id === 'b1' && x.data.active === false);
  });
  assert.equal(evs[0].event, 'status', 'the state comes at once');
  assert.equal(evs[0].data.mode, 'dry_run');
  assert.ok(evs.some((x) => x.event === 'attack' && x.data.pps === 2), 'a changed attack is sent again');
  assert.equal(evs.find((x) => x.event === 'ban' && x.data.active === false)?.data.end_reason, 'manual', 'an ended ban is sent as its history gives it');
  // an unchanged ban whose TTL ticks is not re-sent
  b.banList = [{ id: 'b2', target: '198.51.100.11', ttl_left_seconds: 60 }];
  const res2 = await fetch(base + '/api/v1/stream', { headers: { authorization: 'Bearer viewer-secret' } });
  let seen = 0;
  const evs2 = await readEvents(res2, (e) => {
    seen = e.filter((x) => x.event === 'status').length;
    b.banList = [{ id: 'b2', target: '198.51.100.11', ttl_left_seconds: 60 - seen }];
    return seen >= 5;
  });
  // (a ban that changed just before this client joined may come twice: events are idempotent by id)
  const later = evs2.slice(evs2.findIndex((x, i) => x.event === 'status' && i > 0 && evs2.slice(0, i).filter((y) => y.event === 'status').length === 2));
  assert.ok(evs2.some((x) => x.event === 'ban' && x.data.id === 'b2'), 'the active ban comes at once');
  assert.equal(later.filter((x) => x.event === 'ban').length, 0, 'TTL countdown alone is no change');
});

test('stream: a closed client is dropped and polling stops; stop() ends open streams', async (t) => {
  const srv = new ApiServer(backend(), { host: '127.0.0.1', port: 0, tokens: TOKENS, dashboard: () => true, streamIntervalMs: 50 });
  const { port } = await srv.start();
  const ac = new AbortController();
  const res = await fetch(`http://127.0.0.1:${port}/api/v1/stream?token=viewer-secret`, { signal: ac.signal });
  await readEvents(res, (e) => e.length >= 2);
  ac.abort();
  const res2 = await fetch(`http://127.0.0.1:${port}/api/v1/stream?token=viewer-secret`);
  const reader = res2.body!.getReader();
  await reader.read();
  const t0 = performance.now();
  await srv.stop();
  assert.ok(performance.now() - t0 < 3000, 'stop does not wait for streams');
  await reader.cancel().catch(() => {});
  t.diagnostic('stopped');
});
