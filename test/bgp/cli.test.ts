/**
 * `breakwater bgp` as an operator script would drive it: ExaBGP-style lines on
 * stdin, `done` / `error` on stdout, a real BIRD 2 as the router. Includes the
 * graceful-restart recovery after an unclean kill of the speaker.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { Bird, birdAvailable, birdConfig } from '../helpers/bird.ts';
import { loopbackBlock, randomPort, removeDir, sleep, tempDir, waitFor } from '../helpers/netns.ts';

const skip = birdAvailable() ? false : 'BIRD 2 not installed or not root';
const root = resolve(import.meta.dirname, '../..');

class Cli {
  readonly proc: ChildProcess;
  readonly lines: string[] = [];
  stderr = '';
  readonly exited: Promise<number | null>;
  constructor(config: string) {
    this.proc = spawn(process.execPath, [join(root, 'src/main.ts'), 'bgp', '-config', config, '-log-format', 'json'], { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] });
    createInterface({ input: this.proc.stdout! }).on('line', (l) => this.lines.push(l));
    this.proc.stderr!.on('data', (b) => (this.stderr += b));
    this.exited = new Promise((r) => this.proc.on('exit', (code) => r(code)));
  }
  /** Sends one line and returns the output lines up to and including done/error. */
  async send(line: string): Promise<string[]> {
    const start = this.lines.length;
    this.proc.stdin!.write(line + '\n');
    await waitFor(`answer to ${line.slice(0, 40)}`, () => this.lines.slice(start).some((l) => l === 'done' || l.startsWith('error ')), 10000, 20);
    const out = this.lines.slice(start);
    const end = out.findIndex((l) => l === 'done' || l.startsWith('error '));
    return out.slice(0, end + 1);
  }
  kill(sig: NodeJS.Signals): void {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null || !this.proc.pid) return;
    try {
      process.kill(this.proc.pid, sig);
    } catch {
      /* already gone */
    }
  }
}

test('cli: breakwater bgp drives BIRD with ExaBGP-style lines; graceful restart keeps routes across a crash', { skip, timeout: 120000 }, async (t) => {
  const addr = loopbackBlock();
  const port = randomPort();
  const dir = tempDir('bw-cli-');
  t.after(() => removeDir(dir));
  const bird = new Bird(birdConfig({ routerId: '10.255.0.2', localAddress: addr(2), localPort: port, localAsn: 65002, peerAddress: addr(1), peerPort: port + 1, peerAsn: 65001, holdTime: 9, passive: true }));
  t.after(() => bird.dispose());
  await bird.start();
  const conf = join(dir, 'breakwater.yaml');
  writeFileSync(
    conf,
    `bgp:
  local_asn: 65001
  router_id: 10.255.0.1
  connect_retry_seconds: 1
  graceful_restart: { enabled: true, restart_seconds: 60 }
  neighbors:
    - address: ${addr(2)}
      port: ${port}
      remote_asn: 65002
      local_address: ${addr(1)}
      hold_time: 9
`,
  );
  const cli = new Cli(conf);
  t.after(() => cli.kill('SIGKILL'));
  const rtbh = 'announce route 203.0.113.9/32 next-hop 192.0.2.1 community [65535:666 65001:7] large-community [65001:666:9]';
  const flow = 'announce flow route { match { destination 203.0.113.9/32; protocol udp; source-port =53; packet-length >=512&<=1500; } then { rate-limit 125000; } }';
  assert.deepEqual(await cli.send(rtbh), ['done']);
  assert.deepEqual(await cli.send(flow), ['done']);
  assert.deepEqual(await cli.send('announce route 2001:db8:9::9/128 next-hop 100::1 community [blackhole]'), ['done']);
  const bad = await cli.send('announce route 203.0.113.10/32 next-hop 127.0.0.1');
  assert.match(bad[0], /^error .*loopback/);
  assert.match((await cli.send('announce route 2001:db8::1/128 next-hop 192.0.2.1'))[0], /^error .*IPv6 next hop/);
  assert.match((await cli.send('frobnicate'))[0], /^error /);
  assert.match((await cli.send(`neighbor 192.0.2.77 announce route 203.0.113.11/32 next-hop 192.0.2.1`))[0], /^error unknown neighbor/);
  await waitFor('routes in BIRD', async () => (await bird.count('master4')) === 1 && (await bird.count('flowtab4')) === 1 && (await bird.count('master6')) === 1, 20000);
  const r = (await bird.routes('master4')).find((x) => x.net === '203.0.113.9/32');
  assert.equal(r?.attrs['BGP.community'], '(65535,666) (65001,7)');
  assert.equal(r?.attrs['BGP.large_community'], '(65001, 666, 9)');
  const f = (await bird.routes('flowtab4')).find((x) => x.head.includes('[bw'));
  assert.equal(f?.net, 'flow4 { dst 203.0.113.9/32; proto 17; sport 53; length 512..1500; }');

  const summary = await cli.send('show neighbor summary');
  assert.equal(summary.length, 2);
  assert.match(summary[0], new RegExp(`^neighbor ${addr(2).replace(/\./g, '\\.')} as 65002 state Established up .* routes 3 sent 3 held 0 refused 0`));
  const rib = await cli.send('show adj-rib out');
  assert.equal(rib.length, 4);
  assert.ok(rib.some((l) => l.includes('route 203.0.113.9/32 next-hop 192.0.2.1 community [65535:666 65001:7] large-community [65001:666:9] status sent')), rib.join('\n'));
  assert.ok(rib.some((l) => l.includes('flow route { match { destination 203.0.113.9/32; protocol =17; source-port =53; packet-length >=512&<=1500; } then { rate-limit 125000; } } status sent')), rib.join('\n'));
  // what show prints is valid input again
  const again = rib.find((l) => l.includes('flow route'))!.replace(/^neighbor \S+ /, 'announce ').replace(/ status sent$/, '');
  assert.deepEqual(await cli.send(again), ['done']);

  // crash: no NOTIFICATION, BIRD keeps the routes as stale (graceful restart helper)
  cli.kill('SIGKILL');
  await cli.exited;
  await waitFor('BIRD notices', async () => (await bird.state()) !== 'Established', 15000);
  await sleep(500);
  assert.equal(await bird.count('master4'), 1, 'RTBH kept during the restart window');
  assert.equal(await bird.count('flowtab4'), 1, 'FlowSpec kept during the restart window');
  // BIRD 2 does not print per-route stale flags; its protocol status shows the GR helper state
  const proto = await bird.birdc('show protocols all bw');
  assert.match(proto, /Neighbor graceful restart active/);
  assert.match(proto, /Restart timer:\s+\d/);

  // restart: the operator's script announces again; routes refreshed, stale mark gone
  const cli2 = new Cli(conf);
  t.after(() => cli2.kill('SIGKILL'));
  assert.deepEqual(await cli2.send(rtbh), ['done']);
  assert.deepEqual(await cli2.send(flow), ['done']);
  await waitFor('session back', async () => (await bird.state()) === 'Established', 30000);
  await waitFor('graceful restart finished (End-of-RIB received)', async () => !/graceful restart active/.test(await bird.birdc('show protocols all bw')), 15000);
  assert.equal(await bird.count('master4'), 1);
  assert.equal(await bird.count('flowtab4'), 1);
  // the IPv6 route was not announced again: it was stale and End-of-RIB removed it
  // (so the two kept routes were refreshed, not merely left over)
  await waitFor('unrefreshed route dropped', async () => (await bird.count('master6')) === 0, 15000);

  // withdraw and flush through the command language
  assert.deepEqual(await cli2.send('withdraw route 203.0.113.9/32 next-hop 192.0.2.1'), ['done']);
  await waitFor('withdrawn', async () => (await bird.count('master4')) === 0);
  assert.deepEqual(await cli2.send('flush adj-rib out'), ['done']);
  await waitFor('flushed', async () => (await bird.count('flowtab4')) === 0);
  assert.deepEqual(await cli2.send('announce route 203.0.113.12/32 next-hop 192.0.2.1 ttl 1'), ['done']);
  await waitFor('leased route in BIRD', async () => (await bird.count('master4')) === 1);
  await waitFor('lease ran out', async () => (await bird.count('master4')) === 0, 8000);

  // EOF: clean exit
  cli2.proc.stdin!.end();
  assert.equal(await cli2.exited, 0);
  assert.match(cli2.stderr, /bgp peer state/);
});
