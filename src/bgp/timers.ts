/**
 * BGP timers (RFC 4271 §10): ConnectRetry with exponential backoff, Hold,
 * Keepalive and IdleHold (DampPeerOscillations, §8.1.1), all jittered to
 * 75%..100% of their nominal value as §10 recommends. Named one-shot timers
 * over an injectable scheduler so tests can drive time by hand.
 */

export interface Scheduler {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  now(): number;
}

export const realScheduler: Scheduler = {
  setTimeout: (fn, ms) => {
    const h = setTimeout(fn, ms);
    return h;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
  now: () => Date.now(),
};

/** Multiplies by a uniform factor in [0.75, 1] (RFC 4271 §10 jitter). */
export function jitter(ms: number, rand: () => number = Math.random): number {
  return Math.round(ms * (0.75 + 0.25 * rand()));
}

/** base · 2^attempt, capped at max, jittered. attempt 0 gives ~base. */
export function backoff(baseMs: number, attempt: number, maxMs: number, rand: () => number = Math.random): number {
  const exp = Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(0, attempt), 30));
  return jitter(exp, rand);
}

/** Hold time is the smaller of the two OPENs' (§4.2); keepalive a third of it. 0 disables both. */
export function negotiateHold(ours: number, theirs: number): { holdSeconds: number; keepaliveSeconds: number } {
  const hold = Math.min(ours, theirs);
  return { holdSeconds: hold, keepaliveSeconds: hold === 0 ? 0 : Math.max(1, Math.floor(hold / 3)) };
}

/** The large hold time used while waiting for the peer's OPEN (§8: 4 minutes). */
export const LARGE_HOLD_MS = 240_000;

/**
 * IdleHold damping: every consecutive failure doubles the wait before the
 * next automatic start, from baseMs up to maxMs; a session that stayed
 * Established for stableMs resets it.
 */
export class IdleHold {
  readonly baseMs: number;
  readonly maxMs: number;
  readonly stableMs: number;
  failures = 0;
  private upSince = -1;

  constructor(baseMs: number, maxMs = 120_000, stableMs = 60_000) {
    this.baseMs = baseMs;
    this.maxMs = maxMs;
    this.stableMs = stableMs;
  }

  established(now: number): void {
    this.upSince = now;
  }

  /** Called on a failure; returns how long to stay Idle. */
  next(now: number, rand: () => number = Math.random): number {
    if (this.upSince >= 0 && now - this.upSince >= this.stableMs) this.failures = 0;
    this.upSince = -1;
    const ms = backoff(this.baseMs, this.failures, this.maxMs, rand);
    this.failures++;
    return ms;
  }

  reset(): void {
    this.failures = 0;
    this.upSince = -1;
  }
}

/** sendHold: output stayed queued and the peer read none of it (the peer stopped reading). */
export type TimerName = 'connectRetry' | 'hold' | 'keepalive' | 'idleHold' | 'sendHold';

/** A set of named one-shot timers; starting a running timer restarts it. */
export class Timers {
  private readonly sched: Scheduler;
  private readonly handles = new Map<TimerName, unknown>();
  private readonly deadlines = new Map<TimerName, number>();
  private readonly fire: (name: TimerName) => void;

  constructor(fire: (name: TimerName) => void, sched: Scheduler = realScheduler) {
    this.fire = fire;
    this.sched = sched;
  }

  start(name: TimerName, ms: number): void {
    this.stop(name);
    const h = this.sched.setTimeout(() => {
      this.handles.delete(name);
      this.deadlines.delete(name);
      this.fire(name);
    }, ms);
    if (h && typeof (h as NodeJS.Timeout).unref === 'function') (h as NodeJS.Timeout).unref();
    this.handles.set(name, h);
    this.deadlines.set(name, this.sched.now() + ms);
  }

  stop(name: TimerName): void {
    const h = this.handles.get(name);
    if (h !== undefined) this.sched.clearTimeout(h);
    this.handles.delete(name);
    this.deadlines.delete(name);
  }

  running(name: TimerName): boolean {
    return this.handles.has(name);
  }

  /** Milliseconds until the timer fires, or -1. */
  remaining(name: TimerName): number {
    const d = this.deadlines.get(name);
    return d === undefined ? -1 : Math.max(0, d - this.sched.now());
  }

  stopAll(): void {
    for (const n of [...this.handles.keys()]) this.stop(n);
  }
}

/** A hand-driven scheduler for tests. */
export class ManualScheduler implements Scheduler {
  t = 0;
  private seq = 0;
  private readonly pending = new Map<number, { at: number; fn: () => void }>();
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.pending.set(id, { at: this.t + ms, fn });
    return id;
  }
  clearTimeout(h: unknown): void {
    this.pending.delete(h as number);
  }
  now(): number {
    return this.t;
  }
  /** Advances time, firing due timers in deadline order. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let best: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.pending) if (e[1].at <= end && (!best || e[1].at < best[1].at)) best = e;
      if (!best) break;
      this.pending.delete(best[0]);
      this.t = best[1].at;
      best[1].fn();
    }
    this.t = end;
  }
}
