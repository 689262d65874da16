/**
 * CounterTable: per-key traffic counters over a sliding window, in typed arrays.
 *
 * Keys are 1..4 u32 words (IPv4 host: 1 word; IPv6 host: 4 words; IPv6 /64
 * prefix: 2 words used; hostgroup index: 1 word). A key owns a ROW; an
 * open-addressing hash (linear probing, power-of-two slots, load ≤ 0.5,
 * backward-shift deletion) maps keys to rows. Row arrays start small and
 * double up to `maxRows`; past that, new keys are refused and counted as
 * overflow, and the engine evicts the least active rows at the next tick.
 *
 * Window (see window.ts for the exact rule): ticks are grouped in HALVES of
 * the window; per counter a row keeps H0 (current half so far), H1 (previous
 * half) and H2 (the half before), and the window sum is
 * max(H2 + H1, H1 + H0). Memory per row is fixed; nothing grows with traffic
 * except two bitmaps of 1 bit per row.
 *
 * Layout (one record touches one cache line of the row plus one hash slot):
 *
 *   srow   Int32Array  row per slot (-1 = empty); a 1-word key is compared
 *                      in the hot row, which the record touches anyway
 *   stag   Int32Array  multi-word keys only: the key's 32-bit hash per slot
 *   hot    64 bytes/row, one cache line:
 *            i32[0] key word 0 (1-word keys) / free-list link
 *            i32[1] last tick with traffic (FREE = free row)
 *            i32[2] meta: group (bits 0..15) | flags (bits 16..23)
 *            f32[3..15] H0: the 13 counters of the current half
 *   cold   f32 26/row: H1, H2 of counter 0, of counter 1, ...; read at tick
 *          close, written at half boundaries for rows that had traffic in one
 *          of the last 3 halves
 *   keys   Uint32Array kw/row, multi-word keys only
 *   bits   tick bitmap (rows with traffic in the current tick: evaluated at
 *          close) and 3 half bitmaps (rows to shift at a half boundary)
 *
 * Just over 600 lines: the hash, the row arrays and the window shifts read
 * the same private layout on the per-record path; splitting them would put
 * a call or an accessor between the record and its cache line. Field names
 * (counter-fields.ts) and eviction (evict.ts) live apart.
 */
import { K, NC, halfOf, halfStart, hashWords } from './counter-fields.ts';
import { evictIdle, evictLeastActive } from './evict.ts';

export { C, K, NC, RF, META_PINNED, halfOf, halfStart } from './counter-fields.ts';

/** lastTick of a free row. */
const FREE = -0x80000000;
/** Hot words per row (64 bytes). */
const HS = 16;
/** Offset of H0 in the hot row. */
const H0 = 3;
/** Cold floats per row: H1 of counter i at 2i, H2 at 2i + 1. */
const CS = 2 * NC;
const GOLDEN = 0x9e3779b1 | 0;

export interface CounterTableOptions {
  /** u32 words per key (1..4). */
  keyWords: number;
  maxRows: number;
  /** Tick buckets in the window. */
  buckets: number;
  initialRows?: number;
  /** Keep baseline arrays (3 floats + 2 ticks per row). */
  baseline?: boolean;
}

export class CounterTable {
  readonly kw: number;
  maxRows: number;
  readonly buckets: number;
  /** Live rows. */
  size = 0;
  /** Row capacity of the arrays. */
  cap: number;
  /** Rows ever handed out (fresh rows come from here, reused ones from the free list). */
  private high = 0;
  private freeHead = -1;
  /** Hot rows: Int32 and Float32 views of one buffer, HS words per row. */
  hi: Int32Array;
  hf: Float32Array;
  /** Cold rows: H1, H2. */
  cold: Float32Array;
  /** Multi-word keys (kw words per row); null for 1-word keys (kept in the hot row). */
  keys: Uint32Array | null;
  /** Baseline EWMA of pps, bytes/s, flows/s (rates), the tick of its last update, and the tick the row was created. */
  base: Float32Array | null;
  baseTick: Int32Array | null;
  born: Int32Array | null;
  /** Rows with traffic in the current tick. */
  tickBits: Int32Array;
  /** Rows with traffic in the current half, the previous one, the one before. */
  private half0: Int32Array;
  private half1: Int32Array;
  private half2: Int32Array;
  private srow: Int32Array;
  private stag: Int32Array | null;
  private mask: number;
  private shift: number;
  /** Current (open) tick and its half. */
  curTick = 0;
  curHalf = 0;
  /** Ticks of the current half up to and including the current one. */
  halfTicks = 1;
  /** Keys refused because the table was full. */
  overflow = 0;
  evictions = 0;
  /** True when the last upsert created the row (cleared by the caller). */
  inserted = false;
  /** Rows created by the last upsertBatch (`insertedRows[0..insertedCount)`). */
  insertedRows = new Int32Array(256);
  insertedCount = 0;
  private batchTag = new Int32Array(256);
  private batchRow = new Int32Array(256);
  /** Keeps the row loads of upsertBatch / touchRows alive. */
  private touch = 0;
  private readonly shiftRows = new Int32Array(256);

  constructor(o: CounterTableOptions) {
    this.kw = o.keyWords;
    this.maxRows = Math.max(1, o.maxRows);
    this.buckets = Math.max(1, o.buckets);
    const cap = Math.min(this.maxRows, Math.max(16, o.initialRows ?? 1024));
    this.cap = cap;
    const buf = new ArrayBuffer(cap * HS * 4);
    this.hi = new Int32Array(buf);
    this.hf = new Float32Array(buf);
    this.cold = new Float32Array(cap * CS);
    this.keys = this.kw > 1 ? new Uint32Array(cap * this.kw) : null;
    this.base = o.baseline ? new Float32Array(cap * 3) : null;
    this.baseTick = o.baseline ? new Int32Array(cap) : null;
    this.born = o.baseline ? new Int32Array(cap) : null;
    const words = (cap + 31) >>> 5;
    this.tickBits = new Int32Array(words);
    this.half0 = new Int32Array(words);
    this.half1 = new Int32Array(words);
    this.half2 = new Int32Array(words);
    let s = 16;
    while (s < cap * 2) s *= 2;
    this.srow = new Int32Array(s).fill(-1);
    this.stag = this.kw > 1 ? new Int32Array(s) : null;
    this.mask = s - 1;
    this.shift = 32 - Math.log2(s);
  }

  /** Starts the window at `tick` (no traffic before it). */
  start(tick: number): void {
    this.curTick = tick;
    this.curHalf = halfOf(tick, this.buckets);
    this.halfTicks = tick - halfStart(this.curHalf, this.buckets) + 1;
  }

  // ---- hashing -------------------------------------------------------------

  private home(tag: number): number {
    return this.kw === 1 ? Math.imul(tag, GOLDEN) >>> this.shift : tag >>> this.shift;
  }

  private tagOf(row: number): number {
    if (this.kw === 1) return this.hi[row * HS];
    const k = this.keys!, o = row * this.kw;
    return hashWords(k[o], this.kw > 1 ? k[o + 1] : 0, this.kw > 2 ? k[o + 2] : 0, this.kw > 3 ? k[o + 3] : 0);
  }

  /** Row of a 1-word key, or -1. */
  find1(a: number): number {
    const srow = this.srow, hi = this.hi, mask = this.mask, ai = a | 0;
    let s = Math.imul(ai, GOLDEN) >>> this.shift;
    for (;;) {
      const r = srow[s];
      if (r < 0) return -1;
      if (hi[r * HS] === ai) return r;
      s = (s + 1) & mask;
    }
  }

  /** Row of a multi-word key (unused words 0), or -1. */
  find(a: number, b: number, c: number, d: number): number {
    if (this.kw === 1) return this.find1(a);
    const srow = this.srow, stag = this.stag!, keys = this.keys!, mask = this.mask, kw = this.kw;
    const tag = hashWords(a, b, c, d);
    let s = tag >>> this.shift;
    for (;;) {
      const r = srow[s];
      if (r < 0) return -1;
      if (stag[s] === tag) {
        const o = r * kw;
        if (keys[o] === a >>> 0 && keys[o + 1] === b >>> 0 && (kw < 3 || keys[o + 2] === c >>> 0) && (kw < 4 || keys[o + 3] === d >>> 0)) return r;
      }
      s = (s + 1) & mask;
    }
  }

  /** Row for a key, inserting it; -1 (and overflow++) when the table is full. */
  upsert1(a: number): number {
    const srow = this.srow, hi = this.hi, mask = this.mask, ai = a | 0;
    let s = Math.imul(ai, GOLDEN) >>> this.shift;
    for (;;) {
      const r = srow[s];
      if (r < 0) break;
      if (hi[r * HS] === ai) return r;
      s = (s + 1) & mask;
    }
    return this.insertAt(s, ai, a, 0, 0, 0);
  }

  /**
   * upsert1 for the entries i < n of a batch with (sel[i] & mask) === want:
   * rows[i] = row of keys[i] (-1: refused, or not selected). First loads every
   * entry's home slot (no branch on the loaded data, so the cache misses of
   * all entries overlap), then resolves each entry (a probe past the home
   * slot or an insert takes the ordinary path) and touches its hot row so the
   * counting pass finds it in cache. Created rows are listed in insertedRows.
   */
  upsertBatch(keys: Uint32Array, sel: Uint8Array, mask: number, want: number, n: number, rows: Int32Array): void {
    if (this.kw !== 1) throw new Error('upsertBatch: 1-word keys only');
    if (this.batchTag.length < n) {
      this.batchTag = new Int32Array(n);
      this.batchRow = new Int32Array(n);
      this.insertedRows = new Int32Array(n);
    }
    const srow = this.srow, shift = this.shift, tag = this.batchTag, brow = this.batchRow;
    for (let i = 0; i < n; i++) brow[i] = srow[Math.imul(keys[i] | 0, GOLDEN) >>> shift];
    // the key of the home slot's row (this load brings the hot row into cache)
    const hi = this.hi;
    for (let i = 0; i < n; i++) { const r = brow[i]; tag[i] = hi[(r < 0 ? 0 : r) * HS]; }
    let ni = 0;
    for (let i = 0; i < n; i++) {
      if ((sel[i] & mask) !== want) { rows[i] = -1; continue; }
      const a = keys[i] | 0;
      let r = brow[i];
      if (r < 0 || tag[i] !== a) {
        r = this.upsert1(a);
        if (this.inserted) { this.inserted = false; this.insertedRows[ni++] = r; }
      }
      rows[i] = r;
    }
    this.insertedCount = ni;
  }

  upsert(a: number, b: number, c: number, d: number): number {
    if (this.kw === 1) return this.upsert1(a);
    const srow = this.srow, stag = this.stag!, keys = this.keys!, mask = this.mask, kw = this.kw;
    const tag = hashWords(a, b, c, d);
    let s = tag >>> this.shift;
    for (;;) {
      const r = srow[s];
      if (r < 0) break;
      if (stag[s] === tag) {
        const o = r * kw;
        if (keys[o] === a >>> 0 && keys[o + 1] === b >>> 0 && (kw < 3 || keys[o + 2] === c >>> 0) && (kw < 4 || keys[o + 3] === d >>> 0)) return r;
      }
      s = (s + 1) & mask;
    }
    return this.insertAt(s, tag, a, b, c, d);
  }

  private insertAt(slot: number, tag: number, a: number, b: number, c: number, d: number): number {
    if (this.size >= this.maxRows) {
      this.overflow++;
      return -1;
    }
    let row: number;
    if (this.freeHead >= 0) {
      row = this.freeHead;
      this.freeHead = this.hi[row * HS];
    } else {
      if (this.high >= this.cap) {
        this.growRows();
        let s = this.home(tag);
        while (this.srow[s] >= 0) s = (s + 1) & this.mask;
        return this.insertAt(s, tag, a, b, c, d);
      }
      row = this.high++;
    }
    const hi = this.hi, o = row * HS;
    hi.fill(0, o, o + HS);
    hi[o] = a | 0;
    hi[o + 1] = this.curTick - 1 - this.buckets;
    this.cold.fill(0, row * CS, row * CS + CS);
    if (this.kw > 1) {
      const k = this.keys!, ko = row * this.kw;
      k[ko] = a;
      k[ko + 1] = b;
      if (this.kw > 2) k[ko + 2] = c;
      if (this.kw > 3) k[ko + 3] = d;
    }
    this.srow[slot] = row;
    if (this.stag) this.stag[slot] = tag;
    this.size++;
    if (this.base) {
      this.base.fill(0, row * 3, row * 3 + 3);
      this.baseTick![row] = this.curTick;
      this.born![row] = this.curTick;
    }
    this.inserted = true;
    return row;
  }

  private growRows(): void {
    const cap = Math.min(this.maxRows, this.cap * 2);
    const buf = new ArrayBuffer(cap * HS * 4);
    const hi = new Int32Array(buf);
    hi.set(this.hi);
    this.hi = hi;
    this.hf = new Float32Array(buf);
    const cold = new Float32Array(cap * CS);
    cold.set(this.cold);
    this.cold = cold;
    if (this.keys) { const k = new Uint32Array(cap * this.kw); k.set(this.keys); this.keys = k; }
    if (this.base) {
      const b = new Float32Array(cap * 3); b.set(this.base); this.base = b;
      const bt = new Int32Array(cap); bt.set(this.baseTick!); this.baseTick = bt;
      const bo = new Int32Array(cap); bo.set(this.born!); this.born = bo;
    }
    const words = (cap + 31) >>> 5;
    const gw = (old: Int32Array) => { const n = new Int32Array(words); n.set(old); return n; };
    this.tickBits = gw(this.tickBits);
    this.half0 = gw(this.half0);
    this.half1 = gw(this.half1);
    this.half2 = gw(this.half2);
    this.cap = cap;
    let s = this.mask + 1;
    while (s < cap * 2) s *= 2;
    if (s !== this.mask + 1) {
      const oldRow = this.srow, oldTag = this.stag;
      this.srow = new Int32Array(s).fill(-1);
      this.stag = oldTag ? new Int32Array(s) : null;
      this.mask = s - 1;
      this.shift = 32 - Math.log2(s);
      for (let j = 0; j < oldRow.length; j++) {
        const r = oldRow[j];
        if (r < 0) continue;
        const tag = oldTag ? oldTag[j] : hi[r * HS];
        let i = this.home(tag);
        while (this.srow[i] >= 0) i = (i + 1) & this.mask;
        this.srow[i] = r;
        if (this.stag) this.stag[i] = tag;
      }
    }
  }

  /** Removes a row. */
  remove(row: number): void {
    if (!this.isLive(row)) return;
    const mask = this.mask, srow = this.srow, stag = this.stag;
    let s = this.home(this.tagOf(row));
    while (srow[s] !== row) s = (s + 1) & mask;
    // backward-shift deletion
    let hole = s;
    let j = s;
    for (;;) {
      j = (j + 1) & mask;
      const r = srow[j];
      if (r < 0) break;
      const home = this.home(stag ? stag[j] : this.hi[r * HS]);
      // keep r at j when its home lies cyclically in (hole, j]
      const inRange = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (!inRange) {
        srow[hole] = r;
        if (stag) stag[hole] = stag[j];
        hole = j;
      }
    }
    srow[hole] = -1;
    const o = row * HS;
    this.hi[o + 1] = FREE;
    this.hi[o + 2] = 0;
    this.hi[o] = this.freeHead;
    this.freeHead = row;
    this.size--;
    this.evictions++;
  }

  isLive(row: number): boolean {
    return row >= 0 && row < this.high && this.hi[row * HS + 1] !== FREE;
  }

  /** Upper bound of row indices in use (iterate 0..rowLimit and test isLive). */
  get rowLimit(): number {
    return this.high;
  }

  // ---- row fields ----------------------------------------------------------

  /** Key word i of a row. */
  key(row: number, i = 0): number {
    return this.kw === 1 ? this.hi[row * HS] >>> 0 : this.keys![row * this.kw + i];
  }

  /** Copies a row's key words into out[off..off+kw). */
  keyInto(row: number, out: Uint32Array, off = 0): Uint32Array {
    if (this.kw === 1) out[off] = this.hi[row * HS];
    else for (let i = 0; i < this.kw; i++) out[off + i] = this.keys![row * this.kw + i];
    return out;
  }

  /** Tick of the row's last traffic. */
  lastTick(row: number): number {
    return this.hi[row * HS + 1];
  }

  /** group | flags << 16 (one read on the hot path). */
  meta(row: number): number {
    return this.hi[row * HS + 2];
  }

  /** Engine-owned tag (hostgroup index + 1, 0 = none). */
  group(row: number): number {
    return this.hi[row * HS + 2] & 0xffff;
  }

  setGroup(row: number, g: number): void {
    const o = row * HS + 2;
    this.hi[o] = (this.hi[o] & ~0xffff) | (g & 0xffff);
  }

  flags(row: number): number {
    return (this.hi[row * HS + 2] >>> 16) & 0xff;
  }

  setFlags(row: number, f: number): void {
    const o = row * HS + 2;
    this.hi[o] = (this.hi[o] & 0xffff) | ((f & 0xff) << 16);
  }

  // ---- counting ------------------------------------------------------------

  /**
   * Adds one record's sampling-corrected counts to `row` in the current tick.
   * Returns the row's packets in the current half so far (H0).
   */
  add(row: number, pkts: number, bytes: number, flows: number, cls: number): number {
    const hi = this.hi, v = this.hf, o = row * HS;
    if (hi[o + 1] !== this.curTick) {
      hi[o + 1] = this.curTick;
      const w = row >>> 5, bit = 1 << (row & 31);
      this.tickBits[w] |= bit;
      this.half0[w] |= bit;
    }
    const p = o + H0;
    v[p] += pkts;
    v[p + 1] += bytes;
    v[p + 2] += flows;
    if (cls !== 0) {
      if (cls & K.TCP) {
        v[p + 3] += pkts; v[p + 4] += bytes;
        if (cls & K.SYN) { v[p + 9] += pkts; v[p + 10] += bytes; }
      } else if (cls & K.UDP) { v[p + 5] += pkts; v[p + 6] += bytes; }
      else if (cls & K.ICMP) { v[p + 7] += pkts; v[p + 8] += bytes; }
      if (cls & K.FRAG) { v[p + 11] += pkts; v[p + 12] += bytes; }
    }
    return v[p];
  }

  /** Window sum of counter `i` of a row (window.ts: max(H2 + H1, H1 + H0)). */
  sum(row: number, i: number): number {
    const h0 = this.hf[row * HS + H0 + i];
    if (this.buckets === 1) return h0;
    const c = this.cold, q = row * CS + 2 * i;
    const h1 = c[q], h2 = c[q + 1];
    const a = h2 + h1, b = h1 + h0;
    return a > b ? a : b;
  }

  /** All 13 window sums of a row into out[0..13). */
  sums(row: number, out: Float64Array): Float64Array {
    const hf = this.hf, o = row * HS + H0;
    if (this.buckets === 1) {
      for (let i = 0; i < NC; i++) out[i] = hf[o + i];
      return out;
    }
    const c = this.cold, q = row * CS;
    for (let i = 0; i < NC; i++) {
      const h1 = c[q + 2 * i];
      const a = c[q + 2 * i + 1] + h1, b = h1 + hf[o + i];
      out[i] = a > b ? a : b;
    }
    return out;
  }

  /**
   * True when some window sum exceeds its limit: sum(row, i) > limits[i] × scale
   * for a limit > 0. Reads only the counters that have a limit.
   */
  exceeds(row: number, limits: Float64Array, scale: number): boolean {
    const hf = this.hf, o = row * HS + H0, c = this.cold, q = row * CS;
    const single = this.buckets === 1;
    for (let i = 0; i < NC; i++) {
      const l = limits[i];
      if (!(l > 0)) continue;
      const h0 = hf[o + i];
      let s = h0;
      if (!single) {
        const h1 = c[q + 2 * i];
        const a = c[q + 2 * i + 1] + h1, b = h1 + h0;
        s = a > b ? a : b;
      }
      if (s > l * scale) return true;
    }
    return false;
  }

  /**
   * Loads the hot and cold lines of rows[0..n) without branching on them, so
   * their cache misses overlap before the rows are evaluated one by one.
   */
  touchRows(rows: Int32Array, n: number): void {
    const hi = this.hi, cold = this.cold;
    let t = 0;
    for (let i = 0; i < n; i++) {
      const r = rows[i];
      t = (t + hi[r * HS + 1] + cold[r * CS]) | 0;
    }
    this.touch ^= t;
  }

  /** H0, H1, H2 of counter i (tests and diagnostics). */
  halves(row: number, i: number): [number, number, number] {
    const q = row * CS + 2 * i;
    return [this.hf[row * HS + H0 + i], this.cold[q], this.cold[q + 1]];
  }

  /** Closes the current tick (the rows with traffic in it are `tickBits`). */
  close(): void {
    // nothing to fold: H0 already holds the tick; the engine evaluates tickBits
  }

  /**
   * Opens tick `t` (> curTick). At each half boundary crossed, every row with
   * traffic in one of the last three halves shifts H2 ← H1 ← H0 ← 0; after
   * three empty halves a row is all zero, so a long jump costs three shifts.
   */
  open(t: number): void {
    this.tickBits.fill(0, 0, (this.high + 31) >>> 5);
    const h = halfOf(t, this.buckets);
    let steps = h - this.curHalf;
    if (steps > 3) steps = 3;
    for (let s = 0; s < steps; s++) this.shiftHalves();
    if (h !== this.curHalf) this.curHalf = h;
    this.curTick = t;
    this.halfTicks = t - halfStart(h, this.buckets) + 1;
  }

  private shiftHalves(): void {
    const b0 = this.half0, b1 = this.half1, b2 = this.half2;
    const nw = (this.high + 31) >>> 5;
    const chunk = this.shiftRows;
    // what a row needs depends on where it had traffic: kind 0 = in the
    // current half (H2 ← H1 ← H0 ← 0), 1 = only in the previous one
    // (H2 ← H1 ← 0), 2 = only in the one before (H2 ← 0)
    for (let kind = 0; kind < 3; kind++) {
      let m = 0;
      for (let w = 0; w < nw; w++) {
        let x = kind === 0 ? b0[w] : kind === 1 ? b1[w] & ~b0[w] : b2[w] & ~(b0[w] | b1[w]);
        while (x !== 0) {
          const low = x & -x;
          x ^= low;
          chunk[m++] = (w << 5) | (31 - Math.clz32(low));
          if (m === chunk.length) { this.shiftChunk(kind, chunk, m); m = 0; }
        }
      }
      if (m > 0) this.shiftChunk(kind, chunk, m);
    }
    // the bitmaps move down one half; the oldest becomes the new current
    this.half2 = b1;
    this.half1 = b0;
    b2.fill(0, 0, nw);
    this.half0 = b2;
  }

  private shiftChunk(kind: number, rows: Int32Array, n: number): void {
    const hf = this.hf, cold = this.cold;
    if (kind === 0) this.touchRows(rows, n);
    else {
      let t = 0;
      for (let j = 0; j < n; j++) t = (t + cold[rows[j] * CS]) | 0;
      this.touch ^= t;
    }
    for (let j = 0; j < n; j++) {
      const row = rows[j], q = row * CS;
      if (kind === 0) {
        const o = row * HS + H0;
        for (let i = 0; i < NC; i++) {
          cold[q + 2 * i + 1] = cold[q + 2 * i];
          cold[q + 2 * i] = hf[o + i];
          hf[o + i] = 0;
        }
      } else if (kind === 1) {
        for (let i = 0; i < NC; i++) {
          cold[q + 2 * i + 1] = cold[q + 2 * i];
          cold[q + 2 * i] = 0;
        }
      } else {
        for (let i = 0; i < NC; i++) cold[q + 2 * i + 1] = 0;
      }
    }
  }

  // ---- memory / maintenance -------------------------------------------------

  /** Bytes held by this table's typed arrays. */
  bytes(): number {
    let b = this.hi.byteLength + this.cold.byteLength + this.srow.byteLength + (this.stag ? this.stag.byteLength : 0) +
      this.tickBits.byteLength + this.half0.byteLength + this.half1.byteLength + this.half2.byteLength;
    if (this.keys) b += this.keys.byteLength;
    if (this.base) b += this.base.byteLength + this.baseTick!.byteLength + this.born!.byteLength;
    return b;
  }

  /** Evicts unpinned rows idle since before `beforeTick`. Returns how many. */
  evictIdle(beforeTick: number, from = 0, to = this.high): number {
    return evictIdle(this, beforeTick, from, to);
  }

  /** Makes room: evicts the least active unpinned rows until at most `target` rows remain (evict.ts). */
  evictLeastActive(target: number): number {
    return evictLeastActive(this, target);
  }
}
