/**
 * Plausibility bounds: every decoded record passes them before it reaches
 * the sink, so a mutated or broken exporter cannot turn one record into an
 * attack of 10^29 packets per second (or a blackhole route for it). A few
 * comparisons per record; nothing allocated.
 *
 *   reason                 dropped when
 *   implausible_sampling   samplingRate > sampling.max_rate
 *   implausible_size       bytes / packets outside [20 (IPv4) or 40 (IPv6), 65 535 + 64]:
 *                          no IP packet is smaller than its header nor larger than
 *                          the largest IP packet plus a layer-2 header (sFlow counts frames)
 *   implausible_rate       packets or bits per second of the record's duration (at least
 *                          one second), scaled by the sampling rate, above what an interface
 *                          of listen.max_interface_gbps carries (minimum frames: 84 bytes
 *                          on the wire with preamble and gap)
 *   implausible_time       the record ends more than a second before it starts, or lasts
 *                          longer than listen.max_flow_seconds (a long duration would
 *                          otherwise hide any packet count from the rate bound)
 *
 * Record times are NOT compared with the exporter's header clock: real
 * exporters in the capture corpus report flows days (nf9 Fortigate, Telegraf)
 * to years (ipfixprobe replaying a 2009 trace) away from it, while their
 * durations are sane (0 to 21 minutes).
 *
 * Every decoder calls verdict() at its emit point, with the limits its
 * FlowDecoder shares among exporters (DecodeContext.limits) and what it knows
 * of the record's fields once per datagram or per template, and counts a
 * failed record with reject(). Counted per exporter (ExporterStats.implausible) and summed by the collector
 * into dropped.implausible_* (breakwater_flow_dropped_total{reason}).
 */
import { F, type FlowRecord } from './record.ts';

export interface PlausibilityLimits {
  /** sampling.max_rate */
  maxSamplingRate: number;
  /** listen.max_interface_gbps */
  maxInterfaceGbps: number;
  /** listen.max_flow_seconds */
  maxFlowSeconds: number;
}

/** The config keys the bounds come from (structurally: config.listen, config.sampling). */
export interface PlausibilityConfig {
  listen: { max_interface_gbps: number; max_flow_seconds: number };
  sampling: { max_rate: number };
}

/** The plausibility bounds the config sets. */
export function plausibilityLimits(cfg: PlausibilityConfig): PlausibilityLimits {
  return { maxSamplingRate: cfg.sampling.max_rate, maxInterfaceGbps: cfg.listen.max_interface_gbps, maxFlowSeconds: cfg.listen.max_flow_seconds };
}

export const DEFAULT_PLAUSIBILITY: Readonly<PlausibilityLimits> = { maxSamplingRate: 1_000_000, maxInterfaceGbps: 400, maxFlowSeconds: 86_400 };

/** Reasons, as counted in dropped (breakwater_flow_dropped_total{reason}). */
export const IMPLAUSIBLE_REASONS = ['implausible_sampling', 'implausible_size', 'implausible_rate', 'implausible_time'] as const;
export type ImplausibleReason = (typeof IMPLAUSIBLE_REASONS)[number];

/** Per exporter: records dropped by reason, and when the last one was (ms, 0 = never). */
export interface ImplausibleStats {
  sampling: number;
  size: number;
  rate: number;
  time: number;
  last: number;
}

export function newImplausibleStats(): ImplausibleStats {
  return { sampling: 0, size: 0, rate: 0, time: 0, last: 0 };
}

/** The smallest IPv4 / IPv6 packet: its header. */
export const MIN_BYTES4 = 20;
export const MIN_BYTES6 = 40;
/** The largest IP packet plus room for a layer-2 header (sFlow reports frame lengths). */
export const MAX_BYTES = 65535 + 64;
/** Bytes a minimum Ethernet frame takes on the wire (64 + preamble 8 + inter-frame gap 12). */
const MIN_WIRE_FRAME = 84;
/** How far a record's end may lie before its start (rounding of uptime-relative times). */
const BACKWARDS_MS = 1000;

/** Limits in the units the check uses, shared by every exporter of a decoder and updated in place. */
export class Plausibility {
  maxRate = 0;
  /** Packets and bytes per second of the fastest interface. */
  maxPps = 0;
  maxBytesPerSec = 0;
  maxFlowMs = 0;

  constructor(limits: PlausibilityLimits = DEFAULT_PLAUSIBILITY) {
    this.set(limits);
  }

  set(l: PlausibilityLimits): void {
    this.maxRate = l.maxSamplingRate;
    this.maxPps = (l.maxInterfaceGbps * 1e9) / (MIN_WIRE_FRAME * 8);
    this.maxBytesPerSec = (l.maxInterfaceGbps * 1e9) / 8;
    this.maxFlowMs = l.maxFlowSeconds * 1000;
  }
}

/** Verdicts of verdict(): 0 passes, the others name the bound a record broke. */
export const V = { OK: 0, SAMPLING: 1, SIZE: 2, RATE: 3, TIME: 4 } as const;

/**
 * The check itself, on scalars: the verdict for a record of `packets` and
 * `bytes` lasting `ms` at sampling `rate`, against the limits L. `minBytes` is the smallest packet
 * of the record's family (20 or 40), or 0 when the record lacks bytes or
 * packets (no size bound); `ms` is 0 when it lacks a start or an end. Nothing
 * allocated, no object read but the limits. The limits go in as their
 * object and are read here, not passed as numbers: where V8 does not inline
 * this call (the sFlow sample decoder is too large), a fractional number
 * passed to a call is boxed, two heap numbers per record. The common record
 * takes the first branch: one sampling compare, the size bounds and the rate
 * bound at its one-second floor (no division); only a record past that floor
 * pays for its duration.
 *
 * Decoders call it at their emit points with what they know per datagram
 * (v5: every field present, family 4) or per template (plan.ts compiles the
 * same check into the plan); plausible() below is the generic form on a record.
 */
export function verdict(packets: number, bytes: number, minBytes: number, ms: number, rate: number, L: Plausibility): number {
  if (rate > L.maxRate) return V.SAMPLING;
  if (minBytes > 0 && packets > 0 && (bytes < packets * minBytes || bytes > packets * MAX_BYTES)) return V.SIZE;
  if (ms < -BACKWARDS_MS || ms > L.maxFlowMs) return V.TIME;
  const pk = packets * rate;
  const by = bytes * rate;
  if (pk <= L.maxPps && by <= L.maxBytesPerSec) return V.OK;
  const secs = ms > 1000 ? ms / 1000 : 1;
  return pk > L.maxPps * secs || by > L.maxBytesPerSec * secs ? V.RATE : V.OK;
}

/**
 * verdict() on a record, for the paths that do not know its fields in
 * advance (the variable-length walk): true when `r` passes, else counts the
 * reason in `c` and returns false.
 */
export function plausible(r: FlowRecord, L: Plausibility, c: ImplausibleStats): boolean {
  const f = r.fields;
  const minBytes = (f & SIZE_BITS) === SIZE_BITS ? (r.family === 6 ? MIN_BYTES6 : MIN_BYTES4) : 0;
  const ms = (f & TIME_BITS) === TIME_BITS ? r.end - r.start : 0;
  const v = verdict(r.packets, r.bytes, minBytes, ms, r.samplingRate, L);
  if (v === V.OK) return true;
  reject(c, v, r.received);
  return false;
}

const SIZE_BITS = F.BYTES | F.PACKETS;
const TIME_BITS = F.START | F.END;

/** Counts one dropped record by its verdict (not V.OK), received at `at` (ms). Off the hot path. */
export function reject(c: ImplausibleStats, v: number, at: number): void {
  if (v === V.SAMPLING) c.sampling++;
  else if (v === V.SIZE) c.size++;
  else if (v === V.RATE) c.rate++;
  else c.time++;
  c.last = at;
}
