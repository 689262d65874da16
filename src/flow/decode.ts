/**
 * Decode dispatcher: one UDP payload in, flow records out to the sink.
 *
 *   NetFlow v5 / v9, IPFIX:  u16 version = 5 | 9 | 10 at offset 0
 *   sFlow v5:                u32 version = 5, u32 agent address type = 1 | 2
 *
 * One FlowDecoder keeps per-exporter state (stats, template caches) and one
 * scratch record shared by all decoders. It never throws. Decoders return the
 * number of records they emitted; the dispatcher adds it to stats.records.
 * Every record passes the plausibility bounds (plausible.ts) at its decoder's
 * emit point, before the sink; all exporters' state shares one memory budget (memory.ts).
 */
import { countError, newExporterStats, type ExporterStats } from './context.ts';
import { newFlowRecord, type FlowProto, type FlowRecord, type FlowSink } from './record.ts';
import { decodeNetflow5 } from './netflow5.ts';
import { decodeNetflow9 } from './netflow9.ts';
import { decodeIpfix } from './ipfix.ts';
import { decodeSflow5 } from './sflow5.ts';
import { ExporterState, type NetflowContext } from './templates.ts';
import { EVICT, EXPORTER_BYTES, FlowStateBudget } from './memory.ts';
import { SamplingRateGuard } from './rate-guard.ts';
import { DEFAULT_PLAUSIBILITY, Plausibility, type PlausibilityLimits } from './plausible.ts';

export interface DecoderOptions {
  defaultSamplingRate?: number;
  templateTimeoutMs?: number;
  /** Hold data sets that arrive before their template and decode them when it comes (default true). */
  holdDataSets?: boolean;
  /** Plausibility bounds applied to every record (default DEFAULT_PLAUSIBILITY). */
  plausibility?: PlausibilityLimits;
  /** Memory budget of all exporters' state, bytes (default: unbounded). */
  maxFlowStateBytes?: number;
  /** Template bytes one exporter may hold (default: unbounded). */
  maxTemplateBytesPerExporter?: number;
}

interface ExporterContext extends NetflowContext {
  state: ExporterState;
}

/** Default template lifetime without refresh (RFC 3954 §9 leaves it to the collector). */
export const DEFAULT_TEMPLATE_TIMEOUT_MS = 30 * 60 * 1000;

export function detectFlowProto(buf: Buffer): FlowProto | null {
  if (buf.length < 4) return null;
  const v16 = (buf[0] << 8) | buf[1];
  if (v16 === 5) return 'netflow5';
  if (v16 === 9) return 'netflow9';
  if (v16 === 10) return 'ipfix';
  if (v16 === 0 && buf.length >= 8 && buf[2] === 0 && buf[3] === 5 && buf[4] === 0 && buf[5] === 0 && buf[6] === 0 && (buf[7] === 1 || buf[7] === 2)) return 'sflow5';
  return null;
}

export class FlowDecoder {
  readonly stats: Map<string, ExporterStats> = new Map();
  private readonly sink: FlowSink;
  private readonly rec: FlowRecord = newFlowRecord();
  private readonly contexts: Map<string, ExporterContext> = new Map();
  private defaultSamplingRate: number;
  private readonly templateTimeoutMs: number;
  private readonly holdDataSets: boolean;
  private readonly limits: Plausibility;
  private limitsIn: PlausibilityLimits;
  readonly budget: FlowStateBudget;
  /** Datagram serial: what "least recently used" counts in. */
  private serial = 0;

  constructor(sink: FlowSink, opts: DecoderOptions = {}) {
    this.sink = sink;
    this.defaultSamplingRate = opts.defaultSamplingRate !== undefined && opts.defaultSamplingRate >= 1 ? opts.defaultSamplingRate : 1;
    this.templateTimeoutMs = opts.templateTimeoutMs ?? DEFAULT_TEMPLATE_TIMEOUT_MS;
    this.holdDataSets = opts.holdDataSets ?? true;
    this.limitsIn = opts.plausibility ?? DEFAULT_PLAUSIBILITY;
    this.limits = new Plausibility(this.limitsIn);
    this.applyLimits();
    this.budget = new FlowStateBudget(opts.maxFlowStateBytes ?? Infinity, opts.maxTemplateBytesPerExporter ?? Infinity);
  }

  setDefaultSamplingRate(n: number): void {
    this.defaultSamplingRate = n >= 1 ? Math.floor(n) : 1;
    for (const c of this.contexts.values()) c.defaultSamplingRate = this.defaultSamplingRate;
    this.applyLimits();
  }

  setPlausibility(l: PlausibilityLimits): void {
    this.limitsIn = { ...l };
    this.applyLimits();
  }

  /** A default rate above sampling.max_rate would drop every record without a rate of its own: the default always passes. */
  private applyLimits(): void {
    this.limits.set({ ...this.limitsIn, maxSamplingRate: Math.max(this.limitsIn.maxSamplingRate, this.defaultSamplingRate) });
  }

  /** Applies new memory bounds; a smaller budget evicts at once. */
  setMemoryLimits(maxFlowStateBytes: number, maxTemplateBytesPerExporter: number): void {
    this.budget.limit = maxFlowStateBytes;
    this.budget.templateLimit = maxTemplateBytesPerExporter;
    if (this.budget.used > this.budget.limit) this.evict(null);
  }

  /** The per-exporter context (created on first use). */
  context(exporter: string): NetflowContext {
    let ctx = this.contexts.get(exporter);
    if (ctx === undefined) {
      const stats = newExporterStats(exporter);
      this.stats.set(exporter, stats);
      const state = new ExporterState(this.templateTimeoutMs, this.holdDataSets, this.budget);
      state.charge(EXPORTER_BYTES);
      ctx = { rec: this.rec, sink: this.sink, stats, exporter, received: 0, defaultSamplingRate: this.defaultSamplingRate, limits: this.limits, state, rates: new SamplingRateGuard() };
      this.contexts.set(exporter, ctx);
    }
    return ctx;
  }

  /** Decodes one UDP payload from `exporter` (address text). Never throws. Returns records emitted. */
  datagram(buf: Buffer, exporter: string, received: number): number {
    const ctx = this.context(exporter) as ExporterContext;
    const stats = ctx.stats;
    stats.datagrams++;
    stats.lastSeen = received;
    ctx.received = received;
    ctx.state.lastUse = ++this.serial;
    const rec = this.rec;
    rec.exporter = exporter;
    rec.received = received;
    rec.domain = 0;
    stats.proto = 'unknown';
    const proto = detectFlowProto(buf);
    if (proto === null) {
      countError(stats, buf.length < 4 ? 'truncated' : 'bad_version');
      return 0;
    }
    stats.byProto[proto] = (stats.byProto[proto] ?? 0) + 1;
    stats.proto = proto;
    rec.proto = proto;
    let n = 0;
    try {
      if (proto === 'netflow5') n = decodeNetflow5(buf, ctx);
      else if (proto === 'netflow9') n = decodeNetflow9(buf, ctx);
      else if (proto === 'ipfix') n = decodeIpfix(buf, ctx);
      else n = decodeSflow5(buf, ctx);
    } catch {
      // A decoder bug must not take the collector down: count it.
      countError(stats, 'internal');
    }
    stats.records += n;
    if (n > 0) stats.recordsByProto[proto] = (stats.recordsByProto[proto] ?? 0) + n;
    if (this.budget.used > this.budget.limit) this.evict(exporter);
    return n;
  }

  /**
   * Over budget: evicts whole exporters, least recently used first, until the
   * state is at 90 % of the budget. `keep` (the exporter just decoded) goes
   * last, and only when it alone is over budget.
   */
  private evict(keep: string | null): void {
    const b = this.budget;
    const target = b.limit * 0.9;
    const order = [...this.contexts.values()].sort((x, y) => x.state.lastUse - y.state.lastUse);
    let kept: ExporterContext | null = null;
    for (const c of order) {
      if (b.used <= target) break;
      if (c.exporter === keep) kept = c;
      else this.forget(c, EVICT.budget);
    }
    if (kept !== null && b.used > b.limit) this.forget(kept, EVICT.budget);
  }

  private forget(c: ExporterContext, reason: string): void {
    this.budget.evictions[reason] = (this.budget.evictions[reason] ?? 0) + 1;
    this.contexts.delete(c.exporter);
    this.stats.delete(c.exporter);
    this.budget.used -= c.state.bytes;
    c.state.bytes = 0;
  }

  /** Exporters that have state now. */
  get exporters(): number {
    return this.contexts.size;
  }
}
