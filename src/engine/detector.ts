/**
 * Attack lifecycle helpers: stable ids, target names, the per-attack state the
 * engine keeps while an attack lasts.
 *
 *   below ──(a rate crosses its limit at a tick)──▶ active   emit attack_start
 *   active ──(still above)──▶ active                          peaks updated;
 *                                                             attack_update at most every update_ms
 *   active ──(below for attack_hysteresis_seconds)──▶ ended   emit attack_end
 *
 * An attack's target row is pinned in its counter table (never evicted) while
 * the attack lasts.
 */
import { formatIPv4, formatIPv6 } from '../core/ip.ts';
import type { Attack, Direction } from './events.ts';
import type { Classifier } from './classify.ts';
import type { CounterTable } from './counters.ts';

export type TargetKind = 'host' | 'group' | 'carpet';

export interface ActiveAttack {
  attack: Attack;
  kind: TargetKind;
  dir: 0 | 1;
  table: CounterTable;
  row: number;
  /** Hostgroup index + 1 (0 = none) whose limits apply. */
  group: number;
  cls: Classifier;
  /** Last time (ms) a rate was above its limit. */
  lastAbove: number;
  lastUpdate: number;
  /** Baseline frozen at the start (per metric), for the limit rule. */
  frozenBase: [number, number, number];
  warmed: boolean;
}

export const DIRECTIONS: readonly Direction[] = ['incoming', 'outgoing'];

/** FNV-1a over a string, two 32-bit lanes → 16 hex digits. Stable across runs. */
export function stableId(s: string): string {
  let h1 = 0x811c9dc5, h2 = 0x01000193 ^ 0x5bd1e995;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x5bd1e995) ^ (h2 >>> 15);
  }
  return (h1 >>> 0).toString(16).padStart(8, '0') + (h2 >>> 0).toString(16).padStart(8, '0');
}

export function attackId(direction: Direction, target: string, start: number): string {
  return stableId(`${direction}|${target}|${start}`);
}

const scratch6 = new Uint8Array(16);

/** Address text for a host row key (1 word IPv4, 4 words IPv6). */
export function keyToAddress(keys: Uint32Array, off: number, kw: number): string {
  if (kw === 1) return formatIPv4(keys[off]);
  return formatIPv6(wordsToBytes(keys, off, scratch6));
}

export function wordsToBytes(keys: Uint32Array, off: number, out: Uint8Array): Uint8Array {
  for (let w = 0; w < 4; w++) {
    const x = keys[off + w];
    out[w * 4] = x >>> 24;
    out[w * 4 + 1] = (x >>> 16) & 255;
    out[w * 4 + 2] = (x >>> 8) & 255;
    out[w * 4 + 3] = x & 255;
  }
  return out;
}

export function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
