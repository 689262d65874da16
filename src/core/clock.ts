/** Time source. The daemon uses wall time; `breakwater detect` replays capture time. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock moved by hand (replay, tests). */
export class ManualClock implements Clock {
  t: number;
  constructor(t = 0) {
    this.t = t;
  }
  now(): number {
    return this.t;
  }
  set(t: number): void {
    if (t > this.t) this.t = t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}
