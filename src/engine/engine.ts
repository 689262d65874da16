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
import type { EngineConfig } from '../config/diff.ts';
import { F, type FlowRecord, type FlowSink } from '../flow/record.ts';
import type { Attack, EngineEvent, EngineListener, Vector } from './events.ts';
import { C, CounterTable, K, META_PINNED, NC, RF } from './counters.ts';
import { BK, RecordBatch } from './batch.ts';
import { spreadFraction, type WindowParams } from './window.ts';
import { crossed } from './thresholds.ts';
import { Classifier, FlowRing, isFragment } from './classify.ts';
import { attackId, DIRECTIONS, round2, wordsToBytes, type ActiveAttack, type TargetKind } from './detector.ts';
import { CARPET4, CARPET6, compile, GROUP_IN, GROUP_OUT, HOST_IN4, HOST_IN6, HOST_OUT4, HOST_OUT6, limitsObject, ROW_SPAN, type Compiled } from './compile.ts';
import { baselineOf, carpetHosts, learn, limitsFor, rowMatcher, targetOf } from './rows.ts';
import { AttackBook } from './attacks.ts';
import { engineStats, hostRows, type EngineStats, type HostRate } from './views.ts';
import { topHosts, type TopQuery, type TopResult } from './top.ts';

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

export class Engine implements FlowSink {
  private cfg: Readonly<EngineConfig>;
  private c: Compiled;
  private readonly clock: Clock;
  private readonly log?: Logger;
  private readonly onTick?: (time: number) => void;
  private tables!: CounterTable[];
  private ring: FlowRing | null = null;
  private readonly book: AttackBook;
  private started = false;
  /** Absolute tick (floor(ms / tick_ms)); tables count ticks relative to `base` (Int32). */
  private curTick = 0;
  private base = 0;
  private sweepPos = 0;
  private n = { records: 0, outside: 0, ticks: 0, overflow: 0 };
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

  constructor(config: Readonly<EngineConfig>, opts: EngineOptions) {
    this.cfg = config;
    this.clock = opts.clock;
    this.log = opts.log;
    this.onTick = opts.onTick;
    this.book = new AttackBook({ log: opts.log, recentMax: opts.recentAttacks ?? 1000, updateIntervalMs: opts.updateIntervalMs ?? 1000 });
    this.batch = new RecordBatch(Math.max(1, Math.floor(opts.batchSize ?? 256)));
    this.c = compile(config);
    this.buildTables();
    const now = this.clock.now();
    if (now > 0) this.startAt(now);
  }

  on(listener: EngineListener): () => void {
    return this.book.on(listener);
  }

  get config(): Readonly<EngineConfig> {
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
          if ((meta & META_PINNED) !== 0) this.book.byRow.get(HOST_IN4 * ROW_SPAN + row)?.cls.add(b.record(i));
          const g = meta & 0xffff;
          if (g > 0 && total[g] === 1) { this.countGroup(0, g, pk, by, fl, cls, b.record(i)); watch = true; }
        }
        if (carpetOn) {
          const pr = rowCp[i];
          if (pr >= 0) {
            if (cp4.add(pr, pk, by, fl, cls) >= wc) watch = true;
            if ((cp4.meta(pr) & META_PINNED) !== 0) this.book.byRow.get(CARPET4 * ROW_SPAN + pr)?.cls.add(b.record(i));
          }
        }
      }
      if ((k & BK.SRC) !== 0) {
        const row = rowOut[i];
        if (row >= 0) {
          if (out4.add(row, pk, by, fl, cls) >= wh) watch = true;
          const meta = out4.meta(row);
          if ((meta & META_PINNED) !== 0) this.book.byRow.get(HOST_OUT4 * ROW_SPAN + row)?.cls.add(b.record(i));
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
      if ((meta & META_PINNED) !== 0) this.book.byRow.get(ti * ROW_SPAN + row)?.cls.add(r);
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
        if ((ct.flags(pr) & RF.PINNED) !== 0) this.book.byRow.get(CARPET6 * ROW_SPAN + pr)?.cls.add(r);
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
    if ((t.flags(row) & RF.PINNED) !== 0) this.book.byRow.get(ti * ROW_SPAN + row)?.cls.add(r);
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
      if (this.book.active.size === 0 || k - k0 > maxSteps) break;
      this.openTick(k);
      this.closeTick((k + 1) * tickMs);
      k++;
    }
    this.openTick(t);
    // Empty ticks skipped without attacks: the ban module still sees the boundary reached, so a TTL due in them ends now, not a tick later.
    if (k < t) this.onTick?.(t * tickMs);
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

  private evalRow(ti: number, tb: CounterTable, row: number, dir: 0 | 1, g: number, kind: TargetKind, time: number): void {
    if ((tb.flags(row) & RF.PINNED) !== 0) return;
    const lim = limitsFor(this.c, tb, row, dir, g, this.limScratch);
    const W = this.c.wp.windowSec;
    if (tb.exceeds(row, lim, W)) {
      const trig: string[] = [];
      crossed(tb.sums(row, this.sumScratch), 0, W, lim, trig);
      this.openAttack(ti, tb, row, dir, g, kind, trig, time);
      return;
    }
    if (tb.base !== null) learn(this.c, tb, row, g, tb.sums(row, this.sumScratch));
  }

  private evalCarpet(ti: number, tb: CounterTable, row: number, time: number): void {
    if ((tb.flags(row) & RF.PINNED) !== 0) return;
    const W = this.c.wp.windowSec;
    if (!tb.exceeds(row, this.c.carpetLimits, W)) return;
    const s = tb.sums(row, this.sumScratch);
    const hosts = carpetHosts(this.c, this.tables, ti, tb, row);
    if (hosts < this.c.carpetMinHosts) return;
    const trig: string[] = [];
    crossed(s, 0, W, this.c.carpetLimits, trig);
    trig.push(`hosts>=${this.c.carpetMinHosts}`);
    this.openAttack(ti, tb, row, 0, 0, 'carpet', trig, time, hosts);
  }

  // ---- attacks -----------------------------------------------------------------

  private openAttack(ti: number, tb: CounterTable, row: number, dir: 0 | 1, g: number, kind: TargetKind, triggers: string[], time: number, carpetHosts?: number): void {
    const { target, family, prefixes } = targetOf(this.c, this.cfg, ti, tb, row, kind, g, this.kScratch);
    const direction = DIRECTIONS[dir];
    const key = `${direction}|${target}`;
    if (this.book.active.has(key)) return;
    const id = attackId(direction, target, time);
    let seed = 0;
    for (let i = 0; i < id.length; i++) seed = (Math.imul(seed, 31) + id.charCodeAt(i)) >>> 0;
    const cls = new Classifier({ sampleFlows: this.c.sampleFlows, seed, carpet: kind === 'carpet' });
    if (this.ring) this.ring.replay(cls, rowMatcher(this.c, ti, tb, row, kind, dir, g, this.kScratch));
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
    const lim = kind === 'carpet' ? this.c.carpetLimits : limitsFor(this.c, tb, row, dir, g, this.limScratch);
    ext.thresholds = limitsObject(lim);
    const bp = this.c.baseline[g] ?? this.c.baseline[0];
    const frozen: [number, number, number] = tb.base ? [baselineOf(this.c, tb, row, 0, bp), baselineOf(this.c, tb, row, 1, bp), baselineOf(this.c, tb, row, 2, bp)] : [0, 0, 0];
    const warmed = tb.base !== null && bp.enabled && (tb.curTick - tb.born![row]) * this.c.wp.tickMs >= bp.warmupMs;
    const a: ActiveAttack = { attack, kind, dir, table: tb, row, group: g, cls, lastAbove: time, lastUpdate: time, frozenBase: frozen, warmed };
    this.book.start(key, ti, a, time);
  }

  private checkActive(time: number): void {
    if (this.book.active.size === 0) return;
    const W = this.c.wp.windowSec;
    for (const [key, a] of [...this.book.active.entries()]) {
      const tb = a.table, row = a.row, s = tb.sums(row, this.sumScratch);
      const lim = a.kind === 'carpet' ? this.c.carpetLimits : limitsFor(this.c, tb, row, a.dir, a.group, this.limScratch, a.frozenBase, a.warmed);
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
      this.book.update(a, time);
    }
  }

  private endAttack(key: string, a: ActiveAttack, time: number, reason: string): void {
    this.book.end(key, this.tables.indexOf(a.table), a, time, reason);
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
   * Applies the engine's slice of a new config (config/diff.ts EngineConfig:
   * the keys it reads, nothing else). Counters are kept unless the window (window_seconds,
   * tick_ms) or the carpet prefix length changes; hosts no longer inside
   * `networks` are dropped (their attacks end); hostgroup membership and limits
   * are recomputed for every tracked host. Returns the time the new config
   * took effect at (the ban module reconfigures at the same time).
   */
  reconfigure(config: Readonly<EngineConfig>): number {
    this.flush();
    const old = this.cfg, oldC = this.c;
    this.cfg = config;
    this.c = compile(config);
    const time = Math.max(this.clock.now(), this.curTick * this.c.wp.tickMs);
    const windowChanged = oldC.wp.tickMs !== this.c.wp.tickMs || oldC.wp.buckets !== this.c.wp.buckets;
    const needBaseline = this.c.baseline.some((b) => b.enabled) && this.tables[HOST_IN4].base === null;
    const carpetChanged = oldC.carpetLen4 !== this.c.carpetLen4 || oldC.carpetLen6 !== this.c.carpetLen6;
    const groups = (c: Readonly<EngineConfig>) => c.hostgroups.map((g) => [g.name, g.networks, g.calculation]);
    const groupsChanged = !isDeepStrictEqual(groups(old), groups(config));
    if (windowChanged || needBaseline || (this.cfg.samples.buffer_flows !== old.samples.buffer_flows)) {
      for (const [key, a] of [...this.book.active.entries()]) this.endAttack(key, a, time, 'reconfigured');
      if (windowChanged) { this.curTick = Math.floor(time / this.c.wp.tickMs); this.base = this.curTick - 1; }
      this.buildTables();
    } else {
      if (carpetChanged || groupsChanged) {
        for (const [key, a] of [...this.book.active.entries()]) if (a.kind !== 'host') this.endAttack(key, a, time, 'reconfigured');
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
          const a = this.book.byRow.get(ti * ROW_SPAN + r);
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
    if (opts.ip !== undefined) return hostRows(this.c, this.cfg, this.tables, opts.ip, this.kScratch, this.sumScratch);
    return topHosts(this.c, this.cfg, this.tables, { limit: opts.limit ?? 100, by: 'pps' }, this.sumScratch).items;
  }

  /** The busiest hosts by a rate without an object per host (top.ts); keys are keyset positions. */
  top(opts: TopQuery): TopResult {
    this.flush();
    return topHosts(this.c, this.cfg, this.tables, opts, this.sumScratch);
  }

  /** Active attacks (oldest first), then recently ended ones (newest first). */
  attacks(): Attack[] {
    this.flush();
    return this.book.list();
  }

  /** The active attack on a target (address or prefix text), if any. */
  activeAttack(target: string, direction: 'incoming' | 'outgoing' = 'incoming'): Attack | undefined {
    this.flush();
    return this.book.get(`${direction}|${target}`);
  }

  stats(): EngineStats {
    this.flush();
    return engineStats(this.tables, this.n, this.book);
  }
}

export type { EngineStats, HostRate, Vector };
