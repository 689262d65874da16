/**
 * End-to-end figures of the whole daemon (child process `node src/main.ts`,
 * live mode) with BIRD 2 as its BGP neighbor on loopback:
 *
 * e2e.detect_to_update_s — from the first datagram of an sFlow attack at
 *   2.5 × the pps threshold (sent over UDP) until BIRD holds the /32 (birdc
 *   polled every 20 ms); median of several runs, each on a fresh victim.
 * e2e.keepalive_late_max_s — the collector saturated by background sFlow
 *   (as many datagrams as this process can send, benign per-host rates) for
 *   BREAKWATER_E2E_SOAK_S seconds (default 60, 6 with --quick; set 300 for
 *   the 5-minute soak); KEEPALIVEs from Breakwater to BIRD are timed from a
 *   tcpdump capture: the figure is the largest gap beyond hold_time / 3.
 *   Hold-timer expiries are reported in the note (must be 0).
 */
import { spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchContext, BenchRow } from './harness.ts';
import { median } from './harness.ts';
import { Bird, birdAvailable, birdConfig } from '../test/helpers/bird.ts';
import { loopbackBlock, removeDir, sleep, tempDir, waitFor } from '../test/helpers/netns.ts';
import { freePort, metricValue, SflowSender, startBreakwater, writeYaml, type Breakwater } from '../test/e2e/helpers.ts';
import { datagram, eth, flowSample, ipv4, udp } from '../test/fixtures/sflow/build.ts';

export const prefix = 'e2e';

const THRESHOLD_PPS = 20_000;
const HOLD = 9;

function tcpdumpAvailable(): boolean {
  return spawnSync('tcpdump', ['--version'], { stdio: 'ignore' }).status === 0;
}

async function setup(dir: string, thresholdPps: number) {
  const L = loopbackBlock();
  const birdPort = freePort();
  const bird = new Bird(birdConfig({ routerId: L(2), localAddress: L(2), localPort: birdPort, localAsn: 65001, peerAddress: L(1), peerPort: freePort(), peerAsn: 65000, holdTime: HOLD, passive: true, gracefulRestart: false }));
  await bird.start();
  const cfg = {
    dry_run: false,
    log: { level: 'warn' },
    listen: { netflow: '', sflow: `127.0.0.1:${freePort()}`, workers: 0 },
    networks: ['198.51.100.0/24', '203.0.113.0/24'],
    detection: { window_seconds: 1, tick_ms: 100, attack_hysteresis_seconds: 5 },
    thresholds: { pps: thresholdPps },
    ban: { ttl_seconds: 600, unban_hysteresis_seconds: 5, max_bans_per_window: 1000 },
    bgp: {
      local_asn: 65000,
      router_id: L(1),
      next_hop: '192.0.2.1',
      connect_retry_seconds: 1,
      neighbors: [{ address: L(2), port: birdPort, remote_asn: 65001, local_address: L(1), hold_time: HOLD }],
    },
    api: { listen: `127.0.0.1:${freePort()}` },
    storage: { data_dir: join(dir, 'data') },
  };
  mkdirSync(join(dir, 'data'), { recursive: true });
  const file = join(dir, 'breakwater.yaml');
  writeYaml(file, cfg);
  const bw = await startBreakwater(file, cfg);
  await waitFor('Established', async () => (await bird.state()) === 'Established', 30_000, 100);
  return { L, bird, bw, birdPort, cfg };
}

async function detectToUpdate(ctx: BenchContext, runs: number): Promise<BenchRow[]> {
  const dir = tempDir('bw-bench-e2e-');
  let bird: Bird | undefined;
  let bw: Breakwater | undefined;
  const sender = new SflowSender();
  try {
    ctx.log('setup');
    const s = await setup(dir, THRESHOLD_PPS);
    ctx.log('ready');
    bird = s.bird;
    bw = s.bw;
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const victim = `198.51.100.${50 + i}`;
      const attack = sender.start(bw.sflowPort, { victim, pps: THRESHOLD_PPS * 2.5, samplingRate: 1000, perDatagram: 1 }, 6000);
      let held = 0;
      for (let k = 0; k < 500; k++) {
        const out = await bird.birdc(`show route for ${victim}/32 table master4`);
        if (out.includes(`${victim}/32`) && out.includes('bw')) {
          held = performance.now();
          break;
        }
        await sleep(20);
      }
      sender.stop();
      await attack.catch(() => undefined);
      if (!held) {
        ctx.log(`run ${i}: BIRD never held ${victim}/32`);
        continue;
      }
      const dt = (held - sender.firstAt) / 1000;
      times.push(dt);
      ctx.log(`run ${i}: ${dt.toFixed(3)} s`);
      sender.firstAt = 0;
      await sleep(300);
    }
    return [{ figure: 'e2e.detect_to_update_s', value: times.length ? Number(median(times).toFixed(3)) : NaN, unit: 's', note: `median of ${times.length} runs (min ${Math.min(...times).toFixed(3)}, max ${Math.max(...times).toFixed(3)}); sFlow 1:1000 at 2.5x ${THRESHOLD_PPS} pps; target <= 1.2` }];
  } finally {
    sender.close();
    await bw?.stop().catch(() => undefined);
    await bird?.dispose();
    removeDir(dir);
  }
}

/** Datagrams of 7 benign samples each to many hosts of 203.0.113.0/24. */
function background(): Buffer[] {
  const out: Buffer[] = [];
  for (let d = 0; d < 64; d++) {
    const samples = [];
    for (let i = 0; i < 7; i++) {
      const pkt = Buffer.concat([eth(0x0800), ipv4(`192.0.2.${(d * 7 + i) % 250 + 1}`, `203.0.113.${(d * 7 + i) % 254 + 1}`, 17, udp(40000 + i, 443, Buffer.alloc(8)))]);
      samples.push(flowSample({ rate: 1, input: [0, 1], output: [0, 2], records: [{ kind: 'raw', frameLength: 1200, header: pkt }] }, d * 7 + i));
    }
    out.push(datagram('127.0.0.1', 0, samples, d));
  }
  return out;
}

async function keepaliveUnderLoad(ctx: BenchContext, seconds: number): Promise<BenchRow[]> {
  if (!tcpdumpAvailable()) return [{ figure: 'e2e.keepalive_late_max_s', value: NaN, unit: 's', note: 'tcpdump not available' }];
  const dir = tempDir('bw-bench-ka-');
  let bird: Bird | undefined;
  let bw: Breakwater | undefined;
  const sock = createSocket('udp4');
  let dump: ReturnType<typeof spawn> | undefined;
  try {
    // Thresholds out of reach: only load, no attacks.
    const s = await setup(dir, 1e12);
    bird = s.bird;
    bw = s.bw;
    const pcap = join(dir, 'ka.pcap');
    dump = spawn('tcpdump', ['-i', 'lo', '-U', '-s', '128', '-w', pcap, `tcp and src host ${s.L(1)} and dst port ${s.birdPort}`], { stdio: 'ignore' });
    await sleep(1000);
    const dgs = background();
    let sent = 0;
    const end = Date.now() + seconds * 1000;
    const t0 = Date.now();
    await new Promise<void>((resolve) => {
      const burst = () => {
        for (let i = 0; i < 256; i++) sock.send(dgs[(sent++) & 63], s.bw.sflowPort, '127.0.0.1');
        if (Date.now() < end) setImmediate(burst);
        else resolve();
      };
      burst();
    });
    const elapsed = (Date.now() - t0) / 1000;
    await sleep(500);
    const m = await bw.metrics();
    const delivered = [...m.matchAll(/^breakwater_flow_datagrams_total\{[^}]*\} ([0-9.e+]+)/gm)].reduce((a, x) => a + Number(x[1]), 0);
    const dropped = [...m.matchAll(/^breakwater_flow_dropped_total\{[^}]*\} ([0-9.e+]+)/gm)].reduce((a, x) => a + Number(x[1]), 0);
    const flaps = metricValue(m, 'breakwater_bgp_flaps_total', `neighbor="${s.L(2)}"`) || 0;
    const state = await bird.state();
    dump.kill('SIGINT');
    await new Promise((r) => dump!.once('exit', r));
    dump = undefined;
    const txt = spawnSync('tcpdump', ['-r', pcap, '-n', '-tt'], { encoding: 'utf8' }).stdout ?? '';
    const kas = txt
      .split('\n')
      .filter((l) => / length 19$/.test(l))
      .map((l) => Number(l.split(' ')[0]));
    let late = 0;
    for (let i = 1; i < kas.length; i++) late = Math.max(late, kas[i] - kas[i - 1] - HOLD / 3);
    ctx.log(`keepalives: ${kas.length} over ${elapsed.toFixed(1)} s; flow datagrams sent ${sent}, decoded ${delivered}, dropped ${dropped}; BIRD ${state}`);
    return [
      {
        figure: 'e2e.keepalive_late_max_s',
        value: Number(Math.max(0, late).toFixed(3)),
        unit: 's',
        note: `${seconds} s at full ingest load (${Math.round(sent / elapsed)} datagrams/s sent, ${Math.round(delivered / elapsed)}/s decoded); ${kas.length} keepalives, hold ${HOLD} s; hold-timer expiries ${flaps}; BIRD ${state}`,
      },
    ];
  } finally {
    dump?.kill('SIGKILL');
    sock.close();
    await bw?.stop().catch(() => undefined);
    await bird?.dispose();
    removeDir(dir);
  }
}

export default async function (ctx: BenchContext): Promise<BenchRow[]> {
  if (!birdAvailable()) {
    ctx.log('e2e: BIRD not available (needs bird2 and root); skipped');
    return [];
  }
  const quick = ctx.scale < 1;
  const soak = Number(process.env.BREAKWATER_E2E_SOAK_S ?? (quick ? 6 : 60));
  return [...(await detectToUpdate(ctx, quick ? 3 : 7)), ...(await keepaliveUnderLoad(ctx, soak))];
}

