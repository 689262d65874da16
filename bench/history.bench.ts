/**
 * ClickHouse history figures, against a private ClickHouse (18.16 from
 * Debian) on loopback:
 *
 * history.traffic_rows_per_s — traffic rows inserted per second with 100 k
 *   active hosts at a 10 s interval (sampler + writer + real inserts; the
 *   interval's rows are pushed, then drained). history.traffic_interval_ms is
 *   the main-thread time of one interval (reading 100 k hosts into rows and
 *   queueing them).
 * history.spool_replay_rows_per_s — rows spooled while ClickHouse was
 *   unreachable, replayed by a new writer (as after a restart).
 * history.disk_bytes_per_host_day — on-disk bytes of the traffic table per
 *   host per day at a 10 s interval, after merges (OPTIMIZE FINAL).
 * history.detect_to_update_s_{off,on} — the e2e.detect_to_update_s figure
 *   (first sFlow datagram of an attack until BIRD holds the /32), measured in
 *   the same run without and with storage.clickhouse (traffic every 1 s).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchContext, BenchRow } from './harness.ts';
import { median } from './harness.ts';
import { silentLogger } from '../src/core/log.ts';
import { clickhouseClient } from '../src/history/client.ts';
import { HistoryWriter, type WriterOptions } from '../src/history/writer.ts';
import { TrafficSampler, type HostReading } from '../src/history/traffic.ts';
import { History } from '../src/history/history.ts';
import { validateConfig } from '../src/config/load.ts';
import { CLICKHOUSE_BIN, startClickHouse, freeTcpPort, type ClickHouseServer } from '../test/history/server.ts';
import { detectToUpdateRuns, startRig, type Rig } from './rig.ts';
import { birdAvailable } from '../test/helpers/bird.ts';
import { waitFor } from '../test/helpers/netns.ts';
import { SflowSender } from '../test/e2e/helpers.ts';

export const prefix = 'history';

function opts(dataDir: string, database: string): WriterOptions {
  return { database, dataDir, batchSize: 10_000, queueSize: 2_000_000, flushIntervalMs: 5000, spoolMaxBytes: 4 * 1024 ** 3, ttlDays: 0, log: silentLogger(), retryMs: 100, retryMaxMs: 500 };
}

function hosts(n: number, i: number): HostReading[] {
  const out: HostReading[] = [];
  for (let k = 0; k < n; k++) {
    const pps = 10 + ((k * 7919 + i * 13) % 5000);
    out.push({ ip: `10.${(k >> 16) & 255}.${(k >> 8) & 255}.${k & 255}`, direction: k % 5 === 0 ? 'outgoing' : 'incoming', pps, mbps: Math.round(pps * 0.004 * 100) / 100, fps: Math.round(pps / 20), hostgroup: k % 3 === 0 ? 'customers' : undefined, tcp_pps: Math.round(pps * 0.6), udp_pps: Math.round(pps * 0.35), icmp_pps: Math.round(pps * 0.05), tcp_syn_pps: Math.round(pps * 0.01), frag_pps: 0 });
  }
  return out.sort((a, b) => b.pps - a.pps);
}

async function inserts(ctx: BenchContext, ch: ClickHouseServer): Promise<BenchRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'bw-bench-history-'));
  const c = clickhouseClient({ url: ch.url, timeoutMs: 60_000 });
  try {
    const N = Math.round(100_000 * ctx.scale);
    const intervals = 3;
    const t0 = Date.parse('2026-12-01T00:00:00Z');
    const tables = [hosts(N, 0), hosts(N, 1), hosts(N, 2)];
    let cur = 0;
    const cfg = validateConfig({ storage: { clickhouse: { url: ch.url, database: 'bench', batch_size: 10_000, queue_size: 2_000_000, traffic_max_hosts: N, traffic_interval_seconds: 3600 } } }).storage.clickhouse!;
    const h = new History({ cfg, dataDir: dir, log: silentLogger(), client: c, now: () => t0 + cur * 10_000, sources: { hosts: () => tables[cur], exporters: () => [], mode: () => 'live' } });
    await h.writer.migrate();
    h.start();
    const sampler = new TrafficSampler({ minPps: 1, maxHosts: N });
    let rows = 0;
    const wall: number[] = [];
    const slice: number[] = [];
    const start = performance.now();
    for (cur = 0; cur < intervals; cur++) {
      rows += await h.sampleTraffic();
      wall.push(h.counters.traffic_last_ms);
      slice.push(h.counters.traffic_longest_slice_ms);
      h.writer.flush();
      if (!(await h.writer.drain(120_000))) throw new Error('traffic insert did not drain');
    }
    const secs = (performance.now() - start) / 1000;
    ctx.log(`traffic: ${rows} rows in ${secs.toFixed(2)} s; interval ${wall.join(' ')} ms, longest slice ${slice.join(' ')} ms`);
    await h.stop();

    // Spool replay: a writer that cannot reach ClickHouse spools; a new one replays.
    const port = await freeTcpPort();
    const dead = clickhouseClient({ url: `http://127.0.0.1:${port}`, timeoutMs: 1000 });
    const w1 = new HistoryWriter(dead, opts(dir, 'bench'));
    w1.start();
    for (let i = 0; i < intervals; i++) w1.pushMany('traffic', sampler.sample(t0 + (10 + i) * 10_000, tables[i], []));
    w1.flush();
    await waitFor('spooled', async () => {
      await w1.spool.settled();
      return w1.stats.spool_rows.traffic === w1.stats.queued.traffic;
    }, 120_000, 50);
    const spooled = w1.stats.spool_rows.traffic;
    await w1.close(0);
    const c2 = clickhouseClient({ url: ch.url, timeoutMs: 60_000 });
    const w2 = new HistoryWriter(c2, opts(dir, 'bench'));
    const rs = performance.now();
    w2.start();
    if (!(await w2.drain(300_000))) throw new Error('spool replay did not drain');
    const replaySecs = (performance.now() - rs) / 1000;
    await w2.close();
    ctx.log(`replay: ${spooled} rows in ${replaySecs.toFixed(2)} s`);
    return [
      { figure: 'history.traffic_rows_per_s', value: Math.round(rows / secs), unit: 'rows/s', note: `${N} hosts x ${intervals} intervals (+ totals), batch 10000, ClickHouse 18.16 on the same 2 cores` },
      { figure: 'history.traffic_interval_ms', value: Number(median(wall).toFixed(1)), unit: 'ms', note: `one interval with ${N} hosts: rows built and queued, in slices of 5000 hosts` },
      { figure: 'history.traffic_longest_slice_ms', value: Number(median(slice).toFixed(1)), unit: 'ms', note: 'the longest the event loop is held by one slice (detection and BGP run between slices)' },
      { figure: 'history.spool_replay_rows_per_s', value: Math.round(spooled / replaySecs), unit: 'rows/s', note: `${spooled} traffic rows from the on-disk spool` },
    ];
  } finally {
    await c.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function diskPerHostDay(ctx: BenchContext, ch: ClickHouseServer): Promise<BenchRow[]> {
  const c = clickhouseClient({ url: ch.url, timeoutMs: 120_000 });
  try {
    const N = Math.round(2_000 * Math.max(ctx.scale, 0.5));
    const intervals = Math.round(360 * Math.max(ctx.scale, 0.1)); // an hour at 10 s
    const w = new HistoryWriter(c, opts('/nonexistent', 'disk'));
    await w.migrate();
    const sampler = new TrafficSampler({ minPps: 1, maxHosts: N });
    const t0 = Date.parse('2026-12-02T00:00:00Z');
    let batch: Record<string, unknown>[] = [];
    for (let i = 0; i < intervals; i++) {
      batch.push(...sampler.sample(t0 + i * 10_000, hosts(N, i), []).filter((r) => r.kind === 'host'));
      if (batch.length >= 200_000) {
        await c.insert('disk.traffic', batch);
        batch = [];
      }
    }
    if (batch.length) await c.insert('disk.traffic', batch);
    await c.command('OPTIMIZE TABLE disk.traffic FINAL');
    const r = await c.query<{ b: string; n: string }>(`SELECT sum(bytes_on_disk) AS b, sum(rows) AS n FROM system.parts WHERE database = 'disk' AND table = 'traffic' AND active`);
    const bytes = Number(r[0].b);
    const rows = Number(r[0].n);
    const perRow = bytes / rows;
    ctx.log(`disk: ${rows} rows, ${bytes} bytes`);
    return [{ figure: 'history.disk_bytes_per_host_day', value: Math.round(perRow * 8640), unit: 'bytes', note: `${perRow.toFixed(1)} B per traffic row after merges x 8640 rows/day (10 s); ${N} hosts x ${intervals} intervals` }];
  } finally {
    await c.close();
  }
}

async function detectToUpdate(ctx: BenchContext, ch: ClickHouseServer, runs: number): Promise<BenchRow[]> {
  if (!birdAvailable()) return [{ figure: 'history.detect_to_update_s_on', value: NaN, unit: 's', note: 'BIRD not available' }];
  const out: BenchRow[] = [];
  const times: Record<'off' | 'on', number[]> = { off: [], on: [] };
  for (const mode of ['off', 'on'] as const) {
    const dir = mkdtempSync(join(tmpdir(), `bw-bench-history-${mode}-`));
    const sender = new SflowSender();
    let rig: Rig | undefined;
    try {
      const storage = { data_dir: join(dir, 'data'), ...(mode === 'on' ? { clickhouse: { url: ch.url, database: 'bench_e2e', flush_interval_seconds: 1, traffic_interval_seconds: 1 } } : {}) };
      rig = await startRig(dir, 20_000, { storage });
      const victims = Array.from({ length: runs }, (_, i) => `198.51.100.${(mode === 'on' ? 100 : 50) + i}`);
      times[mode] = await detectToUpdateRuns(ctx, rig, sender, victims, 50_000, `ClickHouse ${mode}`);
      ctx.log(`detect-to-UPDATE, ClickHouse ${mode}: ${times[mode].map((x) => x.toFixed(3)).join(' ')}`);
    } finally {
      sender.close();
      await rig?.bw.stop().catch(() => undefined);
      await rig?.bird.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  }
  for (const mode of ['off', 'on'] as const) {
    const t = times[mode];
    out.push({ figure: `history.detect_to_update_s_${mode}`, value: t.length ? Number(median(t).toFixed(3)) : NaN, unit: 's', note: `ClickHouse ${mode}: median of ${t.length} runs (min ${Math.min(...t).toFixed(3)}, max ${Math.max(...t).toFixed(3)}), same run` });
  }
  return out;
}

export default async function (ctx: BenchContext): Promise<BenchRow[]> {
  if (!CLICKHOUSE_BIN) return [{ figure: 'history.traffic_rows_per_s', value: NaN, unit: 'rows/s', note: 'clickhouse-server not installed' }];
  const ch = await startClickHouse();
  try {
    return [...(await inserts(ctx, ch)), ...(await diskPerHostDay(ctx, ch)), ...(await detectToUpdate(ctx, ch, ctx.scale < 1 ? 3 : 7))];
  } finally {
    await ch.cleanup();
  }
}
