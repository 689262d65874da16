/**
 * End to end: the real daemon (`node src/main.ts`) with storage.clickhouse
 * pointing at a real ClickHouse 18.16 on loopback, attack captures from
 * pcaps/ replayed into its sFlow listener over UDP.
 *
 * 1. Rows of attacks, bans, samples and traffic land and read back through
 *    the API (/api/v1/history/*, /api/v1/hosts/{ip}/traffic) and `breakwater report`.
 * 2. ClickHouse stopped mid-run while two more attacks come and go (the
 *    daemon keeps detecting and answering), then started again: every
 *    attack, ban event and sample row SQLite has is in ClickHouse exactly once.
 * 3. ClickHouse down, a ban queued and spooled, the daemon killed with
 *    SIGKILL: the next start replays the spool.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { removeDir, tempDir, waitFor } from '../helpers/netns.ts';
import { freePort, metricValue, repoRoot, startBreakwater, writeYaml, type Breakwater } from '../e2e/helpers.ts';
import { CLICKHOUSE_BIN, startClickHouse, type ClickHouseServer } from './server.ts';

const run = promisify(execFile);
const NTP = { file: join(repoRoot, 'pcaps/pmacct-sflow5-sampled-ntp-amp.pcap'), victim: '203.0.113.20' };
const DNS = { file: join(repoRoot, 'pcaps/pmacct-sflow5-sampled-dns-amp.pcap'), victim: '198.51.100.60' };
const SYN = { file: join(repoRoot, 'pcaps/pmacct-sflow5-sampled-syn-flood.pcap'), victim: '198.51.100.10' };
const skip = !CLICKHOUSE_BIN ? 'clickhouse-server not installed' : ![NTP, DNS, SYN].every((c) => existsSync(c.file)) ? 'pcaps/ captures missing' : false;
const DB = 'e2e';

function config(dir: string, ch: ClickHouseServer, ports: { sflow: number; api: number }): any {
  return {
    dry_run: true,
    log: { level: 'info' },
    listen: { netflow: '', sflow: `127.0.0.1:${ports.sflow}`, workers: 1 },
    networks: ['198.51.100.0/24', '203.0.113.0/24'],
    protected_whitelist: ['198.51.100.1/32'],
    detection: { window_seconds: 1, tick_ms: 100, attack_hysteresis_seconds: 2 },
    thresholds: { pps: 5000 },
    ban: { ttl_seconds: 3, unban_hysteresis_seconds: 1 },
    bgp: { local_asn: 65000, router_id: '192.0.2.1', next_hop: '192.0.2.1', communities: ['65000:666'], neighbors: [] },
    api: { listen: `127.0.0.1:${ports.api}` },
    storage: {
      data_dir: join(dir, 'data'),
      clickhouse: { url: ch.url, database: DB, flush_interval_seconds: 1, traffic_interval_seconds: 1, timeout_seconds: 2, batch_size: 500 },
    },
  };
}

async function replay(file: string, port: number): Promise<void> {
  await run(process.execPath, [join(repoRoot, 'src/main.ts'), 'replay', file, '--to', `127.0.0.1:${port}`, '--speed', '0'], { timeout: 30_000 });
}

async function history(bw: Breakwater): Promise<any> {
  return (await bw.api('GET', '/api/v1/status')).json.history;
}

/** Attacks and bans as SQLite (the daemon's own state) has them. */
async function sqliteState(bw: Breakwater): Promise<{ attacks: any[]; bans: any[] }> {
  const attacks = (await bw.api('GET', '/api/v1/attacks?limit=1000')).json.attacks;
  const bans = (await bw.api('GET', '/api/v1/bans?limit=1000')).json.bans;
  return { attacks, bans };
}

async function endedEverything(bw: Breakwater, victims: string[]): Promise<boolean> {
  const s = await sqliteState(bw);
  return victims.every((v) => s.attacks.some((a) => a.target === v && !a.active) && s.bans.some((b) => b.target === v && !b.active)) && s.attacks.every((a) => !a.active) && s.bans.every((b) => !b.active);
}

/** Every attack, ban event and sample of SQLite is in ClickHouse exactly once (as FINAL reads it). */
async function assertExactlyOnce(ch: ClickHouseServer, bw: Breakwater): Promise<void> {
  const s = await sqliteState(bw);
  const attacks = await ch.json<{ id: string; n: string; end_ms: string }>(`SELECT id, count() AS n, any(end_ms) AS end_ms FROM ${DB}.attacks FINAL GROUP BY id`);
  const byId = new Map(attacks.map((a) => [a.id, a]));
  for (const a of s.attacks) {
    const row = byId.get(a.id);
    assert.ok(row, `attack ${a.id} on ${a.target} is in ClickHouse`);
    assert.equal(Number(row.n), 1, `attack ${a.id} once`);
    assert.equal(Number(row.end_ms), a.end, `attack ${a.id} has its end`);
  }
  const events = await ch.json<{ ban_id: string; event: string; n: string }>(`SELECT ban_id, event, count() AS n FROM ${DB}.bans FINAL WHERE event IN ('created', 'ended') GROUP BY ban_id, event`);
  for (const b of s.bans) {
    for (const ev of ['created', 'ended']) {
      const row = events.find((e) => e.ban_id === b.id && e.event === ev);
      assert.ok(row, `ban ${b.id} (${b.target}) ${ev} is in ClickHouse`);
      assert.equal(Number(row.n), 1, `ban ${b.id} ${ev} once`);
    }
  }
  const samples = await ch.json<{ attack_id: string; n: string; seqs: string }>(`SELECT attack_id, count() AS n, uniqExact(seq) AS seqs FROM ${DB}.attack_samples FINAL GROUP BY attack_id`);
  for (const a of s.attacks) {
    const want = a.summary?.sample?.length ?? 0;
    const row = samples.find((x) => x.attack_id === a.id);
    assert.equal(Number(row?.n ?? 0), want, `samples of attack ${a.id}`);
    assert.equal(Number(row?.seqs ?? 0), want);
  }
}

test('daemon history in ClickHouse: captures replayed, an outage, a kill -9 with a spool', { skip, timeout: 300_000 }, async (t) => {
  const ch = await startClickHouse(t);
  const dir = tempDir('bw-history-e2e-');
  t.after(() => removeDir(dir));
  const ports = { sflow: freePort(), api: freePort() };
  const cfgFile = join(dir, 'breakwater.yaml');
  const cfg = config(dir, ch, ports);
  writeYaml(cfgFile, cfg);
  let bw = await startBreakwater(cfgFile, cfg);
  t.after(async () => {
    await bw.stop().catch(() => undefined);
  });
  await waitFor('history up', async () => (await history(bw))?.schema_version === 1, 30_000, 200);

  // ---- 1. a capture replayed: its rows read back
  await replay(NTP.file, ports.sflow);
  await waitFor('NTP attack and ban ended', () => endedEverything(bw, [NTP.victim]), 60_000, 250);
  await waitFor('rows inserted', async () => {
    const h = await history(bw);
    return h.spool_batches === 0 && h.rows_inserted.bans >= 2;
  }, 20_000, 250);
  const hist = (await bw.api('GET', `/api/v1/history/attacks?from=-1h&target=${NTP.victim}`)).json;
  assert.equal(hist.total, 1, JSON.stringify(hist));
  assert.equal(hist.attacks[0].vector, 'ntp_amplification');
  assert.equal(hist.attacks[0].active, false);
  await waitFor('ban created and ended in history', async () => {
    const bans = (await bw.api('GET', `/api/v1/history/bans?from=-1h&target=${NTP.victim}`)).json;
    return bans.bans.map((b: any) => b.event).sort().join() === 'created,ended';
  }, 10_000, 200);
  const samples = (await bw.api('GET', `/api/v1/history/attacks/${hist.attacks[0].id}/samples`)).json.samples;
  assert.ok(samples.length > 0 && samples.every((s: any) => s.dst === NTP.victim && s.src_port === 123));
  await waitFor('traffic rows of the victim', async () => {
    // A range older than the in-memory ring (15 minutes) is read from ClickHouse's traffic rows.
    const tr = (await bw.api('GET', `/api/v1/hosts/${NTP.victim}/traffic?from=-20m&step=1s`)).json;
    return tr.source === 'clickhouse' && tr.points?.some((p: any) => p.pps > 5000);
  }, 20_000, 500);
  const totals = await ch.json<{ kind: string; n: string }>(`SELECT kind, count() AS n FROM ${DB}.traffic FINAL GROUP BY kind ORDER BY kind`);
  assert.deepEqual(totals.map((r) => r.kind), ['exporter', 'host', 'total']);
  const byVector = (await bw.api('GET', '/api/v1/history/report?from=-1h')).json.by_vector;
  assert.deepEqual(byVector.map((v: any) => v.vector), ['ntp_amplification']);
  const report = await run(process.execPath, [join(repoRoot, 'src/main.ts'), 'report', '-config', cfgFile, '--from', '-1h', '--format', 'json'], { timeout: 30_000 });
  const rep = JSON.parse(report.stdout);
  assert.equal(rep.attacks, 1);
  assert.equal(rep.top_targets[0].target, NTP.victim);
  assert.equal(rep.mitigation_latency_ms.count, 1);
  const md = await run(process.execPath, [join(repoRoot, 'src/main.ts'), 'report', '-config', cfgFile, '--from', '-1h'], { timeout: 30_000 });
  assert.match(md.stdout, /\| ntp_amplification \| 1 \|/);
  await assertExactlyOnce(ch, bw);

  // ---- 2. ClickHouse down while two attacks come and go
  await ch.stop();
  const outageStart = Date.now();
  await replay(DNS.file, ports.sflow);
  await replay(SYN.file, ports.sflow);
  await waitFor('DNS and SYN attacks and bans ended (ClickHouse down)', () => endedEverything(bw, [DNS.victim, SYN.victim]), 60_000, 250);
  // The API still answers at once, and history says it is down.
  const t0 = performance.now();
  assert.equal((await bw.api('GET', '/api/v1/attacks')).status, 200);
  assert.ok(performance.now() - t0 < 1000);
  await waitFor('rows spooled', async () => (await history(bw)).spool_batches > 0, 20_000, 250);
  const down = await history(bw);
  assert.equal(down.up, false);
  assert.ok(down.last_error);
  assert.equal((await bw.api('GET', '/api/v1/history/attacks?from=-1h')).status, 503);
  const m = await bw.metrics();
  assert.ok(metricValue(m, 'breakwater_history_rows_spooled_total', 'table="attacks"') > 0, 'spooled metric');
  assert.equal(metricValue(m, 'breakwater_history_up'), 0);
  // Keep it down for a minute (traffic keeps spooling), then bring it back.
  while (Date.now() - outageStart < 60_000) await new Promise((r) => setTimeout(r, 500));
  await ch.start();
  await waitFor('spool replayed', async () => {
    const h = await history(bw);
    return h.spool_batches === 0 && h.up;
  }, 60_000, 250);
  const m2 = await bw.metrics();
  assert.ok(metricValue(m2, 'breakwater_history_rows_replayed_total', 'table="bans"') >= 4);
  assert.ok(!(metricValue(m2, 'breakwater_history_rows_dropped_total', 'table="attacks"') > 0));
  await assertExactlyOnce(ch, bw);
  const vectors = (await bw.api('GET', '/api/v1/history/report?from=-1h')).json.by_vector.map((v: any) => v.vector).sort();
  assert.deepEqual(vectors, ['dns_amplification', 'ntp_amplification', 'syn_flood']);

  // ---- 3. kill -9 with a non-empty spool
  await ch.stop();
  const manual = await bw.api('POST', '/api/v1/ban', { ip: '198.51.100.77', ttl_seconds: 600, reason: 'history e2e' });
  assert.equal(manual.status, 201, manual.text);
  const banId = manual.json.ban.id;
  await waitFor('the ban spooled', async () => (await history(bw)).spool_batches > 0, 20_000, 100);
  await bw.kill9();
  const spoolDir = join(cfg.storage.data_dir, 'history-spool');
  assert.ok(readdirSync(spoolDir).some((f) => f.includes('.bans.')), `a bans batch left in ${spoolDir}`);
  await ch.start();
  bw = await startBreakwater(cfgFile, cfg);
  await waitFor('spool replayed after the restart', async () => {
    const h = await history(bw);
    return h.spool_batches === 0 && h.up;
  }, 60_000, 250);
  const rows = await ch.json<{ event: string; n: string }>(`SELECT event, count() AS n FROM ${DB}.bans FINAL WHERE ban_id = '${banId}' GROUP BY event ORDER BY event`);
  assert.deepEqual(rows.map((r) => [r.event, Number(r.n)]), [['created', 1]]);
  assert.equal(readdirSync(spoolDir).length, 0);
});
