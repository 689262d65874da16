/**
 * Breakwater's speaker against a real FRR bgpd (without zebra) on loopback:
 * what bgpd received is read back with vtysh JSON (and bgpd's log).
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { validateConfig } from '../../src/config/load.ts';
import { BgpSpeaker, type PeerStateEvent } from '../../src/bgp/index.ts';
import { silentLogger } from '../../src/core/log.ts';
import { Frr, frrAvailable, frrConfig } from '../helpers/frr.ts';
import { loopbackBlock, randomPort, removeDir, sleep, tempDir, waitFor } from '../helpers/netns.ts';
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

  // ROUTE-REFRESH from FRR: everything of that family re-sent, between BoRR and EoRR (RFC 7313)
  const caps = (await frr.json(`show bgp neighbors ${addr(1)} json`))[addr(1)].neighborCapabilities;
  assert.equal(caps.enhancedRouteRefresh, 'advertisedAndReceived');
  assert.equal(caps.extendedMessage, 'advertisedAndReceived');
  await sp.sync();
  const before = (await sp.neighborsNow())[0];
  await frr.vtysh(`clear bgp ipv4 unicast ${addr(1)} soft in`);
  const after = await waitFor('re-sent after refresh', async () => {
    const s = (await sp.neighborsNow())[0];
    return s.updatesOut > before.updatesOut && (s.refreshesOut ?? 0) >= (before.refreshesOut ?? 0) + 2 ? s : undefined;
  }, 10000);
  assert.equal((after.refreshesOut ?? 0) - (before.refreshesOut ?? 0), 2, 'BoRR + EoRR for IPv4 unicast');
  assert.equal(after.flaps, 0);
  assert.equal((await frr.json(`show bgp ipv4 unicast ${RTBH4.prefix} json`)).paths?.length, 1, 'the route survives the EoRR');

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

interface FrrPair {
  frr: Frr;
  sp: BgpSpeaker;
  states: PeerStateEvent[];
  addr: (h: number) => string;
}

/**
 * FRR (AS 65003) and our speaker (AS 65001). `passive`: we only listen and FRR
 * connects, so the OPEN exchange runs on FRR's configured peer (bgpd records
 * the last NOTIFICATION there, not on the temporary peer of an accepted
 * connection).
 */
async function frrPair(t: TestContext, o: { holdTime?: number; frrExpectsAs?: number; weExpectAs?: number; passive?: boolean } = {}): Promise<FrrPair> {
  const addr = loopbackBlock();
  const port = randomPort();
  const hold = o.holdTime ?? 9;
  const frr = new Frr(
    frrConfig({ routerId: '10.255.0.3', listenAddress: addr(2), listenPort: port, localAsn: 65003, peerAddress: addr(1), peerPort: port + 1, peerAsn: o.frrExpectsAs ?? 65001, holdTime: hold }),
    addr(2),
    port,
  );
  t.after(() => frr.dispose());
  await frr.start();
  const cfg = validateConfig({
    bgp: {
      local_asn: 65001,
      router_id: '10.255.0.1',
      connect_retry_seconds: 1,
      listen: o.passive ? `${addr(1)}:${port + 1}` : '',
      neighbors: [{ address: addr(2), port, remote_asn: o.weExpectAs ?? 65003, local_address: addr(1), hold_time: hold, passive: o.passive ?? false }],
    },
  }).bgp;
  const sp = new BgpSpeaker(cfg, silentLogger());
  const states: PeerStateEvent[] = [];
  sp.on('peer-state', (e: PeerStateEvent) => states.push(e));
  t.after(() => sp.stop());
  return { frr, sp, states, addr };
}

const frrUp = (p: FrrPair, ms = 30000) => waitFor('FRR Established', async () => (await p.frr.peerState(p.addr(1))) === 'Established', ms);

test('frr: routes are announced again after the router restarts', { skip, timeout: 90000 }, async (t) => {
  const p = await frrPair(t);
  p.sp.announce([RTBH4, RTBH6, FLOW4]);
  await p.sp.start();
  await frrUp(p);
  const held = async () => {
    const a = (await p.frr.json(`show bgp ipv4 unicast ${RTBH4.prefix} json`)).paths?.length ?? 0;
    const b = (await p.frr.json(`show bgp ipv6 unicast ${RTBH6.prefix} json`)).paths?.length ?? 0;
    const c = Object.keys((await p.frr.json('show bgp ipv4 flowspec json')).routes ?? {}).length;
    return a === 1 && b === 1 && c === 1;
  };
  await waitFor('routes in FRR', held);
  const firstPid = p.frr.pid;
  await p.frr.stop();
  const down = await waitFor('speaker notices the router went away', () => p.states.find((s) => s.from === 'Established'), 15000);
  t.diagnostic(`session down: ${down.to}, ${down.reason}`);
  await p.frr.start();
  assert.notEqual(p.frr.pid, firstPid, 'a new bgpd process');
  await frrUp(p);
  await waitFor('routes back in the restarted FRR', held, 15000);
  const s = (await p.sp.neighborsNow())[0];
  assert.equal(s.state, 'Established');
  assert.ok(s.flaps >= 1);
  assert.equal(s.connectRetries, 0);
  assert.equal(s.prefixesSent, 3);
});

test('frr: hold timer expiry when bgpd is stopped (SIGSTOP), recovery after SIGCONT', { skip, timeout: 90000 }, async (t) => {
  const p = await frrPair(t, { holdTime: 3, passive: true });
  p.sp.announce(RTBH4);
  await p.sp.start();
  await frrUp(p);
  assert.equal((await p.sp.neighborsNow())[0].holdTime, 3);
  const pid = p.frr.pid;
  process.kill(pid, 'SIGSTOP');
  let resumed = false;
  t.after(() => {
    if (!resumed) process.kill(pid, 'SIGCONT');
  });
  const t0 = Date.now();
  const down = await waitFor('our hold timer expires', () => p.states.find((s) => s.from === 'Established'), 10000, 50);
  const after = (Date.now() - t0) / 1000;
  t.diagnostic(`session down ${after.toFixed(1)} s after SIGSTOP: ${down.reason}`);
  assert.equal(down.to, 'Idle');
  assert.match(down.reason, /hold timer expired: sent Hold Timer Expired/);
  assert.ok(after <= 4.5, `hold time 3 s, down after ${after.toFixed(1)} s`);
  const st = (await p.sp.neighborsNow())[0];
  assert.match(st.lastError, /sent NOTIFICATION Hold Timer Expired/);
  assert.equal(st.state === 'Established', false);
  process.kill(pid, 'SIGCONT');
  resumed = true;
  await frrUp(p);
  await waitFor('route back in FRR', async () => (await p.frr.json(`show bgp ipv4 unicast ${RTBH4.prefix} json`)).paths?.length === 1, 15000);
  const nb = (await p.frr.json(`show bgp neighbors ${p.addr(1)} json`))[p.addr(1)];
  t.diagnostic(`FRR after resume: lastResetDueTo=${nb.lastResetDueTo} lastNotificationReason=${nb.lastNotificationReason ?? '-'}`);
  assert.ok((nb.connectionsDropped ?? 0) >= 1);
  // bgpd resumes with its own hold timer run out too: whichever side's NOTIFICATION it handles
  // first, the session it reports ended on Hold Timer Expired
  assert.equal(nb.lastNotificationReason, 'Hold Timer Expired');
  assert.match(p.frr.output(), /%NOTIFICATION: (sent to|received from) neighbor \S+ 4\/0 \(Hold Timer Expired\)/);
});

test('frr: a bad OPEN earns NOTIFICATION Bad Peer AS, both directions, as FRR reports it', { skip, timeout: 90000 }, async (t) => {
  // FRR expects AS 65009 for us: it refuses our OPEN
  const a = await frrPair(t, { frrExpectsAs: 65009, passive: true });
  await a.sp.start();
  const sa = await waitFor('FRR\'s Bad Peer AS reaches us', async () => {
    const s = (await a.sp.neighborsNow())[0];
    return /received NOTIFICATION OPEN Message Error \/ Bad Peer AS/.test(s.lastError) ? s : undefined;
  }, 30000);
  assert.notEqual(sa.state, 'Established');
  const na = await waitFor('FRR records the NOTIFICATION it sent', async () => {
    const n = (await a.frr.json(`show bgp neighbors ${a.addr(1)} json`))[a.addr(1)];
    return n?.lastResetDueTo === 'BGP Notification send' ? n : undefined;
  });
  assert.equal(na.lastErrorCodeSubcode, '0202');
  assert.equal(na.lastNotificationReason, 'OPEN Message Error/Bad Peer AS');
  assert.match(a.frr.output(), /%NOTIFICATION: sent to neighbor \S+ 2\/2 \(OPEN Message Error\/Bad Peer AS\)/);
  assert.ok(!a.states.some((s) => s.to === 'Established'));

  // we expect AS 65099 but FRR is 65003: we refuse FRR's OPEN
  const b = await frrPair(t, { weExpectAs: 65099, passive: true });
  await b.sp.start();
  const sb = await waitFor('our Bad Peer AS', async () => {
    const s = (await b.sp.neighborsNow())[0];
    return /sent NOTIFICATION OPEN Message Error \/ Bad Peer AS: peer AS 65003, expected 65099/.test(s.lastError) ? s : undefined;
  }, 30000);
  assert.notEqual(sb.state, 'Established');
  const nb = await waitFor('FRR records the NOTIFICATION it received', async () => {
    const n = (await b.frr.json(`show bgp neighbors ${b.addr(1)} json`))[b.addr(1)];
    return n?.lastResetDueTo === 'BGP Notification received' ? n : undefined;
  });
  assert.equal(nb.lastErrorCodeSubcode, '0202');
  assert.equal(nb.lastNotificationReason, 'OPEN Message Error/Bad Peer AS');
  assert.match(b.frr.output(), /%NOTIFICATION: received from neighbor \S+ 2\/2 \(OPEN Message Error\/Bad Peer AS\)/);
  assert.ok(!b.states.some((s) => s.to === 'Established'));
});

// ---------------------------------------------------------------- graceful restart with `breakwater bgp`

const root = resolve(import.meta.dirname, '../..');

/** `breakwater bgp` as a child process, driven through stdin. */
class BgpCli {
  readonly proc: ChildProcess;
  readonly lines: string[] = [];
  stderr = '';
  readonly exited: Promise<number | null>;
  constructor(config: string) {
    this.proc = spawn(process.execPath, [join(root, 'src/main.ts'), 'bgp', '-config', config, '-log-format', 'json'], { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] });
    createInterface({ input: this.proc.stdout! }).on('line', (l) => this.lines.push(l));
    this.proc.stderr!.on('data', (b) => {
      this.stderr += b;
      if (this.stderr.length > 200_000) this.stderr = this.stderr.slice(-100_000);
    });
    this.exited = new Promise((r) => this.proc.on('exit', (code) => r(code)));
  }
  async send(line: string): Promise<string> {
    const start = this.lines.length;
    this.proc.stdin!.write(line + '\n');
    await waitFor(`answer to ${line.slice(0, 40)}`, () => this.lines.slice(start).some((l) => l === 'done' || l.startsWith('error ')), 10000, 20);
    return this.lines.slice(start).find((l) => l === 'done' || l.startsWith('error '))!;
  }
  /** SIGKILL by PID (no-op once it has exited). */
  kill(): void {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null || !this.proc.pid) return;
    try {
      process.kill(this.proc.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

test('frr: graceful restart: kill -9 of `breakwater bgp` leaves the routes stale in FRR; the restart re-announces and End-of-RIB clears stale', { skip, timeout: 120000 }, async (t) => {
  const addr = loopbackBlock();
  const port = randomPort();
  const dir = tempDir('bw-frr-gr-');
  t.after(() => removeDir(dir));
  const frr = new Frr(frrConfig({ routerId: '10.255.0.3', listenAddress: addr(2), listenPort: port, localAsn: 65003, peerAddress: addr(1), peerPort: port + 1, peerAsn: 65001, holdTime: 9 }), addr(2), port);
  t.after(() => frr.dispose());
  await frr.start();
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
      remote_asn: 65003
      local_address: ${addr(1)}
      hold_time: 9
`,
  );
  const v4 = 'announce route 203.0.113.9/32 next-hop 192.0.2.1 community [65535:666 65001:7]';
  const v6 = 'announce route 2001:db8:9::9/128 next-hop 100::1 community [blackhole]';
  const flow = 'announce flow route { match { destination 203.0.113.9/32; protocol udp; source-port =53; } then { discard; } }';
  const path4 = async () => (await frr.json('show bgp ipv4 unicast 203.0.113.9/32 json')).paths?.[0];
  const path6 = async () => (await frr.json('show bgp ipv6 unicast 2001:db8:9::9/128 json')).paths?.[0];
  const flows = async () => Object.values((await frr.json('show bgp ipv4 flowspec json')).routes ?? {}) as any[][];
  const peer = async () => (await frr.json(`show bgp neighbors ${addr(1)} json`))[addr(1)];

  const cli = new BgpCli(conf);
  t.after(() => cli.kill());
  assert.equal(await cli.send(v4), 'done');
  assert.equal(await cli.send(v6), 'done');
  assert.equal(await cli.send(flow), 'done');
  await waitFor('FRR Established', async () => (await frr.peerState(addr(1))) === 'Established', 30000);
  await waitFor('routes in FRR', async () => (await path4()) && (await path6()) && (await flows()).length === 1, 15000);
  assert.equal((await path4()).stale, undefined);
  const gr = (await peer()).neighborCapabilities;
  assert.equal(gr.gracefulRestart, 'advertisedAndReceived');
  assert.equal(gr.gracefulRestartRemoteTimerMsecs, 60000, 'our restart time');

  // crash: the kernel closes the TCP session, no NOTIFICATION: FRR keeps the routes, marked stale
  cli.kill();
  await cli.exited;
  await waitFor('FRR notices', async () => (await frr.peerState(addr(1))) !== 'Established', 15000);
  const s4 = await waitFor('IPv4 route kept as stale', async () => ((await path4())?.stale ? path4() : undefined), 5000);
  assert.ok(s4.gracefulRestartSecondsRemaining > 0 && s4.gracefulRestartSecondsRemaining <= 60, `remaining ${s4.gracefulRestartSecondsRemaining}`);
  assert.equal((await path6())?.stale, true, 'IPv6 route kept as stale');
  const f = await flows();
  t.diagnostic(`FlowSpec during the restart: ${f.length} rule(s)${f.length ? `, stale=${f[0][0].stale ?? false}` : ''}`);
  const p = await peer();
  t.diagnostic(`FRR: lastResetDueTo=${p.lastResetDueTo}, restart timer remaining ${p.gracefulRestartInfo?.timers?.restartTimerRemaining} s`);
  assert.ok(p.gracefulRestartInfo?.timers?.restartTimerRemaining > 0);

  // restart: the operator's script announces the IPv4 route and the rule again, not the IPv6 one
  let v4Missing = 0;
  let polling = true;
  const watch = (async () => {
    for (let i = 0; polling && i < 600; i++) {
      if (!(await path4().catch(() => undefined))) v4Missing++;
      await sleep(50);
    }
  })();
  const cli2 = new BgpCli(conf);
  t.after(() => cli2.kill());
  assert.equal(await cli2.send(v4), 'done');
  assert.equal(await cli2.send(flow), 'done');
  await waitFor('FRR Established again', async () => (await frr.peerState(addr(1))) === 'Established', 30000);
  const fresh = await waitFor('IPv4 route refreshed: no longer stale', async () => {
    const x = await path4();
    return x && !x.stale ? x : undefined;
  }, 15000);
  assert.deepEqual([...fresh.community.list].sort(), ['65001:7', 'blackhole', 'noExport']);
  // End-of-RIB: the stale route that was not announced again is gone
  await waitFor('unrefreshed IPv6 route removed at End-of-RIB', async () => !(await path6()), 15000);
  await waitFor('FlowSpec rule present and fresh', async () => {
    const r = await flows();
    return r.length === 1 && !r[0][0].stale;
  }, 15000);
  polling = false;
  await watch;
  assert.equal(v4Missing, 0, 'the IPv4 blackhole never left FRR across the restart');
  const after = await peer();
  assert.equal(after.gracefulRestartInfo?.endOfRibRecv?.ipv4Unicast, true, 'FRR got our End-of-RIB');

  cli2.proc.stdin!.end();
  assert.equal(await cli2.exited, 0);
});
