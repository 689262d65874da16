/**
 * A peer that stops reading cannot grow Breakwater's memory: a scripted raw
 * TCP peer completes OPEN/KEEPALIVE, then keeps its receive window closed
 * (paused socket), keeps sending KEEPALIVEs and 4,000 ROUTE-REFRESH, against
 * a speaker holding 10,000 routes. The process RSS stays within 20 MB, the
 * session is reset with Cease / Out of Resources, and a second peer that
 * reads keeps its session, its routes and its keepalives.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { validateConfig } from '../../src/config/load.ts';
import { BgpSpeaker, type PeerStateEvent } from '../../src/bgp/index.ts';
import { createLogger } from '../../src/core/log.ts';
import { Framer } from '../../src/bgp/header.ts';
import { encodeOpen, emptyCapabilities } from '../../src/bgp/open.ts';
import { encodeRouteRefresh } from '../../src/bgp/refresh.ts';
import { decodeUpdate } from '../../src/bgp/update.ts';
import { loopbackBlock, randomPort, sleep, waitFor } from '../helpers/netns.ts';

// Memory is sampled after a full collection: what the process holds, not garbage the
// collector has not reached yet (V8 grows its heap under allocation, then shrinks it).
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const held = () => {
  gc();
  const m = process.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed + m.arrayBuffers };
};

const KEEPALIVE = Buffer.from('ffffffffffffffffffffffffffffffff001304', 'hex');

interface Peer {
  /** Messages read by type; routes announced to it; keepalives it received. */
  routes: Set<string>;
  keepalives: number;
  /** Times our keepalives arrived (healthy peer). */
  keepaliveAt: number[];
  sock: () => net.Socket | undefined;
  connections: number;
}

/**
 * A scripted peer listening for our connection. Answers our OPEN and
 * KEEPALIVE, sends a KEEPALIVE every second; `stuck` stops reading once
 * the session is up (pause(): the kernel closes the receive window).
 */
async function scriptedPeer(t: import('node:test').TestContext, host: string, port: number, asn: number, routerId: string, stuck: boolean): Promise<Peer> {
  const peer: Peer = { routes: new Set(), keepalives: 0, keepaliveAt: [], sock: () => current, connections: 0 };
  let current: net.Socket | undefined;
  const timers: NodeJS.Timeout[] = [];
  const srv = net.createServer((s) => {
    s.on('error', () => {});
    if (++peer.connections > 1) {
      // only the first connection is scripted: a reconnection after the reset is dropped
      s.destroy();
      return;
    }
    current = s;
    const framer = new Framer();
    let up = false;
    s.on('data', (c) => {
      for (const m of framer.push(c)) {
        if (m.type === 1) {
          s.write(encodeOpen({ asn, holdTime: 9, routerId, capabilities: { ...emptyCapabilities(), as4: asn, routeRefresh: true, enhancedRouteRefresh: true, multiprotocol: [{ afi: 1, safi: 1 }] } }));
          s.write(KEEPALIVE);
        } else if (m.type === 4) {
          peer.keepalives++;
          peer.keepaliveAt.push(Date.now());
          if (!up) {
            up = true;
            const ka = setInterval(() => s.writable && s.write(KEEPALIVE), 1000);
            timers.push(ka);
            if (stuck) s.pause();
          }
        } else if (m.type === 2) {
          for (const r of decodeUpdate(m.body, { as4: true, extendedMessage: true }).announced) if (r.family === 'ipv4_unicast') peer.routes.add(r.prefix);
        }
      }
    });
  });
  await new Promise<void>((r) => srv.listen(port, host, r));
  t.after(() => {
    for (const x of timers) clearInterval(x);
    current?.destroy();
    srv.close();
  });
  return peer;
}

test('slow reader: a peer that never reads and floods ROUTE-REFRESH is reset with Cease/Out of Resources; RSS grows < 20 MB; a healthy peer is unaffected', { timeout: 120000 }, async (t) => {
  const addr = loopbackBlock();
  const base = randomPort();
  const stuckPort = base + 1, healthyPort = base + 2;
  const stuck = await scriptedPeer(t, addr(2), stuckPort, 65002, '10.0.0.2', true);
  const healthy = await scriptedPeer(t, addr(3), healthyPort, 65003, '10.0.0.3', false);
  const lines: string[] = [];
  const log = createLogger({
    destination: {
      write: (s: string) => {
        lines.push(...s.split('\n').filter(Boolean));
        return true;
      },
    },
  });
  const cfg = validateConfig({
    bgp: {
      local_asn: 65001,
      router_id: '10.0.0.1',
      connect_retry_seconds: 1,
      neighbors: [
        { address: addr(2), port: stuckPort, remote_asn: 65002, local_address: addr(1), hold_time: 9, families: ['ipv4_unicast'], send_stall_seconds: 6 },
        { address: addr(3), port: healthyPort, remote_asn: 65003, local_address: addr(1), hold_time: 9, families: ['ipv4_unicast'] },
      ],
    },
  }).bgp;
  const sp = new BgpSpeaker(cfg, log, { mode: 'inline' });
  t.after(() => sp.stop());
  const states: Array<PeerStateEvent & { at: number }> = [];
  sp.on('peer-state', (e: PeerStateEvent) => states.push({ ...e, at: Date.now() }));
  // 10,000 RTBH /32, each tagged with its own community (65001:n), so each is its own UPDATE:
  // one re-send is ~700 KB and the stuck peer's kernel buffers (a few MB on loopback) fill
  // after a few re-sends
  const routes = Array.from({ length: 10000 }, (_, i) => ({
    family: 'ipv4_unicast' as const,
    prefix: `100.${64 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32`,
    attrs: { nextHop: '192.0.2.1', communities: [0xffff029a, 65001 * 65536 + i] },
  }));
  sp.announce(routes);
  await sp.start();
  const nb = (a: string) => sp.neighbors().find((n) => n.address === a)!;
  await waitFor('both Established', () => nb(addr(2)).state === 'Established' && nb(addr(3)).state === 'Established', 20000);
  await waitFor('the healthy peer has every route', () => healthy.routes.size === 10000, 20000);
  // warm-up: the healthy peer asks for the table again and again for 4 s, as fast as the stuck
  // one will, so the baseline is a process that has re-sent its table at full speed before
  // (its heap grown to working size); then everything it was sent is read
  const warm = encodeRouteRefresh(1, 1, 0);
  const w0 = Date.now();
  for (let i = 0; i < 40; i++) {
    healthy.sock()!.write(Buffer.concat(Array.from({ length: 10 }, () => warm)));
    await sleep(Math.max(0, w0 + (i + 1) * 100 - Date.now()));
  }
  await waitFor('re-sends to the healthy peer done', () => (nb(addr(3)).refreshesIn ?? 0) >= 400 && (nb(addr(3)).sendQueueBytes ?? 0) === 0, 60000);
  await sleep(2000);

  const m0 = held();
  const rss0 = m0.rss;
  let peak = rss0;
  let peakHeap = m0.heap;
  const sampler = setInterval(() => {
    const m = held();
    peak = Math.max(peak, m.rss);
    peakHeap = Math.max(peakHeap, m.heap);
  }, 250);
  t.after(() => clearInterval(sampler));

  // 4,000 ROUTE-REFRESH over 40 s (bursts of 10 every 100 ms), from the peer that does not read;
  // it stops early once the speaker has reset it
  const rr = Buffer.concat(Array.from({ length: 10 }, () => encodeRouteRefresh(1, 1, 0)));
  const s = stuck.sock()!;
  const t0 = Date.now();
  let sent = 0;
  while (sent < 4000 && nb(addr(2)).state === 'Established' && Date.now() - t0 < 40000) {
    s.write(rr);
    sent += 10;
    await sleep(Math.max(0, t0 + sent * 10 - Date.now()));
  }
  const floodMs = Date.now() - t0;
  const reset = await waitFor('the stuck session is reset', () => states.find((e) => e.neighbor === addr(2) && e.from === 'Established'), 30000);
  clearInterval(sampler);
  const grewMb = (peak - rss0) / 2 ** 20;
  const heapMb = (peakHeap - m0.heap) / 2 ** 20;
  const st = nb(addr(2));
  t.diagnostic(`RSS ${(rss0 / 2 ** 20).toFixed(1)} → peak ${(peak / 2 ** 20).toFixed(1)} MB (+${grewMb.toFixed(1)} MB), heap and buffers +${heapMb.toFixed(1)} MB; ${sent} ROUTE-REFRESH in ${floodMs} ms; reset after ${((reset.at - t0) / 1000).toFixed(1)} s: ${reset.reason}; refreshes in ${st.refreshesIn}, coalesced ${st.refreshesCoalesced}`);
  assert.ok(grewMb < 20, `RSS grew ${grewMb.toFixed(1)} MB`);
  assert.ok(heapMb < 20, `heap and buffers grew ${heapMb.toFixed(1)} MB`);

  // reset with NOTIFICATION Cease / Out of Resources (RFC 4486 subcode 8), logged and counted
  assert.match(reset.reason, /does not read/);
  assert.match(reset.reason, /Cease \/ Out of Resources/);
  assert.equal(st.sendStallResets, 1);
  assert.match(st.lastError, /Cease \/ Out of Resources|unread/);
  assert.ok((st.refreshesCoalesced ?? 0) > 0, `coalesced ${st.refreshesCoalesced}`);
  const logged = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((o) => o.event === 'bgp peer state' && o.neighbor === addr(2) && o.from === 'Established');
  assert.equal(logged.length, 1);
  assert.match(String(logged[0].reason), /Out of Resources/);

  // the healthy session: never left Established, keeps its routes, keeps getting keepalives
  const mark = healthy.keepalives;
  await waitFor('keepalives keep reaching the healthy peer', () => healthy.keepalives >= mark + 2, 10000);
  assert.ok(!states.some((e) => e.neighbor === addr(3) && e.from === 'Established'), 'the healthy session did not flap');
  const h = nb(addr(3));
  assert.equal(h.state, 'Established');
  assert.equal(h.prefixesSent, 10000);
  assert.equal(h.sendStallResets, 0);
  assert.equal(healthy.routes.size, 10000);
  // keepalive gaps toward the healthy peer stayed within the hold time's third (3 s, jittered) plus slack
  const gaps = healthy.keepaliveAt.slice(1).map((x, i) => x - healthy.keepaliveAt[i]);
  assert.ok(Math.max(...gaps) < 4500, `largest keepalive gap ${Math.max(...gaps)} ms`);
});
