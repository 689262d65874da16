/**
 * Engine benchmarks (one thread; rates are records per CPU-second of this
 * process, i.e. on one core, so they do not depend on what else the machine
 * runs; the wall-clock rate is in the note):
 *   engine.records_per_s                  1M tracked hosts, Zipf-like destinations (headline)
 *   engine.records_per_s_100k             100k tracked hosts, Zipf-like destinations
 *   engine.records_per_s_1m_uniform       1M tracked hosts, uniformly random destinations
 *   engine.bytes_per_host                 heap + ArrayBuffer growth per tracked host at 1M hosts
 *   engine.bytes_per_host_all_active      the same with every host active in every tick
 *   engine.detect_delay_s                 sFlow: replay time from an attack's first sample
 *                                         to attack_start, attack at 2.5 x its threshold
 *   engine.detect_delay_netflow_s         the same for NetFlow exported every second
 *
 * Record stream: sFlow-like TCP records (1:1000 sampling), every record to a
 * destination inside networks, a tick every 100 ms of simulated time with
 * 500 000 records per tick (5 M records/s of simulated traffic), so the cost
 * of closing ticks (evaluation, half-window shifts, eviction sweep) is
 * included. "Zipf-like": a record's destination is host floor(N^u) - 1 for u
 * uniform in [0, 1), i.e. P(host of rank i) ~ 1/i (Zipf, s = 1): of N = 1M
 * hosts the busiest 1 % receive 2/3 of the records, the busiest 10 % 5/6, and
 * about 150 000 distinct hosts have traffic in each 100 ms tick.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import type { BenchContext, BenchRow } from '../../bench/harness.ts';
import { validateConfig } from '../config/load.ts';
import { ManualClock } from '../core/clock.ts';
import { parseIPv4 } from '../core/ip.ts';
import { F, newFlowRecord, type FlowRecord } from '../flow/record.ts';
import { Engine } from './engine.ts';

export const prefix = 'engine';

const T0 = Date.UTC(2025, 0, 1);
const NET = parseIPv4('10.0.0.0');

function gcFn(): (() => void) | null {
  try {
    v8.setFlagsFromString('--expose-gc');
    return vm.runInNewContext('gc') as () => void;
  } catch {
    return null;
  }
}

function hostAddr(i: number): number {
  // spread hosts over 10.0.0.0/8
  return (NET + ((Math.imul(i, 2654435761) >>> 0) & 0xffffff)) >>> 0;
}

function baseRecord(): FlowRecord {
  const r = newFlowRecord();
  r.exporter = '192.0.2.250';
  r.proto = 'sflow5';
  r.family = 4;
  r.src4 = parseIPv4('192.0.2.7');
  r.srcPort = 443;
  r.dstPort = 50000;
  r.ipProto = 6;
  r.tcpFlags = 0x10;
  r.packets = 1;
  r.bytes = 1200;
  r.samplingRate = 1000;
  r.fields = F.SRC_ADDR | F.DST_ADDR | F.IP_PROTO | F.PACKETS | F.BYTES;
  return r;
}

function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/**
 * Records per CPU-second (and per wall-clock second) through Engine.record and
 * Engine.tick with `hosts` tracked hosts. `skewed`: Zipf-like destinations (see
 * above); otherwise uniformly random (every record a random host: the
 * cache-hostile worst case). At least one full window (10 ticks) is measured.
 */
function benchRecords(hosts: number, seconds: number, ctx: BenchContext, skewed: boolean): { rps: number; wall: number } {
  const cfg = validateConfig({ networks: ['10.0.0.0/8'], thresholds: { pps: 1e12 }, detection: { max_hosts: Math.max(hosts * 2, 1024), idle_seconds: 3600 } });
  const clock = new ManualClock(T0);
  const engine = new Engine(cfg, { clock });
  const dst = new Uint32Array(1 << 20);
  let seed = 12345;
  for (let i = 0; i < dst.length; i++) {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    const u = seed / 4294967296;
    dst[i] = hostAddr(skewed ? Math.min(hosts - 1, Math.floor(Math.pow(hosts, u)) - 1) : seed % hosts);
  }
  const r = baseRecord();
  // populate every host once
  for (let i = 0; i < hosts; i++) { r.dst4 = hostAddr(i); r.received = clock.now(); engine.record(r); }
  const perTick = 500_000; // 5 M records/s of simulated time, 100 ms ticks
  let k = 0;
  const runTick = () => {
    for (let i = 0; i < perTick; i++) { r.dst4 = dst[(k + i) & 0xfffff]; engine.record(r); }
    k += perTick;
    clock.advance(100);
    engine.tick(clock.now());
  };
  // warm-up: the JIT and a half-window shift
  for (let t = 0; t < 6; t++) runTick();
  let n = 0, ticks = 0;
  const c0 = cpuSeconds();
  const t0 = process.hrtime.bigint();
  do {
    runTick();
    n += perTick;
    ticks++;
  } while (ticks < 10 || cpuSeconds() - c0 < seconds);
  const cpu = cpuSeconds() - c0;
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  ctx.log(`engine: ${skewed ? 'Zipf-like' : 'uniform'} ${hosts} hosts, ${n} records in ${cpu.toFixed(2)} s CPU / ${wall.toFixed(2)} s wall, tracked ${engine.stats().tracked_hosts}`);
  return { rps: n / cpu, wall: n / wall };
}

/**
 * Memory per tracked host: heap + ArrayBuffer growth from an empty engine to
 * one with `hosts` hosts, measured after GC. `allActive`: every host has
 * traffic in every tick of the window. Otherwise: every host was seen once,
 * then a full window of Zipf-like traffic at 5 M records/s.
 */
async function bytesPerHost(hosts: number, allActive: boolean): Promise<{ perHost: number; tables: number }> {
  const gc = gcFn();
  // ArrayBuffers of collected objects are released after the GC, in a later turn
  const settle = async () => { for (let i = 0; i < 2; i++) { gc?.(); await new Promise((res) => setTimeout(res, 20)); } };
  await settle();
  const m0 = process.memoryUsage();
  const cfg = validateConfig({ networks: ['10.0.0.0/8'], thresholds: { pps: 1e12 }, detection: { max_hosts: hosts, idle_seconds: 3600 } });
  const clock = new ManualClock(T0);
  const engine = new Engine(cfg, { clock });
  const r = baseRecord();
  for (let i = 0; i < hosts; i++) { r.dst4 = hostAddr(i); engine.record(r); }
  clock.advance(100);
  engine.tick(clock.now());
  let seed = 99;
  for (let t = 0; t < 16; t++) {
    if (allActive) for (let i = 0; i < hosts; i++) { r.dst4 = hostAddr(i); engine.record(r); }
    else {
      for (let i = 0; i < 500_000; i++) {
        seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
        r.dst4 = hostAddr(Math.min(hosts - 1, Math.floor(Math.pow(hosts, seed / 4294967296)) - 1));
        engine.record(r);
      }
    }
    clock.advance(100);
    engine.tick(clock.now());
  }
  await settle();
  const m1 = process.memoryUsage();
  const st = engine.stats();
  const delta = (m1.heapUsed - m0.heapUsed) + (m1.arrayBuffers - m0.arrayBuffers);
  if (st.tracked_hosts !== hosts) throw new Error(`tracked ${st.tracked_hosts} != ${hosts}`);
  return { perHost: delta / hosts, tables: st.memory_bytes / hosts };
}

/** sFlow: samples arrive continuously. NetFlow: one export per second covering the last second. */
function detectDelay(kind: 'sflow' | 'netflow'): { delay: number; fromFlowStart: number } {
  const threshold = 100_000; // pps
  const cfg = validateConfig({ networks: ['10.0.0.0/8'], thresholds: { pps: threshold } });
  const clock = new ManualClock(T0);
  const engine = new Engine(cfg, { clock });
  let started = -1;
  engine.on((e) => { if (e.event === 'attack_start' && started < 0) started = e.time; });
  const r = baseRecord();
  const target = parseIPv4('10.1.2.3');
  const attackPps = threshold * 2.5;
  const attackT0 = T0 + 5_000 + 37; // not on a tick boundary
  let first = -1;
  let nextExport = attackT0 + 1000;
  // background: 20 other hosts at 1 % of threshold, sFlow 1:1000
  for (let t = T0; t < T0 + 15_000 && started < 0; t += 2) {
    clock.set(t);
    engine.tick(t);
    if (t % 20 === 0) {
      r.proto = 'sflow5'; r.fields &= ~(F.START | F.END); r.samplingRate = 1000; r.packets = 1;
      r.dst4 = (target + 100 + ((t / 20) % 20)) >>> 0; r.received = t;
      engine.record(r);
    }
    if (t < attackT0) continue;
    if (kind === 'sflow') {
      // 1:1000 sampling: attackPps / 1000 samples per second, one every 4 ms at 2.5 x
      const every = 1000 / (attackPps / 1000);
      const k = Math.floor((t - attackT0) / every);
      const prev = Math.floor((t - 2 - attackT0) / every);
      for (let j = Math.max(prev, -1) + 1; j <= k; j++) {
        r.proto = 'sflow5'; r.fields &= ~(F.START | F.END); r.samplingRate = 1000; r.packets = 1; r.dst4 = target; r.received = t;
        r.ipProto = 17; r.srcPort = 123; r.bytes = 468;
        engine.record(r);
        if (first < 0) first = t;
      }
    } else {
      // NetFlow, active timeout 1 s: every second the exporter sends the last second's flows
      if (t >= nextExport) {
        nextExport += 1000;
        for (let f = 0; f < 50; f++) {
          r.proto = 'netflow9'; r.fields |= F.START | F.END; r.samplingRate = 1; r.dst4 = target; r.received = t;
          r.start = t - 1000; r.end = t; r.packets = attackPps / 50; r.bytes = r.packets * 468; r.ipProto = 17; r.srcPort = 123;
          engine.record(r);
        }
        if (first < 0) first = t;
      }
    }
  }
  if (started < 0) throw new Error(`${kind}: attack not detected`);
  return { delay: (started - first) / 1000, fromFlowStart: (started - attackT0) / 1000 };
}

export default async function bench(ctx: BenchContext): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const secs = Math.max(0.5, 2 * ctx.scale);
  const m = benchRecords(1_000_000, secs, ctx, true);
  rows.push({ figure: 'engine.records_per_s', value: Math.round(m.rps), unit: 'records/s', note: `per CPU-second (one core), 1M tracked hosts, Zipf-like destinations (s = 1), ticks included; wall clock ${(m.wall / 1e6).toFixed(2)} M/s; target >= 5e6` });
  const a = benchRecords(100_000, secs, ctx, true);
  rows.push({ figure: 'engine.records_per_s_100k', value: Math.round(a.rps), unit: 'records/s', note: `per CPU-second, 100k tracked hosts, Zipf-like; wall clock ${(a.wall / 1e6).toFixed(2)} M/s; target >= 5e6` });
  const u = benchRecords(1_000_000, secs, ctx, false);
  rows.push({ figure: 'engine.records_per_s_1m_uniform', value: Math.round(u.rps), unit: 'records/s', note: `per CPU-second, 1M tracked hosts, uniformly random destinations (worst case); wall clock ${(u.wall / 1e6).toFixed(2)} M/s` });
  const H = 1_000_000;
  const b = await bytesPerHost(H, false);
  rows.push({ figure: 'engine.bytes_per_host', value: Math.round(b.perHost), unit: 'bytes', note: `1M hosts after a window of 5M rec/s Zipf-like traffic; heap+arrayBuffers delta (typed arrays ${b.tables.toFixed(0)} B/host); target <= 200` });
  const w = await bytesPerHost(H, true);
  rows.push({ figure: 'engine.bytes_per_host_all_active', value: Math.round(w.perHost), unit: 'bytes', note: '1M hosts, every host active in every tick' });
  const s = detectDelay('sflow');
  rows.push({ figure: 'engine.detect_delay_s', value: s.delay, unit: 's', note: 'sFlow 1:1000, attack 2.5 x threshold, from its first sample; target <= 1' });
  const n = detectDelay('netflow');
  rows.push({ figure: 'engine.detect_delay_netflow_s', value: n.delay, unit: 's', note: `NetFlow exported every second, from the first record; ${n.fromFlowStart} s from the first attack packet; target <= 1` });
  return rows;
}
