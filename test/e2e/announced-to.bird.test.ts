/**
 * announced_to against a real speaker and BIRD 2: Breakwater live with two
 * neighbors, BIRD and a configured address where nothing listens. A manual
 * ban lists BIRD only (the other neighbor is never Established); when BIRD's
 * session is disabled the ban no longer lists it, and when it comes back and
 * the UPDATE is written again, it is listed again (BIRD holds the route).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { birdAvailable } from '../helpers/bird.ts';
import { sleep, waitFor } from '../helpers/netns.ts';
import { freePort, withBirdAndBreakwater } from './helpers.ts';

const skip = birdAvailable() ? false : 'BIRD 2 (bird, birdc) not installed or not root';
const TARGET = '198.51.100.20';

test('announced_to: the Established neighbor that was sent the UPDATE only; session down removes it, back up re-adds it', { skip, timeout: 120_000 }, async (t) => {
  const { L, birds, bw } = await withBirdAndBreakwater(t, {
    dirPrefix: 'bw-announced-',
    config: ({ L, dir, birdPorts }) => ({
      dry_run: false,
      log: { level: 'info' },
      listen: { netflow: '', sflow: `127.0.0.1:${freePort()}`, workers: 1 },
      networks: ['198.51.100.0/24'],
      bgp: {
        local_asn: 65000,
        router_id: L(1),
        next_hop: '192.0.2.1',
        connect_retry_seconds: 1,
        neighbors: [
          { address: L(2), port: birdPorts[0], remote_asn: 65001, local_address: L(1), hold_time: 9 },
          // configured, nothing listens there: never Established
          { address: L(3), port: freePort(), remote_asn: 65002, local_address: L(1), hold_time: 9 },
        ],
      },
      api: { listen: `127.0.0.1:${freePort()}` },
      storage: { data_dir: join(dir, 'data') },
    }),
    established: { label: 'BIRD Established', timeoutMs: 30_000, intervalMs: 200 },
  });
  const bird = birds[0];
  const held = async () => (await bird.routes('master4')).some((r) => r.net === `${TARGET}/32` && r.head.includes('bw'));
  const listed = async () => (await bw.api('GET', '/api/v1/bans')).json.bans.find((b: any) => b.target === TARGET)?.announced_to;

  const r = await bw.api('POST', '/api/v1/ban', { ip: TARGET, ttl_seconds: 600 });
  assert.equal(r.status, 201, JSON.stringify(r.json));
  await waitFor('BIRD holds the ban', held, 10_000, 100);
  await waitFor('announced_to lists BIRD', async () => JSON.stringify(await listed()) === JSON.stringify([L(2)]), 10_000, 100);
  await sleep(2000);
  assert.deepEqual(await listed(), [L(2)], 'the neighbor that never came up is not listed');
  const neighbors = (await bw.api('GET', '/api/v1/status')).json.neighbors;
  assert.notEqual(neighbors.find((n: any) => n.address === L(3))?.state, 'Established');

  await bird.birdc('disable bw');
  await waitFor('announced_to empty once the session dropped', async () => JSON.stringify(await listed()) === '[]', 20_000, 100);
  const ban = (await bw.api('GET', '/api/v1/bans')).json.bans.find((b: any) => b.target === TARGET);
  assert.equal(ban.active, true, 'the ban itself stays');
  assert.equal(ban.announced, false);

  await bird.birdc('enable bw');
  await waitFor('BIRD Established again', async () => (await bird.state()) === 'Established', 30_000, 200);
  await waitFor('BIRD holds the route again', held, 15_000, 100);
  await waitFor('announced_to lists BIRD again', async () => JSON.stringify(await listed()) === JSON.stringify([L(2)]), 10_000, 100);
});
