/**
 * Reload that moves the sFlow listener, changes the number of collector
 * workers and the receiver (node:dgram -> batched): applied at run time (the listeners are rebound), not reported as
 * needing a restart; traffic to the new port is counted and the old port is
 * closed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { Daemon } from '../../src/daemon/daemon.ts';
import { createLogger } from '../../src/core/log.ts';
import { removeDir, tempDir, waitFor } from '../helpers/netns.ts';
import { freePort, SflowSender } from '../e2e/helpers.ts';
import { nativeAddon } from '../helpers/native.ts';

const noBatched = nativeAddon('udp_recv.node');

test('reload: a new sFlow port, another worker count and another receiver rebind the flow listeners at run time', { timeout: 60_000 }, async (t) => {
  if (noBatched) t.diagnostic(`the second receiver is auto (falls back to dgram): ${noBatched}`);
  const dir = tempDir('bw-rebind-');
  const lines: any[] = [];
  const log = createLogger({ format: 'json', level: 'info', destination: { write: (x: string) => { for (const l of x.split('\n')) if (l) lines.push(JSON.parse(l)); } } });
  const configFile = join(dir, 'breakwater.yaml');
  const p1 = freePort();
  const p2 = freePort();
  const cfg = (port: number, workers: number, receiver: string) => ({
    listen: { netflow: '', sflow: `127.0.0.1:${port}`, workers, receiver },
    networks: ['198.51.100.0/24'],
    thresholds: { pps: 1_000_000 },
    api: { listen: '127.0.0.1:0' },
    storage: { data_dir: join(dir, 'data') },
  });
  const sender = new SflowSender();
  let d: Daemon | undefined;
  t.after(async () => {
    sender.close();
    await d?.stop('test end').catch(() => undefined);
    removeDir(dir);
  });
  writeFileSync(configFile, stringify(cfg(p1, 1, 'dgram')));
  d = new Daemon({ configFile, log });
  await d.start();
  const api = async (method: string, path: string) => {
    const res = await fetch(`http://127.0.0.1:${d!.apiAddress!.port}${path}`, { method, signal: AbortSignal.timeout(10_000) });
    return { status: res.status, json: (await res.json()) as any };
  };
  const pps = async (ip: string) => {
    const h = await api('GET', `/api/v1/hosts?ip=${ip}`);
    return h.status === 200 ? (h.json.directions?.[0]?.pps ?? 0) : 0;
  };
  const listening = () => lines.filter((l) => l.event === 'flow listening');
  assert.equal(listening().at(-1)?.workers, 1);
  assert.equal(listening().at(-1)?.receiver, 'dgram');

  await sender.start(p1, { victim: '198.51.100.21', pps: 20_000, samplingRate: 100 }, 1000);
  await waitFor('traffic on the first port counted', async () => ((await pps('198.51.100.21')) > 5_000 ? true : undefined), 10_000, 200);

  writeFileSync(configFile, stringify(cfg(p2, 2, noBatched ? 'auto' : 'batched')));
  const r = await api('POST', '/api/v1/config/reload');
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.ok(r.json.changed.includes('listen.sflow') && r.json.changed.includes('listen.workers') && r.json.changed.includes('listen.receiver'), JSON.stringify(r.json.changed));
  assert.deepEqual(r.json.needs_restart ?? [], [], 'nothing waits for a restart');
  assert.equal(d.collector.addresses().sflow?.port, p2);
  assert.equal(listening().at(-1)?.workers, 2, 'the rebound collector runs 2 workers');
  assert.equal(listening().at(-1)?.receiver, noBatched ? 'dgram' : 'batched');

  await sender.start(p2, { victim: '198.51.100.22', pps: 20_000, samplingRate: 100 }, 1000);
  await waitFor('traffic on the new port counted', async () => ((await pps('198.51.100.22')) > 5_000 ? true : undefined), 10_000, 200);

  // The old port is closed: a socket can bind it again.
  const s = createSocket('udp4');
  await new Promise<void>((resolve, reject) => { s.once('error', reject); s.bind(p1, '127.0.0.1', () => resolve()); });
  s.close();
});
