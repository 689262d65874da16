/**
 * What route leases cost on the detection path: the e2e detect-to-UPDATE
 * (first sFlow attack datagram → BIRD holds the /32) with leases on and off,
 * in one run. Two rigs (bench/rig.ts: a Breakwater child in live mode and
 * BIRD 2) run side by side, one started with leases off (the Mitigator's
 * `leases` option, reached through BREAKWATER_BENCH_ROUTE_LEASES=off in the
 * child's environment; there is no config key), and the attacks alternate
 * between them, each on a fresh victim; the figures are the medians.
 *
 *   e2e.detect_to_update_leases_on_s / e2e.detect_to_update_leases_off_s
 *
 * Runs with `npm run bench` (and `--only e2e`), or alone:
 * `node bench/leases.bench.ts [runs]`.
 */
import type { BenchContext, BenchRow } from './harness.ts';
import { median } from './harness.ts';
import { detectToUpdateRuns, startRig, type Rig } from './rig.ts';
import { birdAvailable } from '../test/helpers/bird.ts';
import { removeDir, tempDir } from '../test/helpers/netns.ts';
import { SflowSender } from '../test/e2e/helpers.ts';

export const prefix = 'e2e';

const THRESHOLD_PPS = 20_000;
const ENV = 'BREAKWATER_BENCH_ROUTE_LEASES';

async function rigWith(dir: string, leases: boolean): Promise<Rig> {
  const before = process.env[ENV];
  if (!leases) process.env[ENV] = 'off';
  else delete process.env[ENV];
  try {
    return await startRig(dir, THRESHOLD_PPS);
  } finally {
    if (before === undefined) delete process.env[ENV];
    else process.env[ENV] = before;
  }
}

export async function leasesOnOff(ctx: BenchContext, runs: number): Promise<BenchRow[]> {
  if (!birdAvailable()) return [{ figure: 'e2e.detect_to_update_leases_on_s', value: NaN, unit: 's', note: 'BIRD 2 not available' }];
  const dirs = [tempDir('bw-bench-leases-on-'), tempDir('bw-bench-leases-off-')];
  const sender = new SflowSender();
  const rigs: Rig[] = [];
  const on: number[] = [];
  const off: number[] = [];
  try {
    rigs.push(await rigWith(dirs[0], true));
    rigs.push(await rigWith(dirs[1], false));
    for (let i = 0; i < runs; i++) {
      // alternate which goes first
      for (const which of i % 2 === 0 ? [0, 1] : [1, 0]) {
        const victim = `198.51.100.${100 + i * 2 + which}`;
        const t = await detectToUpdateRuns(ctx, rigs[which], sender, [victim], THRESHOLD_PPS * 2.5, which === 0 ? 'leases on' : 'leases off');
        (which === 0 ? on : off).push(...t);
      }
    }
  } finally {
    sender.close();
    for (const r of rigs) {
      await r.bw.stop().catch(() => undefined);
      await r.bird.dispose();
    }
    for (const d of dirs) removeDir(d);
  }
  const fmt = (xs: number[]) => (xs.length ? `median of ${xs.length} (min ${Math.min(...xs).toFixed(3)}, max ${Math.max(...xs).toFixed(3)})` : 'no run completed');
  return [
    { figure: 'e2e.detect_to_update_leases_on_s', value: on.length ? Number(median(on).toFixed(3)) : NaN, unit: 's', note: `${fmt(on)}; route leases on (the default), alternating with leases off` },
    { figure: 'e2e.detect_to_update_leases_off_s', value: off.length ? Number(median(off).toFixed(3)) : NaN, unit: 's', note: `${fmt(off)}; route leases off (Mitigator option), same run` },
  ];
}

export default async function (ctx: BenchContext): Promise<BenchRow[]> {
  return leasesOnOff(ctx, ctx.scale < 1 ? 2 : 5);
}

if (import.meta.main) {
  const runs = Number(process.argv[2] ?? 5);
  const rows = await leasesOnOff({ scale: 1, log: (m) => process.stderr.write(`# ${m}\n`) }, runs);
  for (const r of rows) process.stdout.write(`${r.figure} ${r.value} ${r.unit}  ${r.note ?? ''}\n`);
}
