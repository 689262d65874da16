/**
 * Routes/s to a real peer: 10,000 RTBH /32 and 1,000 FlowSpec rules announced
 * to BIRD 2 over loopback (speaker in its worker thread, as in the daemon);
 * seconds until BIRD holds them all (polled with birdc), seconds until all
 * are withdrawn, and UPDATE messages sent per route. Run twice: with BIRD's
 * default (no RFC 8654 extended messages: UPDATEs of at most 4096 bytes, what
 * most routers negotiate) and with `enable extended messages on` (65,535).
 */
import type { BenchContext, BenchRow } from '../../bench/harness.ts';
import { Bird, birdAvailable, birdConfig } from '../../test/helpers/bird.ts';
import { loopbackBlock, randomPort, waitFor } from '../../test/helpers/netns.ts';
import { validateConfig } from '../config/load.ts';
import { silentLogger } from '../core/log.ts';
import { BgpSpeaker } from './index.ts';
import type { FlowspecRoute, UnicastRoute } from './types.ts';

export const prefix = 'bgp';

interface RunResult {
  announceS: number;
  withdrawS: number;
  sentS: number;
  updates: number;
  wUpdates: number;
  maxMessage: number;
  extended: boolean;
}

async function runOnce(nRtbh: number, nFlow: number, extendedMessages: boolean): Promise<RunResult> {
  const addr = loopbackBlock();
  const port = randomPort();
  const bird = new Bird(
    birdConfig({ routerId: '10.255.0.2', localAddress: addr(2), localPort: port, localAsn: 65002, peerAddress: addr(1), peerPort: port + 1, peerAsn: 65001, holdTime: 90, passive: true, extendedMessages }),
  );
  const cfg = validateConfig({
    bgp: { local_asn: 65001, router_id: '10.255.0.1', connect_retry_seconds: 1, neighbors: [{ address: addr(2), port, remote_asn: 65002, local_address: addr(1) }] },
  }).bgp;
  const speaker = new BgpSpeaker(cfg, silentLogger());
  try {
    await bird.start();
    await speaker.start();
    await waitFor('session', async () => (await bird.state()) === 'Established', 30000);
    const attrs = { nextHop: '192.0.2.1', communities: [0xffff029a, 65001 * 65536 + 666], largeCommunities: [[65001, 666, 1]] as [number, number, number][] };
    const rtbh: UnicastRoute[] = Array.from({ length: nRtbh }, (_, i) => ({ family: 'ipv4_unicast', prefix: `100.${64 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32`, attrs }));
    const fattrs = { extCommunities: [{ type: 'traffic-rate' as const, asn: 0, rate: 0 }] };
    const flows: FlowspecRoute[] = Array.from({ length: nFlow }, (_, i) => ({
      family: 'ipv4_flowspec',
      rule: {
        destination: { prefix: `100.96.${i >> 8}.${i & 255}/32` },
        protocol: [{ and: false, lt: false, gt: false, eq: true, value: 17 }],
        sourcePort: [{ and: false, lt: false, gt: false, eq: true, value: 53 }],
      },
      attrs: fattrs,
    }));
    // warm-up (JIT): 1,000 other routes in and out, as a long-running daemon would have done
    const warm: UnicastRoute[] = Array.from({ length: 1000 }, (_, i) => ({ family: 'ipv4_unicast', prefix: `100.127.${i >> 8}.${i & 255}/32`, attrs }));
    speaker.announce(warm);
    await waitFor('warm-up in BIRD', async () => (await bird.total()) === warm.length, 30000, 20);
    speaker.withdraw(warm);
    await waitFor('warm-up out of BIRD', async () => (await bird.total()) === 0, 30000, 20);
    await speaker.sync();
    const u0 = (await speaker.neighborsNow())[0].updatesOut;
    const count = () => bird.total();
    const total = nRtbh + nFlow;

    const t0 = performance.now();
    // one call per route, as the mitigation layer and the command interface do
    for (const r of rtbh) speaker.announce(r);
    for (const f of flows) speaker.announce(f);
    await waitFor('speaker sent all', async () => (await speaker.neighborsNow())[0].prefixesSent === total, 60000, 5);
    const sentS = (performance.now() - t0) / 1000;
    await waitFor(`BIRD holds ${total} routes`, async () => (await count()) === total, 60000, 10);
    const announceS = (performance.now() - t0) / 1000;
    await speaker.sync();
    const updates = (await speaker.neighborsNow())[0].updatesOut - u0;

    const t1 = performance.now();
    for (const r of rtbh) speaker.withdraw(r);
    for (const f of flows) speaker.withdraw(f);
    await waitFor('BIRD holds none', async () => (await count()) === 0, 60000, 10);
    const withdrawS = (performance.now() - t1) / 1000;
    const st = (await speaker.neighborsNow())[0];
    return { announceS, withdrawS, sentS, updates, wUpdates: st.updatesOut - u0 - updates, maxMessage: st.maxMessageOut ?? 0, extended: !!st.extendedMessage };
  } finally {
    await speaker.stop();
    await bird.dispose();
  }
}

export default async function bench(ctx: BenchContext): Promise<BenchRow[]> {
  if (!birdAvailable()) {
    ctx.log('bgp: BIRD 2 not available (or not root): skipped');
    return [];
  }
  const nRtbh = Math.max(1000, Math.round(10000 * ctx.scale));
  const nFlow = Math.max(100, Math.round(1000 * ctx.scale));
  const total = nRtbh + nFlow;
  const scaleNote = nRtbh === 10000 ? '' : ` (scaled: ${nRtbh} + ${nFlow})`;
  const std = await runOnce(nRtbh, nFlow, false);
  const ext = await runOnce(nRtbh, nFlow, true);
  if (std.extended || !ext.extended) throw new Error(`bgp bench: extended messages negotiated ${std.extended}/${ext.extended}, expected false/true`);
  return [
    { figure: 'bgp.announce_10k_s', value: std.announceS, unit: 's', note: `${nRtbh} RTBH /32 + ${nFlow} FlowSpec until BIRD holds all${scaleNote}` },
    { figure: 'bgp.withdraw_10k_s', value: std.withdrawS, unit: 's', note: `until BIRD holds none${scaleNote}` },
    { figure: 'bgp.announce_10k_sent_s', value: std.sentS, unit: 's', note: 'until the speaker has written every UPDATE' },
    { figure: 'bgp.routes_per_s', value: total / std.announceS, unit: 'routes/s', note: 'announce, end to end into BIRD' },
    { figure: 'bgp.updates_per_route', value: std.updates / total, unit: 'msg/route', note: `${std.updates} UPDATEs announce, ${std.wUpdates} withdraw; no extended messages, largest ${std.maxMessage} B` },
    { figure: 'bgp.announce_10k_ext_s', value: ext.announceS, unit: 's', note: 'the same with RFC 8654 extended messages negotiated' },
    { figure: 'bgp.withdraw_10k_ext_s', value: ext.withdrawS, unit: 's', note: 'the same with extended messages' },
    { figure: 'bgp.updates_per_route_ext', value: ext.updates / total, unit: 'msg/route', note: `${ext.updates} UPDATEs announce, ${ext.wUpdates} withdraw; largest ${ext.maxMessage} B` },
  ];
}
