/**
 * Notification figures (`npm run bench -- --only notify`):
 *
 * notify.ban_to_webhook_{median,p99}_ms — 1,000 bans published in one burst
 *   (one engine tick), each its own message (group_seconds 0), to a webhook
 *   receiver on loopback: time from publish to the receiver reading the POST.
 *   The note gives the same burst with grouping on (one message).
 * notify.outbox_enqueue_events_per_s — events written to the SQLite outbox
 *   (5 channels each), one transaction per burst of 100 events.
 * notify.delivered_events_per_s — events delivered one message each
 *   (group_seconds 0), outbox to webhook receipt; the note compares a bare
 *   sequential fetch loop in the same run.
 * notify.detect_to_update_{off,on_hanging}_s — the e2e detect-to-UPDATE
 *   figure (first sFlow datagram of an attack → BIRD holds the /32) in the
 *   same run with notifications off, then with every channel on and the
 *   webhook receiver accepting connections and never answering.
 */
import { join } from 'node:path';
import type { BenchContext, BenchRow } from './harness.ts';
import { median } from './harness.ts';
import { validateConfig } from '../src/config/load.ts';
import { silentLogger } from '../src/core/log.ts';
import { Notifier } from '../src/notify/notifier.ts';
import { Outbox } from '../src/notify/outbox.ts';
import { detectToUpdateRuns, startRig, type Rig } from './rig.ts';
import { birdAvailable } from '../test/helpers/bird.ts';
import { removeDir, sleep, tempDir } from '../test/helpers/netns.ts';
import { SflowSender } from '../test/e2e/helpers.ts';
import { startHttpReceiver, startSlack, startTelegram, writeNotifyScript } from '../test/notify/receivers.ts';
import { banEvent } from '../test/notify/events.ts';

export const prefix = 'notify';

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};

async function burst(dir: string, n: number, groupSeconds: number): Promise<{ latencies: number[]; messages: number; ms: number }> {
  const rx = await startHttpReceiver();
  const cfg = validateConfig({ notify: { group_seconds: groupSeconds, webhook: { url: rx.url } } });
  const notifier = new Notifier({ config: cfg.notify, outboxPath: join(dir, `burst-${groupSeconds}.db`), log: silentLogger() });
  try {
    const sent = new Map<string, number>();
    const t0 = Date.now();
    for (let i = 0; i < n; i++) {
      const target = `198.51.${100 + (i >> 8)}.${i & 255}`;
      sent.set(target, performance.timeOrigin + performance.now());
      notifier.publish(banEvent(target));
    }
    const end = Date.now() + 120_000;
    while (notifier.stats().channels.webhook.events_sent < n && Date.now() < end) await sleep(5);
    const latencies: number[] = [];
    for (const r of rx.received) for (const e of JSON.parse(r.body).events) latencies.push(r.time - sent.get(e.target)!);
    return { latencies, messages: rx.received.length, ms: Date.now() - t0 };
  } finally {
    await notifier.stop();
    await rx.close();
  }
}

/** The same number of sequential POSTs with a bare fetch loop, as a baseline for delivered_events_per_s. */
async function bareFetch(n: number): Promise<number> {
  const rx = await startHttpReceiver();
  try {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await (await fetch(rx.url, { method: 'POST', body: JSON.stringify(banEvent('198.51.100.7')), signal: AbortSignal.timeout(10_000) })).text();
    return (n * 1000) / (performance.now() - t0);
  } finally {
    await rx.close();
  }
}

function enqueueRate(dir: string, events: number): number {
  const ob = new Outbox(join(dir, 'enqueue.db'), { maxRows: 10_000_000, maxBytes: 2 ** 40 });
  const chans = ['telegram', 'slack', 'email', 'webhook', 'exec'];
  const ev = banEvent('198.51.100.7');
  const t0 = performance.now();
  for (let i = 0; i < events; i += 100) ob.enqueueMany(Array.from({ length: 100 }, () => ({ targets: chans, ev, now: Date.now() })));
  const s = (performance.now() - t0) / 1000;
  ob.close();
  return events / s;
}

async function detectToUpdate(ctx: BenchContext, runs: number, notify: Record<string, unknown> | undefined, victimBase: number): Promise<number[]> {
  const dir = tempDir('bw-bench-notify-');
  const sender = new SflowSender();
  let rig: Rig | undefined;
  try {
    rig = await startRig(dir, 20_000, notify ? { notify } : {});
    const victims = Array.from({ length: runs }, (_, i) => `198.51.100.${victimBase + i}`);
    return await detectToUpdateRuns(ctx, rig, sender, victims, 50_000, notify ? 'on' : 'off');
  } finally {
    sender.close();
    await rig?.bw.stop().catch(() => undefined);
    await rig?.bird.dispose();
    removeDir(dir);
  }
}

export default async function (ctx: BenchContext): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const dir = tempDir('bw-bench-notify-');
  try {
    const n = Math.max(100, Math.round(1000 * ctx.scale));
    ctx.log(`burst of ${n} bans, one message each`);
    const single = await burst(dir, n, 0);
    ctx.log(`burst of ${n} bans, grouped`);
    const grouped = await burst(dir, n, 3);
    rows.push(
      { figure: 'notify.ban_to_webhook_median_ms', value: Number(median(single.latencies).toFixed(1)), unit: 'ms', note: `${n} bans in one burst, group_seconds 0: ${single.messages} POSTs in ${single.ms} ms; grouped (3 s window): ${grouped.messages} POST, median ${median(grouped.latencies).toFixed(0)} ms` },
      { figure: 'notify.ban_to_webhook_p99_ms', value: Number(quantile(single.latencies, 0.99).toFixed(1)), unit: 'ms', note: `grouped p99 ${quantile(grouped.latencies, 0.99).toFixed(0)} ms` },
      { figure: 'notify.outbox_enqueue_events_per_s', value: Math.round(enqueueRate(dir, Math.max(1000, Math.round(20_000 * ctx.scale)))), unit: 'events/s', note: '5 channels per event (5 rows), 100 events per transaction' },
      { figure: 'notify.delivered_events_per_s', value: Math.round((n * 1000) / single.ms), unit: 'events/s', note: `one message per event, webhook on loopback; a bare sequential fetch loop in the same run: ${Math.round(await bareFetch(n))}/s` },
    );
  } finally {
    removeDir(dir);
  }
  if (!birdAvailable()) {
    rows.push({ figure: 'notify.detect_to_update_off_s', value: NaN, unit: 's', note: 'BIRD 2 not available' });
    return rows;
  }
  const runs = ctx.scale < 1 ? 2 : 5;
  ctx.log('detect-to-UPDATE, notifications off');
  const off = await detectToUpdate(ctx, runs, undefined, 50);
  const scratch = tempDir('bw-bench-notify-rx-');
  const hang = await startHttpReceiver();
  hang.behaviour = 'hang';
  const tg = await startTelegram('1:b');
  const slack = await startSlack();
  process.env.BW_BENCH_TG = '1:b';
  try {
    ctx.log('detect-to-UPDATE, every channel on, webhook receiver hanging');
    const on = await detectToUpdate(
      ctx,
      runs,
      {
        group_seconds: 0,
        webhook: { url: hang.url },
        telegram: { token_env: 'BW_BENCH_TG', chat_id: 1, api_url: tg.url },
        slack: { webhook_url: slack.url },
        exec: { command: writeNotifyScript(scratch, join(scratch, 'runs.jsonl')), format: 'fastnetmon' },
      },
      80,
    );
    const fmt = (xs: number[]) => `median of ${xs.length} (min ${Math.min(...xs).toFixed(3)}, max ${Math.max(...xs).toFixed(3)})`;
    rows.push(
      { figure: 'notify.detect_to_update_off_s', value: Number(median(off).toFixed(3)), unit: 's', note: `${fmt(off)}; notifications off` },
      { figure: 'notify.detect_to_update_on_hanging_s', value: Number(median(on).toFixed(3)), unit: 's', note: `${fmt(on)}; telegram, slack, exec on, webhook receiver never answers (${hang.attempts} requests hung)` },
    );
  } finally {
    await hang.close();
    await tg.close();
    await slack.close();
    removeDir(scratch);
  }
  return rows;
}
