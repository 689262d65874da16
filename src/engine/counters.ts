/**
 * CounterTable: per-key traffic counters over a sliding window, in typed arrays.
 *
 * Keys are 1..4 u32 words (IPv4 host: 1 word; IPv6 host: 4 words; IPv6 /64
 * prefix: 2 words used; hostgroup index: 1 word). A key owns a dense ROW; an
 * open-addressing hash (linear probing, power-of-two slots, load ≤ 0.5,
 * backward-shift deletion) maps keys to rows. Row arrays start small and
 * double up to `maxRows`; past that, new keys are refused and counted as
 * overflow, and the engine evicts the least active rows at the next tick.
 *
 * Window: instead of B buckets per row (B × 13 counters per host would not fit
 * 200 bytes per host), each row keeps only its WINDOW SUMS, and every tick keeps
 * a LOG of the rows that had traffic in that tick with their per-tick counts:
 *
 *   record():   add to the row's entry in the current tick's log (created on
 *               the row's first record in the tick)
 *   close(c):   add every entry of log[c] to its row's sums, subtract the
 *               entries of log[c-B] (it left the window): the sums now hold
 *               exactly ticks c-B+1..c, until the next close
 *   open(c+1):  reuse the oldest log for c+1
 *
 * So memory per row is fixed (~90 bytes with the hash) and the logs cost
 * 56 bytes per (row, tick) pair that had traffic inside the window: memory
 * follows activity, not the number of tracked hosts. Sums are Float32; a row
 * with no traffic left in the window is reset to exactly zero.
 *
 * Row reuse: an evicted row may be reused; log entries written for the previous
 * owner (tick < born[row]) are skipped when they expire.
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

const FREE = -1;

class TickLog {
  tick = -1;
  n = 0;
  rows: Int32Array;
  vals: Float32Array;
  constructor(cap: number) {
    this.rows = new Int32Array(cap);
    this.vals = new Float32Array(cap * NC);
  }
  grow(): void {
    const cap = this.rows.length * 2;
    const rows = new Int32Array(cap);
    rows.set(this.rows);
    const vals = new Float32Array(cap * NC);
    vals.set(this.vals);
    this.rows = rows;
    this.vals = vals;
  }
  bytes(): number {
    return this.rows.byteLength + this.vals.byteLength;
  }
}

export interface CounterTableOptions {
  /** u32 words per key (1..4). */
  keyWords: number;
  maxRows: number;
  /** Tick buckets in the window. */
  buckets: number;
  initialRows?: number;
  /** Keep baseline arrays (3 floats + tick per row). */
  baseline?: boolean;
}

function hashWords(a: number, b: number, c: number, d: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13) ^ b, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16) ^ c, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13) ^ d, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

function hash1(a: number): number {
  let h = Math.imul(a ^ (a >>> 16), 0x45d9f3b);
  h = Math.imul(h ^ (h >>> 16), 0x45d9f3b);
  return (h ^ (h >>> 16)) >>> 0;
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
  keys: Uint32Array;
  sums: Float32Array;
  /** Tick of the row's last traffic; -1 for a free row. */
  lastTick: Int32Array;
  /** Entry index in the log of lastTick. */
  logPos: Int32Array;
  /** Tick the row was (re)allocated. */
  born: Int32Array;
  /** Engine-owned tag per row (hostgroup index + 1, 0 = none). */
  group: Int16Array;
  flags: Uint8Array;
  /** Baseline EWMA of pps, bytes/s, flows/s (rates), and the tick of its last update. */
  base: Float32Array | null;
  baseTick: Int32Array | null;
  private free: Int32Array;
  private freeTop = 0;
  private slots: Int32Array;
  private mask: number;
  private readonly logs: TickLog[];
  /** Current (open) tick. */
  curTick = 0;
  private cur: TickLog;
  /** Keys refused because the table was full. */
  overflow = 0;
  evictions = 0;

  constructor(o: CounterTableOptions) {
    this.kw = o.keyWords;
    this.maxRows = Math.max(1, o.maxRows);
    this.buckets = Math.max(1, o.buckets);
    const cap = Math.min(this.maxRows, Math.max(16, o.initialRows ?? 1024));
    this.cap = cap;
    this.keys = new Uint32Array(cap * this.kw);
    this.sums = new Float32Array(cap * NC);
    this.lastTick = new Int32Array(cap).fill(FREE);
    this.logPos = new Int32Array(cap);
    this.born = new Int32Array(cap);
    this.group = new Int16Array(cap);
    this.flags = new Uint8Array(cap);
    this.base = o.baseline ? new Float32Array(cap * 3) : null;
    this.baseTick = o.baseline ? new Int32Array(cap) : null;
    this.free = new Int32Array(cap);
    let s = 16;
    while (s < cap * 2) s *= 2;
    this.slots = new Int32Array(2 * s).fill(FREE);
    this.mask = s - 1;
    this.logs = [];
    for (let i = 0; i <= this.buckets; i++) this.logs.push(new TickLog(64));
    this.cur = this.logs[0];
    this.cur.tick = 0;
  }

  /** Starts the window at `tick` (no traffic before it). */
  start(tick: number): void {
    this.curTick = tick;
    this.cur = this.logs[this.logIndex(tick)];
    this.cur.tick = tick;
    this.cur.n = 0;
  }

  private logIndex(tick: number): number {
    const n = this.logs.length;
    return ((tick % n) + n) % n;
  }

  // ---- hashing -------------------------------------------------------------

  private hashRow(row: number): number {
    const k = this.keys, o = row * this.kw;
    if (this.kw === 1) return hash1(k[o]);
    return hashWords(k[o], this.kw > 1 ? k[o + 1] : 0, this.kw > 2 ? k[o + 2] : 0, this.kw > 3 ? k[o + 3] : 0);
  }

  // The slot array interleaves [row, first key word] so a probe touches one
  // cache line: slots[2s] = row (-1 empty), slots[2s + 1] = key word 0.

  /** Row of a 1-word key, or -1. */
  find1(a: number): number {
    const slots = this.slots, mask = this.mask, ai = a | 0;
    let s = hash1(a) & mask;
    for (;;) {
      const r = slots[2 * s];
      if (r === FREE) return -1;
      if (slots[2 * s + 1] === ai) return r;
      s = (s + 1) & mask;
    }
  }

  /** Row of a multi-word key (unused words 0), or -1. */
  find(a: number, b: number, c: number, d: number): number {
    if (this.kw === 1) return this.find1(a);
    const slots = this.slots, keys = this.keys, mask = this.mask, kw = this.kw, ai = a | 0;
    let s = hashWords(a, b, c, d) & mask;
    for (;;) {
      const r = slots[2 * s];
      if (r === FREE) return -1;
      if (slots[2 * s + 1] === ai) {
        const o = r * kw;
        if (keys[o + 1] === b && (kw < 3 || keys[o + 2] === c) && (kw < 4 || keys[o + 3] === d)) return r;
      }
      s = (s + 1) & mask;
    }
  }

  /** Row for a key, inserting it; -1 (and overflow++) when the table is full. */
  upsert1(a: number): number {
    const slots = this.slots, mask = this.mask, ai = a | 0;
    let s = hash1(a) & mask;
    for (;;) {
      const r = slots[2 * s];
      if (r === FREE) break;
      if (slots[2 * s + 1] === ai) return r;
      s = (s + 1) & mask;
    }
    return this.insertAt(s, a, 0, 0, 0);
  }

  upsert(a: number, b: number, c: number, d: number): number {
    if (this.kw === 1) return this.upsert1(a);
    const slots = this.slots, keys = this.keys, mask = this.mask, kw = this.kw, ai = a | 0;
    let s = hashWords(a, b, c, d) & mask;
    for (;;) {
      const r = slots[2 * s];
      if (r === FREE) break;
      if (slots[2 * s + 1] === ai) {
        const o = r * kw;
        if (keys[o + 1] === b && (kw < 3 || keys[o + 2] === c) && (kw < 4 || keys[o + 3] === d)) return r;
      }
      s = (s + 1) & mask;
    }
    return this.insertAt(s, a, b, c, d);
  }

  /** True when the last upsert created the row (cleared by the caller). */
  inserted = false;

  private insertAt(slot: number, a: number, b: number, c: number, d: number): number {
    if (this.size >= this.maxRows) {
      this.overflow++;
      return -1;
    }
    let row: number;
    if (this.freeTop > 0) row = this.free[--this.freeTop];
    else {
      if (this.high >= this.cap) {
        this.growRows();
        return this.insertAt(this.probeFree(a, b, c, d), a, b, c, d);
      }
      row = this.high++;
    }
    const o = row * this.kw, k = this.keys;
    k[o] = a;
    if (this.kw > 1) k[o + 1] = b;
    if (this.kw > 2) k[o + 2] = c;
    if (this.kw > 3) k[o + 3] = d;
    this.slots[2 * slot] = row;
    this.slots[2 * slot + 1] = a | 0;
    this.size++;
    this.sums.fill(0, row * NC, row * NC + NC);
    this.lastTick[row] = this.curTick - 1 - this.buckets;
    this.born[row] = this.curTick;
    this.group[row] = 0;
    this.flags[row] = 0;
    if (this.base) {
      this.base.fill(0, row * 3, row * 3 + 3);
      this.baseTick![row] = this.curTick;
    }
    this.inserted = true;
    return row;
  }

  private probeFree(a: number, b: number, c: number, d: number): number {
    let s = (this.kw === 1 ? hash1(a) : hashWords(a, b, c, d)) & this.mask;
    while (this.slots[2 * s] !== FREE) s = (s + 1) & this.mask;
    return s;
  }

  private growRows(): void {
    const cap = Math.min(this.maxRows, this.cap * 2);
    const g32 = (old: Uint32Array, per: number) => { const n = new Uint32Array(cap * per); n.set(old); return n; };
    const gf = (old: Float32Array, per: number) => { const n = new Float32Array(cap * per); n.set(old); return n; };
    const gi = (old: Int32Array, fill?: number) => { const n = new Int32Array(cap); if (fill !== undefined) n.fill(fill); n.set(old); return n; };
    this.keys = g32(this.keys, this.kw);
    this.sums = gf(this.sums, NC);
    this.lastTick = gi(this.lastTick, FREE);
    this.logPos = gi(this.logPos);
    this.born = gi(this.born);
    const g = new Int16Array(cap); g.set(this.group); this.group = g;
    const f = new Uint8Array(cap); f.set(this.flags); this.flags = f;
    if (this.base) { this.base = gf(this.base, 3); this.baseTick = gi(this.baseTick!); }
    const fr = new Int32Array(cap); fr.set(this.free.subarray(0, this.freeTop)); this.free = fr;
    this.cap = cap;
    let s = this.mask + 1;
    while (s < cap * 2) s *= 2;
    if (s !== this.mask + 1) {
      this.slots = new Int32Array(2 * s).fill(FREE);
      this.mask = s - 1;
      for (let r = 0; r < this.high; r++) {
        if (this.lastTick[r] === FREE) continue;
        let i = this.hashRow(r) & this.mask;
        while (this.slots[2 * i] !== FREE) i = (i + 1) & this.mask;
        this.slots[2 * i] = r;
        this.slots[2 * i + 1] = this.keys[r * this.kw] | 0;
      }
    }
  }

  /** Removes a row (its pending log entries are ignored from now on). */
  remove(row: number): void {
    if (this.lastTick[row] === FREE) return;
    const mask = this.mask, slots = this.slots;
    let s = this.hashRow(row) & mask;
    while (slots[2 * s] !== row) s = (s + 1) & mask;
    // backward-shift deletion
    let hole = s;
    let j = s;
    for (;;) {
      j = (j + 1) & mask;
      const r = slots[2 * j];
      if (r === FREE) break;
      const home = this.hashRow(r) & mask;
      // keep r at j when its home lies cyclically in (hole, j]
      const inRange = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (!inRange) {
        slots[2 * hole] = r;
        slots[2 * hole + 1] = slots[2 * j + 1];
        hole = j;
      }
    }
    slots[2 * hole] = FREE;
    this.lastTick[row] = FREE;
    this.flags[row] = 0;
    this.free[this.freeTop++] = row;
    this.size--;
    this.evictions++;
  }

  isLive(row: number): boolean {
    return row >= 0 && row < this.high && this.lastTick[row] !== FREE;
  }

  /** Upper bound of row indices in use (iterate 0..rowLimit and test isLive). */
  get rowLimit(): number {
    return this.high;
  }

  // ---- counting ------------------------------------------------------------

  /**
   * Adds one record's sampling-corrected counts to `row` in the current tick.
   * Returns the row's packets in the window so far (closed ticks + this one).
   */
  add(row: number, pkts: number, bytes: number, flows: number, cls: number): number {
    let log = this.cur;
    let e: number;
    if (this.lastTick[row] === this.curTick) e = this.logPos[row];
    else {
      e = log.n++;
      if (e >= log.rows.length) log.grow();
      log.rows[e] = row;
      log.vals.fill(0, e * NC, e * NC + NC);
      this.lastTick[row] = this.curTick;
      this.logPos[row] = e;
    }
    const v = log.vals, o = e * NC;
    v[o] += pkts;
    v[o + 1] += bytes;
    v[o + 2] += flows;
    if (cls !== 0) {
      if (cls & K.TCP) {
        v[o + 3] += pkts; v[o + 4] += bytes;
        if (cls & K.SYN) { v[o + 9] += pkts; v[o + 10] += bytes; }
      } else if (cls & K.UDP) { v[o + 5] += pkts; v[o + 6] += bytes; }
      else if (cls & K.ICMP) { v[o + 7] += pkts; v[o + 8] += bytes; }
      if (cls & K.FRAG) { v[o + 11] += pkts; v[o + 12] += bytes; }
    }
    return v[o] + this.sums[row * NC];
  }

  /**
   * Closes the current tick: its counts join the window sums, and the tick
   * that has just left the window (curTick - B) is subtracted, so between two
   * ticks the sums hold exactly the last B closed ticks. Calls `visit(row)`
   * for every live row that had traffic in the closed tick.
   */
  close(visit?: (row: number) => void): void {
    const log = this.cur, sums = this.sums, vals = log.vals;
    for (let e = 0; e < log.n; e++) {
      const row = log.rows[e];
      if (this.lastTick[row] === FREE || this.born[row] > log.tick) continue;
      const so = row * NC, vo = e * NC;
      for (let i = 0; i < NC; i++) sums[so + i] += vals[vo + i];
    }
    const first = this.curTick - this.buckets + 1;
    for (const l of this.logs) if (l.tick >= 0 && l.tick < first) this.expire(l, first);
    if (visit) {
      for (let e = 0; e < log.n; e++) {
        const row = log.rows[e];
        if (this.lastTick[row] === FREE || this.born[row] > log.tick) continue;
        visit(row);
      }
    }
  }

  /** Rows that had traffic in the tick just closed. */
  closedRows(): { rows: Int32Array; n: number } {
    return { rows: this.cur.rows, n: this.cur.n };
  }

  /**
   * Opens tick `t` (> curTick). Ticks that cannot be in the window at the
   * close of `t` (older than t - B) expire now, so a jump in time empties
   * the sums at once.
   */
  open(t: number): void {
    const first = t - this.buckets;
    for (const log of this.logs) if (log.tick >= 0 && log.tick < first) this.expire(log, first);
    this.curTick = t;
    this.cur = this.logs[this.logIndex(t)];
    this.cur.tick = t;
    this.cur.n = 0;
  }

  private expire(log: TickLog, firstInWindow: number): void {
    if (log.tick >= firstInWindow) return;
    const sums = this.sums, vals = log.vals;
    for (let e = 0; e < log.n; e++) {
      const row = log.rows[e];
      if (this.lastTick[row] === FREE || this.born[row] > log.tick) continue;
      const so = row * NC;
      if (this.lastTick[row] < firstInWindow) {
        sums.fill(0, so, so + NC);
        continue;
      }
      const vo = e * NC;
      for (let i = 0; i < NC; i++) {
        const x = sums[so + i] - vals[vo + i];
        sums[so + i] = x > 0 ? x : 0;
      }
    }
    log.n = 0;
    log.tick = -1;
  }

  // ---- memory / maintenance -------------------------------------------------

  /** Bytes held by this table's typed arrays. */
  bytes(): number {
    let b = this.keys.byteLength + this.sums.byteLength + this.lastTick.byteLength + this.logPos.byteLength +
      this.born.byteLength + this.group.byteLength + this.flags.byteLength + this.free.byteLength + this.slots.byteLength;
    if (this.base) b += this.base.byteLength + this.baseTick!.byteLength;
    for (const l of this.logs) b += l.bytes();
    return b;
  }

  /** Evicts unpinned rows idle since before `beforeTick`. Returns how many. */
  evictIdle(beforeTick: number, from = 0, to = this.high): number {
    let n = 0;
    const end = Math.min(to, this.high);
    for (let r = from; r < end; r++) {
      const lt = this.lastTick[r];
      if (lt !== FREE && lt < beforeTick && (this.flags[r] & RF.PINNED) === 0) {
        this.remove(r);
        n++;
      }
    }
    return n;
  }

  /**
   * Makes room: evicts the least active unpinned rows (lowest window packets,
   * then oldest traffic) until at most `target` rows remain. Deterministic.
   */
  evictLeastActive(target: number): number {
    if (this.size <= target) return 0;
    const need = this.size - target;
    // sample the packet sums to find the cut
    const step = Math.max(1, Math.floor(this.high / 4096));
    const sample: number[] = [];
    for (let r = 0; r < this.high; r += step) {
      if (this.lastTick[r] !== FREE && (this.flags[r] & RF.PINNED) === 0) sample.push(this.sums[r * NC]);
    }
    sample.sort((a, b) => a - b);
    const q = Math.min(sample.length - 1, Math.ceil((need / Math.max(1, this.size)) * sample.length));
    let cut = sample.length ? sample[Math.max(0, q)] : Infinity;
    let n = 0;
    for (let pass = 0; pass < 3 && n < need; pass++) {
      for (let r = 0; r < this.high && n < need; r++) {
        if (this.lastTick[r] === FREE || (this.flags[r] & RF.PINNED) !== 0) continue;
        if (this.sums[r * NC] <= cut) {
          this.remove(r);
          n++;
        }
      }
      cut = cut * 2 + 1;
    }
    return n;
  }
}
