/**
 * Sampling state learned from NetFlow v9 / IPFIX options data, per
 * (exporter, version, source id / observation domain).
 *
 * Options records read (standard elements, either as scope or as option field):
 *   v9  34 SAMPLING_INTERVAL, 48 FLOW_SAMPLER_ID, 50 FLOW_SAMPLER_RANDOM_INTERVAL
 *   IPFIX 34 samplingInterval, 48 samplerId, 50 samplerRandomInterval, 302 selectorId,
 *         305/306 samplingPacketInterval/Space, 309/310 samplingSize/Population,
 *         311 samplingProbability, 160 systemInitTimeMilliseconds
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
import type { Template } from './templates.ts';

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

function uintAt(buf: Buffer, p: number, l: number): number {
  let v = 0;
  for (let i = 0; i < l; i++) v = v * 256 + buf[p + i];
  return v;
}

/**
 * Reads the options data records of one set (p..end) and updates `s`.
 * Returns the number of records read, or -1 when a record is truncated.
 */
export function readOptionsRecords(s: SamplingState, tpl: Template, buf: Buffer, p: number, end: number, v9: boolean): number {
  const n = tpl.n;
  const ids = tpl.ids;
  const pens = tpl.pens;
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
      if (l === 65535) {
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
      // v9 scope fields use their own type space (system, interface, ...): not elements
      if (pens[i] === 0 && l > 0 && l <= 8 && !(v9 && i < tpl.scopeCount)) {
        switch (ids[i]) {
          case 48:
          case 302:
            id = uintAt(buf, p, l);
            break;
          case 34:
          case 50:
            rate = uintAt(buf, p, l);
            break;
          case 305:
            interval = uintAt(buf, p, l);
            break;
          case 306:
            space = uintAt(buf, p, l);
            break;
          case 309:
            size = uintAt(buf, p, l);
            break;
          case 310:
            population = uintAt(buf, p, l);
            break;
          case 311:
            if (l === 8) {
              const prob = buf.readDoubleBE(p);
              if (prob > 0 && prob <= 1) rate = Math.round(1 / prob);
            }
            break;
          case 160:
            s.sysInitMs = uintAt(buf, p, l);
            break;
        }
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
