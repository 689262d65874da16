/**
 * The speaker reports which neighbors were actually written an UPDATE:
 * announcedTo(routeKey) lists a neighbor only once the route went out on its
 * Established session, and forgets it on withdrawal and when the session
 * goes down. Speaker in its worker thread (the daemon's mode), one scripted
 * peer that completes the session, one neighbor that never answers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { validateConfig } from '../../src/config/load.ts';
import { BgpSpeaker, routeKey, type SentEvent } from '../../src/bgp/index.ts';
import { silentLogger } from '../../src/core/log.ts';
import { Framer } from '../../src/bgp/header.ts';
import { encodeOpen, emptyCapabilities } from '../../src/bgp/open.ts';
import { decodeUpdate } from '../../src/bgp/update.ts';
import { loopbackBlock, randomPort, waitFor } from '../helpers/netns.ts';

const KEEPALIVE = Buffer.from('ffffffffffffffffffffffffffffffff001304', 'hex');

test('announcedTo: only the Established neighbor that was sent the UPDATE is listed; withdrawal and session loss remove it', { timeout: 60000 }, async (t) => {
  const addr = loopbackBlock();
  const base = randomPort();
  const upPort = base + 1, downPort = base + 2;
  const got = new Set<string>();
  const withdrawn = new Set<string>();
  let sock: net.Socket | undefined;
  const srv = net.createServer((s) => {
    sock = s;
    s.on('error', () => {});
    const framer = new Framer();
    s.on('data', (c) => {
      for (const m of framer.push(c)) {
        if (m.type === 1) {
          s.write(encodeOpen({ asn: 65002, holdTime: 9, routerId: '10.0.0.2', capabilities: { ...emptyCapabilities(), as4: 65002, multiprotocol: [{ afi: 1, safi: 1 }] } }));
          s.write(KEEPALIVE);
        } else if (m.type === 4) s.write(KEEPALIVE);
        else if (m.type === 2) {
          const u = decodeUpdate(m.body, { as4: true, extendedMessage: false });
          for (const r of u.announced) if (r.family === 'ipv4_unicast') got.add(r.prefix);
          for (const r of u.withdrawn) if (r.family === 'ipv4_unicast') withdrawn.add(r.prefix);
        }
      }
    });
  });
  await new Promise<void>((r) => srv.listen(upPort, addr(2), r));
  t.after(() => {
    sock?.destroy();
    srv.close();
  });
  const cfg = validateConfig({
    bgp: {
      local_asn: 65001,
      router_id: '10.0.0.1',
      connect_retry_seconds: 1,
      neighbors: [
        { address: addr(2), port: upPort, remote_asn: 65002, local_address: addr(1), hold_time: 9, families: ['ipv4_unicast'] },
        // nobody listens here: the session never leaves Connect/Active
        { address: addr(3), port: downPort, remote_asn: 65003, local_address: addr(1), hold_time: 9, families: ['ipv4_unicast'] },
      ],
    },
  }).bgp;
  const sp = new BgpSpeaker(cfg, silentLogger());
  t.after(() => sp.stop());
  const events: SentEvent[] = [];
  sp.on('sent', (e: SentEvent) => events.push(e));
  const before = { family: 'ipv4_unicast' as const, prefix: '198.51.100.1/32', attrs: { nextHop: '192.0.2.1' } };
  sp.announce(before); // queued before the session is up: sent with the initial table
  await sp.start();
  await waitFor('Established', () => sp.neighbors().find((n) => n.address === addr(2))?.state === 'Established', 20000);
  await waitFor('initial table listed', () => sp.announcedTo(routeKey(before)).length === 1);
  assert.deepEqual(sp.announcedTo(routeKey(before)), [addr(2)]);
  assert.ok(got.has('198.51.100.1/32'), 'the peer has it');

  const r = { family: 'ipv4_unicast' as const, prefix: '198.51.100.2/32', attrs: { nextHop: '192.0.2.1' } };
  assert.deepEqual(sp.announcedTo(routeKey(r)), [], 'nothing before it is sent');
  sp.announce(r); // to both neighbors
  await waitFor('sent to the Established neighbor', () => sp.announcedTo(routeKey(r)).length > 0);
  await waitFor('the peer has it', () => got.has('198.51.100.2/32'));
  assert.deepEqual(sp.announcedTo(routeKey(r)), [addr(2)], 'the neighbor that is not Established is not listed');
  assert.notEqual(sp.neighbors().find((n) => n.address === addr(3))?.state, 'Established');
  assert.equal((await sp.adjRibOut(addr(3))).find((e) => e.key === routeKey(r))?.status, 'pending', 'queued for the other one');
  const e = events.find((x) => x.announced.includes(routeKey(r)));
  assert.equal(e?.neighbor, addr(2));

  sp.withdraw(r);
  await waitFor('withdrawn', () => sp.announcedTo(routeKey(r)).length === 0 && withdrawn.has('198.51.100.2/32'));
  assert.deepEqual(sp.announcedTo(routeKey(before)), [addr(2)]);

  // the session goes away: the neighbor holds nothing from us any more
  sock!.destroy();
  await waitFor('session down', () => sp.neighbors().find((n) => n.address === addr(2))?.state !== 'Established');
  await waitFor('forgotten', () => sp.announcedTo(routeKey(before)).length === 0);
  assert.ok(events.some((x) => x.neighbor === addr(2) && x.reset));
});
