/**
 * docs/going-live.md, word for word: every shell command of the page runs
 * against a running Breakwater (the daemon is the page's own
 * `breakwater ... | grep "bgp peer state"` pipeline) with BIRD as its
 * neighbor, and shows what the page says it shows. The page's paths
 * (/etc/breakwater, /var/lib/breakwater, localhost:8080) are mapped to a
 * temporary directory and a free port; `breakwater` runs src/main.ts; `sudo`
 * runs its command; `systemctl reload breakwater` does what the packaged
 * unit's ExecReload does (`kill -HUP $MAINPID`). A command added to the page
 * without a check here fails the test.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Bird, birdAvailable, birdConfig } from '../helpers/bird.ts';
import { loopbackBlock, removeDir, tempDir, waitFor } from '../helpers/netns.ts';
import { freePort, repoRoot, writeYaml } from './helpers.ts';

const skip = birdAvailable() ? false : 'BIRD 2 (bird, birdc) not installed or not root';
const PAGE = join(repoRoot, 'docs/going-live.md');
const CAPTURE = join(repoRoot, 'pcaps/pmacct-sflow5-sampled-syn-flood.pcap');
const VICTIM = '198.51.100.10';

/** The shell commands of the page's ```sh blocks, one per line, in page order. */
export function pageCommands(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/```sh\n([\s\S]*?)```/g)) {
    for (const line of m[1].split('\n')) if (line.trim() && !line.trim().startsWith('#')) out.push(line.trim());
  }
  return out;
}

const CMD = {
  check: 'breakwater -config /etc/breakwater/breakwater.yaml -check-config',
  attacks: `curl -s localhost:8080/api/v1/attacks | jq '.attacks[] | {target, vector, peak_pps, route, mode}'`,
  daemon: 'breakwater -config /etc/breakwater/breakwater.yaml -log-format text | grep "bgp peer state"',
  neighbors: `curl -s localhost:8080/api/v1/status | jq '.neighbors[] | {address, state}'`,
  live: `sudo sed -i 's/^dry_run: true/dry_run: false/' /etc/breakwater/breakwater.yaml`,
  reload: 'sudo systemctl reload breakwater',
  hup: 'sudo kill -HUP $(cat /var/lib/breakwater/breakwater.pid)',
  sReload: 'sudo breakwater -config /etc/breakwater/breakwater.yaml -s reload',
  apiReload: `curl -s -X POST -H 'Content-Type: application/json' localhost:8080/api/v1/config/reload`,
  mode: 'curl -s localhost:8080/api/v1/status | jq -r .mode',
  metric: 'curl -s localhost:8080/metrics | grep breakwater_mitigate_announced_routes',
  bans: `curl -s localhost:8080/api/v1/bans | jq '.bans[] | {target, active, announced_to, ttl_left_seconds}'`,
  dry: `sudo sed -i 's/^dry_run: false/dry_run: true/' /etc/breakwater/breakwater.yaml`,
} as const;

test('docs/going-live.md: the page holds exactly the commands this test checks', () => {
  const c = CMD;
  assert.deepEqual(pageCommands(readFileSync(PAGE, 'utf8')), [c.check, c.attacks, c.daemon, c.neighbors, c.live, c.reload, c.hup, c.sReload, c.apiReload, c.mode, c.metric, c.bans, c.dry, c.reload]);
});

test('docs/going-live.md: every command works against a running daemon with BIRD as its neighbor', { skip, timeout: 240_000 }, async (t) => {
  const dir = tempDir('bw-golive-');
  const data = join(dir, 'data');
  const bin = join(dir, 'bin');
  mkdirSync(data);
  mkdirSync(bin);
  const L = loopbackBlock();
  const birdPort = freePort();
  const api = freePort();
  const sflow = freePort();
  const file = join(dir, 'breakwater.yaml');
  const shim = (name: string, body: string) => {
    writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`);
    chmodSync(join(bin, name), 0o755);
  };
  shim('breakwater', `exec "${process.execPath}" "${join(repoRoot, 'src/main.ts')}" "$@"`);
  shim('sudo', 'exec "$@"');
  shim('systemctl', `[ "$1" = reload ] && [ "$2" = breakwater ] || { echo "systemctl shim: $*" >&2; exit 1; }\nexec /bin/kill -HUP "$(cat "${data}/breakwater.pid")"`);
  const env = { ...process.env, PATH: `${bin}:${process.env.PATH}` };
  const local = (cmd: string) => cmd.replaceAll('/etc/breakwater/breakwater.yaml', file).replaceAll('/var/lib/breakwater', data).replaceAll('localhost:8080', `127.0.0.1:${api}`);
  const sh = (cmd: string) => {
    const r = spawnSync('sh', ['-c', local(cmd)], { env, encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, `${cmd}\n${r.stdout}${r.stderr}`);
    return r.stdout;
  };

  const bird = new Bird(birdConfig({ routerId: L(2), localAddress: L(2), localPort: birdPort, localAsn: 65001, peerAddress: L(1), peerPort: freePort(), peerAsn: 65000, holdTime: 9, passive: true, families: ['ipv4', 'ipv6'] }));
  let daemon: ReturnType<typeof spawn> | undefined;
  t.after(async () => {
    if (daemon?.pid) {
      try {
        process.kill(-daemon.pid, 'SIGTERM');
      } catch {
        /* gone */
      }
      await new Promise((r) => (daemon!.exitCode !== null ? r(null) : daemon!.once('exit', r)));
    }
    await bird.dispose();
    removeDir(dir);
  });
  await bird.start();
  writeYaml(file, {
    dry_run: true,
    listen: { netflow: '', sflow: `127.0.0.1:${sflow}`, workers: 1 },
    networks: ['198.51.100.0/24'],
    protected_whitelist: ['198.51.100.1/32'],
    thresholds: { pps: 10_000 },
    ban: { ttl_seconds: 600, unban_hysteresis_seconds: 60 },
    bgp: { local_asn: 65000, router_id: L(1), next_hop: '192.0.2.1', connect_retry_seconds: 1, neighbors: [{ address: L(2), port: birdPort, remote_asn: 65001, local_address: L(1), hold_time: 9 }] },
    api: { listen: `127.0.0.1:${api}` },
    storage: { data_dir: data },
  });
  assert.match(readFileSync(file, 'utf8'), /^dry_run: true$/m, 'the line the page\'s sed edits');

  // 1. -check-config
  assert.match(sh(CMD.check), /^dry_run: true$/m);

  // 2. the daemon, through the page's own pipeline: grep shows the FSM transitions up to Established.
  let grepped = '';
  // On a terminal grep writes each line at once; into a pipe it would buffer 4 KiB: stdbuf -oL gives the terminal's behaviour.
  daemon = spawn('stdbuf', ['-oL', 'sh', '-c', local(CMD.daemon)], { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  daemon.stdout!.on('data', (b) => (grepped += b));
  await waitFor('"bgp peer state ... to=Established" through grep', () => /INFO bgp peer state .*to=Established/.test(grepped), 60_000, 200);
  assert.ok(grepped.trim().split('\n').every((l) => /bgp peer state/.test(l)), grepped);
  assert.equal(await bird.state(), 'Established');
  const neighbors = sh(CMD.neighbors);
  assert.match(neighbors, new RegExp(`"address": "${L(2).replace(/\./g, '\\.')}"`));
  assert.match(neighbors, /"state": "Established"/);

  // 1. (cont.) an attack, replayed from a capture of real exporters, shows with its would-be route.
  execFileSync(process.execPath, [join(repoRoot, 'src/main.ts'), 'replay', CAPTURE, '--to', `127.0.0.1:${sflow}`, '--speed', '0'], { stdio: 'ignore', timeout: 30_000 });
  await waitFor('the attack', () => sh(CMD.attacks).includes(`"target": "${VICTIM}"`), 30_000, 300);
  const attacks = sh(CMD.attacks);
  assert.match(attacks, /"vector": "syn_flood"/);
  assert.match(attacks, new RegExp(`"prefix": "${VICTIM.replace(/\./g, '\\.')}/32"`));
  assert.match(attacks, /"mode": "dry_run"/);
  await waitFor('the ban', () => sh(CMD.bans).includes(`"target": "${VICTIM}"`), 10_000, 200);
  const birdHas = async () => (await bird.routes('master4')).some((r) => r.net === `${VICTIM}/32`);
  assert.equal(await birdHas(), false, 'dry-run: BIRD holds nothing');

  // 4. dry_run: false and each reload form; 5. verify.
  sh(CMD.live);
  assert.match(readFileSync(file, 'utf8'), /^dry_run: false$/m);
  sh(CMD.reload);
  await waitFor('mode live', () => sh(CMD.mode).trim() === 'live', 15_000, 200);
  await waitFor('BIRD holds the blackhole', birdHas, 15_000, 200);
  for (const cmd of [CMD.hup, CMD.sReload]) sh(cmd);
  const answer = JSON.parse(sh(CMD.apiReload));
  assert.deepEqual([answer.status, answer.mode], ['reloaded', 'live'], JSON.stringify(answer));
  assert.equal(sh(CMD.mode).trim(), 'live');
  const metric = sh(CMD.metric);
  assert.match(metric, /^breakwater_mitigate_announced_routes\{mode="real"\} [1-9]\d*$/m, metric);
  const bans = sh(CMD.bans);
  assert.match(bans, new RegExp(`"target": "${VICTIM.replace(/\./g, '\\.')}"`));
  assert.match(bans, /"active": true/);
  assert.match(bans, /"announced_to": \[\n\s+"/, 'announced to the neighbor');
  assert.match(bans, /"ttl_left_seconds": \d+/);
  assert.equal(await bird.state(), 'Established', 'reloads kept the session up');

  // Stepping back: every route withdrawn, the session stays up.
  sh(CMD.dry);
  sh(CMD.reload);
  await waitFor('mode dry_run', () => sh(CMD.mode).trim() === 'dry_run', 15_000, 200);
  await waitFor('BIRD holds nothing', async () => !(await birdHas()), 15_000, 200);
  assert.equal(await bird.state(), 'Established');
});
