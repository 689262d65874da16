/**
 * The names the counter tables share with their readers: the 13 counters
 * (one per threshold key), the record classes, the row flags, the key hash
 * and the half-window arithmetic of window.ts. No state.
 */

/** Counter indices. The 13 counters map 1:1 onto the 13 threshold keys. */
export const C = {
  PKTS: 0, BYTES: 1, FLOWS: 2,
  TCP_P: 3, TCP_B: 4, UDP_P: 5, UDP_B: 6, ICMP_P: 7, ICMP_B: 8,
  SYN_P: 9, SYN_B: 10, FRAG_P: 11, FRAG_B: 12,
} as const;
export const NC = 13;

/** Record classes (bit mask) for CounterTable.add. */
export const K = { TCP: 1, UDP: 2, ICMP: 4, SYN: 8, FRAG: 16 } as const;

/** Row flag bits. */
export const RF = { PINNED: 1 } as const;
/** RF.PINNED as a bit of CounterTable.meta(row). */
export const META_PINNED = RF.PINNED << 16;

/** 32-bit hash of a key of up to 4 words (unused words 0). */
export function hashWords(a: number, b: number, c: number, d: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13) ^ b, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16) ^ c, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13) ^ d, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** Half-window index of a tick (window of B ticks). */
export function halfOf(tick: number, buckets: number): number {
  return buckets === 1 ? tick : Math.floor((2 * tick) / buckets);
}

/** First tick of half `h`. */
export function halfStart(h: number, buckets: number): number {
  return buckets === 1 ? h : Math.ceil((h * buckets) / 2);
}

