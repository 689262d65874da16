/**
 * What every flow decoder receives: the scratch record, the sink, the
 * exporter's stats, the settings that decide sampling and the plausibility
 * bounds. Decoders never
 * throw: they count an error reason in stats.errors and return.
 */
import type { FlowProto, FlowRecord, FlowSink } from './record.ts';
import type { SamplingRateGuard } from './rate-guard.ts';
import { newImplausibleStats, type ImplausibleStats, type Plausibility } from './plausible.ts';

export interface SflowIfCounters {
  ifIndex: number;
  ifSpeed: number;
  inOctets: number;
  inUcastPkts: number;
  inDiscards: number;
  inErrors: number;
  outOctets: number;
  outUcastPkts: number;
  outDiscards: number;
  outErrors: number;
  updated: number;
}

export interface ExporterStats {
  exporter: string;
  datagrams: number;
  records: number;
  /** Error reason -> count (e.g. "truncated", "no_template", "bad_version"). */
  errors: Record<string, number>;
  /** Datagrams per protocol. */
  byProto: Partial<Record<FlowProto, number>>;
  /** Records per protocol. */
  recordsByProto: Partial<Record<FlowProto, number>>;
  /** Errors per protocol ("unknown": the datagram matched no decoder) and reason. */
  errorsByProto: Partial<Record<FlowProto | 'unknown', Record<string, number>>>;
  /** The protocol of the datagram being decoded (set by FlowDecoder; where countError files errors). */
  proto: FlowProto | 'unknown';
  /** Templates currently cached for this exporter (all domains). */
  templates: number;
  /** Data sets that arrived before their template. */
  noTemplate: number;
  /** sFlow counter samples seen, and the latest interface counters by ifIndex. */
  counterSamples: number;
  ifCounters: Map<number, SflowIfCounters>;
  /** Receive time of the last datagram (ms since epoch). */
  lastSeen: number;
  /** Records dropped by the plausibility bounds (plausible.ts), by reason, and when the last one was. */
  implausible: ImplausibleStats;
}

export function newExporterStats(exporter: string): ExporterStats {
  return { exporter, datagrams: 0, records: 0, errors: {}, byProto: {}, recordsByProto: {}, errorsByProto: {}, proto: 'unknown', templates: 0, noTemplate: 0, counterSamples: 0, ifCounters: new Map(), lastSeen: 0, implausible: newImplausibleStats() };
}

export function countError(stats: ExporterStats, reason: string): void {
  stats.errors[reason] = (stats.errors[reason] ?? 0) + 1;
  const by = (stats.errorsByProto[stats.proto] ??= {});
  by[reason] = (by[reason] ?? 0) + 1;
}

/** A copy that shares nothing mutable with `s` (for stats snapshots). */
export function copyExporterStats(s: ExporterStats): ExporterStats {
  const errorsByProto: ExporterStats['errorsByProto'] = {};
  for (const [p, e] of Object.entries(s.errorsByProto)) errorsByProto[p as FlowProto] = { ...e };
  return { ...s, errors: { ...s.errors }, byProto: { ...s.byProto }, recordsByProto: { ...s.recordsByProto }, errorsByProto, ifCounters: new Map(s.ifCounters), implausible: { ...s.implausible } };
}

export interface DecodeContext {
  rec: FlowRecord;
  sink: FlowSink;
  stats: ExporterStats;
  /** Exporter address text (datagram source). */
  exporter: string;
  /** Receive time (ms since epoch; capture time when replaying a file). */
  received: number;
  /** sampling.default_rate: applied when the source says nothing. */
  defaultSamplingRate: number;
  /** Plausibility bounds (shared by the decoder's exporters): every record passes plausible() before the sink. */
  limits: Plausibility;
  /** sFlow: each sampler's believed rate (rate-guard.ts); absent = every rate believed. */
  rates?: SamplingRateGuard;
}
