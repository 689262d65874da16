/**
 * The notifier: events in, one outbox row per interested channel (written
 * before anything is sent), and one delivery loop per channel that never
 * blocks the caller: publish() is a synchronous SQLite insert; every send is
 * async with a time limit. One message in flight per channel keeps order.
 *
 * Grouping: a burst of the same groupable event (event.ts GROUPABLE) waits
 * notify.group_seconds from its first row, then goes out as one message with
 * every event of the window. Failure: retried with exponential backoff and
 * jitter (retry_initial_seconds doubling up to retry_max_seconds); once a
 * message is older than max_age_seconds its rows are marked failed (logged,
 * counted, kept for the status).
 */
import type { NotifyConfig } from '../config/schema.ts';
import type { Logger } from '../core/log.ts';
import { systemClock, type Clock } from '../core/clock.ts';
import { GROUPABLE, type Message, type NotifyEvent } from './event.ts';
import { Outbox, type OutboxRow } from './outbox.ts';
import { buildChannels, CHANNELS, type ChannelName, type ConfiguredChannel } from './channels/index.ts';

/** Most events in one grouped message. */
export const GROUP_MAX = 1000;
const LATENCY_RING = 1024;
/** Rows looked at per scan for the next message. */
const DUE_SCAN = 64;
const PRUNE_MS = 3_600_000;

export interface ChannelStats {
  /** Messages delivered (a group counts once). */
  sent: number;
  /** Events delivered. */
  events_sent: number;
  /** Messages given up after max_age_seconds. */
  failed: number;
  /** Failed attempts that were scheduled again. */
  retries: number;
  /** Rows dropped at the outbox bound. */
  dropped: number;
  /** Rows waiting for delivery. */
  queued: number;
  /** Failed rows kept in the outbox. */
  failed_rows: number;
  last_error: string;
  last_error_time: number;
  last_sent_time: number;
  /** Event-to-delivery latency: count and sum of every delivered event, quantiles of the last 1,024. */
  latency: { count: number; sum_seconds: number; p50_seconds: number; p99_seconds: number };
}

export interface NotifyStats {
  channels: Record<string, ChannelStats>;
  outbox: { path: string; rows: number; bytes: number; max_rows: number; max_bytes: number };
  /** Events that could not be written to the outbox (disk errors). */
  enqueue_errors: number;
}

interface ChannelState {
  cfg: ConfiguredChannel;
  inFlight: boolean;
  /** Consecutive failed deliveries; the channel waits (backoff) before its next attempt, so order is kept. */
  failures: number;
  pausedUntil: number;
  timer?: NodeJS.Timeout;
  wakeAt: number;
  stats: Omit<ChannelStats, 'queued' | 'failed_rows' | 'dropped' | 'latency'>;
  lat: Float64Array;
  latN: number;
  latCount: number;
  latSum: number;
}

export interface NotifierOptions {
  config: Readonly<NotifyConfig>;
  outboxPath: string;
  log: Logger;
  clock?: Clock;
  random?: () => number;
}

export class Notifier {
  readonly outbox: Outbox;
  private cfg: Readonly<NotifyConfig>;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly channels = new Map<ChannelName, ChannelState>();
  private readonly inflight = new Set<Promise<void>>();
  private stopped = false;
  private enqueueErrors = 0;
  private readonly pruneTimer: NodeJS.Timeout;

  constructor(opts: NotifierOptions) {
    this.cfg = opts.config;
    this.log = opts.log;
    this.clock = opts.clock ?? systemClock;
    this.random = opts.random ?? Math.random;
    this.outbox = new Outbox(opts.outboxPath, { maxRows: opts.config.outbox.max_rows, maxBytes: opts.config.outbox.max_bytes });
    this.apply(opts.config);
    this.outbox.prune(this.clock.now());
    this.pruneTimer = setInterval(() => this.safePrune(), PRUNE_MS).unref();
    // Rows left by a previous process go out now.
    for (const name of this.channels.keys()) this.schedule(name, 0);
  }

  /** Channels that are on. */
  get active(): ChannelName[] {
    return [...this.channels.keys()];
  }

  private apply(cfg: Readonly<NotifyConfig>): void {
    const built = buildChannels(cfg);
    for (const [name, st] of this.channels) {
      if (!built.has(name)) {
        clearTimeout(st.timer);
        st.cfg.channel.close?.();
        this.channels.delete(name);
      }
    }
    for (const [name, c] of built) {
      const st = this.channels.get(name);
      if (st) {
        st.cfg.channel.close?.();
        st.cfg = c;
      } else {
        this.channels.set(name, {
          cfg: c,
          inFlight: false,
          failures: 0,
          pausedUntil: 0,
          wakeAt: Infinity,
          stats: { sent: 0, events_sent: 0, failed: 0, retries: 0, last_error: '', last_error_time: 0, last_sent_time: 0 },
          lat: new Float64Array(LATENCY_RING),
          latN: 0,
          latCount: 0,
          latSum: 0,
        });
      }
    }
    this.outbox.limits = { maxRows: cfg.outbox.max_rows, maxBytes: cfg.outbox.max_bytes };
    this.cfg = cfg;
  }

  /** Applies a reloaded notify config (the outbox file stays the one opened at start). */
  reconfigure(cfg: Readonly<NotifyConfig>): void {
    this.apply(cfg);
    for (const name of this.channels.keys()) this.schedule(name, 0);
  }

  /**
   * Queues the event for every channel that wants it. The events of one
   * synchronous run (an engine tick that bans 256 hosts) are written in one
   * transaction at its end (a microtask), before any delivery. Never throws.
   */
  publish(ev: NotifyEvent): void {
    if (this.stopped) return;
    const targets: ChannelName[] = [];
    for (const [name, st] of this.channels) if (!st.cfg.events || st.cfg.events.has(ev.event)) targets.push(name);
    if (targets.length === 0) return;
    this.pending.push({ targets, ev, now: this.clock.now() });
    if (this.pending.length === 1) queueMicrotask(() => this.flush());
  }

  private readonly pending: Array<{ targets: ChannelName[]; ev: NotifyEvent; now: number }> = [];

  /** Writes the queued events to the outbox and wakes the loops of their channels. */
  flush(): void {
    if (this.pending.length === 0) return;
    const batch = this.pending.splice(0);
    try {
      this.outbox.enqueueMany(batch);
    } catch (e) {
      this.enqueueErrors += batch.length;
      this.log.error({ event: 'notify outbox error', err: (e as Error).message, events: batch.length }, 'notifications not written to the outbox');
      return;
    }
    const wake = new Map<ChannelName, number>();
    for (const { targets, ev } of batch) {
      const groupMs = GROUPABLE.has(ev.event) ? this.cfg.group_seconds * 1000 : 0;
      for (const name of targets) wake.set(name, Math.min(wake.get(name) ?? Infinity, groupMs));
    }
    for (const [name, ms] of wake) this.schedule(name, ms);
  }

  private schedule(name: ChannelName, delayMs: number): void {
    const st = this.channels.get(name);
    if (!st || this.stopped) return;
    const at = this.clock.now() + Math.max(0, delayMs);
    if (st.timer && st.wakeAt <= at) return;
    clearTimeout(st.timer);
    st.wakeAt = at;
    st.timer = setTimeout(() => {
      st.timer = undefined;
      st.wakeAt = Infinity;
      this.pump(name);
    }, Math.max(0, delayMs));
    st.timer.unref();
  }

  /** Picks the next message of a channel: the oldest due row, with its group when it is groupable and the window has closed. */
  private pick(name: ChannelName, rows: OutboxRow[], now: number): { batch: OutboxRow[]; wakeAt: number } {
    const groupMs = this.cfg.group_seconds * 1000;
    let wakeAt = Infinity;
    const unripe = new Set<string>();
    // A group still in its window does not hold back the events behind it: look past its rows.
    for (let scan = rows, round = 0; round <= GROUPABLE.size; round++) {
      for (const r of scan) {
        if (groupMs <= 0 || !GROUPABLE.has(r.event)) return { batch: [r], wakeAt };
        if (unripe.has(r.event)) continue;
        if (r.attempts === 0 && now < r.created + groupMs) {
          unripe.add(r.event);
          wakeAt = Math.min(wakeAt, r.created + groupMs);
          continue;
        }
        return { batch: this.outbox.group(name, r.event, r.created + groupMs, now, GROUP_MAX), wakeAt };
      }
      if (scan.length < DUE_SCAN || unripe.size === 0) break;
      scan = this.outbox.due(name, now, DUE_SCAN, [...unripe]);
    }
    return { batch: [], wakeAt };
  }

  private pump(name: ChannelName): void {
    const st = this.channels.get(name);
    if (!st || st.inFlight || this.stopped) return;
    const now = this.clock.now();
    if (now < st.pausedUntil) {
      this.schedule(name, st.pausedUntil - now);
      return;
    }
    let rows: OutboxRow[];
    try {
      rows = this.outbox.due(name, now, DUE_SCAN);
    } catch (e) {
      this.log.error({ event: 'notify outbox error', channel: name, err: (e as Error).message }, 'outbox read failed');
      this.schedule(name, 5_000);
      return;
    }
    let picked: { batch: OutboxRow[]; wakeAt: number };
    try {
      picked = this.pick(name, rows, now);
    } catch (e) {
      this.log.error({ event: 'notify outbox error', channel: name, err: (e as Error).message }, 'outbox read failed');
      this.schedule(name, 5_000);
      return;
    }
    const { batch, wakeAt } = picked;
    if (batch.length === 0) {
      const next = Math.min(wakeAt, this.outbox.nextDue(name) ?? Infinity);
      if (Number.isFinite(next)) this.schedule(name, next - now);
      return;
    }
    let events: NotifyEvent[];
    try {
      events = this.outbox.bodies(batch.map((r) => r.id));
    } catch (e) {
      this.log.error({ event: 'notify outbox error', channel: name, err: (e as Error).message }, 'outbox read failed');
      this.schedule(name, 5_000);
      return;
    }
    const msg: Message = { id: `${name}-${batch[0].id}`, channel: name, event: batch[0].event, events };
    st.inFlight = true;
    const p = this.deliver(st, name, msg, batch).finally(() => {
      st.inFlight = false;
      this.inflight.delete(p);
      if (!this.stopped) setImmediate(() => this.pump(name));
    });
    this.inflight.add(p);
  }

  private async deliver(st: ChannelState, name: ChannelName, msg: Message, batch: OutboxRow[]): Promise<void> {
    const ids = batch.map((r) => r.id);
    try {
      await st.cfg.channel.send(msg, this.cfg.timeout_seconds * 1000);
    } catch (e) {
      this.failed(st, name, msg, batch, (e as Error).message || String(e));
      return;
    }
    const now = this.clock.now();
    try {
      this.outbox.delivered(ids);
    } catch (e) {
      // The rows stay: delivered once more after a restart, never lost.
      if (!this.stopped) this.log.error({ event: 'notify outbox error', channel: name, err: (e as Error).message }, 'delivered rows not removed from the outbox');
    }
    st.failures = 0;
    st.stats.sent++;
    st.stats.events_sent += batch.length;
    st.stats.last_sent_time = now;
    for (const r of batch) {
      const s = Math.max(0, now - r.created) / 1000;
      st.lat[st.latN++ % LATENCY_RING] = s;
      st.latCount++;
      st.latSum += s;
    }
    this.log.debug({ event: 'notify sent', channel: name, notify_event: msg.event, count: batch.length, id: msg.id }, `notification sent to ${name}`);
  }

  private failed(st: ChannelState, name: ChannelName, msg: Message, batch: OutboxRow[], err: string): void {
    const now = this.clock.now();
    st.stats.last_error = err;
    st.stats.last_error_time = now;
    const ids = batch.map((r) => r.id);
    const oldest = Math.min(...batch.map((r) => r.created));
    const o = this.cfg.outbox;
    try {
      if (now - oldest >= o.max_age_seconds * 1000) {
        this.outbox.fail(ids, err, now);
        st.stats.failed++;
        this.log.error({ event: 'notify failed', channel: name, notify_event: msg.event, count: batch.length, id: msg.id, attempts: batch[0].attempts + 1, err }, `notification to ${name} given up after ${o.max_age_seconds}s: ${err}`);
        return;
      }
      const base = Math.min(o.retry_max_seconds, o.retry_initial_seconds * 2 ** Math.min(st.failures, 30)) * 1000;
      const delay = base / 2 + this.random() * (base / 2);
      st.failures++;
      st.pausedUntil = now + delay;
      this.outbox.retry(ids, now + delay, err);
    } catch (e) {
      if (!this.stopped) this.log.error({ event: 'notify outbox error', channel: name, err: (e as Error).message }, 'outbox update failed');
      return;
    }
    st.stats.retries++;
    this.log.warn({ event: 'notify retry', channel: name, notify_event: msg.event, count: batch.length, id: msg.id, attempts: batch[0].attempts + 1, err }, `notification to ${name} failed, retried later: ${err}`);
  }

  private safePrune(): void {
    try {
      this.outbox.prune(this.clock.now());
    } catch {
      // next hour
    }
  }

  stats(): NotifyStats {
    const counts = this.outbox.counts();
    const channels: Record<string, ChannelStats> = {};
    const names = new Set<string>([...this.channels.keys(), ...Object.keys(counts)]);
    for (const name of CHANNELS) {
      if (!names.has(name)) continue;
      const st = this.channels.get(name);
      const n = st ? Math.min(st.latN, LATENCY_RING) : 0;
      const sorted = st ? Array.from(st.lat.subarray(0, n)).sort((a, b) => a - b) : [];
      const q = (p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] : 0);
      channels[name] = {
        ...(st?.stats ?? { sent: 0, events_sent: 0, failed: 0, retries: 0, last_error: '', last_error_time: 0, last_sent_time: 0 }),
        dropped: this.outbox.dropped[name] ?? 0,
        queued: counts[name]?.queued ?? 0,
        failed_rows: counts[name]?.failed ?? 0,
        latency: { count: st?.latCount ?? 0, sum_seconds: st?.latSum ?? 0, p50_seconds: q(0.5), p99_seconds: q(0.99) },
      };
    }
    const size = this.outbox.size;
    return { channels, outbox: { path: this.outbox.path, rows: size.rows, bytes: size.bytes, max_rows: this.outbox.limits.maxRows, max_bytes: this.outbox.limits.maxBytes }, enqueue_errors: this.enqueueErrors };
  }

  /** Resolves when nothing is due and nothing is in flight (tests, benchmarks), or after timeoutMs. */
  async idle(timeoutMs = 10_000): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      const c = this.outbox.counts();
      if (this.inflight.size === 0 && Object.values(c).every((x) => x.queued === 0)) return true;
      await new Promise((r) => setTimeout(r, 10));
    }
    return false;
  }

  /** Stops the loops; waits up to waitMs for sends in flight, then closes the outbox (undelivered rows stay for the next start). */
  async stop(waitMs = 2_000): Promise<void> {
    if (this.stopped) return;
    this.flush();
    this.stopped = true;
    clearInterval(this.pruneTimer);
    for (const st of this.channels.values()) clearTimeout(st.timer);
    if (this.inflight.size) await Promise.race([Promise.allSettled([...this.inflight]), new Promise((r) => setTimeout(r, waitMs).unref())]);
    for (const st of this.channels.values()) st.cfg.channel.close?.();
    this.outbox.close();
  }
}
