/**
 * `breakwater notify-test -config F [channel]` as a real process against real
 * receivers: one line per channel, exit 1 when any failed, 0 when all worked,
 * 2 when no channel is configured.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { readScriptRuns, startHttpReceiver, startTelegram, writeNotifyScript } from './receivers.ts';

const main = resolve(import.meta.dirname, '../../src/main.ts');

function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res) => {
    execFile(process.execPath, [main, ...args], { env: { ...process.env, ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      res({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

test('notify-test sends a test message to each channel and reports each result', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bw-notify-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const wh = await startHttpReceiver();
  const tg = await startTelegram('42:tok');
  const broken = await startHttpReceiver(() => ({ status: 404, body: 'no_service' }));
  t.after(() => wh.close());
  t.after(() => tg.close());
  t.after(() => broken.close());
  const out = join(dir, 'runs.jsonl');
  const script = writeNotifyScript(dir, out);
  const cfgFile = join(dir, 'bw.yaml');
  writeFileSync(
    cfgFile,
    stringify({
      storage: { data_dir: join(dir, 'data') },
      notify: {
        webhook: { url: wh.url + '/hook', secret_env: 'BW_CLI_SECRET' },
        telegram: { token_env: 'BW_CLI_TG', chat_id: 7, api_url: tg.url },
        slack: { webhook_url: broken.url + '/services/x' },
        exec: { command: script, format: 'fastnetmon' },
      },
    }),
  );
  const env = { BW_CLI_SECRET: 'k', BW_CLI_TG: '42:tok' };
  const all = await run(['notify-test', '-config', cfgFile], env);
  assert.equal(all.code, 1, all.stdout + all.stderr);
  const lines = all.stdout.trim().split('\n');
  assert.equal(lines.length, 4);
  assert.match(all.stdout, /^telegram\s+ok\b/m);
  assert.match(all.stdout, /^webhook\s+ok\b/m);
  assert.match(all.stdout, /^exec\s+ok\b/m);
  assert.match(all.stdout, /^slack\s+FAILED\s+\d+ ms\s+HTTP 404: no_service$/m);
  const body = JSON.parse(wh.received[0].body);
  assert.equal(body.event, 'test');
  assert.match(JSON.parse(tg.received[0].body).text, /Breakwater: test message/);
  // FastNetMon scripts get the harmless attack_details action for a documentation address.
  assert.deepEqual(readScriptRuns(out)[0].argv, ['192.0.2.1', 'incoming', '0', 'attack_details']);

  const one = await run(['notify-test', '-config', cfgFile, '-json', 'webhook'], env);
  assert.equal(one.code, 0, one.stdout + one.stderr);
  assert.equal(JSON.parse(one.stdout.trim()).channel, 'webhook');
  assert.equal(wh.received.length, 2);

  const unknown = await run(['notify-test', '-config', cfgFile, 'pager'], env);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown channel pager/);

  const none = join(dir, 'none.yaml');
  writeFileSync(none, stringify({ storage: { data_dir: join(dir, 'data') }, notify: { webhook: { url: '' } } }));
  const r = await run(['notify-test', '-config', none]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /no notification channel is configured/);
});
