/**
 * Breakwater's speaker against a real BIRD 2 on loopback addresses: what BIRD
 * received is read back with birdc.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfig } from '../../src/config/load.ts';
import { BgpSpeaker, type PeerStateEvent } from '../../src/bgp/index.ts';
import { silentLogger } from '../../src/core/log.ts';
import { FLOW4, FLOW6, RTBH4, RTBH6 } from './interop.fixtures.ts';
import type { UnicastRoute } from '../../src/bgp/types.ts';
import type { BgpConfig } from '../../src/config/schema.ts';
import { Bird, birdAvailable, birdConfig, type BirdPeerOptions } from '../helpers/bird.ts';
import { loopbackBlock, randomPort, sleep, waitFor } from '../helpers/netns.ts';

const skip = birdAvailable() ? false : 'BIRD 2 (/usr/sbin/bird, birdc) not installed or not root';

interface Pair {
  bird: Bird;
  speaker: BgpSpeaker;
  states: PeerStateEvent[];
  addr: (h: number) => string;
  birdOpts: BirdPeerOptions;
  cfg: BgpConfig;
}

function speakerConfig(o: { peer: string; peerPort: number; local: string; holdTime?: number; remoteAsn?: number; families?: string[]; listen?: string; passive?: boolean }): BgpConfig {
  return validateConfig({
    bgp: {
      local_asn: 65001,
      router_id: '10.255.0.1',
      listen: o.listen ?? '',
      connect_retry_seconds: 1,
      neighbors: [
        {
          address: o.peer,
          port: o.peerPort,
          remote_asn: o.remoteAsn ?? 65002,
          local_address: o.local,
          hold_time: o.holdTime ?? 9,
          passive: o.passive ?? false,
          ...(o.families ? { families: o.families } : {}),
        },
      ],
    },
  }).bgp;
}

async function pair(
  t: import('node:test').TestContext,
  o: { holdTime?: number; birdHold?: number; mode?: 'worker' | 'inline'; families?: BirdPeerOptions['families']; remoteAsn?: number; bird?: Partial<BirdPeerOptions> } = {},
): Promise<Pair> {
  const addr = loopbackBlock();
  const birdPort = randomPort();
  const birdOpts: BirdPeerOptions = {
    routerId: '10.255.0.2',
    localAddress: addr(2),
    localPort: birdPort,
    localAsn: 65002,
    peerAddress: addr(1),
    peerPort: birdPort + 1,
    peerAsn: 65001,
    holdTime: o.birdHold ?? o.holdTime ?? 9,
    passive: true,
    families: o.families,
    ...o.bird,
  };
  const bird = new Bird(birdConfig(birdOpts));
  t.after(() => bird.dispose());
  await bird.start();
  const cfg = speakerConfig({ peer: addr(2), peerPort: birdPort, local: addr(1), holdTime: o.holdTime, remoteAsn: o.remoteAsn });
  const speaker = new BgpSpeaker(cfg, silentLogger(), { mode: o.mode ?? 'worker' });
  const states: PeerStateEvent[] = [];
  speaker.on('peer-state', (e: PeerStateEvent) => states.push(e));
  t.after(() => speaker.stop());
  return { bird, speaker, states, addr, birdOpts, cfg };
}

const established = (p: Pair) => waitFor('BIRD session Established', async () => (await p.bird.state()) === 'Established', 20000);

function flowNet(routes: { net: string }[], needle: string[]): boolean {
  return routes.some((r) => needle.every((n) => r.net.includes(n)));
}

test('bird: RTBH /32 and /128, FlowSpec v4 and v6 received exactly, then withdrawn', { skip, timeout: 90000 }, async (t) => {
  const p = await pair(t);
  p.speaker.announce([RTBH4, RTBH6, FLOW4, FLOW6]);
  await p.speaker.start();
  await established(p);
  const v4 = await waitFor('IPv4 RTBH in BIRD', async () => (await p.bird.routes('master4')).find((r) => r.net === '203.0.113.7/32'));
  assert.equal(v4.attrs['BGP.next_hop'], '192.0.2.1');
  assert.equal(v4.attrs['BGP.community'], '(65535,666) (65001,100)');
  assert.equal(v4.attrs['BGP.large_community'], '(65001, 666, 7)');
  assert.equal(v4.attrs['BGP.as_path'], '65001');
  assert.equal(v4.attrs['BGP.origin'], 'IGP');
  const v6 = await waitFor('IPv6 RTBH in BIRD', async () => (await p.bird.routes('master6')).find((r) => r.net === '2001:db8:7::7/128'));
  assert.equal(v6.attrs['BGP.next_hop'], '100::1');
  assert.equal(v6.attrs['BGP.community'], '(65535,666)');
  const f4 = await waitFor('IPv4 FlowSpec in BIRD', async () => (await p.bird.routes('flowtab4')).filter((r) => r.head.includes('[bw')));
  assert.equal(f4.length, 1);
  assert.equal(f4[0].net, 'flow4 { dst 203.0.113.7/32; proto 17; sport 53,123; length 512..1500; }');
  // traffic-rate 125000 bytes/s: type 0x8006, AS 0, IEEE float32 0x47f42400
  assert.equal(f4[0].attrs['BGP.ext_community'], '(generic, 0x80060000, 0x47f42400)');
  const f6 = await waitFor('IPv6 FlowSpec in BIRD', async () => (await p.bird.routes('flowtab6')).filter((r) => r.head.includes('[bw')));
  assert.equal(f6.length, 1);
  assert.equal(f6[0].net, 'flow6 { dst 2001:db8:7::7/128; next header 6; dport 80,443; }');
  assert.equal(f6[0].attrs['BGP.ext_community'], '(generic, 0x80060000, 0x0)', 'traffic-rate 0 = discard');

  // dedup: announcing again sends nothing
  await p.speaker.sync();
  const before = (await p.speaker.neighborsNow())[0];
  p.speaker.announce([RTBH4, RTBH6, FLOW4, FLOW6]);
  await sleep(200);
  const after = (await p.speaker.neighborsNow())[0];
  assert.equal(after.updatesOut, before.updatesOut);
  assert.equal(after.prefixesSent, 4);
  assert.deepEqual(after.familiesNegotiated.sort(), ['ipv4_flowspec', 'ipv4_unicast', 'ipv6_flowspec', 'ipv6_unicast']);

  p.speaker.withdraw([RTBH4, FLOW4]);
  await waitFor('IPv4 withdrawn', async () => (await p.bird.count('master4')) === 0 && (await p.bird.count('flowtab4')) === 0);
  assert.equal(await p.bird.count('master6'), 1);
  p.speaker.flush();
  await waitFor('all withdrawn', async () => (await p.bird.count('master6')) === 0 && (await p.bird.count('flowtab6')) === 0);
  assert.equal(await p.bird.state(), 'Established');
  assert.ok(p.states.some((s) => s.to === 'Established'));
});

test('bird: route refresh from the router re-sends the Adj-RIB-Out', { skip, timeout: 60000 }, async (t) => {
  const p = await pair(t);
  p.speaker.announce([RTBH4, FLOW4]);
  await p.speaker.start();
  await established(p);
  await waitFor('routes in BIRD', async () => (await p.bird.count('master4')) === 1 && (await p.bird.count('flowtab4')) === 1);
  const before = (await p.speaker.neighborsNow())[0];
  assert.ok(before.messagesIn > 0);
  await p.bird.birdc('reload in bw');
  const after = await waitFor('UPDATEs re-sent after ROUTE-REFRESH', async () => {
    const s = (await p.speaker.neighborsNow())[0];
    return s.updatesOut >= before.updatesOut + 2 ? s : undefined;
  });
  assert.equal(after.flaps, 0);
  assert.equal(await p.bird.state(), 'Established');
  assert.equal(await p.bird.count('master4'), 1);
  assert.equal(await p.bird.count('flowtab4'), 1);
});

test('bird: routes are announced again after the router restarts', { skip, timeout: 60000 }, async (t) => {
  const p = await pair(t);
  p.speaker.announce([RTBH4, RTBH6]);
  await p.speaker.start();
  await established(p);
  await waitFor('routes in BIRD', async () => (await p.bird.count('master4')) === 1);
  await p.bird.stop();
  await waitFor('speaker notices the router went away', () => p.states.some((s) => s.from === 'Established'), 15000);
  await p.bird.start();
  await waitFor('session back', async () => (await p.bird.state()) === 'Established', 30000);
  await waitFor('routes back in the restarted BIRD', async () => (await p.bird.count('master4')) === 1 && (await p.bird.count('master6')) === 1, 15000);
  const s = (await p.speaker.neighborsNow())[0];
  assert.equal(s.state, 'Established');
  assert.ok(s.flaps >= 1);
});

test('bird: hold timer expiry when the router goes silent (SIGSTOP)', { skip, timeout: 60000 }, async (t) => {
  const p = await pair(t, { holdTime: 3 });
  await p.speaker.start();
  await established(p);
  await waitFor('speaker Established', () => p.states.some((s) => s.to === 'Established'));
  process.kill(p.bird.pid, 'SIGSTOP');
  let resumed = false;
  t.after(() => {
    if (!resumed) process.kill(p.bird.pid, 'SIGCONT');
  });
  const down = await waitFor('hold timer expiry', () => p.states.find((s) => s.from === 'Established'), 8000);
  assert.equal(down.to, 'Idle');
  assert.match(down.reason, /hold timer expired.*Hold Timer Expired/i);
  const st = (await p.speaker.neighborsNow())[0];
  assert.match(st.lastError, /sent NOTIFICATION Hold Timer Expired/);
  process.kill(p.bird.pid, 'SIGCONT');
  resumed = true;
  await waitFor('session re-established after the router resumes', async () => (await p.bird.state()) === 'Established', 30000);
});

test('bird: a bad OPEN earns NOTIFICATION Bad Peer AS, both directions', { skip, timeout: 60000 }, async (t) => {
  // We expect AS 65099; BIRD is 65002: we refuse its OPEN.
  const p = await pair(t, { remoteAsn: 65099 });
  await p.speaker.start();
  const st = await waitFor('our Bad Peer AS', async () => {
    const s = (await p.speaker.neighborsNow())[0];
    return /sent NOTIFICATION OPEN Message Error \/ Bad Peer AS/.test(s.lastError) ? s : undefined;
  });
  assert.notEqual(st.state, 'Established');
  await waitFor('BIRD reports it', async () => /Bad peer AS/i.test((await p.bird.protocol())['Last error'] ?? ''));

  // BIRD expects AS 65009 but we are 65001: BIRD refuses our OPEN.
  const addr = loopbackBlock();
  const port = randomPort();
  const bird = new Bird(birdConfig({ ...p.birdOpts, localAddress: addr(2), localPort: port, peerAddress: addr(1), peerPort: port + 1, peerAsn: 65009 }));
  t.after(() => bird.dispose());
  await bird.start();
  const sp = new BgpSpeaker(speakerConfig({ peer: addr(2), peerPort: port, local: addr(1) }), silentLogger(), { mode: 'inline' });
  t.after(() => sp.stop());
  await sp.start();
  const s2 = await waitFor('the router\'s Bad Peer AS', () => (/received NOTIFICATION OPEN Message Error \/ Bad Peer AS/.test(sp.neighbors()[0].lastError) ? sp.neighbors()[0] : undefined));
  assert.notEqual(s2.state, 'Established');
});

test('bird: a busy main thread does not starve keepalives (sessions run in a worker)', { skip, timeout: 90000 }, async (t) => {
  const p = await pair(t, { holdTime: 6 });
  p.speaker.announce(RTBH4);
  await p.speaker.start();
  await established(p);
  await waitFor('route in BIRD', async () => (await p.bird.count('master4')) === 1);
  const spin = (ms: number) => {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      /* the main event loop is blocked */
    }
  };
  // 4 × 2 s of synchronous work with barely a breath between: 8 s > hold time 6 s
  for (let i = 0; i < 4; i++) {
    spin(2000);
    await sleep(5);
  }
  await sleep(500);
  const proto = await p.bird.protocol();
  assert.equal(proto['BGP state'], 'Established');
  assert.doesNotMatch(proto['Last error'] ?? '', /Hold timer/i);
  assert.ok(!p.states.some((s) => s.from === 'Established'), 'no session drop');
  assert.equal(await p.bird.count('master4'), 1);
});

test('bird: the same busy loop on the speaker\'s own thread lets the hold timer expire (control)', { skip, timeout: 90000 }, async (t) => {
  const p = await pair(t, { holdTime: 3 });
  await p.speaker.start();
  await established(p);
  await sleep(500);
  p.speaker.blockSpeakerThread(5000);
  await waitFor('BIRD hold timer expiry', async () => /Hold timer expired/i.test((await p.bird.protocol())['Last error'] ?? ''), 15000);
});

test('bird: a family the neighbor did not negotiate is held, never sent', { skip, timeout: 60000 }, async (t) => {
  const p = await pair(t, { families: ['ipv4', 'ipv6'] });
  p.speaker.announce([RTBH4, FLOW4]);
  await p.speaker.start();
  await established(p);
  await waitFor('RTBH in BIRD', async () => (await p.bird.count('master4')) === 1);
  const s = await waitFor('status', async () => (await p.speaker.neighborsNow()).find((x) => x.state === 'Established'));
  assert.equal(s.heldRoutes, 1);
  assert.deepEqual(s.heldByFamily, { ipv4_flowspec: 1 });
  assert.ok(!s.familiesNegotiated.includes('ipv4_flowspec'));
  const rib = await p.speaker.adjRibOut();
  assert.equal(rib.find((e) => e.route.family === 'ipv4_flowspec')?.status, 'held');
  assert.equal(rib.find((e) => e.route.family === 'ipv4_unicast')?.status, 'sent');
  assert.equal(s.flaps, 0);
  assert.equal(await p.bird.state(), 'Established');
});

test('bird: a leased route (ttl) is withdrawn by the speaker when the lease ends', { skip, timeout: 60000 }, async (t) => {
  const p = await pair(t);
  await p.speaker.start();
  await established(p);
  const expired: string[] = [];
  p.speaker.on('expired', (e: { keys: string[] }) => expired.push(...e.keys));
  p.speaker.announce(RTBH4, { ttlSeconds: 2 });
  p.speaker.announce(RTBH6, { ttlSeconds: 1 });
  p.speaker.announce(RTBH6); // re-announced without ttl: permanent
  await waitFor('leased route in BIRD', async () => (await p.bird.count('master4')) === 1);
  await waitFor('lease expired and withdrawn', async () => (await p.bird.count('master4')) === 0, 6000);
  assert.deepEqual(expired, ['ipv4_unicast 203.0.113.7/32']);
  assert.equal(p.speaker.routes(p.addr(2)).length, 1);
  await sleep(300);
  assert.equal(await p.bird.count('master6'), 1);
});

test('bird: passive accept on bgp.listen, and collision when both sides connect', { skip, timeout: 60000 }, async (t) => {
  const addr = loopbackBlock();
  const port = randomPort();
  const opts: BirdPeerOptions = { routerId: '10.255.0.2', localAddress: addr(2), localPort: port, localAsn: 65002, peerAddress: addr(1), peerPort: port + 1, peerAsn: 65001, holdTime: 9 };
  const bird = new Bird(birdConfig(opts));
  t.after(() => bird.dispose());
  // passive: BIRD connects to our listener
  const sp = new BgpSpeaker(speakerConfig({ peer: addr(2), peerPort: port, local: addr(1), listen: `${addr(1)}:${port + 1}`, passive: true }), silentLogger());
  t.after(() => sp.stop());
  sp.announce(RTBH4);
  await sp.start();
  assert.equal(sp.listenAddress?.port, port + 1);
  await bird.start();
  // BIRD waits its 5 s connect delay before the first connection
  await waitFor('passive session', async () => (await bird.state()) === 'Established', 20000);
  await waitFor('route', async () => (await bird.count('master4')) === 1);
  await sp.stop();
  await bird.stop();

  // both active: connections may cross; exactly one survives
  const sp2 = new BgpSpeaker(speakerConfig({ peer: addr(2), peerPort: port, local: addr(1), listen: `${addr(1)}:${port + 1}` }), silentLogger());
  t.after(() => sp2.stop());
  sp2.announce(RTBH4);
  await Promise.all([sp2.start(), bird.start()]);
  await waitFor('session with both sides active', async () => (await bird.state()) === 'Established', 30000);
  await waitFor('route', async () => (await bird.count('master4')) === 1);
  await sleep(2000);
  assert.equal(await bird.state(), 'Established');
  assert.equal((await sp2.neighborsNow())[0].state, 'Established');
});

test('bird: IPv6 transport (session over ::1) carries IPv4 and IPv6 routes', { skip, timeout: 60000 }, async (t) => {
  const port = randomPort();
  const bird = new Bird(birdConfig({ routerId: '10.255.0.2', localAddress: '::1', localPort: port, localAsn: 65002, peerAddress: '::1', peerPort: port + 1, peerAsn: 65001, holdTime: 9, passive: true }));
  t.after(() => bird.dispose());
  await bird.start();
  const sp = new BgpSpeaker(speakerConfig({ peer: '::1', peerPort: port, local: '::1' }), silentLogger());
  t.after(() => sp.stop());
  sp.announce([RTBH4, RTBH6]);
  await sp.start();
  await waitFor('session over ::1', async () => (await bird.state()) === 'Established', 20000);
  await waitFor('IPv4 route over IPv6 transport', async () => (await bird.count('master4')) === 1 && (await bird.count('master6')) === 1);
  const v4 = (await bird.routes('master4')).find((r) => r.net === '203.0.113.7/32');
  assert.equal(v4?.attrs['BGP.next_hop'], '192.0.2.1');
  assert.equal((await sp.neighborsNow())[0].localAddress, '::1');
});

test('bird: reconfigure adds and removes neighbors; unchanged sessions stay up', { skip, timeout: 90000 }, async (t) => {
  const p = await pair(t);
  p.speaker.announce(RTBH4);
  await p.speaker.start();
  await established(p);
  const addrB = loopbackBlock();
  const portB = randomPort();
  const birdB = new Bird(birdConfig({ ...p.birdOpts, localAddress: addrB(2), localPort: portB, peerAddress: addrB(1), peerPort: portB + 1 }));
  t.after(() => birdB.dispose());
  await birdB.start();
  const two = validateConfig({
    bgp: {
      local_asn: 65001,
      router_id: '10.255.0.1',
      connect_retry_seconds: 1,
      neighbors: [
        ...p.cfg.neighbors.map((n) => ({ ...n, families: [...n.families] })),
        { address: addrB(2), port: portB, remote_asn: 65002, local_address: addrB(1), hold_time: 9 },
      ],
    },
  }).bgp;
  await p.speaker.reconfigure(two);
  await waitFor('second neighbor up', async () => (await birdB.state()) === 'Established', 30000);
  // routes announced to "all neighbors" before the change stay with the first only; new announcements reach both
  p.speaker.announce(RTBH6);
  await waitFor('new route on both', async () => (await p.bird.count('master6')) === 1 && (await birdB.count('master6')) === 1);
  assert.equal(await birdB.count('master4'), 0);
  assert.ok(!p.states.some((s) => s.neighbor === p.addr(2) && s.from === 'Established'), 'first session untouched');
  // remove the second: it is told Cease / Peer De-configured
  await p.speaker.reconfigure(p.cfg);
  await waitFor('second neighbor removed', async () => /de-?configured/i.test((await birdB.protocol())['Last error'] ?? ''), 15000);
  assert.equal((await p.speaker.neighborsNow()).length, 1);
  assert.equal(await p.bird.state(), 'Established');
  assert.ok(!p.states.some((s) => s.neighbor === p.addr(2) && s.from === 'Established'), 'first session still untouched');
});

test('bird: RFC 8654 extended messages: 10,000 /32 go out in UPDATEs larger than 4096 bytes and BIRD takes them all (control: without, ≤ 4096)', { skip, timeout: 120000 }, async (t) => {
  const attrs = { nextHop: '192.0.2.1', communities: [0xffff029a, 65001 * 65536 + 666] };
  const routes: UnicastRoute[] = Array.from({ length: 10000 }, (_, i) => ({ family: 'ipv4_unicast', prefix: `100.${64 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32`, attrs }));
  const results: Record<string, { updates: number; max: number; ext: boolean; caps: string }> = {};
  for (const ext of [true, false]) {
    const p = await pair(t, { bird: { extendedMessages: ext } });
    p.speaker.announce(routes);
    await p.speaker.start();
    await established(p);
    await waitFor(`10,000 routes in BIRD (extended messages ${ext ? 'on' : 'off'})`, async () => (await p.bird.count('master4')) === routes.length, 60000, 200);
    const s = (await p.speaker.neighborsNow())[0];
    // UPDATEs that carry routes: all minus one End-of-RIB per negotiated family
    const updates = s.updatesOut - s.familiesNegotiated.length;
    const caps = (await p.bird.birdc('show protocols all bw')).split('\n').filter((l) => /capabilit|Extended message|ext/i.test(l)).join(' | ');
    results[ext ? 'on' : 'off'] = { updates, max: s.maxMessageOut ?? 0, ext: !!s.extendedMessage, caps };
    assert.equal(s.flaps, 0);
    assert.equal(await p.bird.state(), 'Established');
    await p.speaker.stop();
    await p.bird.dispose();
  }
  t.diagnostic(`extended messages on: ${results.on.updates} UPDATEs, largest message ${results.on.max} bytes; off: ${results.off.updates} UPDATEs, largest ${results.off.max} bytes`);
  t.diagnostic(`BIRD capabilities (on): ${results.on.caps}`);
  assert.equal(results.on.ext, true, 'negotiated with BIRD');
  assert.match(results.on.caps, /Local capabilities \| +Extended message \| +Neighbor capabilities \| +Extended message/, 'BIRD shows the capability on both sides');
  assert.doesNotMatch(results.off.caps, /Local capabilities \| +Extended message/, 'BIRD did not offer it in the control run');
  assert.match(results.off.caps, /Neighbor capabilities \| +Extended message/, 'we always offer it');
  assert.ok(results.on.max > 4096, `largest message ${results.on.max} bytes`);
  assert.ok(results.on.max <= 65535);
  // 10,000 × 5 bytes of NLRI fit one 65,535-byte UPDATE; 4096-byte ones need 13
  assert.ok(results.on.updates <= 2, `${results.on.updates} UPDATEs`);
  assert.equal(results.off.ext, false);
  assert.ok(results.off.max <= 4096);
  assert.ok(results.off.updates >= 13, `${results.off.updates} UPDATEs without extended messages`);
  assert.ok(results.on.updates < results.off.updates);
});

test('bird: enhanced route refresh (RFC 7313): `birdc reload in` gets BoRR, the routes, EoRR, and BIRD keeps them', { skip, timeout: 60000 }, async (t) => {
  const p = await pair(t, { bird: { debug: 'packets' } });
  p.speaker.announce([RTBH4, RTBH6, FLOW4]);
  await p.speaker.start();
  await established(p);
  await waitFor('routes in BIRD', async () => (await p.bird.count('master4')) === 1 && (await p.bird.count('master6')) === 1 && (await p.bird.count('flowtab4')) === 1);
  const before = (await p.speaker.neighborsNow())[0];
  assert.equal(before.enhancedRouteRefresh, true, 'negotiated with BIRD');
  assert.match(await p.bird.birdc('show protocols all bw'), /Neighbor capabilities[\s\S]*Enhanced refresh/);
  // BIRD rate-limits its "Got UPDATE" trace (burst 5, then 1/s): let the bucket refill
  await sleep(5000);
  const mark = p.bird.output().length;
  await p.bird.birdc('reload in bw');
  // BIRD asks for its 4 channels; every one is answered BoRR … EoRR
  await waitFor('4 EoRR in BIRD\'s trace', () => (p.bird.output().slice(mark).match(/Got END-OF-RR/g) ?? []).length === 4, 15000);
  const trace = p.bird.output().slice(mark).split('\n').filter((l) => /Got (BEGIN-OF-RR|END-OF-RR|UPDATE)/.test(l)).map((l) => /Got (\S+)/.exec(l)![1]);
  t.diagnostic(`BIRD trace after reload in: ${trace.join(' ')}`);
  // per channel: BEGIN, the UPDATEs of that family (none for the empty IPv6 FlowSpec), END
  const blocks = trace.join(' ').split('END-OF-RR').map((b) => b.trim()).filter(Boolean);
  assert.equal(blocks.length, 4);
  for (const b of blocks) assert.match(b, /^BEGIN-OF-RR( UPDATE)*$/, b);
  assert.equal(blocks.filter((b) => b.includes('UPDATE')).length, 3, 'the three families that hold a route were re-sent inside their refresh');
  const after = (await p.speaker.neighborsNow())[0];
  assert.equal((after.refreshesOut ?? 0) - (before.refreshesOut ?? 0), 8, '4 BoRR + 4 EoRR');
  assert.equal((after.refreshesIn ?? 0) - (before.refreshesIn ?? 0), 4);
  assert.equal(after.flaps, 0);
  // EoRR purges what was not re-sent: everything was, so BIRD still holds every route
  await sleep(300);
  assert.equal(await p.bird.count('master4'), 1);
  assert.equal(await p.bird.count('master6'), 1);
  assert.equal(await p.bird.count('flowtab4'), 1);
  assert.equal(await p.bird.state(), 'Established');
});
