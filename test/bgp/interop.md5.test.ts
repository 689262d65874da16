/**
 * TCP MD5 (RFC 2385) with the optional native helper src/bgp/tcp_md5.c,
 * compiled here with the system C compiler, against BIRD 2 with `password`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { validateConfig } from '../../src/config/load.ts';
import { BgpSpeaker } from '../../src/bgp/index.ts';
import { silentLogger } from '../../src/core/log.ts';
import { Bird, birdAvailable, birdConfig } from '../helpers/bird.ts';
import { loopbackBlock, randomPort, removeDir, sleep, tempDir, waitFor } from '../helpers/netns.ts';
import { RTBH4 } from './interop.fixtures.ts';

const root = resolve(import.meta.dirname, '../..');
const haveCc = existsSync('/usr/bin/cc') && existsSync('/usr/include/node/node_api.h');
const skip = !birdAvailable() ? 'BIRD 2 not installed or not root' : !haveCc ? 'no C compiler or Node-API headers (/usr/include/node) to build the TCP MD5 helper' : false;

test('md5: configured without the helper, the session is not opened unsigned', { timeout: 20000 }, async (t) => {
  const addr = loopbackBlock();
  const port = randomPort();
  // a plain listener that records whether anyone connected
  const net = await import('node:net');
  let connections = 0;
  const srv = net.createServer((s) => {
    connections++;
    s.destroy();
  });
  await new Promise<void>((r) => srv.listen(port, addr(2), r));
  t.after(() => srv.close());
  delete process.env.BREAKWATER_TCP_MD5_ADDON;
  process.env.BW_TEST_MD5_X = 'x';
  const sp = new BgpSpeaker(
    validateConfig({ bgp: { router_id: '10.255.0.1', connect_retry_seconds: 1, neighbors: [{ address: addr(2), port, remote_asn: 65002, local_address: addr(1), md5_password_env: 'BW_TEST_MD5_X' }] } }).bgp,
    silentLogger(),
    { mode: 'inline' },
  );
  t.after(() => sp.stop());
  await sp.start();
  await sleep(1500);
  assert.equal(connections, 0);
  assert.match(sp.neighbors()[0].lastError, /TCP MD5 is configured but unavailable/);
  assert.equal(sp.neighbors()[0].md5, 'unavailable');
});

test('md5: sessions signed with TCP MD5 reach BIRD; a wrong key never connects', { skip, timeout: 60000 }, async (t) => {
  const dir = tempDir('bw-md5-');
  t.after(() => removeDir(dir));
  const addon = join(dir, 'breakwater-tcp-md5.node');
  execFileSync('cc', ['-O2', '-shared', '-fPIC', '-I/usr/include/node', join(root, 'src/bgp/tcp_md5.c'), '-o', addon]);
  process.env.BREAKWATER_TCP_MD5_ADDON = addon;
  process.env.BW_TEST_MD5_GOOD = 'Sekrit-1';
  process.env.BW_TEST_MD5_BAD = 'not-the-key';

  const addr = loopbackBlock();
  const port = randomPort();
  const bird = new Bird(
    birdConfig({ routerId: '10.255.0.2', localAddress: addr(2), localPort: port, localAsn: 65002, peerAddress: addr(1), peerPort: port + 1, peerAsn: 65001, holdTime: 9, passive: true }).replace(
      '  multihop;',
      '  multihop;\n  password "Sekrit-1";',
    ),
  );
  t.after(() => bird.dispose());
  await bird.start();
  const mk = (env: string) =>
    new BgpSpeaker(
      validateConfig({
        bgp: { local_asn: 65001, router_id: '10.255.0.1', connect_retry_seconds: 1, neighbors: [{ address: addr(2), port, remote_asn: 65002, local_address: addr(1), hold_time: 9, md5_password_env: env }] },
      }).bgp,
      silentLogger(),
      { mode: 'inline' },
    );

  const bad = mk('BW_TEST_MD5_BAD');
  t.after(() => bad.stop());
  await bad.start();
  await sleep(3000);
  assert.notEqual(bad.neighbors()[0].state, 'Established');
  assert.notEqual(await bird.state(), 'Established');
  await bad.stop();

  const good = mk('BW_TEST_MD5_GOOD');
  t.after(() => good.stop());
  good.announce(RTBH4);
  await good.start();
  await waitFor('signed session', async () => (await bird.state()) === 'Established', 20000);
  await waitFor('route', async () => (await bird.count('master4')) === 1);
  assert.equal(good.neighbors()[0].md5, 'active');
});
