/**
 * Breakwater's speaker against a real FRR bgpd (without zebra) on loopback:
 * what bgpd received is read back with vtysh JSON.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfig } from '../../src/config/load.ts';
import { BgpSpeaker } from '../../src/bgp/index.ts';
import { silentLogger } from '../../src/core/log.ts';
import { Frr, frrAvailable, frrConfig } from '../helpers/frr.ts';
import { loopbackBlock, randomPort, waitFor } from '../helpers/netns.ts';
import { FLOW4, FLOW6, RTBH4, RTBH6 } from './interop.fixtures.ts';

const skip = frrAvailable() ? false : 'FRR (/usr/lib/frr/bgpd, vtysh) not installed or not root';

test('frr: RTBH /32 and /128, FlowSpec v4 and v6 received exactly; route refresh; withdrawal', { skip, timeout: 90000 }, async (t) => {
  const addr = loopbackBlock();
  const port = randomPort();
  const frr = new Frr(frrConfig({ routerId: '10.255.0.3', listenAddress: addr(2), listenPort: port, localAsn: 65003, peerAddress: addr(1), peerPort: port + 1, peerAsn: 65001, holdTime: 9 }), addr(2), port);
  t.after(() => frr.dispose());
  await frr.start();
  const cfg = validateConfig({
    bgp: { local_asn: 65001, router_id: '10.255.0.1', connect_retry_seconds: 1, neighbors: [{ address: addr(2), port, remote_asn: 65003, local_address: addr(1), hold_time: 9 }] },
  }).bgp;
  const sp = new BgpSpeaker(cfg, silentLogger());
  t.after(() => sp.stop());
  sp.announce([RTBH4, RTBH6, FLOW4, FLOW6]);
  await sp.start();
  await waitFor('FRR Established', async () => (await frr.peerState(addr(1))) === 'Established', 30000);

  const v4 = await waitFor('IPv4 RTBH in FRR', async () => (await frr.json(`show bgp ipv4 unicast ${RTBH4.prefix} json`)).paths?.[0]);
  assert.equal(v4.nexthops[0].ip, '192.0.2.1');
  assert.deepEqual([...v4.community.list].sort(), ['65001:100', 'blackhole', 'noExport'], 'FRR adds NO_EXPORT to BLACKHOLE routes (RFC 7999)');
  assert.equal(v4.largeCommunity.string, '65001:666:7');
  assert.equal(v4.aspath.string, '65001');
  assert.equal(v4.origin, 'IGP');
  const v6 = await waitFor('IPv6 RTBH in FRR', async () => (await frr.json(`show bgp ipv6 unicast ${RTBH6.prefix} json`)).paths?.[0]);
  assert.equal(v6.nexthops[0].ip, '100::1');
  assert.equal(v6.nexthops[0].afi, 'ipv6');

  const f4 = await waitFor('IPv4 FlowSpec in FRR', async () => {
    const r = Object.values((await frr.json('show bgp ipv4 flowspec json')).routes ?? {}) as any[][];
    return r.length ? r : undefined;
  });
  assert.equal(f4.length, 1);
  const e4 = f4[0][0];
  assert.equal(e4.to, '203.0.113.7/32');
  assert.equal(e4.proto.trim(), '= 17');
  assert.equal(e4.srcp.trim(), '= 53 , = 123');
  assert.equal(e4.pktlen.trim(), '>= 512 , <= 1500');
  assert.match(await frr.vtysh('show bgp ipv4 flowspec detail'), /FS:rate 125000\.0+/);
  const f6 = await waitFor('IPv6 FlowSpec in FRR', async () => {
    const r = Object.values((await frr.json('show bgp ipv6 flowspec json')).routes ?? {}) as any[][];
    return r.length ? r : undefined;
  });
  assert.equal(f6[0][0].to, '2001:db8:7::7/128/off 0');
  assert.equal(f6[0][0].proto.trim(), '= 6');
  assert.equal(f6[0][0].dstp.trim(), '= 80 , = 443');
  assert.match(await frr.vtysh('show bgp ipv6 flowspec detail'), /FS:rate 0\.0+|discard/i);

  // ROUTE-REFRESH from FRR: everything of that family re-sent
  await sp.sync();
  const before = (await sp.neighborsNow())[0].updatesOut;
  await frr.vtysh(`clear bgp ipv4 unicast ${addr(1)} soft in`);
  await waitFor('re-sent after refresh', async () => (await sp.neighborsNow())[0].updatesOut > before, 10000);
  assert.equal((await sp.neighborsNow())[0].flaps, 0);

  sp.withdraw([RTBH4, RTBH6, FLOW4, FLOW6]);
  await waitFor('all withdrawn from FRR', async () => {
    const a = await frr.json('show bgp ipv4 unicast json');
    const b = await frr.json('show bgp ipv6 unicast json');
    const c = await frr.json('show bgp ipv4 flowspec json');
    const d = await frr.json('show bgp ipv6 flowspec json');
    return Object.keys(a.routes ?? {}).length + Object.keys(b.routes ?? {}).length + Object.keys(c.routes ?? {}).length + Object.keys(d.routes ?? {}).length === 0;
  });
  assert.equal(await frr.peerState(addr(1)), 'Established');
});
