/**
 * Sampling state learned from NetFlow v9 / IPFIX options data, per
 * (exporter, version, source id / observation domain).
 *
 * Options records read: the elements whose row in ie.ts applies to options
 * (samplerId/selectorId, samplingInterval/samplerRandomInterval, packet
 * interval/space, size/population, samplingProbability,
 * systemInitTimeMilliseconds), as scope or option fields.
 * A record with an id (48 or 302) and a rate fills the sampler table; a rate
 * without an id is exporter-wide.
 *
 * Rate applied to a data record, first that is known:
 *   1. the record's own rate elements (34/50, 305+306, 309+310)
 *   2. the sampler table entry named by the record's 48/302
 *   3. the exporter-wide rate (an options rate without id; else the latest sampler rate)
 *   4. sampling.default_rate
 * (NetFlow v5 uses its header interval instead of 1-3.)
 */
import { K, VARLEN } from './ie.ts';
import type { Template } from './templates.ts';
import { uintBE } from './uint.ts';

export interface SamplingState {
  /** Rate from options data without a sampler id (0 = none). */
  exporterRate: number;
  /** Latest rate from options data with a sampler id (0 = none). */
  lastSamplerRate: number;
  /** Sampler / selector id -> rate. */
  samplers: Map<number, number>;
  /** systemInitTimeMilliseconds from options data (-1 = unknown). */
  sysInitMs: number;
}

/** Sampler table entries kept per domain (bounded against hostile exporters). */
const MAX_SAMPLERS = 1024;

export function newSamplingState(): SamplingState {
  return { exporterRate: 0, lastSamplerRate: 0, samplers: new Map(), sysInitMs: -1 };
}

/** Rate from interval/space or size/population; -1 marks an absent value; 0 when not determinable. */
export function rateFrom(interval: number, space: number, size: number, population: number): number {
  if (interval > 0 && space >= 0) return Math.max(1, Math.round((interval + space) / interval));
  if (size > 0 && population > 0) return Math.max(1, Math.round(population / size));
  return 0;
}

/** The exporter-wide rate of a domain, or the default. */
export function domainRate(s: SamplingState, defaultRate: number): number {
  return s.exporterRate > 0 ? s.exporterRate : s.lastSamplerRate > 0 ? s.lastSamplerRate : defaultRate;
}

/**
 * The sampling elements of one record as read (-1: absent; rate 0: absent).
 * One reader for options records (here) and flow data records (dataset.ts):
 * the kinds it reads are SAMPLING_KINDS, the ie.ts rows that apply to
 * options records. One scratch per reader, reset per record.
 */
export interface SamplingFields {
  sampler: number;
  rate: number;
  interval: number;
  space: number;
  size: number;
  population: number;
  sysInit: number;
}

export function newSamplingFields(): SamplingFields {
  return { sampler: -1, rate: 0, interval: -1, space: -1, size: -1, population: -1, sysInit: -1 };
}

export function resetSamplingFields(f: SamplingFields): void {
  f.sampler = -1;
  f.rate = 0;
  f.interval = -1;
  f.space = -1;
  f.size = -1;
  f.population = -1;
  f.sysInit = -1;
}

/** Reads a field of kind `kind` (l bytes at p) into `f`; false when it is not a sampling kind. */
export function readSamplingField(f: SamplingFields, kind: number, buf: Buffer, p: number, l: number): boolean {
  switch (kind) {
    case K.SAMPLER:
      f.sampler = uintBE(buf, p, l);
      return true;
    case K.RATE:
      f.rate = uintBE(buf, p, l);
      return true;
    case K.PKT_INTERVAL:
      f.interval = uintBE(buf, p, l);
      return true;
    case K.PKT_SPACE:
      f.space = uintBE(buf, p, l);
      return true;
    case K.SAMP_SIZE:
      f.size = uintBE(buf, p, l);
      return true;
    case K.SAMP_POP:
      f.population = uintBE(buf, p, l);
      return true;
    case K.SAMP_PROB: {
      const prob = buf.readDoubleBE(p);
      if (prob > 0 && prob <= 1) f.rate = Math.round(1 / prob);
      return true;
    }
    case K.SYSINIT:
      f.sysInit = uintBE(buf, p, l);
      return true;
  }
  return false;
}

/** The rate a record's own elements give: a rate element, else interval/space or size/population; 0 when none. */
export function samplingRateOf(f: SamplingFields): number {
  return f.rate > 0 ? f.rate : rateFrom(f.interval, f.space, f.size, f.population);
}

const scratch = newSamplingFields();

/**
 * Reads the options data records of one set (p..end) and updates `s`.
 * Returns the number of records read, or -1 when a record is truncated.
 */
export function readOptionsRecords(s: SamplingState, tpl: Template, buf: Buffer, p: number, end: number): number {
  const n = tpl.n;
  const kinds = tpl.kinds;
  const lens = tpl.lens;
  const f = scratch;
  let count = 0;
  while (end - p >= tpl.minLen && tpl.minLen > 0) {
    resetSamplingFields(f);
    for (let i = 0; i < n; i++) {
      let l = lens[i];
      if (l === VARLEN) {
        if (p >= end) return -1;
        l = buf[p++];
        if (l === 255) {
          if (p + 2 > end) return -1;
          l = (buf[p] << 8) | buf[p + 1];
          p += 2;
        }
        if (p + l > end) return -1;
        p += l;
        continue;
      }
      if (p + l > end) return -1;
      readSamplingField(f, kinds[i], buf, p, l);
      if (kinds[i] === K.SYSINIT) s.sysInitMs = f.sysInit;
      p += l;
    }
    count++;
    const rate = samplingRateOf(f);
    if (rate > 0) {
      if (f.sampler >= 0) {
        if (s.samplers.size < MAX_SAMPLERS || s.samplers.has(f.sampler)) s.samplers.set(f.sampler, rate);
        s.lastSamplerRate = rate;
      } else s.exporterRate = rate;
    }
  }
  return count;
}
