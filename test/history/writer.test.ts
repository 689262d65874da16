/**
 * The history writer against a real ClickHouse 18.16 (started on loopback by
 * the test): schema and migrations, rows of every table, retries that do not
 * duplicate, the spool through an outage and across a restart, the spool
 * bound (traffic dropped first), and a ClickHouse that accepts connections
 * and never answers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { clickhouseClient, type HistoryClient } from '../../src/history/client.ts';
import { HistoryWriter } from '../../src/history/writer.ts';
import { attackRow, banRow, eventRows, sampleRows } from '../../src/history/rows.ts';
import { TrafficSampler } from '../../src/history/traffic.ts';
import { HistoryReader } from '../../src/history/reader.ts';
import { LATEST_VERSION } from '../../src/history/schema.ts';
import { attack, ban, opts, tmp } from './fixtures.ts';
import { startClickHouse, freeTcpPort } from './server.ts';
import { threadCpuMs } from '../helpers/cpu-time.ts';

async function waitFor(what: string, fn: () => Promise<boolean> | boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('history writer against a real ClickHouse', async (t) => {
  const ch = await startClickHouse(t);
  const client = () => clickhouseClient({ url: ch.url, timeoutMs: 5000 });

  await t.test('migrations create every table once, and running them again changes nothing', async (t) => {
    const c = client();
    t.after(() => c.close());
    const w = new HistoryWriter(c, opts(tmp(t), 'mig'));
    await w.migrate();
    await w.migrate();
    assert.equal(w.stats.schema_version, LATEST_VERSION);
    const tables = (await ch.json<{ name: string }>(`SELECT name FROM system.tables WHERE database = 'mig' ORDER BY name`)).map((r) => r.name);
    assert.deepEqual(tables, ['attack_samples', 'attacks', 'bans', 'schema_migrations', 'traffic']);
    const versions = await ch.json<{ n: string }>(`SELECT count() AS n FROM mig.schema_migrations FINAL`);
    assert.equal(Number(versions[0].n), 1);
    const engines = await ch.json<{ engine: string; partition_key: string }>(`SELECT engine, partition_key FROM system.tables WHERE database = 'mig' AND name = 'traffic'`);
    assert.equal(engines[0].engine, 'ReplacingMergeTree');
  });

  await t.test('events become rows of attacks, bans and attack_samples; read back through the reader', async (t) => {
    const c = client();
    t.after(() => c.close());
    const w = new HistoryWriter(c, opts(tmp(t), 'ev'));
    w.start();
    t.after(() => w.close());
    const t0 = Date.parse('2026-12-07T10:00:00Z');
    const a = attack('a1', '198.51.100.7', t0);
    const last = new Map<string, number>();
    const starts = new Map<string, number>();
    const push = (e: Parameters<typeof eventRows>[0], now: number) => { for (const r of eventRows(e, 'dry_run', now, last, 10_000, starts)) w.push(r.table, r.row); };
    push({ event: 'attack_start', time: t0, attack: a }, t0);
    push({ event: 'ban', time: t0 + 1500, ban: ban('b1', a.target, t0 + 1500, 'a1'), attack: a }, t0 + 1500);
    w.push('bans', banRow(ban('b1', a.target, t0 + 1500, 'a1'), { event: 'announced', time: t0 + 1600, mode: 'dry_run', neighbors: ['127.0.0.2'] }));
    push({ event: 'attack_update', time: t0 + 5000, attack: { ...a, pps: 70_000, peak_pps: 70_000 } }, t0 + 5000);
    push({ event: 'attack_update', time: t0 + 12_000, attack: { ...a, pps: 80_000, peak_pps: 80_000 } }, t0 + 12_000);
    push({ event: 'attack_end', time: t0 + 30_000, attack: { ...a, peak_pps: 80_000, end: t0 + 30_000 } }, t0 + 30_000);
    push({ event: 'unban', time: t0 + 90_000, ban: { ...ban('b1', a.target, t0 + 1500, 'a1'), ended: t0 + 90_000, end_reason: 'expired' }, reason: 'expired' }, t0 + 90_000);
    push({ event: 'ban_refused', time: t0 + 2000, target: '198.51.100.1', reason: 'whitelisted', detail: 'in protected_whitelist' }, t0 + 2000);
    assert.ok(await w.drain(20_000));
    assert.deepEqual(w.stats.inserted, { attacks: 3, bans: 4, attack_samples: 6, traffic: 0 });
    const r = new HistoryReader(c, 'ev');
    const counts = await r.counts();
    assert.deepEqual(counts, { attacks: 1, bans: 4, attack_samples: 3, traffic: 0 }, 'FINAL collapses the attack to one row and its samples to one set');
    const atk = await r.attacks({ from: t0 - 60_000, to: t0 + 60_000, limit: 10, offset: 0 });
    assert.equal(atk.total, 1);
    assert.equal(atk.items[0].end, t0 + 30_000);
    assert.equal(atk.items[0].peak_pps, 80_000);
    assert.equal(atk.items[0].active, false);
    assert.deepEqual((atk.items[0].route as any), undefined);
    const bans = await r.bans({ from: t0 - 60_000, to: t0 + 600_000, limit: 10, offset: 0 });
    assert.deepEqual(bans.items.map((b) => b.event), ['ended', 'refused', 'announced', 'created']);
    assert.deepEqual(bans.items[2].neighbors, ['127.0.0.2']);
    assert.equal(bans.items[1].guard, 'whitelisted');
    const filtered = await r.bans({ from: t0 - 60_000, to: t0 + 600_000, limit: 10, offset: 0, target: '198.51.100.1' });
    assert.equal(filtered.total, 1);
    const samples = await r.samples('a1');
    assert.equal(samples.length, 3);
    assert.equal(samples[0].packet_size, 468);
    const rep = await r.report({ from: t0 - 60_000, to: t0 + 600_000 });
    assert.equal(rep.attacks, 1);
    assert.deepEqual(rep.by_vector.map((v) => [v.vector, v.attacks]), [['ntp_amplification', 1]]);
    assert.equal(rep.top_targets[0].target, '198.51.100.7');
    assert.deepEqual(rep.ban_duration_s, { count: 1, min: 88.5, avg: 88.5, p50: 88.5, p90: 88.5, max: 88.5 });
    assert.equal(rep.mitigation_latency_ms.count, 1);
    assert.equal(rep.mitigation_latency_ms.max, 1500);
    assert.deepEqual(rep.bans.refused_by_guard, { whitelisted: 1 });
  });

  await t.test('ttl_days: whole days older than the limit are dropped, newer ones kept', async (t) => {
    const c = client();
    t.after(() => c.close());
    const now = Date.parse('2026-12-07T12:00:00Z');
    const w = new HistoryWriter(c, opts(tmp(t), 'ttl', { ttlDays: 30, now: () => now }));
    await w.migrate();
    for (const daysAgo of [45, 31, 29, 0]) {
      const at = now - daysAgo * 86_400_000;
      await c.insert('ttl.bans', [banRow(ban(`t${daysAgo}`, '198.51.100.60', at), { event: 'created', time: at, mode: 'live' })]);
      await c.insert('ttl.attacks', [attackRow(attack(`t${daysAgo}`, '198.51.100.60', at), at)]);
    }
    assert.equal(await w.applyTtl(), 4, 'two days in two tables');
    const left = await ch.json<{ ban_id: string }>(`SELECT ban_id FROM ttl.bans ORDER BY time`);
    assert.deepEqual(left.map((r) => r.ban_id), ['t29', 't0']);
    assert.equal((await ch.json(`SELECT id FROM ttl.attacks`)).length, 2);
    assert.equal(w.stats.ttl_partitions_dropped, 4);
  });

  await t.test('a batch inserted twice (a retry after a lost answer) reads back once', async (t) => {
    const c = client();
    t.after(() => c.close());
    const w = new HistoryWriter(c, opts(tmp(t), 'dup'));
    await w.migrate();
    const t0 = Date.parse('2026-12-07T11:00:00Z');
    const a = attack('d1', '198.51.100.9', t0);
    const rowsA = [attackRow(a, t0)];
    const rowsB = [banRow(ban('bd', a.target, t0, 'd1'), { event: 'created', time: t0, mode: 'live' })];
    const rowsS = sampleRows(a, t0);
    const rowsT = new TrafficSampler({ minPps: 1, maxHosts: 10 }).sample(t0, [{ ip: '198.51.100.9', direction: 'incoming', pps: 100, mbps: 1, fps: 1 }], []);
    for (let i = 0; i < 2; i++) {
      await c.insert('dup.attacks', rowsA);
      await c.insert('dup.bans', rowsB);
      await c.insert('dup.attack_samples', rowsS);
      await c.insert('dup.traffic', rowsT);
    }
    const raw = await ch.json<{ n: string }>(`SELECT count() AS n FROM dup.bans`);
    assert.equal(Number(raw[0].n), 2, 'both inserts landed');
    assert.deepEqual(await new HistoryReader(c, 'dup').counts(), { attacks: 1, bans: 1, attack_samples: 3, traffic: 3 });
  });

  await t.test('ClickHouse down: rows spool to disk, nothing is lost or doubled when it is back; a new writer replays a spool left by a killed one', async (t) => {
    const c = client();
    t.after(() => c.close());
    const dir = tmp(t);
    const w = new HistoryWriter(c, opts(dir, 'out'));
    w.start();
    await w.migrate();
    const t0 = Date.parse('2026-12-07T12:00:00Z');
    for (let i = 0; i < 50; i++) w.push('bans', banRow(ban(`p${i}`, '198.51.100.20', t0 + i), { event: 'created', time: t0 + i, mode: 'live' }));
    assert.ok(await w.drain(10_000));
    await ch.stop();
    const t1 = performance.now();
    for (let i = 50; i < 400; i++) w.push('bans', banRow(ban(`p${i}`, '198.51.100.20', t0 + i), { event: 'created', time: t0 + i, mode: 'live' }));
    for (let i = 0; i < 20; i++) w.push('attacks', attackRow(attack(`o${i}`, '198.51.100.21', t0 + i), t0));
    assert.ok(performance.now() - t1 < 1000, 'push never waits (for the 5 s insert timeout)');
    w.flush();
    await waitFor('the spool', () => w.stats.spool_batches > 0 && w.stats.spooled.bans >= 350);
    assert.ok(w.stats.insert_errors > 0);
    // Refused, reset, or no answer from a server still shutting down.
    assert.match(w.stats.last_error, /ECONNREFUSED|ECONNRESET|connect|socket|fetch|closed|no answer/i);
    assert.equal(w.stats.up, false);
    // Close it like a stop with ClickHouse still down: what is in memory goes to disk too.
    await w.close(200);
    assert.ok(readdirSync(join(dir, 'history-spool')).length > 0);
    await ch.start();
    const c2 = client();
    t.after(() => c2.close());
    const w2 = new HistoryWriter(c2, opts(dir, 'out'));
    w2.start();
    t.after(() => w2.close());
    assert.ok(await w2.drain(30_000), 'spool replayed');
    assert.equal(w2.stats.replayed.bans, 350);
    assert.equal(w2.stats.replayed.attacks, 20);
    assert.equal(readdirSync(join(dir, 'history-spool')).length, 0);
    const counts = await new HistoryReader(c2, 'out').counts();
    assert.equal(counts.bans, 400);
    assert.equal(counts.attacks, 20);
  });

  await t.test('spool full: the oldest traffic batches are dropped first, attacks and bans never; every drop counted', async (t) => {
    const dir = tmp(t);
    const port = await freeTcpPort();
    const dead = clickhouseClient({ url: `http://127.0.0.1:${port}`, timeoutMs: 500 });
    t.after(() => dead.close());
    const w = new HistoryWriter(dead, opts(dir, 'full', { spoolMaxBytes: 40_000, batchSize: 50 }));
    w.start();
    const t0 = Date.parse('2026-12-07T13:00:00Z');
    const sampler = new TrafficSampler({ minPps: 1, maxHosts: 1000 });
    const hosts = Array.from({ length: 49 }, (_, i) => ({ ip: `198.51.100.${i + 2}`, direction: 'incoming' as const, pps: 1000 - i, mbps: 1, fps: 1 }));
    for (let k = 0; k < 20; k++) {
      w.pushMany('traffic', sampler.sample(t0 + k * 10_000, hosts, []).slice(0, 50));
      w.flush();
      await w.spool.settled();
    }
    for (let i = 0; i < 200; i++) w.push('bans', banRow(ban(`f${i}`, '198.51.100.30', t0 + i), { event: 'created', time: t0 + i, mode: 'live' }));
    w.flush();
    await waitFor('spooled', async () => { await w.spool.settled(); return w.stats.spooled.bans === 200; });
    assert.ok(w.stats.dropped.traffic > 0, 'traffic dropped');
    assert.equal(w.stats.dropped.bans, 0);
    assert.equal(w.stats.spool_rows.bans, 200);
    assert.equal(w.stats.spooled.traffic + w.stats.dropped.traffic - w.stats.spool_rows.traffic >= w.stats.dropped.traffic, true);
    assert.equal(w.stats.spool_rows.traffic + w.stats.dropped.traffic, w.stats.queued.traffic, 'every traffic row is spooled or counted as dropped');
    await w.close(100);
  });

  await t.test('a ClickHouse that accepts and never answers: push stays instant, rows spool after the timeout', async (t) => {
    const socks: Socket[] = [];
    const hang = createServer((s) => { socks.push(s); s.on('error', () => undefined); });
    await new Promise<void>((r) => hang.listen(0, '127.0.0.1', () => r()));
    t.after(() => { for (const s of socks) s.destroy(); hang.close(); });
    const port = (hang.address() as { port: number }).port;
    const c: HistoryClient = clickhouseClient({ url: `http://127.0.0.1:${port}`, timeoutMs: 800 });
    t.after(() => c.close());
    const w = new HistoryWriter(c, opts(tmp(t), 'hang'));
    w.start();
    const t0 = Date.now();
    // CPU time of this thread, not wall time: a busy machine's preemption is not the writer blocking.
    let worst = 0;
    const all = threadCpuMs(() => {
      for (let i = 0; i < 2000; i++) {
        const ms = threadCpuMs(() => w.push('bans', banRow(ban(`h${i}`, '198.51.100.40', t0 + i), { event: 'created', time: t0 + i, mode: 'live' })));
        worst = Math.max(worst, ms);
      }
    });
    // Nothing waits for the 800 ms insert timeout (the worst single push is a GC pause at most).
    assert.ok(all < 800 && worst < 400, `2000 pushes took ${all} ms of CPU, the slowest ${worst} ms`);
    // The event loop stays free while the insert hangs.
    const lag = await new Promise<number>((r) => {
      const s = performance.now();
      const c0 = process.threadCpuUsage();
      setTimeout(() => {
        const c = process.threadCpuUsage(c0);
        r(Math.min(performance.now() - s - 50, (c.user + c.system) / 1000));
      }, 50);
    });
    assert.ok(lag < 100, `event loop lag ${lag} ms`);
    await waitFor('spooled after the timeout', async () => { await w.spool.settled(); return w.stats.spooled.bans === 2000; }, 20_000);
    assert.match(w.stats.last_error, /no answer|timeout|Timeout/i);
    await w.close(100);
  });

  await t.test('stop while an insert hangs: its rows are written to the spool, not lost', async (t) => {
    // The schema is in place; the insert is sent and never answered.
    let inserts = 0;
    const c: HistoryClient = { command: async () => undefined, query: async <T,>() => [{ v: LATEST_VERSION }] as T[], insert: () => { inserts++; return new Promise<void>(() => undefined); }, ping: async () => true, close: async () => undefined };
    const dir = tmp(t);
    const w = new HistoryWriter(c, opts(dir, 'hang2'));
    w.start();
    const t0 = Date.now();
    for (let i = 0; i < 10; i++) w.push('attacks', attackRow(attack(`s${i}`, '198.51.100.50', t0 + i), t0));
    w.flush();
    await waitFor('the insert sent', () => inserts === 1);
    for (let i = 0; i < 5; i++) w.push('bans', banRow(ban(`s${i}`, '198.51.100.50', t0 + i), { event: 'created', time: t0 + i, mode: 'live' }));
    const s0 = performance.now();
    await w.close(300);
    assert.ok(performance.now() - s0 < 5000, 'close does not wait for the hanging insert');
    const w2 = new HistoryWriter(c, opts(dir, 'hang2'));
    w2.spool.open();
    assert.deepEqual(w2.spool.rows(), { attacks: 10, bans: 5, attack_samples: 0, traffic: 0 });
  });
});
