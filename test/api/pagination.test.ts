/**
 * Cursor pagination on a real daemon (SQLite store, ban module, API): a
 * walk through a list with ?cursor= while new items are inserted between
 * (and during) page requests returns every item that existed when it started
 * exactly once, in order, and none of the new ones; the same walk with
 * ?offset= repeats items, which is why cursors exist. Cursors are opaque,
 * bound to their list, and a bad one is a 400.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, type Harness } from '../daemon/harness.ts';

const BAN = { ttl_seconds: 3600, unban_hysteresis_seconds: 1, max_active_bans: 1000, max_banned_fraction: 0.9, max_bans_per_window: 1000 };

async function walk(h: Harness, path: string, name: string, limit: number, during: (page: number) => Promise<unknown>, mode: 'cursor' | 'offset'): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 200; page++) {
    const q: string = mode === 'cursor' ? `limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}` : `limit=${limit}&offset=${page * limit}`;
    // From the second page on, an insert runs concurrently with each page request (before the first page it would simply be on it).
    const [res]: [Awaited<ReturnType<Harness['req']>>, unknown] = await Promise.all([h.req('GET', `${path}${path.includes('?') ? '&' : '?'}${q}`), page > 0 ? during(page) : undefined]);
    assert.equal(res.status, 200, res.text);
    const items = res.json[name] as Array<{ id: string | number }>;
    ids.push(...items.map((x) => String(x.id)));
    cursor = res.json.next_cursor;
    if (mode === 'cursor' ? !cursor : items.length < limit) break;
  }
  return ids;
}

test('bans: a cursor walk under concurrent bans sees each earlier ban once, in order; offset repeats', { timeout: 120_000 }, async (t) => {
  const h = await startHarness(t, { ban: BAN });
  const ban = async (i: number) => {
    h.clock.advance(1);
    const r = await h.req('POST', '/api/v1/ban', { ip: `198.51.100.${i}` });
    assert.equal(r.status, 201, r.text);
    return r.json.ban.id as string;
  };
  const before: string[] = [];
  for (let i = 10; i < 40; i++) before.push(await ban(i));
  const newestFirst = [...before].reverse();
  let next = 40;
  const ids = await walk(h, '/api/v1/bans', 'bans', 4, () => ban(next++), 'cursor');
  assert.deepEqual(ids, newestFirst, 'every ban that existed once, newest first, none of the new ones');
  assert.ok(next > 45, 'bans were inserted during the walk');
  const total = (await h.req('GET', '/api/v1/bans?limit=1')).json.total;
  assert.equal(total, next - 10);
  // The same walk by offset while inserting shows items twice.
  const off = await walk(h, '/api/v1/bans', 'bans', 4, () => ban(next++), 'offset');
  assert.ok(off.length !== new Set(off).size, 'offset pages repeat items under inserts');
});

test('audit: a cursor walk under concurrent inserts; every entry carries who, what, when and the result', { timeout: 120_000 }, async (t) => {
  const h = await startHarness(t);
  const insert = (i: number) => {
    h.clock.advance(1);
    h.d.store.audit({ time: h.clock.now(), actor: 'alice', action: i % 5 === 0 ? 'ban_refused' : 'ban', target: `198.51.100.${i % 200}`, detail: { n: i } });
  };
  for (let i = 0; i < 57; i++) insert(i);
  const existing = (await h.req('GET', '/api/v1/audit?limit=1000')).json;
  let n = 1000;
  const ids = await walk(h, '/api/v1/audit', 'audit', 5, async () => insert(n++), 'cursor');
  assert.deepEqual(ids, existing.audit.map((e: any) => String(e.id)));
  assert.equal(new Set(ids).size, ids.length);
  for (const e of existing.audit) {
    assert.equal(typeof e.actor, 'string');
    assert.equal(typeof e.action, 'string');
    assert.ok(!Number.isNaN(Date.parse(e.time)), e.time);
    assert.equal(e.result, e.action.endsWith('_refused') ? 'refused' : 'ok');
  }
  // ?action= filters and pages the same way.
  const refused = await walk(h, '/api/v1/audit?action=ban_refused', 'audit', 3, async () => insert(n++), 'cursor');
  assert.ok(refused.length >= 12);
});

test('cursors: opaque, bound to their list, a bad one is a 400; offset still works; the last page has next_cursor null', async (t) => {
  const h = await startHarness(t, { ban: BAN });
  for (let i = 10; i < 15; i++) {
    h.clock.advance(1);
    assert.equal((await h.req('POST', '/api/v1/ban', { ip: `198.51.100.${i}` })).status, 201);
  }
  const p1 = (await h.req('GET', '/api/v1/bans?limit=2')).json;
  assert.equal(typeof p1.next_cursor, 'string');
  assert.match(p1.next_cursor, /^[A-Za-z0-9_-]+$/);
  const p2 = (await h.req('GET', `/api/v1/bans?limit=2&cursor=${p1.next_cursor}`)).json;
  assert.equal(p2.offset, 0);
  const byOffset = (await h.req('GET', '/api/v1/bans?limit=2&offset=2')).json;
  assert.deepEqual(p2.bans.map((b: any) => b.id), byOffset.bans.map((b: any) => b.id), 'without inserts, cursor and offset agree');
  const last = (await h.req('GET', '/api/v1/bans?limit=5')).json;
  assert.equal(last.next_cursor, null);
  for (const bad of ['nope', 'eyJ4IjoxfQ', Buffer.from('["bans","x","y"]').toString('base64url')]) {
    const r = await h.req('GET', `/api/v1/bans?cursor=${bad}`);
    assert.equal(r.status, 400, bad);
    assert.equal(r.json.code, 'bad_request');
  }
  const other = await h.req('GET', `/api/v1/audit?cursor=${p1.next_cursor}`);
  assert.equal(other.status, 400);
  assert.match(other.json.error, /another list/);
  // Every list answers with next_cursor.
  for (const [path, name] of [['/api/v1/attacks', 'attacks'], ['/api/v1/hosts', 'hosts'], ['/api/v1/exporters', 'exporters'], ['/api/v1/neighbors', 'neighbors'], ['/api/v1/audit', 'audit']]) {
    const r = (await h.req('GET', `${path}?limit=1`)).json;
    assert.ok(Array.isArray(r[name]), path);
    assert.ok('next_cursor' in r, path);
  }
  // Small lists page by name.
  const n1 = (await h.req('GET', '/api/v1/neighbors?limit=1')).json;
  assert.equal(n1.total, 2);
  const n2 = (await h.req('GET', `/api/v1/neighbors?limit=1&cursor=${n1.next_cursor}`)).json;
  assert.deepEqual([n1.neighbors[0].address, n2.neighbors[0].address], ['127.0.0.2', '127.0.0.3']);
  assert.equal(n2.next_cursor, null);
});
