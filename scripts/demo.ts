/**
 * `npm run demo [-- --exit] [-- --config FILE]`: the quick start in one command.
 *
 * Starts the daemon on examples/breakwater.yaml (dry-run, loopback listeners,
 * SQLite in ./data, no BGP neighbor), replays the bundled sFlow capture of an
 * NTP amplification (about 12,000 pps for 8 s inside 16 s of traffic,
 * pcaps/README.md) into it AT THE CAPTURE'S OWN PACE, and prints the attack
 * the daemon detected with the route it WOULD announce, read from
 * GET /api/v1/attacks. Only an attack that started during this run counts (an
 * earlier run's attack stays in ./data). The example's pps threshold (10,000)
 * is below the attack's real rate, so this is a real detection, the same one
 * `breakwater detect -config examples/breakwater.yaml CAPTURE` reports.
 *
 * The daemon runs in its own process group: Ctrl-C in the terminal reaches
 * only this script, which stops the daemon with one SIGTERM (a graceful stop).
 * The daemon then keeps running until Ctrl-C unless --exit is given.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';

const root = resolve(import.meta.dirname, '..');
const args = process.argv.slice(2);
const exitAfter = args.includes('--exit');
const ci = args.indexOf('--config');
const configFile = ci >= 0 ? resolve(args[ci + 1]) : join(root, 'examples/breakwater.yaml');
/** The capture, its target and its documented rate (pcaps/README.md, "Attack as exported"). */
const DEMO_CAPTURE = { file: 'pcaps/pmacct-sflow5-sampled-ntp-amp.pcap', target: '203.0.113.20', vector: 'ntp_amplification' } as const;
const capture = join(root, DEMO_CAPTURE.file);
const cfg = parse(readFileSync(configFile, 'utf8'));
const api = `http://${cfg.api?.listen ?? '127.0.0.1:8080'}`;
const main = join(root, 'src/main.ts');

const say = (s: string) => process.stdout.write(`\x1b[1m==> ${s}\x1b[0m\n`);

say(`starting breakwater -config ${configFile} (dry-run)`);
const runStart = Date.now();
const daemon = spawn(process.execPath, [main, '-config', configFile, '-log-format', 'text', '-log-level', 'warn'], {
  cwd: root,
  stdio: ['ignore', 'inherit', 'inherit'],
  // Its own process group: the terminal's Ctrl-C goes to this script only, which sends one SIGTERM.
  detached: true,
});
let stopping = false;
const stop = (code: number) => {
  if (stopping) return;
  stopping = true;
  try {
    daemon.kill('SIGTERM');
  } catch {
    /* gone */
  }
  daemon.once('exit', (c, sig) => {
    say(`breakwater stopped (${sig ?? `exit ${c}`})`);
    process.exit(code);
  });
  setTimeout(() => {
    daemon.kill('SIGKILL');
    process.exit(code || 1);
  }, 15_000).unref();
};
daemon.once('exit', (code) => {
  if (!stopping) {
    process.stderr.write(`breakwater exited (${code}) before the demo finished; is something else using the ports in ${configFile}?\n`);
    process.exit(1);
  }
});
process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));
process.on('exit', () => {
  if (daemon.exitCode === null && daemon.signalCode === null) daemon.kill('SIGKILL');
});

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

const startedMs = (a: any): number => (typeof a.start === 'number' ? a.start : Date.parse(a.start));

try {
  await until('GET /healthz', async () => ((await get('/healthz')).status === 200 ? true : undefined), 30_000);
  say(`replaying ${DEMO_CAPTURE.file} into ${cfg.listen.sflow} at the capture's own pace (16 s; the attack runs from 4 s to 12 s)`);
  await new Promise<void>((res, rej) => {
    const r = spawn(process.execPath, [main, 'replay', capture, '--to', cfg.listen.sflow, '--speed', '1'], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
    r.once('exit', (c) => (c === 0 ? res() : rej(new Error(`breakwater replay exited ${c}`))));
  });
  const attack = await until(
    'an attack on 203.0.113.20 that started during this run in GET /api/v1/attacks',
    async () => (await get('/api/v1/attacks')).json.attacks?.find((a: any) => a.target === DEMO_CAPTURE.target && startedMs(a) >= runStart),
    30_000,
  );
  say('detected (GET /api/v1/attacks):');
  const { target, direction, vector, triggers, thresholds, peak_pps, peak_mbps, route, mode } = attack;
  const start = new Date(startedMs(attack)).toISOString();
  process.stdout.write(JSON.stringify({ target, direction, vector, start, triggers, thresholds, peak_pps, peak_mbps, mode, route }, null, 2) + '\n');
  const status = (await get('/api/v1/status')).json;
  say(`mode ${status.mode}: the route above was NOT announced. API: ${api}/api/v1/{status,attacks,bans,hosts}, metrics: ${api}/metrics`);
  say(`the same verdict offline: npm run breakwater -- detect -config ${configFile} ${DEMO_CAPTURE.file}`);
  if (exitAfter) stop(0);
  else say('breakwater keeps running; Ctrl-C stops it');
} catch (e) {
  process.stderr.write(`demo failed: ${(e as Error).message}\n`);
  stop(1);
}
