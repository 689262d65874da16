/**
 * The durable outbox (node:sqlite, its own file beside the state database):
 * a notification is a row per channel, written before any delivery is tried
 * and deleted once delivered, so a crash between the event and the delivery
 * delivers it after the restart (and a crash between the delivery and the
 * delete delivers it once more, never more).
 *
 * Bounded by rows and bytes: at the bound the oldest row goes, failed rows
 * first, and is counted as dropped for its channel. Failed rows (older than
 * notify.outbox.max_age_seconds when a retry came due) stay for the status
 * until the bound or FAILED_KEEP_MS removes them.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import type { NotifyEvent, NotifyEventName } from './event.ts';

export const FAILED_KEEP_MS = 7 * 86_400_000;

export interface OutboxRow {
  id: number;
  channel: string;
  event: NotifyEventName;
  created: number;
  attempts: number;
  next_attempt: number;
}

function toRow(r: Record<string, unknown>): OutboxRow {
  return { id: Number(r.id), channel: String(r.channel), event: r.event as NotifyEventName, created: Number(r.created), attempts: Number(r.attempts), next_attempt: Number(r.next_attempt) };
}

export interface OutboxLimits {
  maxRows: number;
  maxBytes: number;
}

export interface OutboxCounts {
  queued: number;
  failed: number;
}

export class Outbox {
  readonly path: string;
  limits: OutboxLimits;
  /** Rows dropped at the bound, per channel. */
  readonly dropped: Record<string, number> = {};
  private readonly db: DatabaseSync;
  private rows = 0;
  private bytes = 0;
  private readonly st: Record<'insert' | 'due' | 'group' | 'body' | 'del' | 'retry' | 'fail' | 'oldest' | 'counts' | 'nextDue' | 'prune', StatementSync>;

  constructor(path: string, limits: OutboxLimits) {
    this.path = path;
    this.limits = limits;
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new DatabaseSync(path);
    this.db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 2000;
      CREATE TABLE IF NOT EXISTS notify_outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        channel TEXT NOT NULL,
        event TEXT NOT NULL,
        created INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt INTEGER NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending',
        last_error TEXT,
        bytes INTEGER NOT NULL,
        body TEXT NOT NULL
      );
      CREATE INDEX IF NOT EXISTS notify_outbox_due ON notify_outbox(channel, state, next_attempt);`);
    const q = (sql: string) => this.db.prepare(sql);
    this.st = {
      insert: q('INSERT INTO notify_outbox (channel, event, created, next_attempt, bytes, body) VALUES (?, ?, ?, ?, ?, ?)'),
      body: q('SELECT body FROM notify_outbox WHERE id = ?'),
      group: q(`SELECT id, channel, event, created, attempts, next_attempt FROM notify_outbox WHERE channel = ? AND state = 'pending' AND event = ? AND next_attempt <= ? AND created <= ? ORDER BY id LIMIT ?`),
      due: q(`SELECT id, channel, event, created, attempts, next_attempt FROM notify_outbox WHERE channel = ? AND state = 'pending' AND next_attempt <= ? AND event NOT IN (SELECT value FROM json_each(?)) ORDER BY id LIMIT ?`),
      del: q('DELETE FROM notify_outbox WHERE id = ? RETURNING bytes'),
      retry: q('UPDATE notify_outbox SET attempts = attempts + 1, next_attempt = ?, last_error = ? WHERE id = ?'),
      fail: q(`UPDATE notify_outbox SET attempts = attempts + 1, state = 'failed', last_error = ?, next_attempt = ? WHERE id = ?`),
      oldest: q(`SELECT id, channel, bytes FROM notify_outbox ORDER BY state = 'pending', id LIMIT 64`),
      counts: q(`SELECT channel, state, COUNT(*) AS n FROM notify_outbox GROUP BY channel, state`),
      nextDue: q(`SELECT MIN(next_attempt) AS t FROM notify_outbox WHERE channel = ? AND state = 'pending'`),
      prune: q(`DELETE FROM notify_outbox WHERE state = 'failed' AND next_attempt < ? RETURNING bytes`),
    };
    const r = this.db.prepare('SELECT COUNT(*) AS n, COALESCE(SUM(bytes), 0) AS b FROM notify_outbox').get() as { n: number; b: number };
    this.rows = Number(r.n);
    this.bytes = Number(r.b);
  }

  get size(): { rows: number; bytes: number } {
    return { rows: this.rows, bytes: this.bytes };
  }

  /** One row per channel, in one transaction. */
  enqueue(channels: readonly string[], ev: NotifyEvent, now: number): void {
    this.enqueueMany([{ targets: channels, ev, now }]);
  }

  /** Several events, each for its channels, in one transaction. */
  enqueueMany(items: ReadonlyArray<{ targets: readonly string[]; ev: NotifyEvent; now: number }>): void {
    const rows0 = this.rows;
    const bytes0 = this.bytes;
    this.db.exec('BEGIN');
    try {
      for (const { targets, ev, now } of items) {
        const body = JSON.stringify(ev);
        const n = Buffer.byteLength(body);
        for (const ch of targets) {
          this.st.insert.run(ch, ev.event, now, now, n, body);
          this.rows++;
          this.bytes += n;
        }
      }
      this.enforceBound();
      this.db.exec('COMMIT');
    } catch (e) {
      this.rows = rows0;
      this.bytes = bytes0;
      this.db.exec('ROLLBACK');
      throw e;
    }
  }

  private enforceBound(): void {
    while (this.rows > this.limits.maxRows || this.bytes > this.limits.maxBytes) {
      const victims = this.st.oldest.all() as Array<{ id: number; channel: string; bytes: number }>;
      if (victims.length === 0) return;
      for (const v of victims) {
        if (this.rows <= this.limits.maxRows && this.bytes <= this.limits.maxBytes) return;
        this.st.del.run(v.id);
        this.rows--;
        this.bytes -= Number(v.bytes);
        this.dropped[v.channel] = (this.dropped[v.channel] ?? 0) + 1;
      }
    }
  }

  /** The oldest due rows of a channel, leaving out some events. */
  due(channel: string, now: number, limit = 64, except: readonly string[] = []): OutboxRow[] {
    return (this.st.due.all(channel, now, JSON.stringify(except), limit) as Array<Record<string, unknown>>).map(toRow);
  }

  /** Due rows of one event created up to `until` (a group), oldest first. */
  group(channel: string, event: string, until: number, now: number, limit: number): OutboxRow[] {
    return (this.st.group.all(channel, event, now, until, limit) as Array<Record<string, unknown>>).map(toRow);
  }

  /** The events of rows (a row deleted meanwhile is left out). */
  bodies(ids: readonly number[]): NotifyEvent[] {
    const out: NotifyEvent[] = [];
    for (const id of ids) {
      const r = this.st.body.get(id) as { body: string } | undefined;
      if (r) out.push(JSON.parse(r.body) as NotifyEvent);
    }
    return out;
  }

  delivered(ids: readonly number[]): void {
    this.tx(() => {
      for (const id of ids) {
        const r = this.st.del.get(id) as { bytes: number } | undefined;
        if (r) {
          this.rows--;
          this.bytes -= Number(r.bytes);
        }
      }
    });
  }

  retry(ids: readonly number[], at: number, error: string): void {
    this.tx(() => {
      for (const id of ids) this.st.retry.run(at, error, id);
    });
  }

  fail(ids: readonly number[], error: string, now: number): void {
    this.tx(() => {
      for (const id of ids) this.st.fail.run(error, now, id);
    });
  }

  /** Earliest next attempt of a channel's waiting rows. */
  nextDue(channel: string): number | undefined {
    const r = this.st.nextDue.get(channel) as { t: number | null } | undefined;
    return r?.t == null ? undefined : Number(r.t);
  }

  counts(): Record<string, OutboxCounts> {
    const out: Record<string, OutboxCounts> = {};
    for (const r of this.st.counts.all() as Array<{ channel: string; state: string; n: number }>) {
      const c = (out[r.channel] ??= { queued: 0, failed: 0 });
      if (r.state === 'failed') c.failed = Number(r.n);
      else c.queued = Number(r.n);
    }
    return out;
  }

  /** Removes failed rows older than FAILED_KEEP_MS. */
  prune(now: number): void {
    this.tx(() => {
      for (const r of this.st.prune.all(now - FAILED_KEEP_MS) as Array<{ bytes: number }>) {
        this.rows--;
        this.bytes -= Number(r.bytes);
      }
    });
  }

  private tx(fn: () => void): void {
    this.db.exec('BEGIN');
    try {
      fn();
      this.db.exec('COMMIT');
    } catch (e) {
      this.db.exec('ROLLBACK');
      throw e;
    }
  }

  close(): void {
    if (this.db.isOpen) this.db.close();
  }
}
