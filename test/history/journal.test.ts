/**
 * The history journal: attack, ban and sample rows are on disk from the
 * moment the writer accepts them. Segments rotate at every flush and go once
 * their batches are inserted or spooled; a crash leaves them, and the next
 * start moves them into the spool. Against a real ClickHouse 18.16: a writer
 * abandoned with rows in memory (no close, no flush: what `kill -9` leaves)
 * and a new writer on the same data directory: every row arrives once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { clickhouseClient, type HistoryClient } from '../../src/history/client.ts';
import { DURABLE_TABLES, Journal } from '../../src/history/journal.ts';
import { HistoryWriter } from '../../src/history/writer.ts';
import { banRow, eventRows } from '../../src/history/rows.ts';
import type { Row } from '../../src/history/rows.ts';
import { attack, ban, opts, tmp } from './fixtures.ts';
import { CLICKHOUSE_BIN, startClickHouse } from './server.ts';

/** An hour between flushes: rows stay in memory (and in the journal) until the test says otherwise. */
const HOUR = { flushIntervalMs: 3_600_000 };

const segments = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.jsonl')).sort();

test('journal segments: appended rows are on disk at once, released segments go, a cut line is skipped', async (t) => {
  const dir = join(tmp(t), 'j');
  const j = new Journal(dir);
  assert.deepEqual(j.recover(), []);
  j.open();
  const first = j.current;
  j.append('bans', [{ ban_id: 'a', event: 'created' } as Row]);
  j.append('attacks', [{ id: 'x' } as Row, { id: 'y' } as Row]);
  // On disk before any flush (a kill -9 now keeps them).
  const text = readFileSync(join(dir, segments(dir)[0]), 'utf8');
  assert.equal(text.trim().split('\n').length, 3);
  // A batch cut from the first segment, then the flush rotates.
  j.retain(first);
  j.tick();
  assert.notEqual(j.current, first);
  assert.equal(segments(dir).length, 2, 'the old segment stays while its batch is out');
  j.release(first);
  assert.equal(segments(dir).length, 1, 'released: gone');
  // A tick without rows keeps the segment.
  const cur = j.current;
  j.tick();
  assert.equal(j.current, cur);
  j.append('attack_samples', [{ attack_id: 'x', seq: 1 } as Row]);
  // A crash: the journal is never closed, the last line cut in the middle.
  appendFileSync(join(dir, segments(dir)[0]), '{"t":"bans","r":{"ban_');
  const again = new Journal(dir);
  const rec = again.recover();
  assert.equal(rec.length, 1);
  assert.equal(rec[0].bad, 1);
  assert.deepEqual([...rec[0].rows.keys()], ['attack_samples']);
  again.forget(rec[0].seq);
  again.open();
  assert.ok(again.current > cur, 'numbering continues after the old segments');
  again.close();
  assert.deepEqual(segments(dir), []);
  assert.deepEqual([...DURABLE_TABLES].sort(), ['attack_samples', 'attacks', 'bans']);
});

test('traffic rows are not journaled; attack, ban and sample rows are, before push returns', (t) => {
  const dir = tmp(t);
  const dead: HistoryClient = {
    command: () => new Promise(() => undefined),
    insert: () => new Promise(() => undefined),
    query: () => new Promise(() => undefined),
    ping: async () => false,
    close: async () => undefined,
  };
  const w = new HistoryWriter(dead, opts(dir, 'x', HOUR));
  w.start();
  w.push('traffic', { kind: 'host', key: '198.51.100.1' } as Row);
  const now = Date.now();
  w.pushAll(eventRows({ event: 'attack_start', time: now, attack: attack('a1', '198.51.100.20', now) }, 'dry_run', now, new Map(), 10_000, new Map()));
  w.push('bans', banRow(ban('b1', '198.51.100.20', now, 'a1'), { event: 'created', time: now, mode: 'dry_run' }));
  const jdir = join(dir, 'history-journal');
  const lines = segments(jdir).flatMap((f) => readFileSync(join(jdir, f), 'utf8').trim().split('\n'));
  const tables = lines.map((l) => JSON.parse(l).t as string);
  assert.ok(!tables.includes('traffic'));
  assert.ok(tables.includes('attacks') && tables.includes('bans'), tables.join());
  assert.equal(w.journal.appended, tables.length);
});

test('a writer abandoned with rows in memory: the next one replays them from its journal, once', { skip: CLICKHOUSE_BIN ? false : 'clickhouse-server not installed', timeout: 120_000 }, async (t) => {
  const ch = await startClickHouse(t);
  const dir = tmp(t);
  const db = 'journal';
  const c1 = clickhouseClient({ url: ch.url, timeoutMs: 5000 });
  const w1 = new HistoryWriter(c1, opts(dir, db, HOUR));
  w1.start();
  const now = Date.now();
  const a = attack('a1', '198.51.100.20', now);
  w1.pushAll(eventRows({ event: 'attack_start', time: now, attack: a }, 'dry_run', now, new Map(), 10_000, new Map()));
  const b = ban('b1', a.target, now, 'a1');
  w1.push('bans', banRow(b, { event: 'created', time: now, mode: 'dry_run' }));
  // The schema lands (the first pump), the rows stay in memory: the flush is an hour away.
  await new Promise<void>((resolve, reject) => {
    const end = Date.now() + 30_000;
    const poll = () => (w1.stats.schema_version > 0 ? resolve() : Date.now() > end ? reject(new Error('no schema')) : setTimeout(poll, 100));
    poll();
  });
  assert.equal(Number((await ch.json<{ n: string }>(`SELECT count() AS n FROM ${db}.bans`))[0].n), 0, 'nothing inserted yet');
  // "kill -9": w1 is never flushed nor closed; only its connection goes.
  await c1.close();

  const c2 = clickhouseClient({ url: ch.url, timeoutMs: 5000 });
  t.after(() => c2.close());
  const w2 = new HistoryWriter(c2, opts(dir, db, HOUR));
  w2.start();
  assert.ok(w2.spool.size > 0, 'the journal went into the spool');
  assert.ok(await w2.drain(30_000), 'replayed');
  const bans = await ch.json<{ ban_id: string; event: string; n: string }>(`SELECT ban_id, event, count() AS n FROM ${db}.bans FINAL GROUP BY ban_id, event`);
  assert.deepEqual(bans.map((r) => [r.ban_id, r.event, Number(r.n)]), [[b.id, 'created', 1]]);
  const attacks = await ch.json<{ id: string; n: string }>(`SELECT id, count() AS n FROM ${db}.attacks FINAL GROUP BY id`);
  assert.deepEqual(attacks.map((r) => [r.id, Number(r.n)]), [[a.id, 1]]);
  await w2.close();
  assert.deepEqual(segments(join(dir, 'history-journal')), [], 'an orderly stop leaves no journal');
  assert.equal(w2.stats.replayed.bans, 1);
});
