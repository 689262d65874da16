/**
 * The Grafana dashboards in grafana/dashboards/ work against what Breakwater
 * really produces: every ClickHouse query (panels and annotations, with the
 * Altinity plugin's macros expanded the way the plugin does) runs against a
 * real ClickHouse holding Breakwater's schema and rows, and every Prometheus
 * metric a panel uses is in a real /metrics scrape of a running daemon.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { silentLogger } from '../../src/core/log.ts';
import { clickhouseClient } from '../../src/history/client.ts';
import { HistoryWriter } from '../../src/history/writer.ts';
import { attackRow, banRow, sampleRows } from '../../src/history/rows.ts';
import { TrafficSampler } from '../../src/history/traffic.ts';
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
import { attack, ban } from './fixtures.ts';
import { startClickHouse, freeTcpPort } from './server.ts';

const dir = join(import.meta.dirname, '../../grafana/dashboards');
const dashboards = readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => ({ file: f, json: JSON.parse(readFileSync(join(dir, f), 'utf8')) }));

interface Target { refId: string; datasource?: { type?: string }; expr?: string; query?: string; table?: string; dateColDataType?: string; dateTimeColDataType?: string }

function panelsOf(d: any): any[] {
  return (d.panels ?? []).flatMap((p: any) => [p, ...(p.panels ?? [])]);
}

function targets(d: any): Array<{ panel: string; t: Target }> {
  return panelsOf(d).flatMap((p: any) => (p.targets ?? []).map((t: Target) => ({ panel: p.title, t })));
}

test('dashboards are well formed: unique uid and panel ids, every panel has a datasource and a query', () => {
  assert.ok(dashboards.length >= 2);
  const uids = new Set<string>();
  for (const { file, json } of dashboards) {
    assert.ok(json.uid && !uids.has(json.uid), `${file}: uid`);
    uids.add(json.uid);
    const ids = panelsOf(json).map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, `${file}: panel ids unique`);
    for (const p of panelsOf(json)) {
      if (p.type === 'row') continue;
      assert.ok(p.targets?.length, `${file}: ${p.title} has a query`);
      assert.ok(p.gridPos && p.gridPos.w > 0 && p.gridPos.h > 0, `${file}: ${p.title} gridPos`);
      for (const t of p.targets) assert.ok(t.expr || t.query, `${file}: ${p.title} ${t.refId}`);
    }
  }
});

/** The Altinity ClickHouse plugin's macros, expanded as the plugin does, for a range in seconds. */
function expand(q: string, t: Partial<Target>, vars: Record<string, string>, from: number, to: number, interval: number): string {
  const date = t.dateColDataType ?? 'day';
  const time = t.dateTimeColDataType ?? 'time';
  const table = `${vars.database}.${t.table ?? ''}`;
  return q.replace(/\$(timeSeries|timeFilter|table|from|to|interval|database|host|direction)\b/g, (_, m: string) => {
    switch (m) {
      case 'timeSeries': return `(intDiv(toUInt32(${time}), ${interval}) * ${interval}) * 1000`;
      case 'timeFilter': return `${date} >= toDate(${from}) AND ${time} >= toDateTime(${from}) AND ${time} <= toDateTime(${to})`;
      case 'table': return table;
      case 'from': return String(from);
      case 'to': return String(to);
      case 'interval': return String(interval);
      default: return vars[m];
    }
  });
}

test('every ClickHouse query of the dashboards runs against a real ClickHouse with Breakwater\'s schema and rows', async (t) => {
  const ch = await startClickHouse(t);
  const db = 'grafana';
  const c = clickhouseClient({ url: ch.url, timeoutMs: 10_000 });
  t.after(() => c.close());
  const w = new HistoryWriter(c, { database: db, dataDir: '/nonexistent', batchSize: 100, queueSize: 1000, flushIntervalMs: 1000, spoolMaxBytes: 1e6, ttlDays: 0, log: silentLogger() });
  await w.migrate();
  const now = Date.now();
  const t0 = now - 3_600_000;
  const a = attack('g1', '198.51.100.7', t0, { hostgroup: 'customers', end: t0 + 60_000 });
  await c.insert(`${db}.attacks`, [attackRow(a, now), attackRow(attack('g2', '198.51.100.8', t0 + 5000, { vector: 'syn_flood' }), now)]);
  await c.insert(`${db}.attack_samples`, sampleRows(a, now));
  await c.insert(`${db}.bans`, [
    banRow(ban('gb', a.target, t0 + 1200, 'g1'), { event: 'created', time: t0 + 1200, mode: 'live', attackStart: t0 }),
    banRow(ban('gb', a.target, t0 + 1200, 'g1'), { event: 'announced', time: t0 + 1300, mode: 'live', neighbors: ['192.0.2.10'] }),
    banRow(undefined, { event: 'refused', time: t0 + 2000, mode: 'live', target: '198.51.100.1', guard: 'whitelisted' }),
  ]);
  const sampler = new TrafficSampler({ minPps: 1, maxHosts: 100 });
  for (let i = 0; i < 30; i++) {
    const at = t0 + i * 10_000;
    await c.insert(`${db}.traffic`, sampler.sample(at, [
      { ip: '198.51.100.7', direction: 'incoming', pps: 50_000 + i, mbps: 180, fps: 40, hostgroup: 'customers', tcp_pps: 0, udp_pps: 50_000, icmp_pps: 0, tcp_syn_pps: 0, frag_pps: 0 },
      { ip: '198.51.100.9', direction: 'outgoing', pps: 100, mbps: 1, fps: 2 },
    ], [{ exporter: '192.0.2.200', datagrams: i * 100, records: i * 1000 }]));
  }
  const vars = { database: db, host: '198.51.100.7', direction: 'incoming' };
  const from = Math.floor((now - 6 * 3_600_000) / 1000);
  const to = Math.floor(now / 1000);
  let ran = 0;
  for (const { file, json } of dashboards) {
    for (const { panel, t: tg } of targets(json)) {
      if (tg.datasource?.type !== 'vertamedia-clickhouse-datasource') continue;
      const sql = expand(tg.query!, tg, vars, from, to, 60);
      const rows = await ch.json(sql).catch((e: Error) => assert.fail(`${file}: ${panel}: ${e.message}`));
      assert.ok(rows.length > 0, `${file}: ${panel} returns rows (${sql})`);
      ran++;
    }
    for (const an of json.annotations?.list ?? []) {
      if (an.datasource?.type !== 'vertamedia-clickhouse-datasource') continue;
      const rows = await ch.json(expand(an.query, {}, vars, from, to, 60)).catch((e: Error) => assert.fail(`${file}: annotation ${an.name}: ${e.message}`));
      assert.ok(rows.length > 0, `${file}: annotation ${an.name}`);
      ran++;
    }
  }
  assert.ok(ran >= 10, `${ran} ClickHouse queries ran`);
});

test('every Prometheus metric the dashboards use is in a real /metrics scrape of a running daemon', async (t) => {
  // History metrics exist with storage.clickhouse set (a ClickHouse that is not there is fine for the scrape).
  const port = await freeTcpPort();
  const h = await startHarness(t, { storage: { data_dir: dataDir(t), clickhouse: { url: `http://127.0.0.1:${port}`, timeout_seconds: 1 } } });
  const scrape = (await h.req('GET', '/metrics')).text;
  const have = new Set([...scrape.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => m[1]));
  const used = new Set<string>();
  for (const { json } of dashboards) {
    for (const { t: tg } of targets(json)) if (tg.expr) for (const m of tg.expr.matchAll(/\b(breakwater_[a-z0-9_]+)/g)) used.add(m[1]);
    for (const v of json.templating?.list ?? []) if (typeof v.query === 'string') for (const m of v.query.matchAll(/\b(breakwater_[a-z0-9_]+)/g)) used.add(m[1]);
  }
  assert.ok(used.size >= 20, `${used.size} metrics used`);
  const missing = [...used].filter((n) => !have.has(n) && !have.has(n.replace(/_(bucket|sum|count)$/, '')));
  assert.deepEqual(missing, [], 'metrics used by dashboards but not exported');
});
