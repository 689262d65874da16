/**
 * "Nothing accepted is lost", end to end: the real daemon with ClickHouse up
 * but an hour between flushes, an attack capture replayed over UDP, and the
 * daemon killed with SIGKILL right after the attack and its ban while their
 * rows are still only in memory (ClickHouse holds none of them). The next
 * start finds them in the history journal: every attack, ban event and sample
 * row arrives, exactly once as FINAL reads it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { removeDir, tempDir, waitFor } from '../helpers/netns.ts';
import { freePort, repoRoot, startBreakwater, writeYaml, type Breakwater } from '../e2e/helpers.ts';
import { CLICKHOUSE_BIN, startClickHouse } from './server.ts';

const run = promisify(execFile);
const NTP = { file: join(repoRoot, 'pcaps/pmacct-sflow5-sampled-ntp-amp.pcap'), victim: '203.0.113.20' };
const skip = !CLICKHOUSE_BIN ? 'clickhouse-server not installed' : !existsSync(NTP.file) ? 'pcaps/ captures missing' : false;
const DB = 'kill9';

test('daemon killed with -9 right after an attack: its attack, ban and sample rows arrive once after the restart', { skip, timeout: 240_000 }, async (t) => {
  const ch = await startClickHouse(t);
  const dir = tempDir('bw-history-kill-');
  t.after(() => removeDir(dir));
  const ports = { sflow: freePort(), api: freePort() };
  const cfgFile = join(dir, 'breakwater.yaml');
  const cfg = {
    dry_run: true,
    log: { level: 'info' },
    listen: { netflow: '', sflow: `127.0.0.1:${ports.sflow}`, workers: 1 },
    networks: ['198.51.100.0/24', '203.0.113.0/24'],
    detection: { window_seconds: 1, tick_ms: 100, attack_hysteresis_seconds: 2 },
    thresholds: { pps: 5000 },
    ban: { ttl_seconds: 600 },
    bgp: { local_asn: 65000, router_id: '192.0.2.1', next_hop: '192.0.2.1', communities: ['65000:666'], neighbors: [] },
    api: { listen: `127.0.0.1:${ports.api}` },
    storage: {
      data_dir: join(dir, 'data'),
      clickhouse: { url: ch.url, database: DB, flush_interval_seconds: 3600, traffic_interval_seconds: 3600, timeout_seconds: 2 },
    },
  };
  writeYaml(cfgFile, cfg);
  let bw: Breakwater = await startBreakwater(cfgFile, cfg);
  t.after(async () => {
    await bw.stop().catch(() => undefined);
  });
  await waitFor('history up', async () => (await bw.api('GET', '/api/v1/status')).json.history?.schema_version === 1, 30_000, 200);

  await run(process.execPath, [join(repoRoot, 'src/main.ts'), 'replay', NTP.file, '--to', `127.0.0.1:${ports.sflow}`, '--speed', '0'], { timeout: 30_000 });
  let attacks: any[] = [];
  let bans: any[] = [];
  await waitFor('attack and ban', async () => {
    attacks = (await bw.api('GET', '/api/v1/attacks?limit=1000')).json.attacks.filter((a: any) => a.target === NTP.victim);
    bans = (await bw.api('GET', '/api/v1/bans?limit=1000')).json.bans.filter((b: any) => b.target === NTP.victim);
    return attacks.length > 0 && bans.length > 0;
  }, 60_000, 100);
  const count = async (table: string) => Number((await ch.json<{ n: string }>(`SELECT count() AS n FROM ${DB}.${table}`))[0].n);
  assert.equal(await count('attacks'), 0, 'no attack row inserted before the kill');
  assert.equal(await count('bans'), 0, 'no ban row inserted before the kill');
  await bw.kill9();
  const journal = join(cfg.storage.data_dir, 'history-journal');
  assert.ok(readdirSync(journal).some((f) => f.endsWith('.jsonl')), `a journal segment left in ${journal}`);

  bw = await startBreakwater(cfgFile, cfg);
  await waitFor('journal replayed', async () => {
    const h = (await bw.api('GET', '/api/v1/status')).json.history;
    return h.up && h.spool_batches === 0 && h.rows_inserted.bans >= 1;
  }, 60_000, 250);
  for (const a of attacks) {
    const rows = await ch.json<{ n: string }>(`SELECT count() AS n FROM ${DB}.attacks FINAL WHERE id = '${a.id}'`);
    assert.equal(Number(rows[0].n), 1, `attack ${a.id} once`);
    const samples = await ch.json<{ n: string; seqs: string }>(`SELECT count() AS n, uniqExact(seq) AS seqs FROM ${DB}.attack_samples FINAL WHERE attack_id = '${a.id}'`);
    assert.ok(Number(samples[0].n) > 0, `samples of attack ${a.id}`);
    assert.equal(Number(samples[0].n), Number(samples[0].seqs), 'each sample once');
  }
  for (const b of bans) {
    const rows = await ch.json<{ n: string }>(`SELECT count() AS n FROM ${DB}.bans FINAL WHERE ban_id = '${b.id}' AND event = 'created'`);
    assert.equal(Number(rows[0].n), 1, `ban ${b.id} created once`);
  }
  // Replayed rows left the journal: only the running segment is there.
  assert.ok(readdirSync(journal).filter((f) => f.endsWith('.jsonl')).length <= 1);
});
