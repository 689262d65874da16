/**
 * The daemon never waits on ClickHouse: with storage.clickhouse pointing at
 * a server that accepts connections and never answers, an attack is still
 * detected and banned at once, the routes reach the speaker, the API
 * answers, and history rows go to the spool once the timeout passes. Also
 * the history routes' answers without ClickHouse (404) and their input
 * checks (400).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { startHarness } from '../daemon/harness.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';

/** A private data directory (the harness's storage block is replaced by the test's). */
function dataDir(t: { after(fn: () => void): void }): string {
  const d = mkdtempSync(joinPath(tmpdir(), 'bw-history-data-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

const V = '198.51.100.7';

test('a ClickHouse that never answers: detection, bans, routes and the API go on; history spools', async (t) => {
  const socks: Socket[] = [];
  let connections = 0;
  const hang = createServer((s) => {
    connections++;
    socks.push(s);
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => hang.listen(0, '127.0.0.1', () => r()));
  t.after(() => {
    for (const s of socks) s.destroy();
    hang.close();
  });
  const port = (hang.address() as { port: number }).port;
  const h = await startHarness(t, {
    dry_run: false,
    storage: { data_dir: dataDir(t), clickhouse: { url: `http://127.0.0.1:${port}`, timeout_seconds: 1, flush_interval_seconds: 1, traffic_interval_seconds: 1 } },
  });
  h.advance(200);
  const t0 = performance.now();
  for (let i = 0; i < 10; i++) {
    h.flood(V, 50, 10, { srcPort: 123, bytes: 468 });
    h.advance(100);
  }
  const att = await h.req('GET', '/api/v1/attacks');
  assert.ok(att.json.attacks.some((a: any) => a.target === V && a.active), 'attack detected');
  const bans = await h.req('GET', '/api/v1/bans?active=true');
  assert.equal(bans.json.bans.length, 1);
  assert.ok(h.speaker.rib('127.0.0.2').size > 0, 'the route reached the speaker');
  assert.ok(performance.now() - t0 < 1000, `detect, ban and API took ${performance.now() - t0} ms with ClickHouse hanging`);
  // History keeps the rows: once the insert (or the schema set-up) times out, they are on disk.
  const end = Date.now() + 15_000;
  let st: any;
  for (;;) {
    st = (await h.req('GET', '/api/v1/status')).json;
    if (st.history.spool_batches > 0) break;
    assert.ok(Date.now() < end, `history never spooled: ${JSON.stringify(st.history)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.ok(connections > 0, 'the daemon did try ClickHouse');
  assert.equal(st.history.up, false);
  assert.match(st.history.last_error, /no answer/);
  const t1 = performance.now();
  assert.equal((await h.req('GET', '/api/v1/status')).status, 200);
  assert.ok(performance.now() - t1 < 500);
  const m = (await h.req('GET', '/metrics')).text;
  assert.match(m, /^breakwater_history_up 0$/m);
  assert.match(m, /^breakwater_history_rows_spooled_total\{table="attacks"\} [1-9]/m);
  // A history read waits for ClickHouse at most its timeout, then answers 503.
  const r = await h.req('GET', '/api/v1/history/attacks');
  assert.equal(r.status, 503);
});

test('history routes: 404 without storage.clickhouse; bad parameters are 400', async (t) => {
  const h = await startHarness(t);
  const none = await h.req('GET', `/api/v1/hosts/${V}/traffic`);
  assert.equal(none.status, 404);
  assert.match(none.json.error, /storage\.clickhouse/);
  assert.equal((await h.req('GET', '/api/v1/history/attacks')).status, 404);
  assert.equal((await h.req('GET', '/api/v1/history/report')).status, 404);
  const h2 = await startHarness(t, { storage: { data_dir: dataDir(t), clickhouse: { url: 'http://127.0.0.1:9', timeout_seconds: 1 } } });
  assert.equal((await h2.req('GET', '/api/v1/hosts/not-an-ip/traffic')).status, 400);
  assert.equal((await h2.req('GET', `/api/v1/hosts/${V}/traffic?from=yesterday`)).status, 400);
  assert.equal((await h2.req('GET', `/api/v1/hosts/${V}/traffic?from=-1h&to=-2h`)).status, 400);
  assert.equal((await h2.req('GET', `/api/v1/hosts/${V}/traffic?from=-30d&step=1s`)).status, 400);
  assert.equal((await h2.req('GET', '/api/v1/history/attacks?direction=sideways')).status, 400);
  assert.equal((await h2.req('GET', '/api/v1/history/bans?limit=0')).status, 400);
  // Valid parameters reach ClickHouse (nothing listens on port 9): 503 with the reason.
  const down = await h2.req('GET', '/api/v1/history/bans?from=-1d&target=198.51.100.7');
  assert.equal(down.status, 503);
  assert.match(down.json.error, /ClickHouse/);
});
