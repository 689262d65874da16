/**
 * sFlow sampling rates are a setting of each sampler (agent, sub-agent,
 * source_id): they change when an operator reconfigures the port, not from
 * one datagram to the next. One corrupted byte in a sample's rate field
 * (1 -> 65 281) multiplies that sample's packets by the same factor while
 * staying under sampling.max_rate, and every host it lands on becomes an
 * attack with a route. So a sampler's rate is learned from its first sample,
 * and a different rate is believed only after RATE_CONFIRM consecutive
 * samples agree on it; the samples before that are dropped as
 * implausible_sampling. A real rate change costs a sampler its first
 * RATE_CONFIRM - 1 samples at the new rate.
 *
 * Bounded: at most MAX_SAMPLERS samplers per exporter (corrupted source ids
 * are new samplers too); when full the table is forgotten and relearned.
 * Nothing is allocated per sample once a sampler is known.
 */

export const RATE_CONFIRM = 3;
export const MAX_SAMPLERS = 1024;

export class SamplingRateGuard {
  /** sampler key -> believed rate */
  private readonly rate = new Map<number, number>();
  /** sampler key -> a different rate seen (candidate) and how many times in a row */
  private readonly candidate = new Map<number, number>();
  private readonly seen = new Map<number, number>();
  /**
   * The last sampler believed, by its parts, and its rate (-1: none). A
   * datagram's samples mostly come from one sampler at one rate: after one
   * believed check, the same (agent, source, rate) again finds the maps as
   * that check left them (rate believed, no candidate count) and is believed
   * with three compares, before any hashing.
   */
  private lastAgent = -1;
  private lastSource = -1;
  private lastRate = -1;

  /**
   * True when `rate` is believed for the sampler (agent: agentHash() of the
   * datagram's agent and sub-agent; source: the sample's source_id). Small
   * so that it inlines; where it does not, its arguments still cross the call
   * unboxed as long as they are small integers: agentHash keeps 30 bits for
   * that, and source ids of type 0 (ifIndex) are small.
   */
  check(agent: number, source: number, rate: number): boolean {
    return (source === this.lastSource && rate === this.lastRate && agent === this.lastAgent) || this.learn(agent, source, rate);
  }

  private learn(agent: number, source: number, rate: number): boolean {
    const key = samplerKey(agent, source);
    const known = this.rate.get(key);
    if (known === rate) {
      if (this.seen.get(key) !== 0) this.seen.set(key, 0);
      return this.believe(agent, source, rate);
    }
    if (known === undefined) {
      if (this.rate.size >= MAX_SAMPLERS) this.clear();
      this.rate.set(key, rate);
      this.seen.set(key, 0);
      return this.believe(agent, source, rate);
    }
    const n = this.candidate.get(key) === rate ? (this.seen.get(key) ?? 0) + 1 : 1;
    this.candidate.set(key, rate);
    if (n >= RATE_CONFIRM) {
      this.rate.set(key, rate);
      this.seen.set(key, 0);
      return this.believe(agent, source, rate);
    }
    this.seen.set(key, n);
    // the maps changed for this key: forget the memo if it stands for the same key (a colliding sampler too)
    if (this.lastRate !== -1 && samplerKey(this.lastAgent, this.lastSource) === key) this.lastRate = -1;
    return false;
  }

  private believe(agent: number, source: number, rate: number): true {
    this.lastAgent = agent;
    this.lastSource = source;
    this.lastRate = rate;
    return true;
  }

  get size(): number {
    return this.rate.size;
  }

  clear(): void {
    this.lastRate = -1;
    this.rate.clear();
    this.candidate.clear();
    this.seen.clear();
  }
}

/**
 * The agent address (folded to 32 bits) and sub-agent hashed to 30 bits, once
 * per datagram: the part of a sampler's identity all its samples share.
 */
export function agentHash(agent: number, subAgent: number): number {
  let h = Math.imul(agent ^ 0x9e3779b9, 0x85ebca6b) ^ subAgent;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) & 0x3fffffff;
}

/**
 * One number per sampler: agentHash() mixed with the source's high bits, then
 * its low 20 bits. A collision only makes two samplers share one believed rate.
 */
export function samplerKey(agent: number, source: number): number {
  const h = Math.imul(agent ^ (source >>> 20), 0x85ebca6b);
  return (h >>> 0) * 0x100000 + (source & 0xfffff);
}
