/**
 * The notifier with its real SQLite outbox and real HTTP receivers: grouping
 * and filters, a receiver down then back (nothing lost, nothing twice), a
 * receiver that never answers (publishing stays fast, the event loop free),
 * max age → failed, a restart that delivers what was left, the outbox bound.
 * Times are shortened through the notify config; the paths are the real ones.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfig } from '../../src/config/load.ts';
import { silentLogger } from '../../src/core/log.ts';
import { Notifier } from '../../src/notify/notifier.ts';
import { EngineEventMapper } from '../../src/notify/from-engine.ts';
import { ExporterWatch } from '../../src/notify/exporters.ts';
import type { NotifyEvent } from '../../src/notify/event.ts';
import type { Attack } from '../../src/engine/events.ts';
import { startHttpReceiver, startSlack, type HttpReceiver } from './receivers.ts';
import { banEvent } from './events.ts';

function tmp(t: { after(fn: () => void): void }): string {
  const d = mkdtempSync(join(tmpdir(), 'bw-notifier-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

function notifier(t: { after(fn: () => Promise<void> | void): void }, dir: string, notify: Record<string, unknown>): Notifier {
  const cfg = validateConfig({ notify: { outbox: { retry_initial_seconds: 0.05, retry_max_seconds: 0.2 }, ...notify } });
  const n = new Notifier({ config: cfg.notify, outboxPath: join(dir, 'notify.db'), log: silentLogger() });
  t.after(() => n.stop());
  return n;
}

const bodies = (rx: HttpReceiver) => rx.received.map((r) => JSON.parse(r.body));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, fn: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

test('a burst of 256 bans is one message per channel with the count; per-channel event filters', async (t) => {
  const dir = tmp(t);
  const wh = await startHttpReceiver();
  const slack = await startSlack();
  t.after(() => wh.close());
  t.after(() => slack.close());
  const n = notifier(t, dir, { group_seconds: 0.5, webhook: { url: wh.url }, slack: { webhook_url: slack.url, events: ['unban', 'bgp_down'] } });
  for (let i = 0; i < 256; i++) n.publish(banEvent(`198.51.100.${i}`));
  n.publish({ event: 'bgp_down', time: Date.now(), mode: 'live', neighbor: '127.0.0.2', state: 'Idle' });
  await until('webhook: group + bgp_down', () => wh.received.length >= 2);
  await until('slack: bgp_down', () => slack.received.length >= 1);
  await sleep(700);
  const b = bodies(wh);
  assert.equal(b.length, 2, 'one grouped message and the bgp_down');
  // bgp_down is not grouped: it does not wait behind the ban group.
  assert.equal(b[0].event, 'bgp_down');
  assert.equal(b[1].event, 'ban');
  assert.equal(b[1].count, 256);
  assert.equal(new Set(b[1].events.map((e: NotifyEvent) => e.target)).size, 256);
  assert.equal(slack.received.length, 1, 'slack wants unban and bgp_down only');
  const s = n.stats();
  assert.equal(s.channels.webhook.sent, 2);
  assert.equal(s.channels.webhook.events_sent, 257);
  assert.equal(s.channels.webhook.queued, 0);
  assert.equal(s.outbox.rows, 0, 'delivered rows are deleted');
  assert.ok(s.channels.webhook.latency.p50_seconds >= 0.4, 'grouped events waited for the window');
});

test('a receiver down (connection refused, then 503) gets every message once when it returns', async (t) => {
  const dir = tmp(t);
  const wh = await startHttpReceiver();
  t.after(() => wh.close());
  const n = notifier(t, dir, { group_seconds: 0, webhook: { url: wh.url } });
  await wh.stopListening();
  for (let i = 0; i < 20; i++) n.publish(banEvent(`198.51.100.${i}`));
  await until('retries', () => n.stats().channels.webhook.retries >= 20);
  assert.equal(n.stats().channels.webhook.queued, 20);
  assert.match(n.stats().channels.webhook.last_error, /ECONNREFUSED/);
  await wh.start();
  wh.behaviour = 'fail';
  await until('503 answers', () => wh.attempts >= 3);
  assert.match(n.stats().channels.webhook.last_error, /HTTP 503/);
  wh.behaviour = 'ok';
  await until('all 20', () => wh.received.length >= 20);
  await sleep(500);
  const b = bodies(wh);
  assert.equal(b.length, 20);
  assert.deepEqual(b.map((x) => x.target), Array.from({ length: 20 }, (_, i) => `198.51.100.${i}`), 'in order, each once');
  assert.equal(new Set(b.map((x) => x.id)).size, 20);
  assert.equal(n.stats().channels.webhook.queued, 0);
  assert.equal(n.stats().channels.webhook.failed, 0);
});

test('a receiver that accepts and never answers: publishing 1,000 events stays fast and the event loop free; delivery resumes when it answers', async (t) => {
  const dir = tmp(t);
  const wh = await startHttpReceiver();
  t.after(() => wh.close());
  wh.behaviour = 'hang';
  const n = notifier(t, dir, { group_seconds: 0.2, timeout_seconds: 0.3, webhook: { url: wh.url } });
  const t0 = performance.now();
  for (let i = 0; i < 1000; i++) n.publish(banEvent(`198.51.${100 + (i >> 8)}.${i & 255}`));
  n.flush();
  const publishMs = performance.now() - t0;
  // While deliveries hang and time out, the event loop stays free (a keepalive timer would fire on time).
  // Lag counts only the CPU this thread spent between two timer callbacks: a busy machine's preemption is not our code blocking.
  let maxLag = 0;
  let last = performance.now();
  let lastCpu = process.threadCpuUsage();
  const iv = setInterval(() => {
    const now = performance.now();
    const cpu = process.threadCpuUsage(lastCpu);
    maxLag = Math.max(maxLag, Math.min(now - last - 10, (cpu.user + cpu.system) / 1000));
    last = now;
    lastCpu = process.threadCpuUsage();
  }, 10);
  t.after(() => clearInterval(iv));
  await until('hung attempts', () => n.stats().channels.webhook.retries >= 3);
  clearInterval(iv);
  assert.ok(publishMs < 2000, `publish of 1,000 events took ${publishMs} ms`);
  assert.ok(maxLag < 500, `event loop lag ${maxLag} ms while the receiver hangs`);
  assert.match(n.stats().channels.webhook.last_error, /timeout after 300 ms/);
  wh.behaviour = 'ok';
  await until('all 1,000', () => n.stats().channels.webhook.events_sent >= 1000, 30_000);
  const targets = bodies(wh).flatMap((b) => b.events.map((e: NotifyEvent) => e.target));
  assert.equal(targets.length, 1000);
  assert.equal(new Set(targets).size, 1000);
});

test('past max_age_seconds a message is marked failed: counted, last error kept, not retried', async (t) => {
  const dir = tmp(t);
  const wh = await startHttpReceiver();
  t.after(() => wh.close());
  wh.behaviour = 'fail';
  const n = notifier(t, dir, { group_seconds: 0, webhook: { url: wh.url }, outbox: { retry_initial_seconds: 0.05, retry_max_seconds: 0.1, max_age_seconds: 1 } });
  n.publish(banEvent('198.51.100.7'));
  await until('failed', () => n.stats().channels.webhook.failed === 1, 10_000);
  const s = n.stats().channels.webhook;
  assert.equal(s.queued, 0);
  assert.equal(s.failed_rows, 1);
  assert.match(s.last_error, /HTTP 503/);
  const attempts = wh.attempts;
  wh.behaviour = 'ok';
  await sleep(500);
  assert.equal(wh.attempts, attempts, 'a failed message is not retried');
});

test('stopped with undelivered messages: the next notifier on the same outbox delivers them', async (t) => {
  const dir = tmp(t);
  const wh = await startHttpReceiver();
  t.after(() => wh.close());
  await wh.stopListening();
  const cfg = { group_seconds: 0, webhook: { url: wh.url } };
  const a = notifier(t, dir, cfg);
  for (let i = 0; i < 5; i++) a.publish(banEvent(`198.51.100.${i}`));
  await a.stop();
  await wh.start();
  notifier(t, dir, cfg);
  await wh.waitFor(5);
  await sleep(300);
  assert.deepEqual(bodies(wh).map((b) => b.target), ['198.51.100.0', '198.51.100.1', '198.51.100.2', '198.51.100.3', '198.51.100.4']);
});

test('the outbox is bounded: past max_rows the oldest waiting rows are dropped and counted', async (t) => {
  const dir = tmp(t);
  const wh = await startHttpReceiver();
  t.after(() => wh.close());
  await wh.stopListening();
  const n = notifier(t, dir, { group_seconds: 0, webhook: { url: wh.url }, outbox: { max_rows: 10, retry_initial_seconds: 5 } });
  for (let i = 0; i < 25; i++) n.publish(banEvent(`198.51.100.${i}`));
  await sleep(0);
  const s = n.stats();
  assert.equal(s.outbox.rows, 10);
  assert.equal(s.channels.webhook.dropped, 15);
  assert.equal(s.channels.webhook.queued, 10);
});

test('attack_update goes out only for a new peak, at most once a minute per attack', () => {
  const m = new EngineEventMapper();
  const a = { id: 'a1', target: '198.51.100.7', direction: 'incoming', vector: 'udp_flood', pps: 10, mbps: 1, fps: 1, peak_pps: 10, peak_mbps: 1, peak_fps: 1 } as Attack;
  const at = (time: number, peak: number) => m.map({ event: 'attack_update', time, attack: { ...a, peak_pps: peak } }, 'live', () => []);
  assert.equal(m.map({ event: 'attack_start', time: 0, attack: a }, 'live', () => [])?.event, 'attack_start');
  assert.equal(at(30_000, 50), undefined, 'within a minute');
  assert.equal(at(61_000, 10), undefined, 'no new peak');
  assert.equal(at(62_000, 60)?.event, 'attack_update');
  assert.equal(at(100_000, 90), undefined);
  assert.equal(at(123_000, 90)?.rates?.peak_pps, 90);
  const ban = m.map({ event: 'ban', time: 1, ban: { id: 'b1', target: '198.51.100.7', family: 4, source: 'auto', reason: 'r', action: 'blackhole', escalation_step: -1, route: { type: 'blackhole', prefix: '198.51.100.7/32', next_hop: '192.0.2.1', communities: [], large_communities: [] }, created: 1, expires: 2, ttl_seconds: 60 }, attack: a }, 'live', () => ['127.0.0.2']);
  assert.deepEqual([ban?.event, ban?.who, ban?.neighbors, ban?.ttl_seconds, ban?.vector], ['ban', 'auto', ['127.0.0.2'], 60, 'udp_flood']);
  const refused = m.map({ event: 'ban_refused', time: 1, target: '198.51.100.1', reason: 'whitelist', detail: 'in protected_whitelist' }, 'dry_run', () => []);
  assert.deepEqual([refused?.event, refused?.guard, refused?.reason], ['ban_refused', 'whitelist', 'in protected_whitelist']);
});

test('exporter silent once after N seconds without datagrams, back when they return', () => {
  const w = new ExporterWatch();
  const ex = (lastSeen: number) => [{ exporter: '192.0.2.200', lastSeen }, { exporter: '192.0.2.201', lastSeen: 0 }];
  assert.deepEqual(w.check(ex(1000), 50_000, 60_000, 'live'), []);
  const s = w.check(ex(1000), 61_000, 60_000, 'live');
  assert.deepEqual(s.map((e) => [e.event, e.exporter, e.silent_seconds]), [['exporter_silent', '192.0.2.200', 60]]);
  assert.deepEqual(w.check(ex(1000), 90_000, 60_000, 'live'), [], 'once');
  const b = w.check(ex(95_000), 95_500, 60_000, 'live');
  assert.deepEqual(b.map((e) => [e.event, e.silent_seconds]), [['exporter_back', 94]]);
});
