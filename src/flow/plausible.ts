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
 * Every decoder calls plausible() at its emit point, with the limits its
 * FlowDecoder shares among exporters (DecodeContext.limits) and the exporter's
 * counts. Counted per exporter (ExporterStats.implausible) and summed by the collector
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
const MIN_BYTES4 = 20;
const MIN_BYTES6 = 40;
/** The largest IP packet plus room for a layer-2 header (sFlow reports frame lengths). */
const MAX_BYTES = 65535 + 64;
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

/**
 * The check itself: true when `r` passes, else counts the reason in `c` and
 * returns false. A plain function, not a sink in front of the sink: every
 * decoder calls it at its one emit point (`if (plausible(rec, lim, imp))
 * sink.record(rec)`), where V8 inlines it into the record loop. The common
 * record takes the first branch: one sampling compare, the size bounds and the
 * rate bound at its one-second floor (no division); only a record past that
 * floor pays for its duration.
 */
export function plausible(r: FlowRecord, L: Plausibility, c: ImplausibleStats): boolean {
  const rate = r.samplingRate;
  if (rate > L.maxRate) return reject(c, r, 0);
  const f = r.fields;
  const packets = r.packets;
  const bytes = r.bytes;
  if ((f & SIZE_BITS) === SIZE_BITS && packets > 0 && (bytes < packets * (r.family === 6 ? MIN_BYTES6 : MIN_BYTES4) || bytes > packets * MAX_BYTES)) return reject(c, r, 1);
  let ms = 0;
  if ((f & TIME_BITS) === TIME_BITS) {
    ms = r.end - r.start;
    if (ms < -BACKWARDS_MS || ms > L.maxFlowMs) return reject(c, r, 3);
  }
  const pk = packets * rate;
  const by = bytes * rate;
  if (pk <= L.maxPps && by <= L.maxBytesPerSec) return true;
  const secs = ms > 1000 ? ms / 1000 : 1;
  if (pk > L.maxPps * secs || by > L.maxBytesPerSec * secs) return reject(c, r, 2);
  return true;
}

const SIZE_BITS = F.BYTES | F.PACKETS;
const TIME_BITS = F.START | F.END;

/** Counts one dropped record: 0 sampling, 1 size, 2 rate, 3 time. Off the hot path. */
function reject(c: ImplausibleStats, r: FlowRecord, reason: 0 | 1 | 2 | 3): false {
  if (reason === 0) c.sampling++;
  else if (reason === 1) c.size++;
  else if (reason === 2) c.rate++;
  else c.time++;
  c.last = r.received;
  return false;
}
