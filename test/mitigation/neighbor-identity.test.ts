/**
 * A neighbor has one identity (core/ip.ts canonicalAddress) across the config,
 * the mitigation policy and the speaker facade: however its address is written
 * in the config, its per-neighbor overrides reach its routes. Real ban module,
 * real speaker facade (inline, not started: routes wait in its Adj-RIB-Out as
 * they do before the first session on a restart).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfig } from '../../src/config/load.ts';
import { ManualClock } from '../../src/core/clock.ts';
import { canonicalAddress } from '../../src/core/ip.ts';
import { silentLogger } from '../../src/core/log.ts';
import { BanManager } from '../../src/ban/bans.ts';
import { BgpAdapter } from '../../src/daemon/components.ts';
import type { UnicastRoute } from '../../src/bgp/index.ts';
import { routeBuilder } from '../../src/mitigation/route.ts';
import { compilePolicy, neighborKey } from '../../src/mitigation/policy.ts';
import { Mitigator } from '../../src/mitigation/reconcile.ts';

const T0 = Date.UTC(2025, 0, 1);

for (const written of ['2001:DB8::1', '2001:db8:0:0::1', '2001:0db8::0001']) {
  test(`a neighbor written as ${written} keeps its next hop and community overrides`, () => {
    const cfg = validateConfig({
      dry_run: false,
      networks: ['198.51.100.0/24', '2001:db8:100::/48'],
      bgp: {
        local_asn: 65000,
        router_id: '192.0.2.254',
        communities: ['65000:666'],
        neighbors: [
          { address: written, remote_asn: 65001, next_hop: '192.0.2.77', next_hop6: '100::77', community: '65001:666', communities: ['65001:1'], large_communities: ['65001:0:1'] },
          { address: '192.0.2.10', remote_asn: 65002 },
        ],
      },
    });
    assert.equal(neighborKey(cfg.bgp.neighbors[0]), '2001:db8::1');
    assert.ok(compilePolicy(cfg).neighbors.has('2001:db8::1'), 'the policy knows the neighbor by its canonical address');

    const clock = new ManualClock(T0);
    const bans = new BanManager(cfg, { clock, routes: routeBuilder(cfg) });
    const bgp = new BgpAdapter(cfg, silentLogger(), { mode: 'inline' });
    assert.deepEqual(bgp.peers().map((p) => p.id).sort(), ['192.0.2.10', '2001:db8::1'], 'the speaker facade names it the same way');
    const m = new Mitigator({ port: bgp.speaker, bans, config: cfg, dryRun: false });
    bans.on((e) => {
      if (e.event === 'ban' || e.event === 'unban') m.changed(e.ban.id);
    });
    assert.ok(bans.manualBan({ ip: '198.51.100.7', actor: 'test' }).ok);
    assert.ok(bans.manualBan({ ip: '2001:db8:100::7', actor: 'test' }).ok);

    const mine = bgp.bgp.routes(written) as UnicastRoute[];
    const v4 = mine.find((r) => r.family === 'ipv4_unicast')!;
    const v6 = mine.find((r) => r.family === 'ipv6_unicast')!;
    assert.equal(v4.attrs.nextHop, '192.0.2.77', 'next_hop override');
    assert.equal(v6.attrs.nextHop6, '100::77', 'next_hop6 override');
    for (const r of [v4, v6]) {
      assert.deepEqual(r.attrs.communities, [65001 * 65536 + 666, 65001 * 65536 + 1], 'community and communities overrides');
      assert.deepEqual(r.attrs.largeCommunities, [[65001, 0, 1]], 'large_communities override');
    }
    const other = bgp.bgp.routes('192.0.2.10') as UnicastRoute[];
    assert.equal(other.find((r) => r.family === 'ipv4_unicast')!.attrs.nextHop, '192.0.2.1', 'the other neighbor keeps the global next hop');
    assert.deepEqual(other[0].attrs.communities, [0xffff029a, 65000 * 65536 + 666]);
    // announced_to names neighbors the speaker wrote the UPDATE to on an Established session;
    // this speaker was never started, so the routes are handed over (above) and not sent yet.
    assert.deepEqual(m.announcedNeighbors(bans.active()[0].id), []);
  });
}

test('canonicalAddress: one text per address', () => {
  assert.equal(canonicalAddress('2001:DB8::1'), '2001:db8::1');
  assert.equal(canonicalAddress(' 2001:db8:0:0:0:0:0:1 '), '2001:db8::1');
  assert.equal(canonicalAddress('::ffff:192.0.2.1'), '192.0.2.1');
  assert.equal(canonicalAddress('192.0.2.1'), '192.0.2.1');
  assert.equal(canonicalAddress('Router-A'), 'router-a');
});
