/**
 * GET /api/v1/status and /api/v1/bans fields with the real collector and
 * engine in-process and a manual clock: version, uptime, ingest rates per
 * exporter (datagrams and records per second between two samples), and a
 * ban's ttl_left_seconds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { ManualClock } from '../../src/core/clock.ts';
import { silentLogger } from '../../src/core/log.ts';
import { Daemon, LOOPS } from '../../src/daemon/daemon.ts';
import { removeDir, tempDir, waitFor } from '../helpers/netns.ts';
import { v5 } from '../fixtures/netflow/build.ts';
import { attackDatagram } from '../e2e/helpers.ts';

const repoRoot = resolve(import.meta.dirname, '../..');
const PKG_VERSION = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')).version;

test('status: version, uptime and ingest rates per exporter from real traffic; bans: ttl_left_seconds counts down', { timeout: 60_000 }, async (t) => {
  // Only the test samples the rates.
  const rateEvery = LOOPS.rateSampleMs;
  LOOPS.rateSampleMs = 3_600_000;
  const dir = tempDir('bw-status-');
  const configFile = join(dir, 'breakwater.yaml');
  writeFileSync(
    configFile,
    stringify({
      listen: { netflow: '127.0.0.1:0', sflow: '127.0.0.1:0', workers: 1 },
      networks: ['198.51.100.0/24'],
      thresholds: { pps: 10_000_000 },
      api: { listen: '127.0.0.1:0' },
      storage: { data_dir: join(dir, 'data') },
    }),
  );
  const T0 = Math.floor(Date.now() / 1000) * 1000;
  const clock = new ManualClock(T0);
  const d = new Daemon({ configFile, log: silentLogger(), clock });
  const socks: Socket[] = [];
  t.after(async () => {
    LOOPS.rateSampleMs = rateEvery;
    for (const s of socks) s.close();
    await d.stop('test end').catch(() => undefined);
    removeDir(dir);
  });
  await d.start();
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`http://127.0.0.1:${d.apiAddress!.port}${path}`, {
      method,
      headers: body ? { 'content-type': 'application/json' } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    return (await res.json()) as any;
  };

  let st = await api('GET', '/api/v1/status');
  assert.equal(st.version, PKG_VERSION);
  assert.equal(st.uptime_seconds, 0);
  assert.equal(st.started, new Date(T0).toISOString());
  assert.equal(st.ready, true);
  assert.deepEqual(st.ingest, []);

  d.sampleRates();
  const from = async (addr: string) => {
    const s = createSocket('udp4');
    socks.push(s);
    await new Promise<void>((r) => s.bind({ address: addr, port: 0 }, () => r()));
    return (buf: Buffer, port: number) => new Promise<void>((r) => s.send(buf, port, '127.0.0.1', () => r()));
  };
  const { sflow, netflow } = d.collector.addresses();
  const sendA = await from('127.0.0.1');
  const sendB = await from('127.0.0.3');
  for (let i = 0; i < 20; i++) await sendA(attackDatagram({ victim: '198.51.100.9', pps: 1000, samplingRate: 10 }, 5, i + 1), sflow!.port);
  for (let i = 0; i < 10; i++) await sendB(v5(6), netflow!.port);
  // The receive thread pushes its counters periodically.
  await waitFor('datagrams counted', () => {
    const ex = d.collector.stats().exporters;
    return ex.find((e) => e.exporter === '127.0.0.1')?.datagrams === 20 && ex.find((e) => e.exporter === '127.0.0.3')?.datagrams === 10;
  }, 10_000, 20);
  clock.advance(2000);
  d.sampleRates();

  st = await api('GET', '/api/v1/status');
  assert.equal(st.uptime_seconds, 2);
  const a = st.ingest.find((e: any) => e.exporter === '127.0.0.1');
  const b = st.ingest.find((e: any) => e.exporter === '127.0.0.3');
  assert.deepEqual({ d: a.datagrams, r: a.records, dps: a.datagrams_per_s, rps: a.records_per_s, err: a.errors }, { d: 20, r: 100, dps: 10, rps: 50, err: 0 });
  assert.deepEqual({ d: b.datagrams, r: b.records, dps: b.datagrams_per_s, rps: b.records_per_s }, { d: 10, r: 60, dps: 5, rps: 30 });
  assert.ok(Date.parse(a.last_seen) > 0, 'last_seen is a time');

  // Quiet for 4 s: the rates fall to 0, the totals stay.
  clock.advance(4000);
  d.sampleRates();
  st = await api('GET', '/api/v1/status');
  assert.equal(st.uptime_seconds, 6);
  const a2 = st.ingest.find((e: any) => e.exporter === '127.0.0.1');
  assert.deepEqual({ d: a2.datagrams, dps: a2.datagrams_per_s, rps: a2.records_per_s }, { d: 20, dps: 0, rps: 0 });

  // A manual ban's TTL left, now and 100 s later.
  const ban = await api('POST', '/api/v1/ban', { ip: '198.51.100.50', ttl_seconds: 600 });
  assert.equal(ban.ban.ttl_left_seconds, 600);
  clock.advance(100_000);
  const listed = (await api('GET', '/api/v1/bans?active=true')).bans.find((x: any) => x.target === '198.51.100.50');
  assert.equal(listed.ttl_left_seconds, 500);
  assert.equal((await api('GET', '/api/v1/status')).uptime_seconds, 106);
});
