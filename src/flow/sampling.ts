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
 * Reads the options data records of one set (p..end) and updates `s`.
 * Returns the number of records read, or -1 when a record is truncated.
 */
export function readOptionsRecords(s: SamplingState, tpl: Template, buf: Buffer, p: number, end: number): number {
  const n = tpl.n;
  const kinds = tpl.kinds;
  const lens = tpl.lens;
  let count = 0;
  while (end - p >= tpl.minLen && tpl.minLen > 0) {
    let id = -1;
    let rate = 0;
    let interval = -1;
    let space = -1;
    let size = -1;
    let population = -1;
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
      switch (kinds[i]) {
        case K.SAMPLER:
          id = uintBE(buf, p, l);
          break;
        case K.RATE:
          rate = uintBE(buf, p, l);
          break;
        case K.PKT_INTERVAL:
          interval = uintBE(buf, p, l);
          break;
        case K.PKT_SPACE:
          space = uintBE(buf, p, l);
          break;
        case K.SAMP_SIZE:
          size = uintBE(buf, p, l);
          break;
        case K.SAMP_POP:
          population = uintBE(buf, p, l);
          break;
        case K.SAMP_PROB: {
          const prob = buf.readDoubleBE(p);
          if (prob > 0 && prob <= 1) rate = Math.round(1 / prob);
          break;
        }
        case K.SYSINIT:
          s.sysInitMs = uintBE(buf, p, l);
          break;
      }
      p += l;
    }
    count++;
    if (rate === 0) rate = rateFrom(interval, space, size, population);
    if (rate > 0) {
      if (id >= 0) {
        if (s.samplers.size < MAX_SAMPLERS || s.samplers.has(id)) s.samplers.set(id, rate);
        s.lastSamplerRate = rate;
      } else s.exporterRate = rate;
    }
  }
  return count;
}
