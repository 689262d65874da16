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
import { join } from 'node:path';
import type { BenchContext, BenchRow } from './harness.ts';
import { median } from './harness.ts';
import { detectToUpdateRuns, HOLD, startRig, type Rig } from './rig.ts';
import { birdAvailable } from '../test/helpers/bird.ts';
import { removeDir, sleep, tempDir } from '../test/helpers/netns.ts';
import { metricValue, SflowSender } from '../test/e2e/helpers.ts';
import { datagram, eth, flowSample, ipv4, udp } from '../test/fixtures/sflow/build.ts';

export const prefix = 'e2e';

const THRESHOLD_PPS = 20_000;

function tcpdumpAvailable(): boolean {
  return spawnSync('tcpdump', ['--version'], { stdio: 'ignore' }).status === 0;
}

async function detectToUpdate(ctx: BenchContext, runs: number): Promise<BenchRow[]> {
  const dir = tempDir('bw-bench-e2e-');
  let rig: Rig | undefined;
  const sender = new SflowSender();
  try {
    ctx.log('setup');
    rig = await startRig(dir, THRESHOLD_PPS);
    ctx.log('ready');
    const victims = Array.from({ length: runs }, (_, i) => `198.51.100.${50 + i}`);
    const times = await detectToUpdateRuns(ctx, rig, sender, victims, THRESHOLD_PPS * 2.5, 'detect-to-UPDATE');
    return [{ figure: 'e2e.detect_to_update_s', value: times.length ? Number(median(times).toFixed(3)) : NaN, unit: 's', note: `median of ${times.length} runs (min ${Math.min(...times).toFixed(3)}, max ${Math.max(...times).toFixed(3)}); sFlow 1:1000 at 2.5x ${THRESHOLD_PPS} pps; target <= 1.2` }];
  } finally {
    sender.close();
    await rig?.bw.stop().catch(() => undefined);
    await rig?.bird.dispose();
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
  let rig: Rig | undefined;
  const sock = createSocket('udp4');
  let dump: ReturnType<typeof spawn> | undefined;
  try {
    // Thresholds out of reach: only load, no attacks.
    const s = (rig = await startRig(dir, 1e12));
    const { bird, bw } = s;
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
    await rig?.bw.stop().catch(() => undefined);
    await rig?.bird.dispose();
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

