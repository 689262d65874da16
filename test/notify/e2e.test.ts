/**
 * End to end with the real daemon (child process) and real receivers: a
 * capture from pcaps/ replayed over UDP → each channel gets exactly the
 * expected messages; then, with the webhook receiver down, a second attack,
 * `kill -9` with the notifications still in the outbox, a restart, the
 * receiver back → every one delivered, none twice.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { removeDir, tempDir, waitFor } from '../helpers/netns.ts';
import { freePort, repoRoot, startBreakwater, writeYaml, type Breakwater } from '../e2e/helpers.ts';
import { hasAiosmtpd, readScriptRuns, startHttpReceiver, startSlack, startSmtp, startTelegram, validateJsonSchema, writeNotifyScript } from './receivers.ts';
import { readFileSync } from 'node:fs';
import { createHmac } from 'node:crypto';

/** pmacct sfprobe, sFlow v5 1:100: 20 kpps TCP SYN flood to 198.51.100.10:80 (pcaps/README.md). */
const CAPTURE = join(repoRoot, 'pcaps/pmacct-sflow5-sampled-syn-flood.pcap');
const VICTIM = '198.51.100.10';
const schema = JSON.parse(readFileSync(join(repoRoot, 'docs/webhook.schema.json'), 'utf8'));

test('daemon process: a replayed capture notifies every channel exactly as expected; receiver down + kill -9 + restart loses nothing', { skip: !hasAiosmtpd() && 'python3-aiosmtpd is not installed', timeout: 180_000 }, async (t) => {
  const dir = tempDir('bw-notify-e2e-');
  const wh = await startHttpReceiver();
  const tg = await startTelegram('9:tg');
  const slack = await startSlack();
  const smtp = await startSmtp(join(dir, 'mail'));
  const runs = join(dir, 'runs.jsonl');
  const script = writeNotifyScript(dir, runs);
  let bw: Breakwater | undefined;
  t.after(async () => {
    await bw?.stop().catch(() => undefined);
    await wh.close();
    await tg.close();
    await slack.close();
    await smtp.stop();
    removeDir(dir);
  });
  process.env.BW_E2E_SECRET = 'e2e-hmac';
  process.env.BW_E2E_TG = '9:tg';
  const cfg = {
    dry_run: true,
    log: { level: 'info' },
    listen: { netflow: '', sflow: `127.0.0.1:${freePort()}`, workers: 1 },
    networks: ['198.51.100.0/24'],
    detection: { window_seconds: 1, tick_ms: 100, attack_hysteresis_seconds: 1 },
    thresholds: { pps: 10_000 },
    ban: { ttl_seconds: 4, unban_hysteresis_seconds: 1 },
    bgp: { local_asn: 65000, next_hop: '192.0.2.1', communities: ['65000:666'] },
    api: { listen: `127.0.0.1:${freePort()}` },
    storage: { data_dir: join(dir, 'data') },
    notify: {
      group_seconds: 0.5,
      exporter_silent_seconds: 3,
      outbox: { retry_initial_seconds: 0.1, retry_max_seconds: 0.5 },
      webhook: { url: `${wh.url}/hook`, secret_env: 'BW_E2E_SECRET' },
      telegram: { token_env: 'BW_E2E_TG', chat_id: '-100', api_url: tg.url, events: ['ban', 'unban'] },
      slack: { webhook_url: `${slack.url}/services/T/B/X`, events: ['attack_start', 'attack_end'] },
      email: { smtp_host: '127.0.0.1', smtp_port: smtp.port, from: 'bw@example.net', to: 'noc@example.net', require_tls: false, events: ['ban'] },
      exec: { command: script, format: 'fastnetmon', timeout_seconds: 10 },
    },
  };
  const cfgFile = join(dir, 'breakwater.yaml');
  writeYaml(cfgFile, cfg);
  bw = await startBreakwater(cfgFile, cfg);
  const replay = () => execFileSync(process.execPath, [join(repoRoot, 'src/main.ts'), 'replay', CAPTURE, '--to', `127.0.0.1:${bw!.sflowPort}`, '--speed', '0'], { encoding: 'utf8', timeout: 30_000 });
  const whEvents = () => wh.received.flatMap((r) => JSON.parse(r.body).events as any[]);
  const count = (evs: any[]) => {
    const c: Record<string, number> = {};
    for (const e of evs) c[e.event] = (c[e.event] ?? 0) + 1;
    return c;
  };

  // ---- 1. replay: attack, ban, exporter silent, attack end, unban.
  replay();
  await waitFor('unban on the webhook', () => whEvents().some((e) => e.event === 'unban'), 40_000, 100);
  await waitFor('exporter_silent on the webhook', () => whEvents().some((e) => e.event === 'exporter_silent'), 20_000, 100);
  await new Promise((r) => setTimeout(r, 1500));
  assert.deepEqual(count(whEvents()), { mode_change: 1, attack_start: 1, ban: 1, attack_end: 1, unban: 1, exporter_silent: 1 }, JSON.stringify(whEvents().map((e) => e.event)));
  const started = whEvents().find((e) => e.event === 'mode_change');
  assert.deepEqual([started.who, started.from, started.to, started.mode], ['start', undefined, 'dry_run', 'dry_run'], 'the start announces its mode');
  for (const r of wh.received) {
    assert.equal(r.headers['x-breakwater-signature'], 'sha256=' + createHmac('sha256', 'e2e-hmac').update(r.body).digest('hex'));
    assert.deepEqual(validateJsonSchema(schema, JSON.parse(r.body)), []);
  }
  const ban = whEvents().find((e) => e.event === 'ban');
  assert.equal(ban.target, VICTIM);
  assert.equal(ban.mode, 'dry_run');
  assert.equal(ban.route.prefix, `${VICTIM}/32`);
  assert.ok(ban.route.communities.includes('65000:666'), JSON.stringify(ban.route));
  assert.equal(ban.vector, 'syn_flood');
  assert.deepEqual(ban.neighbors, []);
  assert.equal(whEvents().find((e) => e.event === 'exporter_silent').exporter, '127.0.0.1');
  const tgTexts = tg.received.map((r) => JSON.parse(r.body).text as string);
  assert.equal(tgTexts.length, 2, tgTexts.join('\n---\n'));
  assert.match(tgTexts[0], /ban 198\.51\.100\.10 \(dry-run\)/);
  assert.match(tgTexts[1], /unban 198\.51\.100\.10 \(dry-run\)/);
  assert.equal(slack.received.length, 2, slack.received.map((r) => r.body).join('\n'));
  assert.match(JSON.parse(slack.received[0].body).text, /attack on 198\.51\.100\.10: syn_flood/);
  assert.match(JSON.parse(slack.received[1].body).text, /attack on 198\.51\.100\.10 ended/);
  const mails = await smtp.waitFor(1);
  assert.equal(mails.length, 1, mails.join('\n---\n'));
  assert.match(mails[0], /Subject: Breakwater: ban 198\.51\.100\.10 \(dry-run\)/);
  const r1 = readScriptRuns(runs);
  assert.deepEqual(r1.map((r) => [r.argv[0], r.argv[1], r.argv[3]]), [[VICTIM, 'incoming', 'attack_details']], `dry-run: only attack_details; ${JSON.stringify(r1.map((r) => r.argv))}`);
  assert.ok(Number(r1[0].argv[2]) > 10_000, `pps ${r1[0].argv[2]}`);

  // ---- 2. the webhook receiver goes down; a second attack; kill -9 with it in the outbox.
  await wh.stopListening();
  const before = wh.received.length;
  replay();
  await waitFor('round 2 queued for the webhook', async () => {
    const st = await bw!.api('GET', '/api/v1/status');
    const w = st.json?.notify?.channels?.webhook;
    // Telegram is up: it gets the second ban while the webhook's rows wait.
    return w && w.queued >= 3 && /ECONNREFUSED/.test(w.last_error ?? '') && tg.received.length >= 3 ? w : undefined;
  }, 30_000, 100);
  await bw.kill9();
  await wh.start();
  bw = await startBreakwater(cfgFile, cfg);
  await waitFor('round 2 delivered after the restart', () => whEvents().filter((e) => e.event === 'ban').length >= 2 && whEvents().some((e) => e.event === 'exporter_back'), 30_000, 100);
  await new Promise((r) => setTimeout(r, 1500));
  const round2 = wh.received.slice(before).flatMap((r) => JSON.parse(r.body).events as any[]);
  const c2 = count(round2);
  assert.equal(c2.attack_start, 1, JSON.stringify(c2));
  assert.equal(c2.ban, 1, JSON.stringify(c2));
  assert.equal(c2.exporter_back, 1, JSON.stringify(c2));
  const keys = round2.map((e) => `${e.event}/${e.attack_id ?? ''}/${e.ban_id ?? ''}/${e.exporter ?? ''}`);
  assert.equal(new Set(keys).size, keys.length, `no event delivered twice: ${keys.join(' ')}`);
  assert.equal(new Set(wh.received.map((r) => r.headers['x-breakwater-delivery'])).size, wh.received.length, 'each delivery id once');
  const st = await bw.api('GET', '/api/v1/status');
  assert.equal(st.json.notify.channels.webhook.failed, 0);
});
