/**
 * Engine: flow records in, attack events out. No I/O.
 *
 *   const engine = new Engine(config, { clock, log });
 *   engine.on((e: EngineEvent) => ...);      // attack_start / attack_update / attack_end
 *   decoder = new FlowDecoder(engine, ...);  // Engine is a FlowSink: engine.record(r)
 *   setInterval(() => engine.tick(clock.now()), config.detection.tick_ms);
 *   engine.reconfigure(newConfig);           // keeps counters unless the window changes
 *   engine.hosts({ limit: 100, ip? });       // HostRate[]: current rates per host
 *   engine.attacks();                        // Attack[]: active first, then recent (newest first)
 *   engine.stats();                          // EngineStats: plain numbers for metrics
 *
 * Hot path (`record`): every record is multiplied by its sampling rate (and,
 * for NetFlow/IPFIX records longer than the window, by window/duration, see
 * window.ts). The destination inside `networks` is counted as an INCOMING host,
 * the source inside `networks` as an OUTGOING host (both when both are ours).
 * Records are copied into a batch (batch.ts) and counted 256 at a time, rows
 * looked up first and added to second, so the cache misses of independent
 * records overlap; the batch is counted before every tick and every read
 * (hosts, attacks, stats, reconfigure), so no decision depends on batching.
 * Counters live in CounterTables (counters.ts): IPv4 hosts keyed by u32, IPv6
 * hosts by 4 u32 words; hostgroups with `calculation: total` also count into a
 * per-group row, carpet prefixes (incoming) into a per-prefix row.
 *
 * `tick(now)`: closes the current tick (tick_ms), evaluates every row that had
 * traffic in it against its limits (thresholds.ts, baseline.ts), opens attacks,
 * re-checks active attacks, ends them after attack_hysteresis_seconds below
 * their limits, evicts idle rows, and when a table is over its cap evicts its
 * least active rows. Time comes from the caller (the Clock in the daemon, the
 * capture timestamps in `breakwater detect`).
 *
 * Bans are not the engine's: the ban module (ban/) subscribes to the attack
 * events and decides. `onTick(time)` is called after each closed tick, so the
 * ban module can act at the same tick boundaries as detection.
 */
import { isDeepStrictEqual } from 'node:util';
import type { Logger } from '../core/log.ts';
import type { Clock } from '../core/clock.ts';
import { formatIPv4, formatIPv6, maskBytes, parseIP, parsePrefix, type Prefix } from '../core/ip.ts';
import type { Config } from '../config/schema.ts';
import { F, type FlowRecord, type FlowSink } from '../flow/record.ts';
import type { Attack, EngineEvent, EngineListener, Vector } from './events.ts';
import { VECTORS } from './events.ts';
import { C, CounterTable, K, META_PINNED, NC, RF } from './counters.ts';
import { BK, RecordBatch } from './batch.ts';
import { spreadFraction, windowParams, type WindowParams } from './window.ts';
import { NetworkSet, HostgroupIndex } from './hostgroups.ts';
import { compileThresholds, crossed, mergeThresholds, anyLimit, THRESHOLD_KEYS } from './thresholds.ts';
import { decay, effectiveLimit, ewmaStep, resolveBaseline, type BaselineParams } from './baseline.ts';
import { Classifier, FlowRing, isFragment } from './classify.ts';
import { attackId, DIRECTIONS, keyToAddress, round2, wordsToBytes, type ActiveAttack, type TargetKind } from './detector.ts';

export interface EngineOptions {
  clock: Clock;
  log?: Logger;
  /** Called after every closed tick with its time (the ban module ticks with detection). */
  onTick?: (time: number) => void;
  /** Minimum interval between attack_update events of one attack (default 1000 ms). */
  updateIntervalMs?: number;
  /** Ended attacks kept for attacks() (default 1000). */
  recentAttacks?: number;
  /** Records counted together (default 256; 1 = one by one, for tests). */
  batchSize?: number;
}

export interface HostRate {
  ip: string;
  direction: 'incoming' | 'outgoing';
  hostgroup?: string;
  pps: number;
  mbps: number;
  fps: number;
  tcp_pps: number;
  udp_pps: number;
  icmp_pps: number;
  tcp_syn_pps: number;
  frag_pps: number;
  under_attack: boolean;
  baseline?: { pps: number; mbps: number; fps: number };
}

export interface EngineStats {
  records: number;
  /** Records with neither address inside `networks`. */
  records_outside: number;
  tracked_hosts: number;
  hosts: { incoming4: number; outgoing4: number; incoming6: number; outgoing6: number };
  carpet_prefixes: number;
  /** Keys refused because a table was full (before eviction made room). */
  overflow: number;
  evictions: number;
  ticks: number;
  attacks_active: number;
  attacks_started: number;
  attacks_by_vector: Record<string, number>;
  memory_bytes: number;
}

const HOST_IN4 = 0, HOST_OUT4 = 1, HOST_IN6 = 2, HOST_OUT6 = 3, GROUP_IN = 4, GROUP_OUT = 5, CARPET4 = 6, CARPET6 = 7;
const ROW_SPAN = 2 ** 25;

interface Compiled {
  wp: WindowParams;
  nets: NetworkSet;
  groups: HostgroupIndex;
  /** limits[dir][g] for g = group index + 1 (0 = global). */
  limits: [Float64Array[], Float64Array[]];
  /** per group index + 1: 1 when calculation is total. */
  total: Uint8Array;
  baseline: BaselineParams[];
  carpetOn: boolean;
  carpetLimits: Float64Array;
  carpetLen4: number;
  carpetMask4: number;
  carpetLen6: number;
  carpetMinHosts: number;
  hysteresisMs: number;
  idleTicks: number;
  spread: boolean;
  sampleFlows: number;
  /** Window packets from which a host/group/carpet row's records go into the FlowRing. */
  watchHost: number;
  watchCarpet: number;
}

/** Counters that count packets (pps-like limits). */
const PKT_COUNTERS = [C.PKTS, C.TCP_P, C.UDP_P, C.ICMP_P, C.SYN_P, C.FRAG_P];

/**
 * A quarter of the smallest packet limit (in window packets): records of rows
 * below it cannot be part of an attack soon, so they are not kept for seeding
 * classification. 0 (keep all) when some target with limits has no packet
 * limit; Infinity (keep none) when no target has any limit.
 */
function watchLevel(limits: Float64Array[], windowSec: number, floor?: number): number {
  let min = Infinity;
  for (const l of limits) {
    if (!anyLimit(l)) continue; // a target without any limit never opens an attack
    let m = Infinity;
    for (const i of PKT_COUNTERS) if (l[i] > 0 && l[i] < m) m = l[i];
    if (m === Infinity) return 0;
    if (m < min) min = m;
  }
  if (floor !== undefined && floor < min) min = floor;
  return min === Infinity ? Infinity : 0.25 * min * windowSec;
}

function compile(cfg: Readonly<Config>): Compiled {
  const wp = windowParams(cfg.detection.window_seconds, cfg.detection.tick_ms);
  const groups = new HostgroupIndex(cfg.hostgroups);
  const G = cfg.hostgroups.length;
  const lin: Float64Array[] = [compileThresholds(cfg.thresholds)];
  const lout: Float64Array[] = [compileThresholds(cfg.thresholds_outgoing)];
  const total = new Uint8Array(G + 1);
  const baseline: BaselineParams[] = [resolveBaseline(cfg.baseline)];
  cfg.hostgroups.forEach((g, i) => {
    lin.push(compileThresholds(mergeThresholds(cfg.thresholds, g.thresholds)));
    lout.push(compileThresholds(mergeThresholds(cfg.thresholds_outgoing, g.thresholds_outgoing)));
    total[i + 1] = g.calculation === 'total' ? 1 : 0;
    baseline.push(resolveBaseline(cfg.baseline, g.baseline));
  });
  const len4 = cfg.carpet.prefix_length_v4;
  const anyBaseline = baseline.some((b) => b.enabled);
  const minFloor = anyBaseline ? Math.min(...baseline.filter((b) => b.enabled).map((b) => b.floor[0])) : undefined;
  return {
    wp,
    nets: new NetworkSet(cfg.networks),
    groups,
    limits: [lin, lout],
    total,
    baseline,
    carpetOn: cfg.carpet.enabled && anyLimit(compileThresholds(cfg.carpet.thresholds)),
    carpetLimits: compileThresholds(cfg.carpet.thresholds),
    carpetLen4: len4,
    carpetMask4: len4 === 0 ? 0 : (0xffffffff << (32 - len4)) >>> 0,
    carpetLen6: cfg.carpet.prefix_length_v6,
    carpetMinHosts: cfg.carpet.min_hosts,
    hysteresisMs: (cfg.detection.attack_hysteresis_seconds ?? 30) * 1000,
    idleTicks: Math.max(wp.buckets + 1, Math.ceil((cfg.detection.idle_seconds * 1000) / wp.tickMs)),
    spread: cfg.detection.spread_long_flows,
    sampleFlows: cfg.samples.enabled ? cfg.samples.flows_per_attack : 0,
    watchHost: anyBaseline ? 0 : watchLevel([...lin, ...lout], wp.windowSec, minFloor),
    watchCarpet: watchLevel([compileThresholds(cfg.carpet.thresholds)], wp.windowSec),
  };
}

export class Engine implements FlowSink {
  private cfg: Readonly<Config>;
  private c: Compiled;
  private readonly clock: Clock;
  private readonly log?: Logger;
  private readonly onTick?: (time: number) => void;
  private readonly updateIntervalMs: number;
  private readonly recentMax: number;
  private tables!: CounterTable[];
  private ring: FlowRing | null = null;
  private readonly listeners: EngineListener[] = [];
  private readonly active = new Map<string, ActiveAttack>();
  /** table index * 2^25 + row → attack. */
  private readonly byRow = new Map<number, ActiveAttack>();
  private recent: Attack[] = [];
  private started = false;
  /** Absolute tick (floor(ms / tick_ms)); tables count ticks relative to `base` (Int32). */
  private curTick = 0;
  private base = 0;
  private sweepPos = 0;
  private n = { records: 0, outside: 0, ticks: 0, started: 0, overflow: 0 };
  private readonly byVector: Record<string, number> = {};
  private readonly w6 = new Uint32Array(4);
  private readonly batch: RecordBatch;
  private readonly evalRows = new Int32Array(256);
  /** Set by the count paths when the record belongs to a row worth watching. */
  private watch = false;
  private readonly limScratch = new Float64Array(NC);
  private readonly sumScratch = new Float64Array(NC);
  private readonly kScratch = new Uint32Array(4);
  /** Watch levels of the current tick, in current-half packets (setWatchLevels). */
  private watchHostNow = 0;
  private watchCarpetNow = 0;

  constructor(config: Readonly<Config>, opts: EngineOptions) {
    this.cfg = config;
    this.clock = opts.clock;
    this.log = opts.log;
    this.onTick = opts.onTick;
    this.updateIntervalMs = opts.updateIntervalMs ?? 1000;
    this.recentMax = opts.recentAttacks ?? 1000;
    this.batch = new RecordBatch(Math.max(1, Math.floor(opts.batchSize ?? 256)));
    this.c = compile(config);
    this.buildTables();
    for (const v of VECTORS) this.byVector[v] = 0;
    const now = this.clock.now();
    if (now > 0) this.startAt(now);
  }

  on(listener: EngineListener): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  get config(): Readonly<Config> {
    return this.cfg;
  }

  get window(): WindowParams {
    return this.c.wp;
  }

  private buildTables(): void {
    const d = this.cfg.detection;
    const B = this.c.wp.buckets;
    const max = d.max_hosts;
    const baseline = this.c.baseline.some((b) => b.enabled);
    const mk = (kw: number, maxRows: number, initial = 1024, bl = baseline) => new CounterTable({ keyWords: kw, maxRows, buckets: B, initialRows: initial, baseline: bl });
    const G = Math.max(1, this.cfg.hostgroups.length);
    this.tables = [
      mk(1, max), mk(1, max), mk(4, max, 256), mk(4, max, 256),
      mk(1, G, G), mk(1, G, G),
      mk(1, Math.max(1024, Math.ceil(max / 16)), 256, false), mk(4, Math.max(1024, Math.ceil(max / 16)), 256, false),
    ];
    this.ring = this.c.sampleFlows > 0 ? new FlowRing(this.cfg.samples.buffer_flows) : null;
    if (this.started) for (const t of this.tables) t.start(this.curTick - this.base);
    this.setWatchLevels();
  }

  private startAt(now: number): void {
    this.curTick = Math.floor(now / this.c.wp.tickMs);
    this.base = this.curTick - 1;
    for (const t of this.tables) t.start(this.curTick - this.base);
    this.started = true;
    this.setWatchLevels();
  }

  // ---- hot path --------------------------------------------------------------

  /**
   * Accepts one record: sampling and spreading applied, classified, copied into
   * the batch. Counting happens in flush(), when the batch is full or before
   * anything reads the counters.
   */
  record(r: FlowRecord): void {
    this.n.records++;
    const c = this.c;
    let kind = 0;
    if (r.family === 4) {
      if (c.nets.has4(r.dst4)) kind = BK.DST;
      if (c.nets.has4(r.src4)) kind |= BK.SRC;
    } else {
      if (c.nets.hasV6(r.dst6)) kind = BK.DST;
      if (c.nets.hasV6(r.src6)) kind |= BK.SRC;
      if (kind !== 0) kind |= BK.V6;
    }
    if (kind === 0) { this.n.outside++; return; }
    let m = r.samplingRate > 0 ? r.samplingRate : 1;
    if (c.spread && r.proto !== 'sflow5' && (r.fields & (F.START | F.END)) === (F.START | F.END)) {
      m *= spreadFraction(r.start, r.end, c.wp.windowMs);
    }
    const p = r.ipProto;
    let cls = 0;
    if (p === 6) cls = K.TCP | ((r.tcpFlags & 0x12) === 0x02 ? K.SYN : 0);
    else if (p === 17) cls = K.UDP;
    else if (p === 1 || p === 58) cls = K.ICMP;
    if (isFragment(r.fragment, p, r.srcPort, r.dstPort)) cls |= K.FRAG;
    if (this.batch.push(r, kind, r.packets * m, r.bytes * m, r.proto === 'sflow5' ? 0 : m, cls)) this.flush();
  }

  /**
   * Counts the batched records: first every IPv4 row is found (or created),
   * then every row is added to, in record order. Both passes touch rows of
   * independent records, so their cache misses overlap.
   */
  private flush(): void {
    const b = this.batch, n = b.n;
    if (n === 0) return;
    const c = this.c;
    const in4 = this.tables[HOST_IN4], out4 = this.tables[HOST_OUT4], cp4 = this.tables[CARPET4];
    const carpetOn = c.carpetOn, cmask = c.carpetMask4;
    const kinds = b.kind, dst4 = b.dst4, src4 = b.src4, rowIn = b.rowIn, rowOut = b.rowOut, rowCp = b.rowCarpet;
    // pass 1: rows (creating the new ones, hostgroup tag set once per host)
    in4.upsertBatch(dst4, kinds, BK.DST | BK.V6, BK.DST, n, rowIn);
    for (let j = 0; j < in4.insertedCount; j++) { const r = in4.insertedRows[j]; in4.setGroup(r, c.groups.lookup4(in4.key(r)) + 1); }
    out4.upsertBatch(src4, kinds, BK.SRC | BK.V6, BK.SRC, n, rowOut);
    for (let j = 0; j < out4.insertedCount; j++) { const r = out4.insertedRows[j]; out4.setGroup(r, c.groups.lookup4(out4.key(r)) + 1); }
    if (carpetOn) {
      const ck = b.carpetKey;
      for (let i = 0; i < n; i++) ck[i] = (dst4[i] & cmask) >>> 0;
      cp4.upsertBatch(ck, kinds, BK.DST | BK.V6, BK.DST, n, rowCp);
    }
    // pass 2: counts, classification of attacked rows, the flow ring
    const wh = this.watchHostNow, wc = this.watchCarpetNow, total = c.total, ring = this.ring;
    for (let i = 0; i < n; i++) {
      const k = kinds[i];
      const pk = b.pk[i], by = b.by[i], fl = b.fl[i], cls = b.cls[i];
      if ((k & BK.V6) !== 0) {
        this.watch = false;
        const r = b.record(i);
        if ((k & BK.DST) !== 0) this.count6(0, r.dst6, pk, by, fl, cls, r);
        if ((k & BK.SRC) !== 0) this.count6(1, r.src6, pk, by, fl, cls, r);
        if (this.watch && ring !== null) ring.push(r);
        continue;
      }
      let watch = false;
      if ((k & BK.DST) !== 0) {
        const row = rowIn[i];
        if (row >= 0) {
          if (in4.add(row, pk, by, fl, cls) >= wh) watch = true;
          const meta = in4.meta(row);
          if ((meta & META_PINNED) !== 0) this.byRow.get(HOST_IN4 * ROW_SPAN + row)?.cls.add(b.record(i));
          const g = meta & 0xffff;
          if (g > 0 && total[g] === 1) { this.countGroup(0, g, pk, by, fl, cls, b.record(i)); watch = true; }
        }
        if (carpetOn) {
          const pr = rowCp[i];
          if (pr >= 0) {
            if (cp4.add(pr, pk, by, fl, cls) >= wc) watch = true;
            if ((cp4.meta(pr) & META_PINNED) !== 0) this.byRow.get(CARPET4 * ROW_SPAN + pr)?.cls.add(b.record(i));
          }
        }
      }
      if ((k & BK.SRC) !== 0) {
        const row = rowOut[i];
        if (row >= 0) {
          if (out4.add(row, pk, by, fl, cls) >= wh) watch = true;
          const meta = out4.meta(row);
          if ((meta & META_PINNED) !== 0) this.byRow.get(HOST_OUT4 * ROW_SPAN + row)?.cls.add(b.record(i));
          const g = meta & 0xffff;
          if (g > 0 && total[g] === 1) { this.countGroup(1, g, pk, by, fl, cls, b.record(i)); watch = true; }
        }
      }
      if (watch && ring !== null) ring.push(b.record(i));
    }
    b.clear();
  }

  private count6(dir: 0 | 1, b: Uint8Array, pk: number, by: number, fl: number, cls: number, r: FlowRecord): void {
    const w = this.w6;
    for (let i = 0; i < 4; i++) w[i] = ((b[i * 4] << 24) | (b[i * 4 + 1] << 16) | (b[i * 4 + 2] << 8) | b[i * 4 + 3]) >>> 0;
    const ti = dir === 0 ? HOST_IN6 : HOST_OUT6;
    const t = this.tables[ti];
    const row = t.upsert(w[0], w[1], w[2], w[3]);
    if (row < 0) { this.n.overflow++; }
    else {
      if (t.inserted) { t.inserted = false; t.setGroup(row, this.c.groups.lookup6(b) + 1); }
      if (t.add(row, pk, by, fl, cls) >= this.watchHostNow) this.watch = true;
      const meta = t.meta(row);
      if ((meta & META_PINNED) !== 0) this.byRow.get(ti * ROW_SPAN + row)?.cls.add(r);
      const g = meta & 0xffff;
      if (g > 0 && this.c.total[g] === 1) { this.countGroup(dir, g, pk, by, fl, cls, r); this.watch = true; }
    }
    if (dir === 0 && this.c.carpetOn) {
      const len = this.c.carpetLen6;
      for (let i = 0; i < 4; i++) {
        const bits = len - i * 32;
        if (bits <= 0) w[i] = 0;
        else if (bits < 32) w[i] = (w[i] & ((0xffffffff << (32 - bits)) >>> 0)) >>> 0;
      }
      const ct = this.tables[CARPET6];
      const pr = ct.upsert(w[0], w[1], w[2], w[3]);
      if (pr >= 0) {
        ct.inserted = false;
        if (ct.add(pr, pk, by, fl, cls) >= this.watchCarpetNow) this.watch = true;
        if ((ct.flags(pr) & RF.PINNED) !== 0) this.byRow.get(CARPET6 * ROW_SPAN + pr)?.cls.add(r);
      }
    }
  }

  private countGroup(dir: 0 | 1, g: number, pk: number, by: number, fl: number, cls: number, r: FlowRecord): void {
    const ti = dir === 0 ? GROUP_IN : GROUP_OUT;
    const t = this.tables[ti];
    const row = t.upsert1(g);
    if (row < 0) return;
    t.inserted = false;
    t.add(row, pk, by, fl, cls);
    if ((t.flags(row) & RF.PINNED) !== 0) this.byRow.get(ti * ROW_SPAN + row)?.cls.add(r);
  }

  // ---- time ------------------------------------------------------------------

  /** Advances time to `now` (ms): closes ticks, evaluates, emits events. */
  tick(now: number = this.clock.now()): void {
    this.flush();
    const tickMs = this.c.wp.tickMs;
    const t = Math.floor(now / tickMs);
    if (!this.started) { this.startAt(now); return; }
    if (t <= this.curTick) return;
    // close the current tick and evaluate what had traffic in it
    const closeTime = (this.curTick + 1) * tickMs;
    this.closeTick(closeTime);
    // walk the empty ticks one by one while attacks may end in them (bounded)
    const maxSteps = 100_000;
    const k0 = this.curTick + 1;
    let k = k0;
    while (k < t) {
      if (this.active.size === 0 || k - k0 > maxSteps) break;
      this.openTick(k);
      this.closeTick((k + 1) * tickMs);
      k++;
    }
    this.openTick(t);
  }

  private openTick(t: number): void {
    for (const tb of this.tables) tb.open(t - this.base);
    this.curTick = t;
    this.setWatchLevels();
  }

  /**
   * The hot path sees only a row's packets in the current half (H0): a row
   * at a steady rate r has H0 = r × (ticks of the half so far) × tick, so
   * scaling the window-packet watch levels by halfTicks / B compares the
   * same rate.
   */
  private setWatchLevels(): void {
    const t = this.tables[HOST_IN4];
    const f = Math.min(1, t.halfTicks / t.buckets);
    this.watchHostNow = this.c.watchHost * f;
    this.watchCarpetNow = this.c.watchCarpet * f;
  }

  private closeTick(time: number): void {
    this.n.ticks++;
    const c = this.c;
    const chunk = this.evalRows;
    for (let ti = 0; ti < this.tables.length; ti++) {
      const tb = this.tables[ti];
      tb.close();
      if (tb.size === 0) continue;
      if ((ti === CARPET4 || ti === CARPET6) && !c.carpetOn) continue;
      // rows with traffic in the closed tick, in row order, in chunks
      const bits = tb.tickBits, nw = (tb.rowLimit + 31) >>> 5;
      let m = 0;
      for (let w = 0; w < nw; w++) {
        let x = bits[w];
        while (x !== 0) {
          const low = x & -x;
          x ^= low;
          chunk[m++] = (w << 5) | (31 - Math.clz32(low));
          if (m === chunk.length) { this.evalChunk(ti, tb, chunk, m, time); m = 0; }
        }
      }
      if (m > 0) this.evalChunk(ti, tb, chunk, m, time);
    }
    this.checkActive(time);
    this.maintain();
    this.onTick?.(time);
  }

  private evalChunk(ti: number, tb: CounterTable, rows: Int32Array, n: number, time: number): void {
    tb.touchRows(rows, n);
    const c = this.c;
    if (ti === CARPET4 || ti === CARPET6) {
      for (let i = 0; i < n; i++) if (tb.isLive(rows[i])) this.evalCarpet(ti, tb, rows[i], time);
      return;
    }
    const dir: 0 | 1 = ti === HOST_IN4 || ti === HOST_IN6 || ti === GROUP_IN ? 0 : 1;
    const isGroup = ti === GROUP_IN || ti === GROUP_OUT;
    const kind: TargetKind = isGroup ? 'group' : 'host';
    for (let i = 0; i < n; i++) {
      const row = rows[i];
      if (!tb.isLive(row)) continue;
      const g = isGroup ? tb.key(row) : tb.group(row);
      if (!isGroup && g > 0 && c.total[g] === 1) continue; // the group is the target
      this.evalRow(ti, tb, row, dir, g, kind, time);
    }
  }

  /** Effective limits of a row (static thresholds with the baseline rule). */
  private limitsFor(tb: CounterTable, row: number, dir: 0 | 1, g: number, time: number, frozen?: [number, number, number], warmedAt?: boolean): Float64Array {
    const base = this.c.limits[dir][g] ?? this.c.limits[dir][0];
    const bp = this.c.baseline[g] ?? this.c.baseline[0];
    if (!bp.enabled || tb.base === null) return base;
    const out = this.limScratch;
    out.set(base);
    const warmed = warmedAt ?? (tb.curTick - tb.born![row]) * this.c.wp.tickMs >= bp.warmupMs;
    for (let m = 0 as 0 | 1 | 2; m < 3; m = (m + 1) as 0 | 1 | 2) {
      const b = frozen ? frozen[m] : this.baselineOf(tb, row, m, bp);
      out[m] = effectiveLimit(base[m], b, warmed, bp, m);
    }
    void time;
    return out;
  }

  private evalRow(ti: number, tb: CounterTable, row: number, dir: 0 | 1, g: number, kind: TargetKind, time: number): void {
    if ((tb.flags(row) & RF.PINNED) !== 0) return;
    const lim = this.limitsFor(tb, row, dir, g, time);
    const W = this.c.wp.windowSec;
    if (tb.exceeds(row, lim, W)) {
      const trig: string[] = [];
      crossed(tb.sums(row, this.sumScratch), 0, W, lim, trig);
      this.openAttack(ti, tb, row, dir, g, kind, trig, time);
      return;
    }
    if (tb.base !== null) this.learn(tb, row, g, tb.sums(row, this.sumScratch));
  }

  /**
   * Bias-corrected baseline: the EWMA started at 0 when the row was created,
   * so it is divided by 1 - 2^(-age/half-life) (as if the row had run at its
   * mean rate since it was first seen).
   */
  private baselineOf(tb: CounterTable, row: number, m: number, bp: BaselineParams): number {
    const age = (tb.curTick - tb.born![row]) * this.c.wp.tickMs;
    const corr = 1 - decay(age, bp.halfLifeMs);
    return corr > 1e-9 ? tb.base![row * 3 + m] / corr : 0;
  }

  /** Baseline learning for a row that had traffic in the tick just closed (`s`: its window sums). */
  private learn(tb: CounterTable, row: number, g: number, s: Float64Array): void {
    const base = tb.base;
    if (base === null) return;
    const bp = this.c.baseline[g] ?? this.c.baseline[0];
    if (!bp.enabled) return;
    const tickMs = this.c.wp.tickMs;
    const idle = Math.max(0, tb.curTick - tb.baseTick![row] - 1) * tickMs;
    const W = this.c.wp.windowSec;
    base[row * 3] = ewmaStep(base[row * 3], s[C.PKTS] / W, idle, tickMs, bp.halfLifeMs);
    base[row * 3 + 1] = ewmaStep(base[row * 3 + 1], s[C.BYTES] / W, idle, tickMs, bp.halfLifeMs);
    base[row * 3 + 2] = ewmaStep(base[row * 3 + 2], s[C.FLOWS] / W, idle, tickMs, bp.halfLifeMs);
    tb.baseTick![row] = tb.curTick;
  }

  private evalCarpet(ti: number, tb: CounterTable, row: number, time: number): void {
    if ((tb.flags(row) & RF.PINNED) !== 0) return;
    const W = this.c.wp.windowSec;
    if (!tb.exceeds(row, this.c.carpetLimits, W)) return;
    const s = tb.sums(row, this.sumScratch);
    const hosts = this.carpetHosts(ti, tb, row);
    if (hosts < this.c.carpetMinHosts) return;
    const trig: string[] = [];
    crossed(s, 0, W, this.c.carpetLimits, trig);
    trig.push(`hosts>=${this.c.carpetMinHosts}`);
    this.openAttack(ti, tb, row, 0, 0, 'carpet', trig, time, hosts);
  }

  /** Hosts of a carpet prefix with traffic in the window. */
  private carpetHosts(ti: number, tb: CounterTable, row: number): number {
    let count = 0;
    if (ti === CARPET4) {
      const p = tb.key(row);
      const size = 2 ** (32 - this.c.carpetLen4);
      const ht = this.tables[HOST_IN4];
      if (size <= 4096) {
        for (let i = 0; i < size; i++) {
          const r = ht.find1((p + i) >>> 0);
          if (r >= 0 && ht.sum(r, C.PKTS) > 0) count++;
        }
        return count;
      }
      const mask = this.c.carpetMask4;
      for (let r = 0; r < ht.rowLimit; r++) if (ht.isLive(r) && ((ht.key(r) & mask) >>> 0) === p && ht.sum(r, C.PKTS) > 0) count++;
      return count;
    }
    const ht = this.tables[HOST_IN6];
    const len = this.c.carpetLen6;
    for (let r = 0; r < ht.rowLimit; r++) {
      if (!ht.isLive(r) || !(ht.sum(r, C.PKTS) > 0)) continue;
      let ok = true;
      for (let i = 0; i < 4 && ok; i++) {
        const bits = len - i * 32;
        if (bits <= 0) break;
        const mask = bits >= 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0;
        ok = ((ht.key(r, i) & mask) >>> 0) === tb.key(row, i);
      }
      if (ok) count++;
    }
    return count;
  }

  // ---- attacks -----------------------------------------------------------------

  private targetOf(ti: number, tb: CounterTable, row: number, kind: TargetKind, g: number): { target: string; family: 4 | 6; prefixes?: string[] } {
    if (kind === 'host') {
      const fam: 4 | 6 = ti === HOST_IN4 || ti === HOST_OUT4 ? 4 : 6;
      return { target: keyToAddress(tb.keyInto(row, this.kScratch), 0, tb.kw), family: fam };
    }
    if (kind === 'carpet') {
      if (ti === CARPET4) return { target: `${formatIPv4(tb.key(row))}/${this.c.carpetLen4}`, family: 4 };
      const b = wordsToBytes(tb.keyInto(row, this.kScratch), 0, new Uint8Array(16));
      return { target: `${formatIPv6(b)}/${this.c.carpetLen6}`, family: 6 };
    }
    const grp = this.cfg.hostgroups[g - 1];
    const nets = grp ? [...grp.networks] : [];
    const p = parsePrefix(nets[0] ?? '0.0.0.0/0', false) as Prefix;
    return { target: nets[0] ?? '', family: p.family, prefixes: nets };
  }

  private rowMatcher(ti: number, tb: CounterTable, row: number, kind: TargetKind, dir: 0 | 1, g: number) {
    if (kind === 'host' && tb.kw === 1) {
      const a = tb.key(row);
      return (f: number, s4: number, d4: number) => f === 4 && (dir === 0 ? d4 : s4) === a;
    }
    if (kind === 'host') {
      const want = wordsToBytes(tb.keyInto(row, this.kScratch), 0, new Uint8Array(16));
      return (f: number, _s4: number, _d4: number, s6: Uint8Array, d6: Uint8Array, off: number) => {
        if (f !== 6) return false;
        const b = dir === 0 ? d6 : s6;
        for (let i = 0; i < 16; i++) if (b[off + i] !== want[i]) return false;
        return true;
      };
    }
    if (kind === 'carpet' && ti === CARPET4) {
      const p = tb.key(row), mask = this.c.carpetMask4;
      return (f: number, _s4: number, d4: number) => f === 4 && ((d4 & mask) >>> 0) === p;
    }
    if (kind === 'carpet') {
      const want = maskBytes(wordsToBytes(tb.keyInto(row, this.kScratch), 0, new Uint8Array(16)), this.c.carpetLen6);
      const len = this.c.carpetLen6;
      const tmp = new Uint8Array(16);
      return (f: number, _s4: number, _d4: number, _s6: Uint8Array, d6: Uint8Array, off: number) => {
        if (f !== 6) return false;
        for (let i = 0; i < 16; i++) tmp[i] = d6[off + i];
        maskBytes(tmp, len);
        for (let i = 0; i < 16; i++) if (tmp[i] !== want[i]) return false;
        return true;
      };
    }
    const groups = this.c.groups, nets = this.c.nets;
    return (f: number, s4: number, d4: number, s6: Uint8Array, d6: Uint8Array, off: number) => {
      if (f === 4) { const a = dir === 0 ? d4 : s4; return nets.has4(a) && groups.lookup4(a) + 1 === g; }
      const b = (dir === 0 ? d6 : s6).subarray(off, off + 16);
      return nets.hasV6(b) && groups.lookup6(b) + 1 === g;
    };
  }

  private openAttack(ti: number, tb: CounterTable, row: number, dir: 0 | 1, g: number, kind: TargetKind, triggers: string[], time: number, carpetHosts?: number): void {
    const { target, family, prefixes } = this.targetOf(ti, tb, row, kind, g);
    const direction = DIRECTIONS[dir];
    const key = `${direction}|${target}`;
    if (this.active.has(key)) return;
    const id = attackId(direction, target, time);
    let seed = 0;
    for (let i = 0; i < id.length; i++) seed = (Math.imul(seed, 31) + id.charCodeAt(i)) >>> 0;
    const cls = new Classifier({ sampleFlows: this.c.sampleFlows, seed, carpet: kind === 'carpet' });
    if (this.ring) this.ring.replay(cls, this.rowMatcher(ti, tb, row, kind, dir, g));
    tb.setFlags(row, tb.flags(row) | RF.PINNED);
    const W = this.c.wp.windowSec, s = tb.sums(row, this.sumScratch);
    const pps = s[C.PKTS] / W, mbps = (s[C.BYTES] * 8) / W / 1e6, fps = s[C.FLOWS] / W;
    const hgIdx = kind === 'group' ? g : kind === 'host' ? tb.group(row) : 0;
    const hostgroup = hgIdx > 0 ? this.cfg.hostgroups[hgIdx - 1]?.name : undefined;
    const attack: Attack = {
      id, target, family, direction, vector: cls.vector(), triggers,
      pps: round2(pps), mbps: round2(mbps), fps: round2(fps),
      peak_pps: round2(pps), peak_mbps: round2(mbps), peak_fps: round2(fps),
      start: time, summary: cls.summary(),
    };
    if (hostgroup !== undefined) attack.hostgroup = hostgroup;
    const ext = attack;
    ext.kind = kind;
    if (prefixes) ext.prefixes = prefixes;
    if (carpetHosts !== undefined) ext.hosts = carpetHosts;
    const lim = kind === 'carpet' ? this.c.carpetLimits : this.limitsFor(tb, row, dir, g, time);
    ext.thresholds = limitsObject(lim);
    const bp = this.c.baseline[g] ?? this.c.baseline[0];
    const frozen: [number, number, number] = tb.base ? [this.baselineOf(tb, row, 0, bp), this.baselineOf(tb, row, 1, bp), this.baselineOf(tb, row, 2, bp)] : [0, 0, 0];
    const warmed = tb.base !== null && bp.enabled && (tb.curTick - tb.born![row]) * this.c.wp.tickMs >= bp.warmupMs;
    const a: ActiveAttack = { attack, kind, dir, table: tb, row, group: g, cls, lastAbove: time, lastUpdate: time, frozenBase: frozen, warmed };
    this.active.set(key, a);
    this.byRow.set(ti * ROW_SPAN + row, a);
    this.n.started++;
    this.byVector[attack.vector] = (this.byVector[attack.vector] ?? 0) + 1;
    this.emitAttack('attack_start', time, attack);
  }

  private checkActive(time: number): void {
    if (this.active.size === 0) return;
    const W = this.c.wp.windowSec;
    for (const [key, a] of [...this.active.entries()]) {
      const tb = a.table, row = a.row, s = tb.sums(row, this.sumScratch);
      const lim = a.kind === 'carpet' ? this.c.carpetLimits : this.limitsFor(tb, row, a.dir, a.group, time, a.frozenBase, a.warmed);
      const above = crossed(s, 0, W, lim, null);
      const at = a.attack;
      at.pps = round2(s[C.PKTS] / W);
      at.mbps = round2((s[C.BYTES] * 8) / W / 1e6);
      at.fps = round2(s[C.FLOWS] / W);
      if (above) {
        a.lastAbove = time;
        if (at.pps > at.peak_pps) at.peak_pps = at.pps;
        if (at.mbps > at.peak_mbps) at.peak_mbps = at.mbps;
        if (at.fps > at.peak_fps) at.peak_fps = at.fps;
      }
      if (!above && time - a.lastAbove >= this.c.hysteresisMs) {
        this.endAttack(key, a, time, 'below threshold');
        continue;
      }
      if (time - a.lastUpdate >= this.updateIntervalMs) {
        a.lastUpdate = time;
        at.vector = a.cls.vector();
        at.summary = a.cls.summary();
        this.emitAttack('attack_update', time, at);
      }
    }
  }

  private endAttack(key: string, a: ActiveAttack, time: number, reason: string): void {
    const at = a.attack;
    at.end = time;
    at.vector = a.cls.vector();
    at.summary = a.cls.summary();
    at.end_reason = reason;
    this.active.delete(key);
    const ti = this.tables.indexOf(a.table);
    this.byRow.delete(ti * ROW_SPAN + a.row);
    if (a.table.isLive(a.row)) a.table.setFlags(a.row, a.table.flags(a.row) & ~RF.PINNED);
    this.recent.unshift(at);
    if (this.recent.length > this.recentMax) this.recent.length = this.recentMax;
    this.emitAttack('attack_end', time, at);
  }

  private emitAttack(event: 'attack_start' | 'attack_update' | 'attack_end', time: number, attack: Attack): void {
    this.emit({ event, time, attack: snapshot(attack) });
  }

  private emit(e: EngineEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch (err) {
        this.log?.error({ err }, 'engine listener failed');
      }
    }
  }

  // ---- maintenance ---------------------------------------------------------------

  private maintain(): void {
    const c = this.c;
    const tickMs = c.wp.tickMs;
    // idle sweep: the whole table once per idle/2
    const sweepTicks = Math.max(1, Math.floor(c.idleTicks / 2));
    const before = this.curTick - this.base - c.idleTicks;
    for (const tb of this.tables) {
      const chunk = Math.ceil(tb.rowLimit / sweepTicks);
      const from = (this.sweepPos * chunk) % Math.max(1, tb.rowLimit);
      if (tb.size > 0) tb.evictIdle(before, from, from + chunk);
      // over the cap (new keys were refused): make room, keep the busiest
      if (tb.overflow > 0 && tb.size >= tb.maxRows * 0.95) tb.evictLeastActive(Math.floor(tb.maxRows * 0.8));
      else if (tb.size > tb.maxRows) tb.evictLeastActive(tb.maxRows);
    }
    this.sweepPos++;
    void tickMs;
  }

  // ---- reconfiguration ------------------------------------------------------------

  /**
   * Applies a new config. Counters are kept unless the window (window_seconds,
   * tick_ms) or the carpet prefix length changes; hosts no longer inside
   * `networks` are dropped (their attacks end); hostgroup membership and limits
   * are recomputed for every tracked host. Returns the time the new config
   * took effect at (the ban module reconfigures at the same time).
   */
  reconfigure(config: Readonly<Config>): number {
    this.flush();
    const old = this.cfg, oldC = this.c;
    this.cfg = config;
    this.c = compile(config);
    const time = Math.max(this.clock.now(), this.curTick * this.c.wp.tickMs);
    const windowChanged = oldC.wp.tickMs !== this.c.wp.tickMs || oldC.wp.buckets !== this.c.wp.buckets;
    const needBaseline = this.c.baseline.some((b) => b.enabled) && this.tables[HOST_IN4].base === null;
    const carpetChanged = oldC.carpetLen4 !== this.c.carpetLen4 || oldC.carpetLen6 !== this.c.carpetLen6;
    const groups = (c: Readonly<Config>) => c.hostgroups.map((g) => [g.name, g.networks, g.calculation]);
    const groupsChanged = !isDeepStrictEqual(groups(old), groups(config));
    if (windowChanged || needBaseline || (this.cfg.samples.buffer_flows !== old.samples.buffer_flows)) {
      for (const [key, a] of [...this.active.entries()]) this.endAttack(key, a, time, 'reconfigured');
      if (windowChanged) { this.curTick = Math.floor(time / this.c.wp.tickMs); this.base = this.curTick - 1; }
      this.buildTables();
    } else {
      if (carpetChanged || groupsChanged) {
        for (const [key, a] of [...this.active.entries()]) if (a.kind !== 'host') this.endAttack(key, a, time, 'reconfigured');
        if (carpetChanged) { this.tables[CARPET4] = this.freshLike(this.tables[CARPET4]); this.tables[CARPET6] = this.freshLike(this.tables[CARPET6]); }
        if (groupsChanged) {
          this.tables[GROUP_IN] = this.freshLike(this.tables[GROUP_IN], Math.max(1, config.hostgroups.length));
          this.tables[GROUP_OUT] = this.freshLike(this.tables[GROUP_OUT], Math.max(1, config.hostgroups.length));
        }
      }
      const max = config.detection.max_hosts;
      for (const ti of [HOST_IN4, HOST_OUT4, HOST_IN6, HOST_OUT6]) this.tables[ti].maxRows = max;
      this.tables[CARPET4].maxRows = this.tables[CARPET6].maxRows = Math.max(1024, Math.ceil(max / 16));
      if (this.c.sampleFlows === 0) this.ring = null;
      else if (!this.ring) this.ring = new FlowRing(config.samples.buffer_flows);
      // re-tag hosts; drop those outside networks
      for (const ti of [HOST_IN4, HOST_OUT4, HOST_IN6, HOST_OUT6]) {
        const tb = this.tables[ti];
        const b6 = new Uint8Array(16);
        for (let r = 0; r < tb.rowLimit; r++) {
          if (!tb.isLive(r)) continue;
          let inside: boolean, g: number;
          if (tb.kw === 1) { inside = this.c.nets.has4(tb.key(r)); g = this.c.groups.lookup4(tb.key(r)) + 1; }
          else { wordsToBytes(tb.keyInto(r, this.kScratch), 0, b6); inside = this.c.nets.hasV6(b6); g = this.c.groups.lookup6(b6) + 1; }
          const a = this.byRow.get(ti * ROW_SPAN + r);
          if (!inside) {
            if (a) this.endAttack(`${a.attack.direction}|${a.attack.target}`, a, time, 'outside networks');
            tb.remove(r);
            continue;
          }
          tb.setGroup(r, g);
          if (a) a.group = g;
        }
      }
    }
    this.setWatchLevels();
    return time;
  }

  private freshLike(tb: CounterTable, maxRows = tb.maxRows): CounterTable {
    const t = new CounterTable({ keyWords: tb.kw, maxRows, buckets: this.c.wp.buckets, initialRows: 256, baseline: tb.base !== null });
    t.start(this.curTick - this.base);
    return t;
  }

  // ---- read side -----------------------------------------------------------------

  /** Current rates per host, busiest first (by pps). */
  hosts(opts: { limit?: number; ip?: string } = {}): HostRate[] {
    this.flush();
    const limit = opts.limit ?? 100;
    if (opts.ip !== undefined) return this.hostRows(opts.ip);
    return this.top({ limit, by: 'pps' }).items;
  }

  /** One host's rows (both directions) by hash lookup, including rows without traffic in the window. */
  private hostRows(ip: string): HostRate[] {
    const a = parseIP(ip);
    if (!a) return [];
    const w = [0, 0, 0, 0];
    if (a.family === 4) w[0] = ((a.bytes[0] << 24) | (a.bytes[1] << 16) | (a.bytes[2] << 8) | a.bytes[3]) >>> 0;
    else for (let i = 0; i < 4; i++) w[i] = ((a.bytes[i * 4] << 24) | (a.bytes[i * 4 + 1] << 16) | (a.bytes[i * 4 + 2] << 8) | a.bytes[i * 4 + 3]) >>> 0;
    const out: HostRate[] = [];
    for (const ti of a.family === 4 ? [HOST_IN4, HOST_OUT4] : [HOST_IN6, HOST_OUT6]) {
      const tb = this.tables[ti];
      const r = tb.find(w[0], w[1], w[2], w[3]);
      if (r >= 0 && tb.isLive(r)) out.push(this.hostRate(ti, r, keyToAddress(tb.keyInto(r, this.kScratch), 0, tb.kw)));
    }
    return out.sort((x, y) => y.pps - x.pps);
  }

  private hostRate(ti: number, r: number, ip: string): HostRate {
    const tb = this.tables[ti];
    const W = this.c.wp.windowSec;
    const g = tb.group(r);
    const o = 0, sums = tb.sums(r, this.sumScratch);
    const h: HostRate = {
      ip,
      direction: ti === HOST_IN4 || ti === HOST_IN6 ? 'incoming' : 'outgoing',
      pps: round2(sums[o] / W),
      mbps: round2((sums[o + 1] * 8) / W / 1e6),
      fps: round2(sums[o + 2] / W),
      tcp_pps: round2(sums[o + C.TCP_P] / W),
      udp_pps: round2(sums[o + C.UDP_P] / W),
      icmp_pps: round2(sums[o + C.ICMP_P] / W),
      tcp_syn_pps: round2(sums[o + C.SYN_P] / W),
      frag_pps: round2(sums[o + C.FRAG_P] / W),
      under_attack: (tb.flags(r) & RF.PINNED) !== 0,
    };
    if (g > 0) h.hostgroup = this.cfg.hostgroups[g - 1]?.name;
    if (tb.base) {
      const bp = this.c.baseline[g] ?? this.c.baseline[0];
      h.baseline = { pps: round2(this.baselineOf(tb, r, 0, bp)), mbps: round2((this.baselineOf(tb, r, 1, bp) * 8) / 1e6), fps: round2(this.baselineOf(tb, r, 2, bp)) };
    }
    return h;
  }

  /**
   * The `limit` busiest hosts with traffic in the window, by packets, bytes or
   * flows, without an object per host: one pass over the rows keeps a min-heap
   * of the best `limit` row numbers; only those become HostRate objects.
   * `group(g)` keeps rows of hostgroup index g (0: none); `after` starts below a
   * (value, "ip|direction") position, for keyset pages. `total`: hosts that
   * pass the direction and group filters.
   */
  top(opts: { limit: number; by?: 'pps' | 'bps' | 'fps'; direction?: 'incoming' | 'outgoing'; group?: (g: number) => boolean; after?: { value: number; id: string } }): { total: number; items: HostRate[]; keys: Array<{ value: number; id: string }> } {
    this.flush();
    const col = opts.by === 'bps' ? C.BYTES : opts.by === 'fps' ? C.FLOWS : C.PKTS;
    const scale = opts.by === 'bps' ? 8 / this.c.wp.windowSec : 1 / this.c.wp.windowSec;
    const tables = opts.direction === 'incoming' ? [HOST_IN4, HOST_IN6] : opts.direction === 'outgoing' ? [HOST_OUT4, HOST_OUT6] : [HOST_IN4, HOST_OUT4, HOST_IN6, HOST_OUT6];
    // The heap never needs more room than there are rows.
    const k = Math.max(0, Math.min(opts.limit, tables.reduce((n, ti) => n + this.tables[ti].rowLimit, 0)));
    const hv = new Float64Array(k), ht = new Int32Array(k), hr = new Int32Array(k);
    // Ties on the value are broken by (table, key words), numerically: no string per row. The keyset id is "table:w0:w1:w2:w3".
    const ka = new Uint32Array(4), kb = new Uint32Array(4);
    const cmpKey = (ta: number, ra: number, tb_: number, rb: number): number => {
      if (ta !== tb_) return ta - tb_;
      const t = this.tables[ta];
      t.keyInto(ra, ka);
      t.keyInto(rb, kb);
      for (let w = 0; w < t.kw; w++) if (ka[w] !== kb[w]) return ka[w] - kb[w];
      return 0;
    };
    const cmpAfter = (ti: number, r: number, id: number[]): number => {
      if (ti !== id[0]) return ti - id[0];
      const t = this.tables[ti];
      t.keyInto(r, ka);
      for (let w = 0; w < t.kw; w++) if (ka[w] !== id[1 + w]) return ka[w] - id[1 + w];
      return 0;
    };
    // "Worse" ranks lower: a smaller value, or the same value and a larger key.
    const worse = (i: number, j: number) => hv[i] < hv[j] || (hv[i] === hv[j] && cmpKey(ht[i], hr[i], ht[j], hr[j]) > 0);
    const swap = (i: number, j: number) => {
      const v = hv[i]; hv[i] = hv[j]; hv[j] = v;
      const t = ht[i]; ht[i] = ht[j]; ht[j] = t;
      const r = hr[i]; hr[i] = hr[j]; hr[j] = r;
    };
    let n = 0, total = 0;
    const after = opts.after;
    const afterId = after ? after.id.split(':').map(Number) : [];
    for (const ti of tables) {
      const tb = this.tables[ti];
      for (let r = 0; r < tb.rowLimit; r++) {
        if (!tb.isLive(r)) continue;
        if (!(tb.sum(r, C.PKTS) > 0)) continue;
        if (opts.group && !opts.group(tb.group(r))) continue;
        total++;
        const v = round2(tb.sum(r, col) * scale);
        if (after && (v > after.value || (v === after.value && cmpAfter(ti, r, afterId) <= 0))) continue;
        if (k === 0) continue;
        if (n < k) {
          hv[n] = v; ht[n] = ti; hr[n] = r;
          for (let i = n++; i > 0; ) {
            const p = (i - 1) >> 1;
            if (!worse(i, p)) break;
            swap(i, p);
            i = p;
          }
        } else if (v > hv[0] || (v === hv[0] && cmpKey(ti, r, ht[0], hr[0]) < 0)) {
          hv[0] = v; ht[0] = ti; hr[0] = r;
          for (let i = 0; ; ) {
            const l = 2 * i + 1, rr = l + 1;
            let m = i;
            if (l < n && worse(l, m)) m = l;
            if (rr < n && worse(rr, m)) m = rr;
            if (m === i) break;
            swap(i, m);
            i = m;
          }
        }
      }
    }
    const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => hv[b] - hv[a] || cmpKey(ht[a], hr[a], ht[b], hr[b]));
    const items: HostRate[] = [];
    const keys: Array<{ value: number; id: string }> = [];
    for (const i of order) {
      const t = this.tables[ht[i]];
      t.keyInto(hr[i], ka);
      items.push(this.hostRate(ht[i], hr[i], keyToAddress(ka, 0, t.kw)));
      keys.push({ value: hv[i], id: [ht[i], ...Array.from(ka.subarray(0, t.kw))].join(':') });
    }
    return { total, items, keys };
  }

  /** Active attacks (oldest first), then recently ended ones (newest first). */
  attacks(): Attack[] {
    this.flush();
    const act = [...this.active.values()].map((a) => {
      a.attack.summary = a.cls.summary();
      return snapshot(a.attack);
    }).sort((x, y) => x.start - y.start);
    return [...act, ...this.recent.map(snapshot)];
  }

  /** The active attack on a target (address or prefix text), if any. */
  activeAttack(target: string, direction: 'incoming' | 'outgoing' = 'incoming'): Attack | undefined {
    this.flush();
    const a = this.active.get(`${direction}|${target}`);
    return a ? snapshot(a.attack) : undefined;
  }

  stats(): EngineStats {
    this.flush();
    const t = this.tables;
    let overflow = 0, evictions = 0, mem = 0;
    for (const tb of t) { overflow += tb.overflow; evictions += tb.evictions; mem += tb.bytes(); }
    const hosts = { incoming4: t[HOST_IN4].size, outgoing4: t[HOST_OUT4].size, incoming6: t[HOST_IN6].size, outgoing6: t[HOST_OUT6].size };
    return {
      records: this.n.records,
      records_outside: this.n.outside,
      tracked_hosts: hosts.incoming4 + hosts.outgoing4 + hosts.incoming6 + hosts.outgoing6,
      hosts,
      carpet_prefixes: t[CARPET4].size + t[CARPET6].size,
      overflow,
      evictions,
      ticks: this.n.ticks,
      attacks_active: this.active.size,
      attacks_started: this.n.started,
      attacks_by_vector: { ...this.byVector },
      memory_bytes: mem,
    };
  }
}

function limitsObject(l: Float64Array): Record<string, number> {
  const o: Record<string, number> = {};
  for (let i = 0; i < NC; i++) {
    if (l[i] > 0) o[THRESHOLD_KEYS[i]] = round2(THRESHOLD_KEYS[i].endsWith('mbps') ? (l[i] * 8) / 1e6 : l[i]);
  }
  return o;
}

function snapshot(a: Attack): Attack {
  return structuredClone(a);
}

export type { Vector };
