/**
 * The last minutes of per-host rates, in memory, for the console's charts and
 * GET /api/v1/hosts/{ip}/traffic. Every `stepMs` the daemon records the top
 * hosts and the hosts under attack; each host keeps one slot per step of the
 * window (six floats: in/out pps, bps, fps) in one preallocated Float64Array,
 * so memory is fixed at maxHosts × slots × 6 × 8 bytes whatever the traffic.
 * When all rows are taken, the row written least recently is reused.
 */

export interface RateSample {
  ip: string;
  direction: 'incoming' | 'outgoing';
  pps: number;
  /** bits per second */
  bps: number;
  fps: number;
}

export interface TrafficPoint {
  t: number;
  in_pps: number;
  in_bps: number;
  in_fps: number;
  out_pps: number;
  out_bps: number;
  out_fps: number;
}

const F = 6;

export class TrafficRing {
  readonly stepMs: number;
  readonly slots: number;
  readonly maxHosts: number;
  private readonly data: Float64Array;
  /** Step number (time / stepMs) each slot holds, per row; -1 empty. */
  private readonly stepOf: Float64Array;
  private readonly lastWrite: Float64Array;
  private readonly rowOf = new Map<string, number>();
  private readonly ipOf: Array<string | undefined>;
  private free: number[] = [];
  evictions = 0;
  /** The newest step recorded. */
  private latest = -Infinity;

  constructor(opts: { windowMs?: number; stepMs?: number; maxHosts?: number } = {}) {
    this.stepMs = opts.stepMs ?? 5000;
    this.slots = Math.max(1, Math.ceil((opts.windowMs ?? 15 * 60_000) / this.stepMs));
    this.maxHosts = opts.maxHosts ?? 2000;
    this.data = new Float64Array(this.maxHosts * this.slots * F);
    this.stepOf = new Float64Array(this.maxHosts * this.slots).fill(-1);
    this.lastWrite = new Float64Array(this.maxHosts).fill(-1);
    this.ipOf = new Array(this.maxHosts);
    for (let i = this.maxHosts - 1; i >= 0; i--) this.free.push(i);
  }

  get windowMs(): number {
    return this.slots * this.stepMs;
  }

  get hosts(): number {
    return this.rowOf.size;
  }

  /** Bytes held by the ring (fixed at construction). */
  get bytes(): number {
    return this.data.byteLength + this.stepOf.byteLength + this.lastWrite.byteLength;
  }

  private row(ip: string, step: number): number {
    let r = this.rowOf.get(ip);
    if (r !== undefined) return r;
    r = this.free.pop();
    if (r === undefined) {
      // Reuse the row written least recently.
      let oldest = 0;
      for (let i = 1; i < this.maxHosts; i++) if (this.lastWrite[i] < this.lastWrite[oldest]) oldest = i;
      r = oldest;
      this.rowOf.delete(this.ipOf[r]!);
      this.evictions++;
    }
    this.rowOf.set(ip, r);
    this.ipOf[r] = ip;
    this.stepOf.fill(-1, r * this.slots, (r + 1) * this.slots);
    this.lastWrite[r] = step;
    return r;
  }

  /** Records one sample per host and direction for the step holding `now`. */
  record(now: number, samples: Iterable<RateSample>): void {
    const step = Math.floor(now / this.stepMs);
    const slot = step % this.slots;
    if (step > this.latest) this.latest = step;
    for (const s of samples) {
      const r = this.row(s.ip, step);
      const si = r * this.slots + slot;
      const o = si * F;
      if (this.stepOf[si] !== step) {
        this.data.fill(0, o, o + F);
        this.stepOf[si] = step;
      }
      const d = s.direction === 'incoming' ? 0 : 3;
      this.data[o + d] = s.pps;
      this.data[o + d + 1] = s.bps;
      this.data[o + d + 2] = s.fps;
      this.lastWrite[r] = step;
    }
    // Rows not written for a whole window hold nothing any more: free them.
    for (const [ip, r] of this.rowOf) {
      if (step - this.lastWrite[r] >= this.slots) {
        this.rowOf.delete(ip);
        this.ipOf[r] = undefined;
        this.free.push(r);
      }
    }
  }

  /** Points of one host in [from, to), oldest first, one per step (steps without a sample are omitted). */
  points(ip: string, from: number, to: number): TrafficPoint[] {
    const r = this.rowOf.get(ip);
    if (r === undefined) return [];
    const out: TrafficPoint[] = [];
    const first = Math.ceil(from / this.stepMs);
    const last = Math.min(Math.ceil(to / this.stepMs) - 1, this.latest);
    for (let step = Math.max(first, last - this.slots + 1); step <= last; step++) {
      const si = r * this.slots + (step % this.slots);
      if (this.stepOf[si] !== step) continue;
      const o = si * F;
      const d = this.data;
      out.push({ t: step * this.stepMs, in_pps: d[o], in_bps: d[o + 1], in_fps: d[o + 2], out_pps: d[o + 3], out_bps: d[o + 4], out_fps: d[o + 5] });
    }
    return out;
  }

  /** Oldest time the ring can still answer for at `now`. */
  horizon(now: number): number {
    return (Math.floor(now / this.stepMs) - this.slots + 1) * this.stepMs;
  }
}
