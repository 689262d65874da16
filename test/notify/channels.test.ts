/**
 * Each channel against a real receiver on loopback: the signed webhook
 * (HMAC checked, body validated against docs/webhook.schema.json), a fake
 * Telegram Bot API, a Slack endpoint, aiosmtpd, and a FastNetMon-style
 * notify script run without a shell.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, existsSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { WebhookChannel } from '../../src/notify/channels/webhook.ts';
import { TelegramChannel } from '../../src/notify/channels/telegram.ts';
import { SlackChannel } from '../../src/notify/channels/slack.ts';
import { EmailChannel } from '../../src/notify/channels/email.ts';
import { ExecChannel } from '../../src/notify/channels/exec.ts';
import { buildChannels } from '../../src/notify/channels/index.ts';
import { splitCommand } from '../../src/notify/argv.ts';
import { webhookJsonSchema } from '../../src/notify/payload.ts';
import { validateConfig } from '../../src/config/load.ts';
import type { Message, NotifyEvent } from '../../src/notify/event.ts';
import { T0, banEvent } from './events.ts';
import { hasAiosmtpd, readScriptRuns, startHttpReceiver, startSlack, startSmtp, startTelegram, validateJsonSchema, writeNotifyScript } from './receivers.ts';

const schema = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../docs/webhook.schema.json'), 'utf8'));

const msg = (events: NotifyEvent[], id = 'webhook-1'): Message => ({ id, channel: 'x', event: events[0].event, events });

function tmp(t: { after(fn: () => void): void }): string {
  const d = mkdtempSync(join(tmpdir(), 'bw-notify-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

test('the published JSON Schema is the one generated from the payload schema (node scripts/webhook-schema.ts)', () => {
  assert.deepEqual(schema, JSON.parse(JSON.stringify(webhookJsonSchema())));
});

test('webhook: signed POST, bearer token, body valid against docs/webhook.schema.json, single and grouped', async (t) => {
  const rx = await startHttpReceiver();
  t.after(() => rx.close());
  process.env.BW_TEST_WH_SECRET = 's3cret-key';
  process.env.BW_TEST_WH_TOKEN = 'tok-123';
  const ch = new WebhookChannel({ url: `${rx.url}/hook`, token_env: 'BW_TEST_WH_TOKEN', secret_env: 'BW_TEST_WH_SECRET' });
  await ch.send(msg([banEvent('198.51.100.7')]), 5000);
  await ch.send(msg([banEvent('198.51.100.8', 'dry_run'), banEvent('198.51.100.9', 'dry_run')], 'webhook-2'), 5000);
  await ch.send(msg([{ event: 'bgp_down', time: T0, mode: 'live', neighbor: '127.0.0.2', state: 'Idle', reason: 'hold timer expired' }], 'webhook-3'), 5000);
  assert.equal(rx.received.length, 3);
  for (const r of rx.received) {
    assert.equal(r.path, '/hook');
    assert.equal(r.headers['content-type'], 'application/json');
    assert.equal(r.headers.authorization, 'Bearer tok-123');
    const expect = 'sha256=' + createHmac('sha256', 's3cret-key').update(r.body).digest('hex');
    assert.equal(r.headers['x-breakwater-signature'], expect, 'HMAC of the exact body bytes');
    const body = JSON.parse(r.body);
    assert.deepEqual(validateJsonSchema(schema, body), [], r.body);
    assert.equal(body.schema_version, 1);
    assert.equal(r.headers['x-breakwater-delivery'], body.id);
  }
  const one = JSON.parse(rx.received[0].body);
  assert.equal(one.event, 'ban');
  assert.equal(one.count, 1);
  assert.equal(one.target, '198.51.100.7');
  assert.equal(one.mode, 'live');
  assert.equal(one.time, '2026-12-07T12:00:00.000Z');
  assert.deepEqual(one.route, { type: 'blackhole', prefix: '198.51.100.7/32', next_hop: '192.0.2.1', communities: ['65535:666'], large_communities: [] });
  assert.deepEqual(one.neighbors, ['127.0.0.2']);
  assert.equal(one.rates.pps, 123456.7);
  const group = JSON.parse(rx.received[1].body);
  assert.equal(group.count, 2);
  assert.deepEqual(group.events.map((e: any) => e.target), ['198.51.100.8', '198.51.100.9']);
  // A body that breaks the schema is caught by the validator (the test is not vacuous).
  assert.notDeepEqual(validateJsonSchema(schema, { ...one, mode: 'maybe', count: 0 }), []);
});

test('webhook: no secret → no signature header; non-2xx and a missing secret variable are errors', async (t) => {
  const rx = await startHttpReceiver((r) => (r.path === '/bad' ? { status: 500, body: 'boom' } : { body: 'ok' }));
  t.after(() => rx.close());
  await new WebhookChannel({ url: rx.url + '/' }).send(msg([banEvent('198.51.100.7')]), 5000);
  assert.equal(rx.received[0].headers['x-breakwater-signature'], undefined);
  await assert.rejects(new WebhookChannel({ url: rx.url + '/bad' }).send(msg([banEvent('198.51.100.7')]), 5000), /HTTP 500/);
  delete process.env.BW_TEST_UNSET;
  await assert.rejects(new WebhookChannel({ url: rx.url + '/', secret_env: 'BW_TEST_UNSET' }).send(msg([banEvent('198.51.100.7')]), 5000), /BW_TEST_UNSET is not set/);
});

test('a receiver that accepts and never answers: the send fails at the time limit', async (t) => {
  const rx = await startHttpReceiver();
  t.after(() => rx.close());
  rx.behaviour = 'hang';
  const t0 = performance.now();
  await assert.rejects(new WebhookChannel({ url: rx.url }).send(msg([banEvent('198.51.100.7')]), 300), /timeout after 300 ms/);
  const ms = performance.now() - t0;
  assert.ok(ms >= 250 && ms < 3000, `${ms} ms`);
});

test('telegram: sendMessage on the Bot API at api_url, with the token in the path and kept out of errors', async (t) => {
  const token = '123456:ABC-def_secret';
  const rx = await startTelegram(token);
  t.after(() => rx.close());
  process.env.BW_TEST_TG = token;
  await new TelegramChannel({ token_env: 'BW_TEST_TG', chat_id: '-1001234567890', api_url: rx.url }).send(msg([banEvent('198.51.100.7', 'dry_run')]), 5000);
  const m = JSON.parse(rx.received[0].body);
  assert.equal(m.chat_id, '-1001234567890');
  assert.match(m.text, /^Breakwater: ban 198\.51\.100\.7 \(dry-run\)/);
  assert.match(m.text, /blackhole 198\.51\.100\.7\/32 next-hop 192\.0\.2\.1/);
  assert.match(m.text, /mode: dry-run \(nothing announced\)/);
  process.env.BW_TEST_TG = 'wrong:token';
  const err = await new TelegramChannel({ token_env: 'BW_TEST_TG', chat_id: 1, api_url: rx.url }).send(msg([banEvent('198.51.100.7')]), 5000).catch((e: Error) => e);
  assert.ok(err instanceof Error);
  assert.match(err.message, /HTTP 404/);
  assert.doesNotMatch(err.message, /wrong:token/);
  // The default base is the official Bot API.
  const cfg = validateConfig({ notify: { telegram: { token_env: 'X', chat_id: 1 } } });
  assert.equal(cfg.notify.telegram?.api_url, 'https://api.telegram.org');
});

test('slack: incoming webhook with header, section and context blocks; a burst is one message with the count', async (t) => {
  const rx = await startSlack();
  t.after(() => rx.close());
  const ch = new SlackChannel({ webhook_url: rx.url + '/services/T0/B0/X' });
  const many = Array.from({ length: 30 }, (_, i) => banEvent(`198.51.100.${i + 10}`));
  await ch.send(msg(many), 5000);
  const m = JSON.parse(rx.received[0].body);
  assert.deepEqual(m.blocks.map((b: any) => b.type), ['header', 'section', 'context']);
  assert.equal(m.blocks[0].text.text, 'Breakwater: 30 bans');
  assert.match(m.blocks[1].text.text, /ban 198\.51\.100\.10/);
  assert.match(m.blocks[1].text.text, /\.\.\. and 10 more/);
  assert.match(m.blocks[2].elements[0].text, /mode: live/);
});

test('email through a real SMTP server (aiosmtpd): subject, body and the JSON attachment; credentials require STARTTLS', { skip: !hasAiosmtpd() && 'python3-aiosmtpd is not installed' }, async (t) => {
  const dir = tmp(t);
  const smtp = await startSmtp(join(dir, 'mail'));
  t.after(() => smtp.stop());
  const base = { smtp_host: '127.0.0.1', smtp_port: smtp.port, from: 'ddos@example.net', to: ['noc@example.net', 'oncall@example.net'], require_tls: false };
  await new EmailChannel(base).send(msg([banEvent('198.51.100.7')], 'email-7'), 5000);
  const [m] = await smtp.waitFor(1);
  assert.match(m, /^X-Rcpt: noc@example\.net,oncall@example\.net/);
  assert.match(m, /Subject: Breakwater: ban 198\.51\.100\.7/);
  assert.match(m, /X-Breakwater-Delivery: email-7/);
  assert.match(m, /filename=event\.json/);
  assert.match(m, /blackhole 198\.51\.100\.7\/32 next-hop 192\.0\.2\.1/);
  // aiosmtpd here offers no STARTTLS: with credentials (or require_tls) nothing is sent in clear.
  process.env.BW_TEST_SMTP_USER = 'u';
  process.env.BW_TEST_SMTP_PASS = 'p';
  await assert.rejects(new EmailChannel({ ...base, username_env: 'BW_TEST_SMTP_USER', password_env: 'BW_TEST_SMTP_PASS' }).send(msg([banEvent('198.51.100.8')]), 5000), /STARTTLS|TLS/i);
  await assert.rejects(new EmailChannel({ ...base, require_tls: true }).send(msg([banEvent('198.51.100.9')]), 5000), /STARTTLS|TLS/i);
  assert.equal(smtp.messages().length, 1, 'nothing sent without TLS');
});

test('exec, format fastnetmon: the notify-script contract; dry-run passes only attack_details; no shell, no daemon secrets', async (t) => {
  const dir = tmp(t);
  const out = join(dir, 'runs.jsonl');
  const script = writeNotifyScript(dir, out);
  process.env.BW_TEST_DAEMON_SECRET = 'must-not-leak';
  const ch = new ExecChannel({ command: `${script} --extra 'two words'`, timeout_seconds: 10, format: 'fastnetmon' });
  await ch.send(msg([banEvent('198.51.100.7', 'live')]));
  await ch.send(msg([{ ...banEvent('198.51.100.7', 'live'), event: 'unban', reason: 'expired' }]));
  await ch.send(msg([banEvent('198.51.100.8', 'dry_run'), banEvent('198.51.100.9', 'dry_run')]));
  await ch.send(msg([{ ...banEvent('198.51.100.8', 'dry_run'), event: 'unban' }]));
  await ch.send(msg([{ event: 'attack_start', time: T0, mode: 'live', target: '198.51.100.10' }]));
  const runs = readScriptRuns(out);
  assert.deepEqual(
    runs.map((r) => r.argv),
    [
      ['--extra', 'two words', '198.51.100.7', 'incoming', '123457', 'ban'],
      ['--extra', 'two words', '198.51.100.7', 'incoming', '123457', 'unban'],
      ['--extra', 'two words', '198.51.100.8', 'incoming', '123457', 'attack_details'],
      ['--extra', 'two words', '198.51.100.9', 'incoming', '123457', 'attack_details'],
    ],
  );
  assert.match(runs[0].stdin, /^IP: 198\.51\.100\.7\nAttack type: ntp_amplification\n/);
  assert.match(runs[2].stdin, /dry-run: not announced/);
  for (const r of runs) {
    assert.equal(r.env.BW_TEST_DAEMON_SECRET, undefined, 'daemon environment not passed');
    assert.deepEqual(Object.keys(r.env).filter((k) => !['PATH', 'LANG', 'PWD', 'SHLVL', '_', 'LC_CTYPE'].includes(k)), []);
  }
});

test('exec, format breakwater (and kapkan): event name as the last argument, the JSON body on stdin; a failing program is an error', async (t) => {
  const dir = tmp(t);
  const out = join(dir, 'runs.jsonl');
  const script = writeNotifyScript(dir, out);
  for (const format of ['breakwater', 'kapkan'] as const) await new ExecChannel({ command: [script, 'a b'], timeout_seconds: 10, format }).send(msg([banEvent('198.51.100.7', 'dry_run')], `exec-${format}`));
  const runs = readScriptRuns(out);
  assert.equal(runs.length, 2);
  for (const r of runs) {
    assert.deepEqual(r.argv, ['a b', 'ban']);
    const body = JSON.parse(r.stdin);
    assert.deepEqual(validateJsonSchema(schema, body), []);
    assert.equal(body.target, '198.51.100.7');
    assert.equal(body.mode, 'dry_run');
  }
  const fail = join(dir, 'fail.sh');
  writeFileSync(fail, '#!/bin/sh\necho nope >&2\nexit 3\n');
  chmodSync(fail, 0o755);
  await assert.rejects(new ExecChannel({ command: fail, timeout_seconds: 10, format: 'breakwater' }).send(msg([banEvent('198.51.100.7')])), /exit 3: nope/);
  await assert.rejects(new ExecChannel({ command: join(dir, 'missing'), timeout_seconds: 10, format: 'breakwater' }).send(msg([banEvent('198.51.100.7')])), /ENOENT/);
  // Shell syntax is not interpreted: `;` is an ordinary argument.
  assert.deepEqual(splitCommand(`/bin/echo a; rm -rf "/x y" 'z'`), ['/bin/echo', 'a;', 'rm', '-rf', '/x y', 'z']);
});

test('exec: at the time limit the whole process group is killed (the script and its children)', async (t) => {
  const dir = tmp(t);
  const pids = join(dir, 'pids');
  const script = join(dir, 'slow.sh');
  writeFileSync(script, `#!/bin/sh\nsleep 30 &\necho $! > '${pids}'\necho $$ >> '${pids}'\nwait\n`);
  chmodSync(script, 0o755);
  const t0 = performance.now();
  await assert.rejects(new ExecChannel({ command: script, timeout_seconds: 1, format: 'breakwater' }).send(msg([banEvent('198.51.100.7')])), /killed after 1000 ms/);
  assert.ok(performance.now() - t0 < 5000);
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
    } catch {
      return false;
    }
  };
  const list = readFileSync(pids, 'utf8').trim().split('\n').map(Number);
  assert.equal(list.length, 2);
  const end = Date.now() + 3000;
  while (list.some(alive) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(list.filter(alive), [], 'the script and its background child are gone');
});

test('configs written for other tools load unchanged; an empty url, webhook_url, smtp_host or command switches the channel off', () => {
  const off = validateConfig({
    notify: {
      telegram: { token_env: 'T', chat_id: '1' },
      slack: { webhook_url: '' },
      email: { smtp_host: '', from: 'a@example.net', to: 'b@example.net' },
      webhook: { url: '' },
      exec: { command: '', timeout_seconds: 5 },
    },
  });
  assert.deepEqual([...buildChannels(off.notify).keys()], ['telegram']);
  const on = validateConfig({
    notify: {
      slack: { webhook_url: 'https://hooks.slack.com/services/T/B/X', events: ['ban', 'unban'] },
      email: { smtp_host: 'smtp.example.net', from: 'a@example.net', to: ['b@example.net'] },
      webhook: { url: 'https://noc.example.net/hook', secret_env: 'S' },
      exec: { command: '/usr/local/bin/notify', format: 'fastnetmon' },
    },
  });
  const chans = buildChannels(on.notify);
  assert.deepEqual([...chans.keys()], ['slack', 'email', 'webhook', 'exec']);
  assert.deepEqual([...(chans.get('slack')!.events ?? [])], ['ban', 'unban']);
  assert.equal(chans.get('webhook')!.events, undefined);
  assert.throws(() => validateConfig({ notify: { webhook: { url: 'not a url' } } }), /notify\.webhook\.url/);
  assert.throws(() => validateConfig({ notify: { slack: { webhook_url: 'https://x.example', events: ['bann'] } } }), /notify\.slack\.events/);
});
