/**
 * Cursor pagination of the ClickHouse history lists, through the real API
 * server against a real ClickHouse 18.16 on loopback: a walk through
 * /api/v1/history/attacks and /api/v1/history/bans with ?cursor= while rows
 * are inserted between (and during) the page requests returns every row
 * that existed when it started exactly once, newest first, and none of the
 * new ones — also when many rows share one millisecond, and when an attack
 * is written again (its end) during the walk. Offset still works (and
 * repeats rows under inserts); cursors are bound to their list.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiServer, type ApiBackend } from '../../src/api/server.ts';
import { clickhouseClient } from '../../src/history/client.ts';
import { HistoryReader } from '../../src/history/reader.ts';
import { attackRow, banRow } from '../../src/history/rows.ts';
import { HistoryWriter } from '../../src/history/writer.ts';
import { attack, ban, opts, tmp } from './fixtures.ts';
import { CLICKHOUSE_BIN, startClickHouse } from './server.ts';

const skip = CLICKHOUSE_BIN ? false : 'clickhouse-server not installed';
const DB = 'cur';
const T0 = Date.parse('2026-12-07T09:00:00Z');
const NOW = T0 + 3_600_000;

/** The history routes never touch the daemon's backend: a stub is enough. */
const backend = { ready: () => true, status: () => ({ mode: 'dry_run' }) } as unknown as ApiBackend;

type Get = (path: string) => Promise<{ status: number; json: any }>;

async function walk(get: Get, path: string, name: string, limit: number, during: (page: number) => Promise<unknown>, mode: 'cursor' | 'offset'): Promise<any[]> {
  const out: any[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 100; page++) {
    const q: string = mode === 'cursor' ? `limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}` : `limit=${limit}&offset=${page * limit}`;
    const [res]: [Awaited<ReturnType<Get>>, unknown] = await Promise.all([get(`${path}&${q}`), page > 0 ? during(page) : undefined]);
    assert.equal(res.status, 200, JSON.stringify(res.json));
    const items = res.json[name] as any[];
    assert.ok(items.length <= limit);
    out.push(...items);
    cursor = res.json.next_cursor;
    if (mode === 'cursor' ? !cursor : items.length < limit) break;
  }
  return out;
}

test('history lists page by cursor against a real ClickHouse, stable under inserts', { skip, timeout: 180_000 }, async (t) => {
  const ch = await startClickHouse(t);
  const c = clickhouseClient({ url: ch.url, timeoutMs: 10_000 });
  t.after(() => c.close());
  await new HistoryWriter(c, opts(tmp(t), DB)).migrate();
  const server = new ApiServer(backend, { host: '127.0.0.1', port: 0, history: () => new HistoryReader(c, DB), now: () => NOW });
  const { port } = await server.start();
  t.after(() => server.stop());
  const get: Get = async (path) => {
    const r = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(20_000) });
    return { status: r.status, json: await r.json() };
  };

  // 40 attacks, four per second of start time, so pages cut inside a second and inside a millisecond (every pair shares one).
  const TARGET = '198.51.100.30';
  const atk = (i: number) => attack(`atk-${String(i).padStart(3, '0')}`, i % 5 === 4 ? '198.51.100.31' : TARGET, T0 + Math.floor(i / 2) * 250, { vector: i % 3 ? 'ntp_amplification' : 'syn_flood' });
  await c.insert(`${DB}.attacks`, Array.from({ length: 40 }, (_, i) => attackRow(atk(i), T0)));
  const range = `from=${T0 - 60_000}&to=${NOW}`;
  const byKeyDesc = (a: any, b: any) => b.start - a.start || (a.id < b.id ? 1 : -1);

  await t.test('attacks: every row once, newest first, while newer attacks arrive and older ones are written again', async () => {
    const before = (await get(`/api/v1/history/attacks?${range}&limit=1000`)).json;
    assert.equal(before.total, 40);
    assert.equal(before.next_cursor, null, 'one page holds them all');
    const expected = [...before.attacks].sort(byKeyDesc).map((a) => a.id);
    assert.deepEqual(before.attacks.map((a: any) => a.id), expected, 'newest first, ties by id');
    let n = 100;
    const during = async (page: number) => {
      // a newer attack, and an existing one ending (a second row of the same id: FINAL keeps one)
      await c.insert(`${DB}.attacks`, [attackRow(atk(n++), T0)].map((r) => ({ ...r, start: Math.floor((T0 + 600_000 + page) / 1000), start_ms: T0 + 600_000 + page, day: r.day })));
      const old = atk(page * 3);
      await c.insert(`${DB}.attacks`, [attackRow({ ...old, end: old.start + 30_000, end_reason: 'below threshold' }, T0 + page)]);
    };
    const seen = await walk(get, `/api/v1/history/attacks?${range}`, 'attacks', 7, during, 'cursor');
    assert.deepEqual(seen.map((a) => a.id), expected, 'each attack that existed once, in order, none of the new ones');
    assert.ok(n > 103, 'attacks were inserted during the walk');
    const after = (await get(`/api/v1/history/attacks?${range}&limit=1`)).json;
    assert.equal(after.total, 40 + (n - 100), 'the new ones are counted');
    assert.ok(seen.some((a) => a.end !== undefined), 'rewritten attacks read back with their end');
  });

  await t.test('attacks: filters page by cursor too; the cursor carries the position, the filters come again', async () => {
    const all = (await get(`/api/v1/history/attacks?${range}&limit=1000&target=${TARGET}&vector=ntp_amplification`)).json;
    assert.ok(all.total > 5);
    const seen = await walk(get, `/api/v1/history/attacks?${range}&target=${TARGET}&vector=ntp_amplification`, 'attacks', 3, async () => undefined, 'cursor');
    assert.deepEqual(seen.map((a) => a.id), all.attacks.map((a: any) => a.id));
    assert.ok(seen.every((a) => a.target === TARGET && a.vector === 'ntp_amplification'));
    const one = (await get(`/api/v1/history/attacks?${range}&id=${seen[2].id}`)).json;
    assert.deepEqual(one.attacks.map((a: any) => a.id), [seen[2].id], '?id= finds one attack');
    // offset stays for compatibility, and its next_cursor continues where the offset page ended
    const off = (await get(`/api/v1/history/attacks?${range}&target=${TARGET}&vector=ntp_amplification&limit=2&offset=2`)).json;
    assert.deepEqual(off.attacks.map((a: any) => a.id), seen.slice(2, 4).map((a) => a.id));
    assert.equal(off.offset, 2);
    const cont = (await get(`/api/v1/history/attacks?${range}&target=${TARGET}&vector=ntp_amplification&limit=2&offset=0&cursor=${off.next_cursor}`)).json;
    assert.deepEqual(cont.attacks.map((a: any) => a.id), seen.slice(4, 6).map((a) => a.id), 'cursor wins over offset');
    assert.equal(cont.offset, 0);
  });

  await t.test('bans: many events in one millisecond; a cursor walk under inserts sees each once; offset repeats', async () => {
    const rows = [];
    for (let i = 0; i < 30; i++) {
      const at = T0 + 1000 + Math.floor(i / 3); // three events per millisecond
      rows.push(banRow(ban(`ban-${i}`, '198.51.100.40', at, `atk-${i}`), { event: i % 2 ? 'ended' : 'created', time: at, mode: 'dry_run' }));
    }
    await c.insert(`${DB}.bans`, rows);
    const before = (await get(`/api/v1/history/bans?${range}&limit=1000`)).json;
    assert.equal(before.total, 30);
    const expected = before.bans.map((b: any) => b.event_id);
    assert.equal(new Set(expected).size, 30);
    for (let i = 1; i < before.bans.length; i++) {
      const [a, b] = [before.bans[i - 1], before.bans[i]];
      assert.ok(a.time > b.time || (a.time === b.time && a.event_id > b.event_id), 'newest first, ties by event id');
    }
    let k = 0;
    const during = async () => {
      const at = NOW - 1000 + k;
      await c.insert(`${DB}.bans`, [banRow(ban(`new-${k++}`, '198.51.100.41', at), { event: 'created', time: at, mode: 'dry_run' })]);
    };
    const seen = await walk(get, `/api/v1/history/bans?${range}`, 'bans', 4, during, 'cursor');
    assert.deepEqual(seen.map((b) => b.event_id), expected, 'every event once, in order, none of the new ones');
    assert.ok(k >= 7);
    const off = await walk(get, `/api/v1/history/bans?${range}`, 'bans', 4, during, 'offset');
    assert.ok(off.length !== new Set(off.map((b) => b.event_id)).size, 'offset pages repeat events under inserts');
    const mine = (await get(`/api/v1/history/bans?${range}&attack_id=atk-4`)).json;
    assert.deepEqual(mine.bans.map((b: any) => b.ban_id), ['ban-4'], '?attack_id= gives the ban events of one attack');
  });

  await t.test('cursors are opaque and bound to their list', async () => {
    const a = (await get(`/api/v1/history/attacks?${range}&limit=2`)).json;
    assert.equal(typeof a.next_cursor, 'string');
    const wrong = await get(`/api/v1/history/bans?${range}&cursor=${a.next_cursor}`);
    assert.equal(wrong.status, 400);
    assert.equal(wrong.json.code, 'bad_request');
    assert.match(wrong.json.error, /another list/);
    const bad = await get(`/api/v1/history/attacks?${range}&cursor=not-a-cursor`);
    assert.equal(bad.status, 400);
    assert.match(bad.json.error, /cursor is not valid/);
    // a cursor of the live list is not one of the history list
    const live = Buffer.from(JSON.stringify(['attacks', T0, 'x'])).toString('base64url');
    assert.equal((await get(`/api/v1/history/attacks?${range}&cursor=${live}`)).status, 400);
  });
});
