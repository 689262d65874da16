/**
 * Decode speed of two checkouts in one run: `node bench/decode-ab.ts OTHER_ROOT
 * [pairs]` measures this checkout's FlowDecoder and OTHER_ROOT's alternately,
 * each in a fresh process, on the same synthetic datagrams (decode.bench.ts,
 * sflow5.bench.ts), and prints every pair and the medians. Rates are per
 * CPU-second of the decoding thread (process.threadCpuUsage), so a shared,
 * loaded machine slows both sides alike instead of skewing the ratio.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import { v5, v9, ipfix } from '../src/flow/decode.bench.ts';
import { syntheticDatagram } from '../src/flow/sflow5.bench.ts';
import { median } from './harness.ts';

const PROTOS = ['netflow5', 'netflow9', 'ipfix', 'sflow5'] as const;
type Rates = Record<(typeof PROTOS)[number], number>;

interface Decoder {
  datagram(buf: Buffer, exporter: string, now: number): number;
}
type DecoderCtor = new (sink: { record(r: { packets: number }): void }) => Decoder;

function cpuMs(): number {
  const u = process.threadCpuUsage();
  return (u.user + u.system) / 1000;
}

/** Records per CPU-second of this thread through `dec`, for at least `ms` of CPU time. */
function rate(Ctor: DecoderCtor, first: Buffer | null, list: Buffer[], ms: number): number {
  let n = 0;
  const dec = new Ctor({ record: (r) => void (r.packets >= 0 && n++) });
  if (first) dec.datagram(first, '192.0.2.1', 1700000000000);
  const round = () => {
    for (let i = 0; i < list.length; i++) dec.datagram(list[i], '192.0.2.1', 1700000000000);
  };
  const t = cpuMs();
  while (cpuMs() - t < 300) round(); // warm-up
  n = 0;
  const t0 = cpuMs();
  let el = 0;
  do {
    round();
    el = cpuMs() - t0;
  } while (el < ms);
  if (n === 0) throw new Error('no records');
  return (n * 1000) / el;
}

async function child(root: string, ms: number): Promise<void> {
  const { FlowDecoder } = (await import(pathToFileURL(resolve(root, 'src/flow/decode.ts')).href)) as { FlowDecoder: DecoderCtor };
  const N = 64;
  const out: Rates = {
    netflow5: rate(FlowDecoder, null, Array.from({ length: N }, (_, i) => v5(i)), ms),
    netflow9: rate(FlowDecoder, v9(0, true), Array.from({ length: N }, (_, i) => v9(i + 1, false)), ms),
    ipfix: rate(FlowDecoder, ipfix(0, true), Array.from({ length: N }, (_, i) => ipfix(i + 1, false)), ms),
    sflow5: rate(FlowDecoder, null, Array.from({ length: N }, (_, i) => syntheticDatagram(i)), ms),
  };
  process.stdout.write(JSON.stringify(out));
}

function runOne(root: string, ms: number): Rates {
  const self = fileURLToPath(import.meta.url);
  return JSON.parse(execFileSync(process.execPath, [self, '--child', root, String(ms)], { encoding: 'utf8' })) as Rates;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === '--child') return child(args[1], Number(args[2]));
  const other = resolve(args[0] ?? '');
  const pairs = Number(args[1] ?? 5);
  const ms = Number(args[2] ?? 1500);
  const here = fileURLToPath(new URL('..', import.meta.url));
  const a: Rates[] = [];
  const b: Rates[] = [];
  const fmt = (r: Rates) => PROTOS.map((p) => (r[p] / 1e6).toFixed(1).padStart(6)).join(' ');
  console.log(`pair  code   ${PROTOS.map((p) => p.padStart(8)).join('')}   (M records/s per thread CPU-second)`);
  for (let i = 0; i < pairs; i++) {
    // alternate which side goes first
    const order = i % 2 === 0 ? ['other', 'here'] : ['here', 'other'];
    for (const side of order) {
      const r = runOne(side === 'here' ? here : other, ms);
      (side === 'here' ? b : a).push(r);
      console.log(`${String(i + 1).padStart(4)}  ${side.padEnd(6)} ${fmt(r)}`);
    }
  }
  const med = (xs: Rates[]) => Object.fromEntries(PROTOS.map((p) => [p, median(xs.map((x) => x[p]))])) as Rates;
  const ma = med(a);
  const mb = med(b);
  console.log(`median other ${fmt(ma)}`);
  console.log(`median here  ${fmt(mb)}`);
  console.log(`ratio        ${PROTOS.map((p) => (mb[p] / ma[p]).toFixed(2).padStart(6)).join(' ')}`);
  const ratios = PROTOS.map((p) => median(a.map((x, i) => b[i][p] / x[p])));
  console.log(`pair ratio   ${ratios.map((r) => r.toFixed(2).padStart(6)).join(' ')}  (median of per-pair ratios)`);
}

await main();
