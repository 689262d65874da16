/**
 * Collector throughput on loopback (::1), against a bare node:dgram receive
 * loop measured in the same run with the same sender, a separate process:
 * tcpreplay injecting a pcap on lo when available (fast enough to saturate the
 * receiver), else a Node sender process. Datagrams: synthetic sFlow v5,
 * 7 flow samples each.
 *
 *   interleaved 1 s runs (median of 3): bare loop, collector with 1 worker
 *   thread (receive + decode in the worker, batches to a counting sink on the
 *   main thread), collector inline (receive + decode + sink in one thread),
 *   each with the sender flat out; then the 1-worker collector with the sender
 *   paced at 80 % of the bare rate, to measure loss. Besides datagrams per
 *   wall-clock second, datagrams per CPU-second of the receiving process
 *   (capacity on one core, less sensitive to a noisy shared machine).
 *
 * Run as a script (`node collector.bench.ts sender '{...}'`) it is the Node sender.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { BenchContext, BenchRow } from '../../bench/harness.ts';
import { Collector } from './collector.ts';
import { listenUdp, UdpSender } from './listener.ts';
import { CountingSink } from './sink.ts';
import { syntheticDatagram } from './sflow5.bench.ts';

export const prefix = 'collector';

interface SenderArgs {
  port: number;
  /** Datagrams per second; 0 = as fast as the sender can. */
  rate: number;
  ms: number;
}

/** The sender process: blasts datagrams, prints {sent, ms}. */
async function senderMain(a: SenderArgs): Promise<void> {
  const dgs = Array.from({ length: 64 }, (_, i) => syntheticDatagram(i));
  const s = new UdpSender(6);
  await s.port();
  let sent = 0, inflight = 0, errors = 0;
  const cb = (err: Error | null) => {
    inflight--;
    if (err) errors++;
  };
  const t0 = performance.now();
  let last = t0, credit = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      const el = now - t0;
      if (el >= a.ms) return resolve();
      // Paced: credit accrues with time but is capped at 2 ms worth, so a sender
      // that was descheduled does not catch up with a burst.
      let due = 512;
      if (a.rate > 0) {
        credit = Math.min(credit + (a.rate * (now - last)) / 1000, Math.max(1, a.rate / 500));
        due = Math.floor(credit);
        credit -= due;
      }
      last = now;
      if (due > 512) due = 512;
      for (let i = 0; i < due && inflight < 1024; i++) {
        inflight++;
        s.sendNow(dgs[sent & 63], a.port, '::1', cb);
        sent++;
      }
      setImmediate(tick);
    };
    tick();
  });
  const ms = performance.now() - t0;
  while (inflight > 0) await new Promise((r) => setTimeout(r, 1));
  await s.close();
  process.stdout.write(JSON.stringify({ sent: sent - errors, ms }) + '\n');
}

/**
 * tcpreplay (C, injects on lo) outpaces a Node receiver, so the receive side is
 * what gets measured; IPv6 because the kernel drops injected IPv4 packets from
 * 127.0.0.1 as martians. Without tcpreplay (or CAP_NET_RAW) a Node sender
 * process is used, which may itself be the limit.
 */
let tcpreplayOk: boolean | undefined;
function haveTcpreplay(): boolean {
  if (tcpreplayOk === undefined) tcpreplayOk = spawnSync('tcpreplay', ['-V'], { encoding: 'utf8' }).status === 0 && process.getuid?.() === 0;
  return tcpreplayOk;
}

function frame6(payload: Buffer, port: number): Buffer {
  const ulen = 8 + payload.length;
  const f = Buffer.alloc(54 + ulen);
  f.writeUInt16BE(0x86dd, 12);
  f.writeUInt32BE(0x60000000, 14);
  f.writeUInt16BE(ulen, 18);
  f[20] = 17;
  f[21] = 64;
  f[37] = 1; // ::1
  f[53] = 1; // ::1
  f.writeUInt16BE(40000, 54);
  f.writeUInt16BE(port, 56);
  f.writeUInt16BE(ulen, 58);
  payload.copy(f, 62);
  let sum = ulen + 17;
  for (let i = 22; i < 54; i += 2) sum += f.readUInt16BE(i);
  for (let i = 54; i < 54 + ulen; i += 2) sum += (f[i] << 8) | (i + 1 < 54 + ulen ? f[i + 1] : 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 65536);
  f.writeUInt16BE(~sum & 0xffff || 0xffff, 60);
  return f;
}

function tcpreplaySender(a: SenderArgs): Promise<{ sent: number; ms: number }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'bw-bench-'));
  const file = path.join(dir, 'blast.pcap');
  const chunks: Buffer[] = [];
  const h = Buffer.alloc(24);
  h.writeUInt32LE(0xa1b2c3d4, 0);
  h.writeUInt16LE(2, 4);
  h.writeUInt16LE(4, 6);
  h.writeUInt32LE(65535, 16);
  h.writeUInt32LE(1, 20);
  chunks.push(h);
  for (let i = 0; i < 64; i++) {
    const f = frame6(syntheticDatagram(i), a.port);
    const r = Buffer.alloc(16);
    r.writeUInt32LE(i, 4);
    r.writeUInt32LE(f.length, 8);
    r.writeUInt32LE(f.length, 12);
    chunks.push(r, f);
  }
  writeFileSync(file, Buffer.concat(chunks));
  const secs = Math.max(1, Math.round(a.ms / 1000));
  const args = ['-i', 'lo', '-q', '--loop', '0', `--duration=${secs}`];
  if (a.rate > 0) args.push(`--pps=${a.rate}`);
  else args.push('--topspeed');
  args.push(file);
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn('tcpreplay', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    const killer = setTimeout(() => p.kill('SIGKILL'), secs * 1000 + 10000);
    p.on('exit', () => {
      clearTimeout(killer);
      const ms = performance.now() - t0;
      rmSync(dir, { recursive: true, force: true });
      const m = /Actual: (\d+) packets/.exec(out);
      if (!m) return reject(new Error(`tcpreplay: ${out}`));
      resolve({ sent: Number(m[1]), ms: Math.min(ms, secs * 1000 + 50) });
    });
  });
}

export function runSender(a: SenderArgs): Promise<{ sent: number; ms: number }> {
  // tcpreplay catches up with bursts after a stall, which a loss measurement must not see.
  if (a.rate === 0 && haveTcpreplay()) return tcpreplaySender(a);
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [fileURLToPath(import.meta.url), 'sender', JSON.stringify(a)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    const killer = setTimeout(() => p.kill('SIGKILL'), a.ms + 10000);
    p.on('exit', (code) => {
      clearTimeout(killer);
      try {
        resolve(JSON.parse(out.trim()));
      } catch {
        reject(new Error(`sender exited ${code}: ${out}`));
      }
    });
  });
}

const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));
const RCVBUF = 4 << 20;
const quiet = { info() {}, warn() {}, error() {} };

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

interface Run {
  rate: number;
  records: number;
  sent: number;
  received: number;
  ms: number;
  /** Datagrams per CPU-second of this process (the receiving side) during the run. */
  perCpuSecond: number;
}

function cpuSeconds(since: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(since);
  return (d.user + d.system) / 1e6;
}

async function bareRun(ms: number, rate = 0): Promise<Run> {
  let n = 0;
  const l = await listenUdp({ host: '::1', port: 0 }, { receiveBufferBytes: RCVBUF }, () => void n++);
  const cpu = process.cpuUsage();
  const s = await runSender({ port: l.port, rate, ms });
  await settle(150);
  const used = cpuSeconds(cpu);
  await l.close();
  return { rate: (n * 1000) / s.ms, records: 0, sent: s.sent, received: n, ms: s.ms, perCpuSecond: n / used };
}

async function collectorRun(workers: number | 'inline', ms: number, rate = 0): Promise<Run> {
  const sink = new CountingSink();
  const col = new Collector({ netflow: '', sflow: '[::1]:0', workers, receiveBufferBytes: RCVBUF, defaultSamplingRate: 1, flowSources: [], boundary: [] }, sink, quiet);
  await col.start();
  try {
    const cpu = process.cpuUsage();
    const s = await runSender({ port: col.ports.sflow!, rate, ms });
    await settle(150);
    const st = await col.statsNow();
    const used = cpuSeconds(cpu);
    return { rate: (st.datagrams * 1000) / s.ms, records: (sink.records * 1000) / s.ms, sent: s.sent, received: st.datagrams, ms: s.ms, perCpuSecond: st.datagrams / used };
  } finally {
    await col.stop();
  }
}

export default async function bench(ctx: BenchContext): Promise<BenchRow[]> {
  // Interleaved short runs, medians: the machine is shared and noisy.
  const ms = 1000;
  const rounds = ctx.scale < 1 ? 1 : 3;
  const bare: Run[] = [], inline: Run[] = [], worker: Run[] = [];
  for (let i = 0; i < rounds; i++) {
    bare.push(await bareRun(ms));
    worker.push(await collectorRun(1, ms));
    inline.push(await collectorRun('inline', ms));
  }
  const show = (n: string, r: Run[]) => ctx.log(`${n}: ${r.map((x) => `${Math.round(x.rate)}/s (${x.received}/${x.sent}, ${Math.round(x.perCpuSecond)}/cpu-s)`).join(', ')}`);
  show('bare', bare);
  show('collector 1 worker', worker);
  show('collector inline', inline);
  const bareRate = median(bare.map((r) => r.rate));
  const workerRate = median(worker.map((r) => r.rate));
  const inlineRate = median(inline.map((r) => r.rate));
  const lost = (r: Run[]) => r.reduce((a, x) => a + Math.max(0, x.sent - x.received), 0);
  const sent = (r: Run[]) => r.reduce((a, x) => a + x.sent, 0);

  // Loss with the sender paced at 80 % of the bare rate.
  const target = Math.round(bareRate * 0.8);
  const paced = await collectorRun(1, 2000, target);
  const loss = paced.sent > 0 ? Math.max(0, paced.sent - paced.received) / paced.sent : 0;
  ctx.log(`collector 1 worker paced at ${target}/s: received ${paced.received}/${paced.sent}`);

  return [
    { figure: 'collector.bare_datagrams_per_s', value: Math.round(bareRate), unit: 'dgram/s', note: `bare node:dgram loop, median of ${rounds}; lost ${lost(bare)} of ${sent(bare)}` },
    { figure: 'collector.datagrams_per_s', value: Math.round(workerRate), unit: 'dgram/s', note: `1 worker thread + main-thread counting sink, sFlow 7 samples/dgram; lost ${lost(worker)} of ${sent(worker)}` },
    { figure: 'collector.records_per_s', value: Math.round(median(worker.map((r) => r.records))), unit: 'records/s', note: 'records delivered to the main-thread sink' },
    { figure: 'collector.ratio', value: Number((workerRate / bareRate).toFixed(3)), unit: 'ratio', note: 'collector / bare datagrams per second; target >= 0.8' },
    { figure: 'collector.bare_datagrams_per_cpu_s', value: Math.round(median(bare.map((r) => r.perCpuSecond))), unit: 'dgram/cpu-s', note: 'bare loop: datagrams per CPU-second of the receiving process (capacity, independent of the sender)' },
    { figure: 'collector.datagrams_per_cpu_s', value: Math.round(median(worker.map((r) => r.perCpuSecond))), unit: 'dgram/cpu-s', note: '1-worker collector, all its threads (receive, decode, batches, sink)' },
    { figure: 'collector.cpu_ratio', value: Number((median(worker.map((r) => r.perCpuSecond)) / median(bare.map((r) => r.perCpuSecond))).toFixed(3)), unit: 'ratio', note: 'collector / bare per CPU-second' },
    { figure: 'collector.inline_datagrams_per_s', value: Math.round(inlineRate), unit: 'dgram/s', note: `workers: inline (decode in the receiving thread); lost ${lost(inline)} of ${sent(inline)}` },
    { figure: 'collector.inline_ratio', value: Number((inlineRate / bareRate).toFixed(3)), unit: 'ratio', note: 'inline collector / bare' },
    { figure: 'collector.loss_at_80pct', value: Number(loss.toFixed(5)), unit: 'fraction', note: `1 worker, sender paced at 80 % of the bare rate (${target}/s, achieved ${Math.round((paced.sent * 1000) / paced.ms)}/s); target 0` },
  ];
}

if (process.argv[1] && pathToFileURL(process.argv[1]).href === import.meta.url && process.argv[2] === 'sender') {
  void senderMain(JSON.parse(process.argv[3]) as SenderArgs);
}
