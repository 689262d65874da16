/**
 * `npm run demo [-- --exit] [-- --config FILE]`: the quick start in one command.
 * Starts the daemon on examples/breakwater.yaml (dry-run, loopback listeners,
 * SQLite in ./data, no BGP neighbor), replays a bundled sFlow capture of an
 * NTP amplification attack into it with `breakwater replay`, and prints the
 * attack the daemon detected with the route it WOULD announce, read from
 * GET /api/v1/attacks. The daemon then keeps running (Ctrl-C stops it) unless
 * --exit is given.
 */
import { spawn, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';

const root = resolve(import.meta.dirname, '..');
const args = process.argv.slice(2);
const exitAfter = args.includes('--exit');
const ci = args.indexOf('--config');
const configFile = ci >= 0 ? resolve(args[ci + 1]) : join(root, 'examples/breakwater.yaml');
const capture = join(root, 'pcaps/pmacct-sflow5-sampled-ntp-amp.pcap');
const cfg = parse(readFileSync(configFile, 'utf8'));
const api = `http://${cfg.api?.listen ?? '127.0.0.1:8080'}`;
const main = join(root, 'src/main.ts');

const say = (s: string) => process.stdout.write(`\x1b[1m==> ${s}\x1b[0m\n`);

say(`starting breakwater -config ${configFile} (dry-run)`);
const daemon = spawn(process.execPath, [main, '-config', configFile, '-log-format', 'text'], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
let stopping = false;
const stop = (code: number) => {
  stopping = true;
  daemon.kill('SIGTERM');
  daemon.once('exit', () => process.exit(code));
  setTimeout(() => process.exit(code), 10_000).unref();
};
daemon.once('exit', (code) => {
  if (!stopping) {
    process.stderr.write(`breakwater exited (${code}) before the demo finished; is something else using the ports in ${configFile}?\n`);
    process.exit(1);
  }
});
process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));

async function get(path: string): Promise<{ status: number; json: any }> {
  const r = await fetch(api + path);
  return { status: r.status, json: r.headers.get('content-type')?.includes('json') ? await r.json() : await r.text() };
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch {
      /* not up yet */
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

try {
  await until('GET /healthz', async () => ((await get('/healthz')).status === 200 ? true : undefined), 30_000);
  say(`replaying ${capture} into ${cfg.listen.sflow}`);
  execFileSync(process.execPath, [main, 'replay', capture, '--to', cfg.listen.sflow, '--speed', '0'], { cwd: root, stdio: 'inherit' });
  const attack = await until(
    'the attack in GET /api/v1/attacks',
    async () => (await get('/api/v1/attacks')).json.attacks?.find((a: any) => a.target === '203.0.113.20'),
    30_000,
  );
  say('detected (GET /api/v1/attacks):');
  const { target, direction, vector, peak_pps, peak_mbps, route, mode } = attack;
  process.stdout.write(JSON.stringify({ target, direction, vector, peak_pps, peak_mbps, mode, route }, null, 2) + '\n');
  const status = (await get('/api/v1/status')).json;
  say(`mode ${status.mode}: the route above was NOT announced. API: ${api}/api/v1/{status,attacks,bans,hosts}, metrics: ${api}/metrics`);
  if (exitAfter) stop(0);
  else say('breakwater keeps running; Ctrl-C stops it');
} catch (e) {
  process.stderr.write(`demo failed: ${(e as Error).message}\n`);
  stop(1);
}
