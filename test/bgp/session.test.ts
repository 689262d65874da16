/**
 * Sessions over real loopback sockets without a router: two Breakwater
 * speakers peering with each other (collision detection), and raw TCP peers
 * that misbehave.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { Writable } from 'node:stream';
import { validateConfig } from '../../src/config/load.ts';
import { BgpSpeaker, type PeerStateEvent } from '../../src/bgp/index.ts';
import { createLogger, silentLogger } from '../../src/core/log.ts';
import { Framer, splitMessages, type RawMessage } from '../../src/bgp/header.ts';
import { decodeNotification } from '../../src/bgp/notification.ts';
import { decodeOpen, encodeOpen, emptyCapabilities } from '../../src/bgp/open.ts';
import { encodeRouteRefresh } from '../../src/bgp/refresh.ts';
import { decodeUpdate } from '../../src/bgp/update.ts';
import { loopbackBlock, randomPort, sleep, waitFor } from '../helpers/netns.ts';

function cfg(o: { self: string; listenPort: number; peer: string; peerPort: number; asn: number; peerAsn: number; rid: string; passive?: boolean }) {
  return validateConfig({
    bgp: {
      local_asn: o.asn,
      router_id: o.rid,
      listen: `${o.self}:${o.listenPort}`,
      connect_retry_seconds: 1,
      neighbors: [{ address: o.peer, port: o.peerPort, remote_asn: o.peerAsn, local_address: o.self, hold_time: 9, passive: o.passive ?? false }],
    },
  }).bgp;
}

function captureLogger(): { log: ReturnType<typeof createLogger>; lines: string[] } {
  const lines: string[] = [];
  const dest = new Writable({
    write(chunk, _enc, cb) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      cb();
    },
  });
  return { log: createLogger({ destination: { write: (s: string) => dest.write(s) } }), lines };
}

for (const [ridA, ridB] of [
  ['10.0.0.1', '10.0.0.2'],
  ['10.0.0.9', '10.0.0.2'],
]) {
  test(`session: two speakers both connecting settle on one session (router ids ${ridA} / ${ridB})`, { timeout: 60000 }, async (t) => {
    const addr = loopbackBlock();
    const pa = randomPort(), pb = pa + 1;
    const ca = captureLogger(), cb = captureLogger();
    const a = new BgpSpeaker(cfg({ self: addr(1), listenPort: pa, peer: addr(2), peerPort: pb, asn: 65001, peerAsn: 65002, rid: ridA }), ca.log, { mode: 'inline' });
    const b = new BgpSpeaker(cfg({ self: addr(2), listenPort: pb, peer: addr(1), peerPort: pa, asn: 65002, peerAsn: 65001, rid: ridB }), cb.log, { mode: 'inline' });
    t.after(() => Promise.all([a.stop(), b.stop()]));
    const downs: PeerStateEvent[] = [];
    a.on('peer-state', (e: PeerStateEvent) => e.from === 'Established' && downs.push(e));
    b.on('peer-state', (e: PeerStateEvent) => e.from === 'Established' && downs.push(e));
    await Promise.all([a.start(), b.start()]);
    await waitFor('both Established', () => a.neighbors()[0].state === 'Established' && b.neighbors()[0].state === 'Established', 20000);
    await sleep(1500);
    assert.equal(a.neighbors()[0].state, 'Established');
    assert.equal(b.neighbors()[0].state, 'Established');
    assert.deepEqual(downs, []);
    // every transition was logged through the one choke point
    const evs = ca.lines.map((l) => JSON.parse(l)).filter((o) => o.event === 'bgp peer state');
    assert.ok(evs.length >= 3);
    for (const e of evs) {
      assert.equal(e.msg, 'bgp peer state');
      assert.equal(e.neighbor, addr(2));
      assert.ok(e.from && e.to && e.reason);
    }
    assert.equal(evs.at(-1).to, 'Established');
    const all = [...ca.lines, ...cb.lines].join('\n');
    t.diagnostic(`collision resolved on this run: ${/collision/.test(all) ? 'yes' : 'no (connections did not cross)'}`);
  });
}

test('session: routes flow between two speakers and the receiver counts them', { timeout: 30000 }, async (t) => {
  const addr = loopbackBlock();
  const pa = randomPort(), pb = pa + 1;
  const a = new BgpSpeaker(cfg({ self: addr(1), listenPort: pa, peer: addr(2), peerPort: pb, asn: 65001, peerAsn: 65002, rid: '10.0.0.1' }), silentLogger(), { mode: 'inline' });
  const b = new BgpSpeaker(cfg({ self: addr(2), listenPort: pb, peer: addr(1), peerPort: pa, asn: 65002, peerAsn: 65001, rid: '10.0.0.2', passive: true }), silentLogger(), { mode: 'inline' });
  t.after(() => Promise.all([a.stop(), b.stop()]));
  const routes = Array.from({ length: 300 }, (_, i) => ({
    family: 'ipv4_unicast' as const,
    prefix: `198.51.${100 + (i >> 8)}.${i & 255}/32`,
    attrs: { nextHop: '192.0.2.1', communities: [0xffff029a] },
  }));
  a.announce(routes);
  await Promise.all([a.start(), b.start()]);
  await waitFor('routes received', () => b.neighbors()[0].received.routesAnnounced === 300, 15000);
  const st = a.neighbors()[0];
  // 300 /32 with one attribute set: packed into one UPDATE (+ 4 End-of-RIB)
  assert.ok(st.updatesOut <= 6, `updatesOut ${st.updatesOut}`);
  assert.equal(b.neighbors()[0].received.endOfRib, 4);
  a.withdraw(routes.slice(0, 100));
  await waitFor('withdrawals received', () => b.neighbors()[0].received.routesWithdrawn === 100, 15000);
});

test('session: garbage from a configured peer earns a NOTIFICATION; an unknown source is rejected', { timeout: 30000 }, async (t) => {
  const addr = loopbackBlock();
  const port = randomPort();
  const sp = new BgpSpeaker(cfg({ self: addr(1), listenPort: port, peer: addr(2), peerPort: port + 1, asn: 65001, peerAsn: 65002, rid: '10.0.0.1', passive: true }), silentLogger(), { mode: 'inline' });
  t.after(() => sp.stop());
  await sp.start();

  const talk = (from: string, payload: Buffer) =>
    new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      const s = net.connect({ host: addr(1), port, localAddress: from }, () => s.write(payload));
      s.on('data', (c) => chunks.push(c));
      s.on('error', reject);
      s.on('close', () => resolve(Buffer.concat(chunks)));
      setTimeout(() => s.destroy(), 5000);
    });

  // bad marker → Message Header Error / Connection Not Synchronized
  const got = await talk(addr(2), Buffer.alloc(40, 0x11));
  const msgs = splitMessages(got);
  const notif = msgs.find((m) => m.type === 3);
  assert.ok(notif, 'a NOTIFICATION was sent');
  const n = decodeNotification(notif.body);
  assert.equal(n.code, 1);
  assert.equal(n.subcode, 1);

  // after an error the neighbor stays Idle for the (damped) idle hold time, refusing connections
  await waitFor('back to Active', () => sp.neighbors()[0].state === 'Active', 10000);
  // a wrong AS in the OPEN → OPEN Message Error / Bad Peer AS
  const open = encodeOpen({ asn: 65099, holdTime: 9, routerId: '10.0.0.2', capabilities: { ...emptyCapabilities(), as4: 65099 } });
  const got2 = splitMessages(await talk(addr(2), open));
  const n2 = decodeNotification(got2.find((m) => m.type === 3)!.body);
  assert.deepEqual([n2.code, n2.subcode], [2, 2]);

  await waitFor('back to Active', () => sp.neighbors()[0].state === 'Active', 10000);
  // unknown source → Cease / Connection Rejected
  const got3 = splitMessages(await talk(addr(3), open));
  const n3 = decodeNotification(got3.find((m) => m.type === 3)!.body);
  assert.deepEqual([n3.code, n3.subcode], [6, 5]);

  assert.match(sp.neighbors()[0].lastError, /Bad Peer AS/);
  assert.equal(sp.neighbors()[0].state, 'Active');
});

for (const peerRid of ['10.0.0.200', '10.0.0.0']) {
  test(`session: collision detection (§6.8) keeps the connection of the higher router id (peer ${peerRid})`, { timeout: 30000 }, async (t) => {
    const addr = loopbackBlock();
    const ourPort = randomPort(), peerPort = ourPort + 1;
    const ourRid = '10.0.0.100';
    const peerWins = peerRid === '10.0.0.200';
    // a scripted peer: accepts our connection and stays silent, then connects to us itself
    const inbound: net.Socket[] = [];
    const received = new Map<net.Socket, Buffer[]>();
    const srv = net.createServer((s) => {
      inbound.push(s);
      received.set(s, []);
      s.on('data', (c) => received.get(s)!.push(c));
      s.on('error', () => {});
    });
    await new Promise<void>((r) => srv.listen(peerPort, addr(2), r));
    t.after(() => {
      for (const s of inbound) s.destroy();
      srv.close();
    });
    const sp = new BgpSpeaker(cfg({ self: addr(1), listenPort: ourPort, peer: addr(2), peerPort, asn: 65001, peerAsn: 65002, rid: ourRid }), silentLogger(), { mode: 'inline' });
    t.after(() => sp.stop());
    await sp.start();
    await waitFor('our connection reached the peer', () => inbound.length === 1 && sp.neighbors()[0].state === 'OpenSent');
    const ours = inbound[0];
    const theirs = net.connect({ host: addr(1), port: ourPort, localAddress: addr(2) });
    const theirsIn: Buffer[] = [];
    theirs.on('data', (c) => theirsIn.push(c));
    theirs.on('error', () => {});
    t.after(() => theirs.destroy());
    await new Promise<void>((r) => theirs.once('connect', () => r()));
    const open = encodeOpen({ asn: 65002, holdTime: 9, routerId: peerRid, capabilities: { ...emptyCapabilities(), as4: 65002, routeRefresh: true } });
    // our OPEN arrives on their connection too (we answer the candidate)
    await waitFor('our OPEN on the peer-initiated connection', () => splitMessages(Buffer.concat(theirsIn)).some((m) => m.type === 1));
    theirs.write(open);
    const notifOn = (bufs: Buffer[]) => {
      try {
        const m = splitMessages(Buffer.concat(bufs)).find((x) => x.type === 3);
        return m ? decodeNotification(m.body) : undefined;
      } catch {
        return undefined;
      }
    };
    if (peerWins) {
      const n = await waitFor('Cease/collision on our own connection', () => notifOn(received.get(ours)!));
      assert.deepEqual([n.code, n.subcode], [6, 7]);
      assert.equal(sp.neighbors()[0].state, 'OpenConfirm');
      theirs.write(Buffer.from('ffffffffffffffffffffffffffffffff001304', 'hex'));
      await waitFor('Established on the peer-initiated connection', () => sp.neighbors()[0].state === 'Established');
      assert.equal(notifOn(theirsIn), undefined);
    } else {
      const n = await waitFor('Cease/collision on the peer-initiated connection', () => notifOn(theirsIn));
      assert.deepEqual([n.code, n.subcode], [6, 7]);
      ours.write(open);
      ours.write(Buffer.from('ffffffffffffffffffffffffffffffff001304', 'hex'));
      await waitFor('Established on our connection', () => sp.neighbors()[0].state === 'Established');
      assert.equal(notifOn(received.get(ours)!), undefined);
    }
  });
}

test('session: ConnectRetry backs off (≈1, 2, 4 s) toward a closed port, resets once Established; repeated failures go to debug', { timeout: 60000 }, async (t) => {
  const addr = loopbackBlock();
  const ourPort = randomPort(), peerPort = ourPort + 1;
  const cap = captureLogger();
  const debugLog = createLogger({ level: 'debug', destination: { write: (s: string) => cap.lines.push(...s.split('\n').filter(Boolean)) } });
  // nothing listens on addr(2):peerPort: every attempt is refused at once
  const a = new BgpSpeaker(cfg({ self: addr(1), listenPort: ourPort, peer: addr(2), peerPort, asn: 65001, peerAsn: 65002, rid: '10.0.0.1' }), debugLog, { mode: 'inline' });
  t.after(() => a.stop());
  const evs: Array<PeerStateEvent & { at: number }> = [];
  a.on('peer-state', (e: PeerStateEvent) => evs.push({ ...e, at: performance.now() }));
  await a.start();
  // attempts: the start (Idle→Connect), then every ConnectRetry expiry (Active→Connect)
  const attempts = () => evs.filter((e) => e.to === 'Connect');
  await waitFor('4 connection attempts', () => attempts().length >= 4, 20000, 20);
  const at = attempts().map((e) => e.at);
  const gaps = [1, 2, 3].map((i) => (at[i] - at[i - 1]) / 1000);
  t.diagnostic(`intervals between attempts: ${gaps.map((g) => g.toFixed(2)).join(', ')} s`);
  // base 1 s doubling, jittered to 75..100 %; a little slack for a loaded machine
  for (const [i, g] of gaps.entries()) {
    const nominal = 2 ** i;
    assert.ok(g >= 0.75 * nominal - 0.05 && g <= nominal + 0.6, `interval ${i + 1}: ${g.toFixed(2)} s, expected ${0.75 * nominal}..${nominal} s`);
  }
  assert.ok(gaps[2] > gaps[0] * 2, 'the interval grows');
  assert.ok((a.neighbors()[0].connectRetries ?? 0) >= 3);
  assert.match(a.neighbors()[0].lastError, /connect to .* failed/);

  // logging: every transition is logged, but only the first failed attempts at info
  const stateLines = cap.lines.map((l) => JSON.parse(l)).filter((o) => o.event === 'bgp peer state');
  assert.equal(stateLines.length, evs.length, 'one log line per transition');
  const info = stateLines.filter((o) => o.level === 'info');
  const debug = stateLines.filter((o) => o.level === 'debug');
  assert.ok(info.length <= 7, `${info.length} info lines`);
  assert.ok(debug.length >= 1, 'later retries at debug');
  assert.ok(info.some((o) => /attempt 3, retry in [\d.]+ s\); further retries are logged at debug/.test(o.reason)), JSON.stringify(info.map((o) => o.reason)));

  // the peer appears (it connects to our listener): Established, and the counter is back to 0
  const b = new BgpSpeaker(cfg({ self: addr(2), listenPort: peerPort, peer: addr(1), peerPort: ourPort, asn: 65002, peerAsn: 65001, rid: '10.0.0.2' }), silentLogger(), { mode: 'inline' });
  let bStopped = false;
  t.after(() => (bStopped ? undefined : b.stop()));
  await b.start();
  await waitFor('Established', () => a.neighbors()[0].state === 'Established', 20000);
  assert.equal(a.neighbors()[0].connectRetries, 0);
  // the peer goes away again: retries start over from the base interval, not from 16 s
  await b.stop();
  bStopped = true;
  const down = await waitFor('session down', () => evs.find((e) => e.from === 'Established'), 10000);
  const retry = await waitFor('first retry after the drop', () => evs.find((e) => e.at > down.at && e.from === 'Active' && e.to === 'Connect'), 8000, 20);
  const after = (retry.at - down.at) / 1000;
  t.diagnostic(`first ConnectRetry ${after.toFixed(2)} s after the session dropped`);
  // idle hold (~1 s) + one failed attempt + backoff(1) (1.5..2 s)
  assert.ok(after < 4.5, `retry ${after.toFixed(2)} s after the drop`);
});

/** A raw BGP peer listening for our connection; records every message it receives. */
async function scriptedPeer(t: import('node:test').TestContext, host: string, port: number) {
  const framer = new Framer();
  const got: RawMessage[] = [];
  let sock: net.Socket | undefined;
  const srv = net.createServer((s) => {
    sock = s;
    s.on('data', (c) => {
      try {
        got.push(...framer.push(c));
      } catch {
        /* the test checks what it expects */
      }
    });
    s.on('error', () => {});
  });
  await new Promise<void>((r) => srv.listen(port, host, r));
  t.after(() => {
    sock?.destroy();
    srv.close();
  });
  return {
    got,
    connected: () => waitFor('our connection', () => sock),
    send: (b: Buffer) => sock!.write(b),
  };
}

const KEEPALIVE = Buffer.from('ffffffffffffffffffffffffffffffff001304', 'hex');

for (const enhanced of [true, false]) {
  test(`session: ROUTE-REFRESH from a peer ${enhanced ? 'with' : 'without'} enhanced route refresh (RFC 7313) ${enhanced ? 'gets BoRR, the routes, EoRR' : 'gets the routes only'}`, { timeout: 30000 }, async (t) => {
    const addr = loopbackBlock();
    const ourPort = randomPort(), peerPort = ourPort + 1;
    const peer = await scriptedPeer(t, addr(2), peerPort);
    const sp = new BgpSpeaker(cfg({ self: addr(1), listenPort: ourPort, peer: addr(2), peerPort, asn: 65001, peerAsn: 65002, rid: '10.0.0.1' }), silentLogger(), { mode: 'inline' });
    t.after(() => sp.stop());
    const routes = Array.from({ length: 3 }, (_, i) => ({ family: 'ipv4_unicast' as const, prefix: `198.51.100.${i + 1}/32`, attrs: { nextHop: '192.0.2.1', communities: [0xffff029a] } }));
    sp.announce(routes);
    await sp.start();
    await peer.connected();
    // the OPEN we advertise carries route refresh and enhanced route refresh
    const ours = await waitFor('our OPEN', () => peer.got.find((m) => m.type === 1));
    const caps = decodeOpen(ours.body).capabilities;
    assert.equal(caps.routeRefresh, true);
    assert.equal(caps.enhancedRouteRefresh, true);
    peer.send(encodeOpen({ asn: 65002, holdTime: 9, routerId: '10.0.0.2', capabilities: { ...emptyCapabilities(), as4: 65002, routeRefresh: true, enhancedRouteRefresh: enhanced, multiprotocol: [{ afi: 1, safi: 1 }] } }));
    peer.send(KEEPALIVE);
    await waitFor('Established', () => sp.neighbors()[0].state === 'Established');
    await waitFor('initial routes and End-of-RIB', () => peer.got.filter((m) => m.type === 2).length >= 2);
    assert.equal(sp.neighbors()[0].enhancedRouteRefresh, enhanced);
    const mark = peer.got.length;
    peer.send(encodeRouteRefresh(1, 1, 0));
    const seq = () => peer.got.slice(mark).filter((m) => m.type !== 4);
    if (enhanced) {
      await waitFor('EoRR', () => seq().some((m) => m.type === 5 && m.body[2] === 2));
      const s = seq();
      assert.deepEqual(s.map((m) => (m.type === 5 ? `RR${m.body[2]}` : 'UPDATE')), ['RR1', 'UPDATE', 'RR2'], 'BoRR, the re-sent routes, EoRR');
      assert.deepEqual([...s[0].body], [0, 1, 1, 1], 'BoRR for AFI 1 SAFI 1');
      assert.deepEqual([...s[2].body], [0, 1, 2, 1], 'EoRR for AFI 1 SAFI 1');
      const u = decodeUpdate(s[1].body, { as4: true, extendedMessage: false });
      assert.deepEqual(u.announced.map((r) => (r.family === 'ipv4_unicast' ? r.prefix : '')).sort(), routes.map((r) => r.prefix));
      assert.equal(sp.neighbors()[0].refreshesOut, 2);
      // RFC 7313 §5: a BoRR of the wrong length earns ROUTE-REFRESH Message Error / Invalid Message Length
      const bad = Buffer.concat([Buffer.alloc(16, 0xff), Buffer.from([0, 24, 5, 0, 1, 1, 1, 0])]);
      peer.send(bad);
      const n = await waitFor('NOTIFICATION', () => peer.got.slice(mark).find((m) => m.type === 3));
      const d = decodeNotification(n.body);
      assert.deepEqual([d.code, d.subcode], [7, 1]);
      await waitFor('session reset', () => sp.neighbors()[0].state !== 'Established');
    } else {
      await waitFor('routes re-sent', () => seq().some((m) => m.type === 2));
      await sleep(300);
      assert.deepEqual(seq().map((m) => m.type), [2], 'one UPDATE, no BoRR/EoRR');
      assert.equal(sp.neighbors()[0].refreshesOut, 0);
      // without RFC 7313 the subtype octet is reserved: a "BoRR" is just a request
      const mark2 = peer.got.length;
      peer.send(encodeRouteRefresh(1, 1, 1));
      await waitFor('routes re-sent again', () => peer.got.slice(mark2).some((m) => m.type === 2));
      assert.equal(sp.neighbors()[0].state, 'Established');
    }
    assert.equal(sp.neighbors()[0].refreshesIn, 2);
  });
}
