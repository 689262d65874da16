/**
 * What one counter row means at a tick: its effective limits (static
 * thresholds with the baseline rule), its baseline learning, the hosts of a
 * carpet prefix, its target name, and the matcher that picks its records out
 * of the flow ring. Read at tick close and when an attack opens, never on
 * the per-record path; functions of the compiled config and the tables, so
 * the engine keeps the state and this file the rules.
 */
import { formatIPv4, formatIPv6, maskBytes, parsePrefix, type Prefix } from '../core/ip.ts';
import type { EngineConfig } from '../config/diff.ts';
import { C, type CounterTable } from './counters.ts';
import { decay, effectiveLimit, ewmaStep, type BaselineParams } from './baseline.ts';
import { keyToAddress, wordsToBytes, type TargetKind } from './detector.ts';
import { CARPET4, HOST_IN4, HOST_IN6, HOST_OUT4, type Compiled } from './compile.ts';

/** Picks a row's records (family, src4, dst4, src6, dst6, offset of the v6 bytes). */
export type RowMatcher = (f: number, s4: number, d4: number, s6: Uint8Array, d6: Uint8Array, off: number) => boolean;

/**
 * Bias-corrected baseline: the EWMA started at 0 when the row was created,
 * so it is divided by 1 - 2^(-age/half-life) (as if the row had run at its
 * mean rate since it was first seen).
 */
export function baselineOf(c: Compiled, tb: CounterTable, row: number, m: number, bp: BaselineParams): number {
  const age = (tb.curTick - tb.born![row]) * c.wp.tickMs;
  const corr = 1 - decay(age, bp.halfLifeMs);
  return corr > 1e-9 ? tb.base![row * 3 + m] / corr : 0;
}

/** Effective limits of a row (static thresholds with the baseline rule), in `out` when the baseline applies. */
export function limitsFor(c: Compiled, tb: CounterTable, row: number, dir: 0 | 1, g: number, out: Float64Array, frozen?: [number, number, number], warmedAt?: boolean): Float64Array {
  const base = c.limits[dir][g] ?? c.limits[dir][0];
  const bp = c.baseline[g] ?? c.baseline[0];
  if (!bp.enabled || tb.base === null) return base;
  out.set(base);
  const warmed = warmedAt ?? (tb.curTick - tb.born![row]) * c.wp.tickMs >= bp.warmupMs;
  for (let m = 0 as 0 | 1 | 2; m < 3; m = (m + 1) as 0 | 1 | 2) {
    const b = frozen ? frozen[m] : baselineOf(c, tb, row, m, bp);
    out[m] = effectiveLimit(base[m], b, warmed, bp, m);
  }
  return out;
}

/** Baseline learning for a row that had traffic in the tick just closed (`s`: its window sums). */
export function learn(c: Compiled, tb: CounterTable, row: number, g: number, s: Float64Array): void {
  const base = tb.base;
  if (base === null) return;
  const bp = c.baseline[g] ?? c.baseline[0];
  if (!bp.enabled) return;
  const tickMs = c.wp.tickMs;
  const idle = Math.max(0, tb.curTick - tb.baseTick![row] - 1) * tickMs;
  const W = c.wp.windowSec;
  base[row * 3] = ewmaStep(base[row * 3], s[C.PKTS] / W, idle, tickMs, bp.halfLifeMs);
  base[row * 3 + 1] = ewmaStep(base[row * 3 + 1], s[C.BYTES] / W, idle, tickMs, bp.halfLifeMs);
  base[row * 3 + 2] = ewmaStep(base[row * 3 + 2], s[C.FLOWS] / W, idle, tickMs, bp.halfLifeMs);
  tb.baseTick![row] = tb.curTick;
}

/** Hosts of a carpet prefix (row of `tb`, table slot `ti`) with traffic in the window. */
export function carpetHosts(c: Compiled, tables: readonly CounterTable[], ti: number, tb: CounterTable, row: number): number {
  let count = 0;
  if (ti === CARPET4) {
    const p = tb.key(row);
    const size = 2 ** (32 - c.carpetLen4);
    const ht = tables[HOST_IN4];
    if (size <= 4096) {
      for (let i = 0; i < size; i++) {
        const r = ht.find1((p + i) >>> 0);
        if (r >= 0 && ht.sum(r, C.PKTS) > 0) count++;
      }
      return count;
    }
    const mask = c.carpetMask4;
    for (let r = 0; r < ht.rowLimit; r++) if (ht.isLive(r) && ((ht.key(r) & mask) >>> 0) === p && ht.sum(r, C.PKTS) > 0) count++;
    return count;
  }
  const ht = tables[HOST_IN6];
  const len = c.carpetLen6;
  for (let r = 0; r < ht.rowLimit; r++) {
    if (!ht.isLive(r) || !(ht.sum(r, C.PKTS) > 0)) continue;
    let ok = true;
    for (let i = 0; i < 4 && ok; i++) {
      const bits = len - i * 32;
      if (bits <= 0) break;
      const mask = bits >= 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0;
      ok = ((ht.key(r, i) & mask) >>> 0) === tb.key(row, i);
    }
    if (ok) count++;
  }
  return count;
}

/** The attack target of a row: an address, a carpet prefix or a hostgroup's first network. */
export function targetOf(c: Compiled, cfg: Readonly<EngineConfig>, ti: number, tb: CounterTable, row: number, kind: TargetKind, g: number, k: Uint32Array): { target: string; family: 4 | 6; prefixes?: string[] } {
  if (kind === 'host') {
    const fam: 4 | 6 = ti === HOST_IN4 || ti === HOST_OUT4 ? 4 : 6;
    return { target: keyToAddress(tb.keyInto(row, k), 0, tb.kw), family: fam };
  }
  if (kind === 'carpet') {
    if (ti === CARPET4) return { target: `${formatIPv4(tb.key(row))}/${c.carpetLen4}`, family: 4 };
    const b = wordsToBytes(tb.keyInto(row, k), 0, new Uint8Array(16));
    return { target: `${formatIPv6(b)}/${c.carpetLen6}`, family: 6 };
  }
  const grp = cfg.hostgroups[g - 1];
  const nets = grp ? [...grp.networks] : [];
  const p = parsePrefix(nets[0] ?? '0.0.0.0/0', false) as Prefix;
  return { target: nets[0] ?? '', family: p.family, prefixes: nets };
}

/** Picks the records of a row out of the flow ring (seeding a new attack's classifier). */
export function rowMatcher(c: Compiled, ti: number, tb: CounterTable, row: number, kind: TargetKind, dir: 0 | 1, g: number, k: Uint32Array): RowMatcher {
  if (kind === 'host' && tb.kw === 1) {
    const a = tb.key(row);
    return (f: number, s4: number, d4: number) => f === 4 && (dir === 0 ? d4 : s4) === a;
  }
  if (kind === 'host') {
    const want = wordsToBytes(tb.keyInto(row, k), 0, new Uint8Array(16));
    return (f: number, _s4: number, _d4: number, s6: Uint8Array, d6: Uint8Array, off: number) => {
      if (f !== 6) return false;
      const b = dir === 0 ? d6 : s6;
      for (let i = 0; i < 16; i++) if (b[off + i] !== want[i]) return false;
      return true;
    };
  }
  if (kind === 'carpet' && ti === CARPET4) {
    const p = tb.key(row), mask = c.carpetMask4;
    return (f: number, _s4: number, d4: number) => f === 4 && ((d4 & mask) >>> 0) === p;
  }
  if (kind === 'carpet') {
    const want = maskBytes(wordsToBytes(tb.keyInto(row, k), 0, new Uint8Array(16)), c.carpetLen6);
    const len = c.carpetLen6;
    const tmp = new Uint8Array(16);
    return (f: number, _s4: number, _d4: number, _s6: Uint8Array, d6: Uint8Array, off: number) => {
      if (f !== 6) return false;
      for (let i = 0; i < 16; i++) tmp[i] = d6[off + i];
      maskBytes(tmp, len);
      for (let i = 0; i < 16; i++) if (tmp[i] !== want[i]) return false;
      return true;
    };
  }
  const groups = c.groups, nets = c.nets;
  return (f: number, s4: number, d4: number, s6: Uint8Array, d6: Uint8Array, off: number) => {
    if (f === 4) { const a = dir === 0 ? d4 : s4; return nets.has4(a) && groups.lookup4(a) + 1 === g; }
    const b = (dir === 0 ? d6 : s6).subarray(off, off + 16);
    return nets.hasV6(b) && groups.lookup6(b) + 1 === g;
  };
}
