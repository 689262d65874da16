/**
 * The daemon-and-BIRD setup the end-to-end benches share (e2e, notify and
 * history): Breakwater as a child process in live mode, BIRD 2 as its
 * passive neighbor on a loopback block, and the detect-to-UPDATE loop they
 * both time: an sFlow attack on a fresh victim until BIRD holds its /32.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchContext } from './harness.ts';
import { Bird, birdConfig } from '../test/helpers/bird.ts';
import { loopbackBlock, sleep, waitFor } from '../test/helpers/netns.ts';
import { freePort, startBreakwater, writeYaml, type Breakwater, type SflowSender } from '../test/e2e/helpers.ts';

/** BGP hold time of the session (KEEPALIVEs every HOLD / 3 s). */
export const HOLD = 9;

export interface Rig {
  L: (n: number) => string;
  bird: Bird;
  bw: Breakwater;
  birdPort: number;
  cfg: Record<string, unknown>;
}

/** BIRD, then Breakwater (config in dir, `extra` keys added at the top level), until the session is Established. */
export async function startRig(dir: string, thresholdPps: number, extra: Record<string, unknown> = {}): Promise<Rig> {
  const L = loopbackBlock();
  const birdPort = freePort();
  const bird = new Bird(birdConfig({ routerId: L(2), localAddress: L(2), localPort: birdPort, localAsn: 65001, peerAddress: L(1), peerPort: freePort(), peerAsn: 65000, holdTime: HOLD, passive: true, gracefulRestart: false }));
  await bird.start();
  try {
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
      ...extra,
    };
    mkdirSync(join(dir, 'data'), { recursive: true });
    const file = join(dir, 'breakwater.yaml');
    writeYaml(file, cfg);
    const bw = await startBreakwater(file, cfg);
    await waitFor('Established', async () => (await bird.state()) === 'Established', 30_000, 100);
    return { L, bird, bw, birdPort, cfg };
  } catch (e) {
    await bird.dispose();
    throw e;
  }
}

/**
 * One attack per victim at `pps` (sFlow 1:1000, one sample per datagram) until
 * BIRD holds the victim's /32 (birdc polled every 20 ms): seconds from the
 * first datagram, one entry per run BIRD held the route in time.
 */
export async function detectToUpdateRuns(ctx: BenchContext, rig: Rig, sender: SflowSender, victims: string[], pps: number, label: string): Promise<number[]> {
  const times: number[] = [];
  for (const [i, victim] of victims.entries()) {
    const attack = sender.start(rig.bw.sflowPort, { victim, pps, samplingRate: 1000, perDatagram: 1 }, 6000);
    let held = 0;
    for (let k = 0; k < 500; k++) {
      const out = await rig.bird.birdc(`show route for ${victim}/32 table master4`);
      if (out.includes(`${victim}/32`) && out.includes('bw')) {
        held = performance.now();
        break;
      }
      await sleep(20);
    }
    sender.stop();
    await attack.catch(() => undefined);
    if (held) {
      const dt = (held - sender.firstAt) / 1000;
      times.push(dt);
      ctx.log(`${label} run ${i}: ${dt.toFixed(3)} s`);
    } else ctx.log(`${label} run ${i}: BIRD never held ${victim}/32`);
    sender.firstAt = 0;
    await sleep(300);
  }
  return times;
}
