/**
 * TCP MD5 (RFC 2385) with the optional native addon src/bgp/tcp_md5.c, built
 * the way operators and CI build it (`npm run build:native` → dist/tcp_md5.node),
 * against BIRD 2 with `password`: outgoing and passive sessions, from source
 * (worker thread and inline) and from the single executable that carries the
 * addon. Also: a neighbor with MD5 never gets an unsigned session when the
 * addon or its password is missing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { pino } from 'pino';
import type { Logger } from 'pino';
import { validateConfig } from '../../src/config/load.ts';
import { BgpSpeaker } from '../../src/bgp/index.ts';
import { silentLogger } from '../../src/core/log.ts';
import { Bird, birdAvailable, birdConfig, type BirdPeerOptions } from '../helpers/bird.ts';
import { loopbackBlock, randomPort, removeDir, sleep, tempDir, waitFor } from '../helpers/netns.ts';
import { RTBH4 } from './interop.fixtures.ts';
import { nativeAddon } from '../helpers/native.ts';
import { singleExecutable } from '../helpers/sea.ts';

const root = resolve(import.meta.dirname, '../..');
const addonPath = join(root, 'dist/tcp_md5.node');

const noBird = birdAvailable() ? false : 'BIRD 2 not installed or not root';
const noAddon = nativeAddon('tcp_md5.node');
const skip = noBird || noAddon;

/** The `protocol bgp NAME { ... }` block of a BIRD config, with a password if given. */
function birdProtocol(o: BirdPeerOptions, password?: string): string {
  const cfg = birdConfig(o);
  const block = cfg.slice(cfg.indexOf('protocol bgp '));
  if (password === undefined) return block;
  const signed = block.replace('  multihop;', `  multihop;\n  password "${password}";`);
  assert.notEqual(signed, block, 'BIRD config without the password line');
  return signed;
}

/** A full BIRD config whose protocols are the given blocks. */
function birdWith(routerId: string, blocks: string[]): string {
  const cfg = birdConfig({ routerId, localAddress: '127.0.0.1', localPort: 1, localAsn: 65002, peerAddress: '127.0.0.1', peerPort: 1, peerAsn: 65001 });
  return cfg.slice(0, cfg.indexOf('protocol bgp ')) + blocks.join('\n');
}

test('md5: without the addon or the password, no unsigned session is opened, outgoing or incoming', { timeout: 30000 }, async (t) => {
  const addr = loopbackBlock();
  const port = randomPort();
  const lport = port + 1;
  // a plain listener that records whether anyone connected
  let connections = 0;
  const srv = net.createServer((s) => {
    connections++;
    s.destroy();
  });
  await new Promise<void>((r) => srv.listen(port, addr(2), r));
  t.after(() => srv.close());
  const saved = process.env.BREAKWATER_TCP_MD5_ADDON;
  t.after(() => {
    if (saved === undefined) delete process.env.BREAKWATER_TCP_MD5_ADDON;
    else process.env.BREAKWATER_TCP_MD5_ADDON = saved;
  });
  process.env.BREAKWATER_TCP_MD5_ADDON = join(root, 'no-such-dir/tcp_md5.node');
  process.env.BW_TEST_MD5_X = 'x';
  const sp = new BgpSpeaker(
    validateConfig({
      bgp: {
        router_id: '10.255.0.1',
        listen: `${addr(1)}:${lport}`,
        connect_retry_seconds: 1,
        neighbors: [
          { address: addr(2), port, remote_asn: 65002, local_address: addr(1), md5_password_env: 'BW_TEST_MD5_X' },
          { address: addr(3), port, remote_asn: 65003, passive: true, md5_password_env: 'BW_TEST_MD5_X' },
        ],
      },
    }).bgp,
    silentLogger(),
    { mode: 'inline' },
  );
  t.after(() => sp.stop());
  await sp.start();
  // the passive neighbor connects to us unsigned: refused by the speaker (Cease), no session
  const answer = await new Promise<Buffer>((res, rej) => {
    const c = net.connect({ host: addr(1), port: lport, localAddress: addr(3) });
    const chunks: Buffer[] = [];
    c.on('data', (b) => chunks.push(b));
    c.on('error', rej);
    c.on('close', () => res(Buffer.concat(chunks)));
    setTimeout(() => c.destroy(), 5000).unref();
  });
  await sleep(1500);
  assert.equal(connections, 0, 'an unsigned outgoing connection was opened');
  const [active, passive] = sp.neighbors();
  assert.match(active.lastError, /TCP MD5 is configured but unavailable: cannot load .*no-such-dir/);
  assert.equal(active.md5, 'unavailable');
  assert.equal(answer[18], 3, 'the incoming connection should get a NOTIFICATION');
  assert.equal(answer[19], 6, 'Cease');
  assert.notEqual(passive.state, 'Established');
  assert.match(passive.lastError, /TCP MD5 is configured but unavailable/);
  assert.equal(passive.md5, 'unavailable');
});

test('md5: with the addon but without the password variable, nothing is opened', { skip: noAddon, timeout: 20000 }, async (t) => {
  const addr = loopbackBlock();
  const port = randomPort();
  let connections = 0;
  const srv = net.createServer((s) => {
    connections++;
    s.destroy();
  });
  await new Promise<void>((r) => srv.listen(port, addr(2), r));
  t.after(() => srv.close());
  delete process.env.BREAKWATER_TCP_MD5_ADDON;
  delete process.env.BW_TEST_MD5_UNSET;
  const sp = new BgpSpeaker(
    validateConfig({ bgp: { router_id: '10.255.0.1', connect_retry_seconds: 1, neighbors: [{ address: addr(2), port, remote_asn: 65002, local_address: addr(1), md5_password_env: 'BW_TEST_MD5_UNSET' }] } }).bgp,
    silentLogger(),
    { mode: 'inline' },
  );
  t.after(() => sp.stop());
  await sp.start();
  await sleep(1500);
  assert.equal(connections, 0);
  assert.match(sp.neighbors()[0].lastError, /password variable/);
  assert.equal(sp.neighbors()[0].md5, 'unavailable');
});

test('md5: outgoing signed sessions reach BIRD (addon from npm run build:native, in the worker thread); a wrong key never connects', { skip, timeout: 60000 }, async (t) => {
  delete process.env.BREAKWATER_TCP_MD5_ADDON;
  process.env.BW_TEST_MD5_GOOD = 'Sekrit-1';
  process.env.BW_TEST_MD5_BAD = 'not-the-key';
  const addr = loopbackBlock();
  const port = randomPort();
  const bird = new Bird(
    birdWith('10.255.0.2', [
      birdProtocol({ routerId: '10.255.0.2', localAddress: addr(2), localPort: port, localAsn: 65002, peerAddress: addr(1), peerPort: port + 1, peerAsn: 65001, holdTime: 9, passive: true }, 'Sekrit-1'),
    ]),
  );
  t.after(() => bird.dispose());
  await bird.start();
  const mk = (env: string, mode: 'inline' | 'worker') =>
    new BgpSpeaker(
      validateConfig({
        bgp: { local_asn: 65001, router_id: '10.255.0.1', connect_retry_seconds: 1, neighbors: [{ address: addr(2), port, remote_asn: 65002, local_address: addr(1), hold_time: 9, md5_password_env: env }] },
      }).bgp,
      silentLogger(),
      { mode },
    );

  const bad = mk('BW_TEST_MD5_BAD', 'inline');
  t.after(() => bad.stop());
  await bad.start();
  await sleep(3000);
  assert.notEqual(bad.neighbors()[0].state, 'Established');
  assert.notEqual(await bird.state(), 'Established');
  assert.equal(bad.neighbors()[0].md5, 'active', 'the key is set; only the peer disagrees');
  await bad.stop();

  const good = mk('BW_TEST_MD5_GOOD', 'worker');
  t.after(() => good.stop());
  good.announce(RTBH4);
  await good.start();
  await waitFor('signed session', async () => (await bird.state()) === 'Established', 20000);
  await waitFor('route', async () => (await bird.count('master4')) === 1);
  await waitFor('status from the worker', () => good.neighbors()[0].state === 'Established', 5000);
  assert.equal(good.neighbors()[0].md5, 'active');
});

test('md5: passive — BIRD connects to bgp.listen signed; wrong or missing password never comes up; reloads switch the listener to MD5 and change keys on it', { skip, timeout: 120000 }, async (t) => {
  delete process.env.BREAKWATER_TCP_MD5_ADDON;
  process.env.BW_TEST_MD5_IN = 'In-Sekrit-2';
  process.env.BW_TEST_MD5_WRONG = 'wrong-key';
  const addr = loopbackBlock();
  const port = randomPort();
  const lport = port + 10;
  // bw: BIRD signs with the right password; nopw: the same setup without any password
  const bird = new Bird(
    birdWith('10.255.0.2', [
      birdProtocol({ name: 'bw', routerId: '10.255.0.2', localAddress: addr(2), localPort: port, localAsn: 65002, peerAddress: addr(1), peerPort: lport, peerAsn: 65001, holdTime: 9 }, 'In-Sekrit-2'),
      // (another of our addresses: BIRD runs one session per neighbor address and port)
      birdProtocol({ name: 'nopw', routerId: '10.255.0.2', localAddress: addr(3), localPort: port + 2, localAsn: 65002, peerAddress: addr(4), peerPort: lport, peerAsn: 65001, holdTime: 9 }),
    ]),
  );
  t.after(() => bird.dispose());
  await bird.start();
  const cfg = (env2?: string, env3?: string) =>
    validateConfig({
      bgp: {
        local_asn: 65001,
        router_id: '10.255.0.1',
        // dual-stack listener: IPv4 peers are keyed by their IPv4-mapped address
        listen: `:${lport}`,
        connect_retry_seconds: 1,
        neighbors: [
          { address: addr(2), port, remote_asn: 65002, passive: true, hold_time: 9, md5_password_env: env2 },
          { address: addr(3), port: port + 2, remote_asn: 65002, passive: true, hold_time: 9, md5_password_env: env3 },
        ],
      },
    }).bgp;
  const logs: string[] = [];
  const log = pino({ level: 'info' }, { write: (l: string) => void logs.push(l) }) as unknown as Logger;
  const listening = () => logs.filter((l) => l.includes('"bgp listening"')).length;
  const sp = new BgpSpeaker(cfg(), log, { mode: 'inline' });
  t.after(() => sp.stop());
  sp.announce(RTBH4);
  await sp.start();
  // 1. no MD5 configured: the unsigned peer comes up; the signing one is dropped by our kernel
  await waitFor('unsigned session while MD5 is not configured', async () => (await bird.state('nopw')) === 'Established', 20000);
  assert.notEqual(await bird.state('bw'), 'Established');
  assert.equal(listening(), 1);

  // 2. reload: MD5 on both (wrong key for bw): the listener is re-created with keys; the unsigned
  //    session is reset by the reload and cannot come back
  await sp.reconfigure(cfg('BW_TEST_MD5_WRONG', 'BW_TEST_MD5_IN'));
  assert.equal(listening(), 2, 'listener re-created by the addon');
  await waitFor('unsigned session gone', async () => (await bird.state('nopw')) !== 'Established', 10000);
  await sleep(4000);
  assert.notEqual(await bird.state('nopw'), 'Established', 'unsigned peer after MD5 was configured');
  assert.notEqual(await bird.state('bw'), 'Established', 'wrong key on our side');
  assert.ok(sp.neighbors().every((n) => n.state !== 'Established'));

  // 3. reload: bw's key is replaced on the listening socket, which stays open
  await sp.reconfigure(cfg('BW_TEST_MD5_IN', 'BW_TEST_MD5_IN'));
  assert.equal(listening(), 2, 'listener kept');
  await waitFor('passive signed session', async () => (await bird.state('bw')) === 'Established', 25000);
  await waitFor('route over the passive session', async () => (await bird.count('master4', 'bw')) === 1);
  const st = sp.neighbors().find((n) => n.address === addr(2))!;
  assert.equal(st.state, 'Established');
  assert.equal(st.md5, 'active');
  assert.equal(st.passive, true);
  // the unsigned peer is still kept out by the kernel
  await sleep(2000);
  assert.notEqual(await bird.state('nopw'), 'Established');
  assert.notEqual(sp.neighbors().find((n) => n.address === addr(3))!.state, 'Established');
});

const exe = join(root, 'dist/breakwater');
function seaSkip(): string | false {
  if (skip) return skip;
  singleExecutable();
  try {
    const assets = JSON.parse(readFileSync(join(root, 'dist/sea-config.json'), 'utf8')).assets ?? {};
    if (!assets['tcp_md5.node']) return 'dist/breakwater was built without the TCP MD5 addon';
  } catch {
    return 'dist/sea-config.json missing (npm run build)';
  }
  return false;
}

test('md5: the single executable carries the addon: outgoing and passive signed sessions with BIRD, BREAKWATER_TCP_MD5_ADDON unset', { skip: seaSkip(), timeout: 90000 }, async (t) => {
  const addr = loopbackBlock();
  const port = randomPort();
  const lport = port + 10;
  const dir = tempDir('bw-md5-sea-');
  t.after(() => removeDir(dir));
  const tmp = join(dir, 'tmp');
  execFileSync('mkdir', ['-m', '0700', tmp]);
  const bird = new Bird(
    birdWith('10.255.0.2', [
      birdProtocol({ name: 'bwout', routerId: '10.255.0.2', localAddress: addr(2), localPort: port, localAsn: 65002, peerAddress: addr(1), peerPort: port + 1, peerAsn: 65001, holdTime: 9, passive: true }, 'Sea-Out-3'),
      birdProtocol({ name: 'bwin', routerId: '10.255.0.2', localAddress: addr(3), localPort: port + 2, localAsn: 65002, peerAddress: addr(1), peerPort: lport, peerAsn: 65001, holdTime: 9 }, 'Sea-In-4'),
    ]),
  );
  t.after(() => bird.dispose());
  await bird.start();
  const conf = join(dir, 'breakwater.yaml');
  writeFileSync(
    conf,
    `bgp:
  local_asn: 65001
  router_id: 10.255.0.1
  listen: "${addr(1)}:${lport}"
  connect_retry_seconds: 1
  neighbors:
    - address: ${addr(2)}
      port: ${port}
      remote_asn: 65002
      local_address: ${addr(1)}
      hold_time: 9
      md5_password_env: BW_SEA_MD5_OUT
    - address: ${addr(3)}
      port: ${port + 2}
      remote_asn: 65002
      passive: true
      hold_time: 9
      md5_password_env: BW_SEA_MD5_IN
`,
  );
  const env: NodeJS.ProcessEnv = { ...process.env, BW_SEA_MD5_OUT: 'Sea-Out-3', BW_SEA_MD5_IN: 'Sea-In-4', TMPDIR: tmp };
  delete env.BREAKWATER_TCP_MD5_ADDON;
  const proc = spawn(exe, ['bgp', '-config', conf, '-log-format', 'json'], { cwd: dir, env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (b) => (stderr += b));
  const lines: string[] = [];
  createInterface({ input: proc.stdout }).on('line', (l) => lines.push(l));
  const exited = new Promise((r) => proc.on('exit', r));
  t.after(async () => {
    if (proc.exitCode === null && proc.signalCode === null && proc.pid) process.kill(proc.pid, 'SIGKILL');
    await exited;
  });
  proc.stdin.write('announce route 203.0.113.7/32 next-hop 192.0.2.1 community [65535:666]\n');
  try {
    await waitFor('outgoing signed session from the executable', async () => (await bird.state('bwout')) === 'Established', 25000);
    await waitFor('passive signed session into the executable', async () => (await bird.state('bwin')) === 'Established', 25000);
    await waitFor('route on both sessions', async () => (await bird.count('master4', 'bwout')) === 1 && (await bird.count('master4', 'bwin')) === 1);
  } catch (e) {
    throw new Error(`${(e as Error).message}\nbreakwater stderr:\n${stderr.slice(-3000)}`);
  }
  assert.doesNotMatch(stderr, /TCP MD5 addon unavailable/);
  // the embedded addon was written to a private directory and removed right after loading
  assert.deepEqual(readdirSync(tmp), []);
  const start = lines.length;
  proc.stdin.write('show neighbor summary\n');
  await waitFor('summary', () => lines.slice(start).includes('done'), 10000, 20);
  const summary = lines.slice(start).filter((l) => l.startsWith('neighbor '));
  assert.equal(summary.length, 2);
  assert.ok(summary.every((l) => / state Established /.test(l)), summary.join('\n'));
  proc.stdin.end();
  assert.equal(await Promise.race([exited, sleep(10000).then(() => 'timeout')]), 0);
});
