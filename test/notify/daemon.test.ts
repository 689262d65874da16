/**
 * The in-process daemon (real engine, ban manager, store, API; fake speaker)
 * with every notification channel on, each reaching a real receiver: an
 * attack, its ban and unban, a manual ban, a refused ban, a BGP session
 * going down and up, a reload that goes live; status and metrics show it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { baseConfig, startHarness } from '../daemon/harness.ts';
import { hasAiosmtpd, readScriptRuns, startHttpReceiver, startSlack, startSmtp, startTelegram, validateJsonSchema, writeNotifyScript } from './receivers.ts';

const V = '198.51.100.7';
const schema = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../docs/webhook.schema.json'), 'utf8'));

async function until(what: string, fn: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('daemon: attack, ban, refusal, BGP down/up, reload to live and unban reach every channel; status and metrics', { skip: !hasAiosmtpd() && 'python3-aiosmtpd is not installed' }, async (t) => {
  const wh = await startHttpReceiver();
  const tg = await startTelegram('1:t');
  const slack = await startSlack();
  t.after(() => wh.close());
  t.after(() => tg.close());
  t.after(() => slack.close());
  const scratch = mkdtempSync(join(tmpdir(), 'bw-notify-d-'));
  t.after(() => rmSync(scratch, { recursive: true, force: true }));
  const smtp = await startSmtp(join(scratch, 'mail'));
  t.after(() => smtp.stop());
  const runs = join(scratch, 'runs.jsonl');
  const script = writeNotifyScript(scratch, runs);
  process.env.BW_D_SECRET = 'hmac-key';
  process.env.BW_D_TG = '1:t';
  const notify = {
    group_seconds: 0.2,
    outbox: { retry_initial_seconds: 0.05, retry_max_seconds: 0.2 },
    webhook: { url: wh.url, secret_env: 'BW_D_SECRET' },
    telegram: { token_env: 'BW_D_TG', chat_id: 5, api_url: tg.url, events: ['ban', 'unban', 'bgp_down', 'bgp_up', 'mode_change'] },
    slack: { webhook_url: slack.url, events: ['attack_start', 'ban_refused'] },
    email: { smtp_host: '127.0.0.1', smtp_port: smtp.port, from: 'bw@example.net', to: 'noc@example.net', require_tls: false, events: ['ban'] },
    exec: { command: script, format: 'fastnetmon' },
  };
  const h = await startHarness(t, { notify });
  const events = () => wh.received.flatMap((r) => JSON.parse(r.body).events.map((e: any) => e.event));

  // An attack in dry-run: attack_start and ban.
  h.advance(200);
  for (let i = 0; i < 10; i++) {
    h.flood(V, 50, 10, { srcPort: 123, bytes: 468 });
    h.advance(100);
  }
  await until('attack_start and ban on the webhook', () => events().includes('ban') && events().includes('attack_start'));
  // A whitelisted target: ban_refused.
  const refused = await h.req('POST', '/api/v1/ban', { ip: '198.51.100.1' });
  assert.ok(refused.status >= 400);
  await until('ban_refused', () => events().includes('ban_refused'));
  // A BGP session down and up.
  const cbs = (h.d.bgp as unknown as { cbs: Array<(nb: string, from: string, to: string) => void> }).cbs;
  for (const f of cbs) f('127.0.0.2', 'Established', 'Idle');
  for (const f of cbs) f('127.0.0.2', 'OpenConfirm', 'Established');
  await until('bgp events', () => events().includes('bgp_down') && events().includes('bgp_up'));
  // Reload to live: reload and mode_change.
  h.writeConfig(baseConfig(join(h.dir, 'data'), { notify, dry_run: false }));
  const rl = await h.req('POST', '/api/v1/config/reload');
  assert.equal(rl.status, 200, rl.text);
  await until('reload and mode_change', () => events().includes('reload') && events().includes('mode_change'));
  // A manual unban while live.
  const ub = await h.req('POST', '/api/v1/unban', { ip: V });
  assert.equal(ub.status, 200, ub.text);
  await until('unban', () => events().includes('unban'));

  // Webhook: every body signed and valid; exactly one of each event.
  for (const r of wh.received) assert.deepEqual(validateJsonSchema(schema, JSON.parse(r.body)), []);
  const counts: Record<string, number> = {};
  for (const e of events()) counts[e] = (counts[e] ?? 0) + 1;
  assert.deepEqual(counts, { attack_start: 1, ban: 1, ban_refused: 1, bgp_down: 1, bgp_up: 1, reload: 1, mode_change: 2, unban: 1 });
  const all = wh.received.flatMap((r) => JSON.parse(r.body).events);
  const ban = all.find((e: any) => e.event === 'ban');
  assert.equal(ban.target, V);
  assert.equal(ban.mode, 'dry_run');
  assert.equal(ban.who, 'auto');
  assert.equal(ban.route.prefix, `${V}/32`);
  assert.ok(ban.ttl_seconds > 0);
  assert.equal(all.find((e: any) => e.event === 'ban_refused').guard !== undefined, true);
  const reload = all.find((e: any) => e.event === 'reload');
  assert.ok(reload.changed.includes('dry_run'));
  assert.equal(reload.who, 'api');
  // One mode_change at start (first start: no previous mode), one for the reload.
  const modes = all.filter((e: any) => e.event === 'mode_change').map((e: any) => [e.who, e.from, e.to]);
  assert.deepEqual(modes, [['start', undefined, 'dry_run'], ['api', 'dry_run', 'live']]);
  const unban = all.find((e: any) => e.event === 'unban');
  assert.equal(unban.mode, 'live');

  // Telegram got its six (the start's mode_change included), Slack its two, email its one.
  await until('telegram', () => tg.received.length >= 6);
  const tgText = tg.received.map((r) => JSON.parse(r.body).text as string);
  assert.equal(tgText.length, 6);
  assert.ok(tgText.some((x) => /started in dry_run mode/.test(x)));
  assert.ok(tgText.some((x) => /ban 198\.51\.100\.7 \(dry-run\)/.test(x)));
  assert.ok(tgText.some((x) => /mode changed from dry_run to live/.test(x)));
  await until('slack', () => slack.received.length >= 2);
  assert.equal(slack.received.length, 2);
  const mails = await smtp.waitFor(1);
  assert.equal(mails.length, 1);
  assert.match(mails[0], /Subject: Breakwater: ban 198\.51\.100\.7 \(dry-run\)/);
  // FastNetMon script: the dry-run ban as attack_details, the live unban as unban; nothing else.
  await until('script runs', () => readScriptRuns(runs).length >= 2);
  assert.deepEqual(readScriptRuns(runs).map((r) => [r.argv[0], r.argv[1], r.argv[3]]), [[V, 'incoming', 'attack_details'], [V, 'incoming', 'unban']]);

  // Status and metrics.
  await until('outbox empty', () => h.d.notify!.stats().outbox.rows === 0);
  const st = await h.req('GET', '/api/v1/status');
  assert.deepEqual(Object.keys(st.json.notify.channels).sort(), ['email', 'exec', 'slack', 'telegram', 'webhook']);
  assert.equal(st.json.notify.channels.webhook.queued, 0);
  assert.equal(st.json.notify.channels.webhook.sent, wh.received.length);
  const m = (await h.req('GET', '/metrics')).text;
  assert.match(m, new RegExp(`^breakwater_notify_sent_total\\{channel="webhook"\\} ${wh.received.length}$`, 'm'));
  assert.match(m, /^breakwater_notify_events_sent_total\{channel="telegram"\} 6$/m);
  assert.match(m, /^breakwater_notify_queued\{channel="webhook"\} 0$/m);
  assert.match(m, /^breakwater_notify_delivery_latency_seconds\{channel="webhook",quantile="0.99"\} [0-9.e-]+$/m);
});
