/**
 * Rows → ClickHouse without ever making the caller wait, and without losing
 * what it accepted.
 *
 *   push(table, row)  sync: attack, ban and sample rows appended to the
 *        │            journal (journal.ts) first, then into the table's memory queue
 *        │ batch_size rows, or every flush_interval_seconds
 *        ▼
 *   ready batches ──pump (one insert at a time, in order)──▶ ClickHouse
 *        │ insert failed / timed out, spool not empty, or queue_size exceeded
 *        ▼
 *   spool (disk) ──replayed oldest first, before anything newer──▶ ClickHouse
 *
 * A batch of journaled rows releases its journal segment once it is inserted
 * or in the spool; a start after a crash moves what the journal still holds
 * into the spool. Traffic rows are not journaled (best-effort): a crash loses
 * at most one flush interval of them.
 *
 * An insert that timed out may still have landed: the retry writes the same
 * rows again and the tables' ReplacingMergeTree keys collapse them (reads
 * use FINAL), so a retry never shows a row twice.
 */
import { join } from 'node:path';
import type { Logger } from '../core/log.ts';
import type { HistoryClient } from './client.ts';
import { LATEST_VERSION, MIGRATIONS, TABLES, migrationsTable, qualified, type HistoryTable } from './schema.ts';
import type { Row } from './rows.ts';
import { DURABLE_TABLES, Journal } from './journal.ts';
import { Spool, type SpoolEntry, type SpoolResult } from './spool.ts';
import { dayOf, str } from './sql.ts';

export interface WriterOptions {
  database: string;
  dataDir: string;
  batchSize: number;
  queueSize: number;
  flushIntervalMs: number;
  spoolMaxBytes: number;
  ttlDays: number;
  log: Logger;
  now?: () => number;
  /** First retry delay after a failure; doubles up to retryMaxMs. */
  retryMs?: number;
  retryMaxMs?: number;
}

type PerTable = Record<HistoryTable, number>;
const perTable = (): PerTable => ({ attacks: 0, bans: 0, attack_samples: 0, traffic: 0 });

export interface HistoryStats {
  /** Rows in memory (queued or batched), not yet inserted or spooled. */
  queue_rows: number;
  queued: PerTable;
  inserted: PerTable;
  spooled: PerTable;
  replayed: PerTable;
  dropped: PerTable;
  spool_rows: PerTable;
  spool_bytes: number;
  spool_batches: number;
  insert_errors: number;
  inserts: number;
  /** true after the schema is in place and the last insert went through. */
  up: boolean;
  schema_version: number;
  last_error: string;
  last_error_at: number;
  last_insert_at: number;
  ttl_partitions_dropped: number;
}

function errorText(e: unknown): string {
  if (e instanceof Error) return e.message || e.name || String(e);
  return typeof e === 'string' ? e : JSON.stringify(e) ?? String(e);
}

interface Batch {
  table: HistoryTable;
  rows: Row[];
  /** Journal segment the rows are in (-1: not journaled); released once, when inserted or spooled. */
  seg: number;
}

export class HistoryWriter {
  readonly stats: HistoryStats;
  readonly spool: Spool;
  readonly journal: Journal;
  private readonly client: HistoryClient;
  private readonly o: WriterOptions;
  private readonly now: () => number;
  private readonly queues = new Map<HistoryTable, Row[]>(TABLES.map((t) => [t, []]));
  private readonly ready: Batch[] = [];
  /** The batch being inserted (spooled at close if the insert has not answered). */
  private inflight?: Batch;
  private pumping = false;
  private migrated = false;
  private down = false;
  private retryDelay: number;
  private retryTimer?: NodeJS.Timeout;
  private flushTimer?: NodeJS.Timeout;
  private ttlTimer?: NodeJS.Timeout;
  private closed = false;
  private idleWaiters: Array<() => void> = [];
  private lastErrorLogged = 0;

  constructor(client: HistoryClient, o: WriterOptions) {
    this.client = client;
    this.o = o;
    this.now = o.now ?? Date.now;
    this.retryDelay = o.retryMs ?? 1000;
    this.spool = new Spool(join(o.dataDir, 'history-spool'), o.spoolMaxBytes);
    this.journal = new Journal(join(o.dataDir, 'history-journal'));
    this.stats = {
      queue_rows: 0, queued: perTable(), inserted: perTable(), spooled: perTable(), replayed: perTable(), dropped: perTable(), spool_rows: perTable(),
      spool_bytes: 0, spool_batches: 0, insert_errors: 0, inserts: 0, up: false, schema_version: 0, last_error: '', last_error_at: 0, last_insert_at: 0, ttl_partitions_dropped: 0,
    };
  }

  /** Opens the spool (a previous run's batches are replayed first) and starts the loops; does not wait for ClickHouse. */
  start(): void {
    this.spool.open();
    this.recoverJournal();
    this.journal.open();
    this.refreshSpoolStats();
    if (this.spool.size) this.o.log.info({ event: 'history spool', batches: this.spool.size, bytes: this.spool.bytes, rows: this.spool.rows() }, 'history spool from a previous run: replaying it');
    this.flushTimer = setInterval(() => this.flush(), this.o.flushIntervalMs);
    this.flushTimer.unref();
    this.ttlTimer = setInterval(() => void this.applyTtl(), 3_600_000);
    this.ttlTimer.unref();
    this.kick();
  }

  /** A previous run's journal (rows accepted, then a crash): into the spool, replayed first. */
  private recoverJournal(): void {
    try {
      this.moveJournal();
    } catch (e) {
      // The segments stay on disk and are tried again at the next start.
      this.o.log.error({ event: 'history journal failed', err: (e as Error).message }, 'history: the journal of a previous run could not be moved into the spool');
    }
  }

  private moveJournal(): void {
    for (const seg of this.journal.recover()) {
      let rows = 0;
      for (const [table, list] of seg.rows) {
        for (let i = 0; i < list.length; i += this.o.batchSize) this.spool.addSync(table, list.slice(i, i + this.o.batchSize));
        rows += list.length;
      }
      this.journal.forget(seg.seq);
      if (rows || seg.bad) this.o.log.info({ event: 'history journal', segment: seg.seq, rows, unreadable_lines: seg.bad }, `history journal from a previous run: ${rows} rows into the spool`);
    }
  }

  /** Accepts a row; never waits (attack, ban and sample rows are journaled first). */
  push(table: HistoryTable, row: Row): void {
    if (this.closed) return;
    if (DURABLE_TABLES.has(table)) this.journal.append(table, [row]);
    this.enqueue(table, row);
  }

  /** Accepts rows of one table (journaled in one write). */
  pushMany(table: HistoryTable, rows: Row[]): void {
    if (this.closed) return;
    if (DURABLE_TABLES.has(table)) this.journal.append(table, rows);
    for (const r of rows) this.enqueue(table, r);
  }

  /** Accepts the rows of one event (several tables; one journal write per table). */
  pushAll(rows: readonly { table: HistoryTable; row: Row }[]): void {
    if (this.closed) return;
    const by = new Map<HistoryTable, Row[]>();
    for (const r of rows) {
      let list = by.get(r.table);
      if (!list) by.set(r.table, (list = []));
      list.push(r.row);
    }
    for (const [table, list] of by) this.pushMany(table, list);
  }

  private enqueue(table: HistoryTable, row: Row): void {
    const q = this.queues.get(table)!;
    q.push(row);
    this.stats.queue_rows++;
    this.stats.queued[table]++;
    if (q.length >= this.o.batchSize) this.cut(table);
    if (this.stats.queue_rows > this.o.queueSize) this.overflow();
  }

  /** Cuts every non-empty queue into batches and starts inserting; the journal starts a new segment. */
  flush(): void {
    for (const t of TABLES) if (this.queues.get(t)!.length) this.cut(t);
    if (!this.closed) this.journal.tick();
  }

  /** A batch of a table's queued rows (a journaled one holds its segment). */
  private batch(table: HistoryTable, rows: Row[]): Batch {
    const seg = DURABLE_TABLES.has(table) ? this.journal.current : -1;
    if (seg >= 0) this.journal.retain(seg);
    return { table, rows, seg };
  }

  /** The batch is inserted or on disk in the spool: its journal segment may go. */
  private settle(b: Batch): void {
    if (b.seg < 0) return;
    const seg = b.seg;
    b.seg = -1;
    this.journal.release(seg);
  }

  private cut(table: HistoryTable): void {
    const q = this.queues.get(table)!;
    while (q.length) {
      const rows = q.splice(0, this.o.batchSize);
      this.ready.push(this.batch(table, rows));
    }
    // While ClickHouse is down (or the spool still holds older batches), new batches go behind them on disk.
    if (this.down || this.spool.size) this.spoolReady();
    this.kick();
  }

  /** More rows in memory than queue_size: the oldest ready batches go to disk. */
  private overflow(): void {
    for (const t of TABLES) if (this.queues.get(t)!.length) {
      const q = this.queues.get(t)!;
      this.ready.push(this.batch(t, q.splice(0, q.length)));
    }
    this.spoolReady();
  }

  private spoolReady(): void {
    while (this.ready.length) {
      const b = this.ready.shift()!;
      this.stats.queue_rows -= b.rows.length;
      this.toSpool(b);
    }
  }

  private toSpool(b: Batch, sync = false): void {
    const done = (r: SpoolResult) => {
      for (const d of r.drops) {
        this.stats.dropped[d.table] += d.rows;
        this.o.log.warn({ event: 'history dropped', table: d.table, rows: d.rows, reason: d.reason, spool_bytes: this.spool.bytes }, `history: ${d.rows} ${d.table} rows dropped (spool full)`);
      }
      if (r.stored) {
        this.stats.spooled[b.table] += b.rows.length;
        this.settle(b);
      }
      if (r.overBound) this.o.log.warn({ event: 'history spool over bound', table: b.table, spool_bytes: this.spool.bytes, max_bytes: this.o.spoolMaxBytes }, 'history spool is over its bound (attacks, bans and samples are never dropped)');
      this.refreshSpoolStats();
    };
    if (sync) {
      try {
        const r = this.spool.addSync(b.table, b.rows);
        done(r);
      } catch (e) {
        this.lost(b, e);
      }
      return;
    }
    this.spool.add(b.table, b.rows).then(done, (e) => this.lost(b, e));
  }

  /** The spool itself failed (disk full, permissions): counted and logged as dropped. */
  private lost(b: Batch, e: unknown): void {
    this.stats.dropped[b.table] += b.rows.length;
    this.fail(`spool write failed: ${(e as Error).message}`);
    this.o.log.error({ event: 'history dropped', table: b.table, rows: b.rows.length, reason: 'spool_error', err: (e as Error).message }, `history: ${b.rows.length} ${b.table} rows lost (spool write failed)`);
  }

  private refreshSpoolStats(): void {
    this.stats.spool_bytes = this.spool.bytes;
    this.stats.spool_batches = this.spool.size;
    this.stats.spool_rows = this.spool.rows();
  }

  private fail(msg: string): void {
    this.stats.last_error = msg;
    this.stats.last_error_at = this.now();
    this.stats.up = false;
    if (this.now() - this.lastErrorLogged > 30_000) {
      this.lastErrorLogged = this.now();
      this.o.log.warn({ event: 'history unavailable', err: msg, spool_batches: this.spool.size, spool_bytes: this.spool.bytes }, `ClickHouse history unavailable: ${msg} (rows go to the spool)`);
    }
  }

  /** Starts the pump unless it runs or waits for a retry. */
  private kick(): void {
    if (this.pumping || this.retryTimer || this.closed) return;
    this.pumping = true;
    void this.pump().finally(() => {
      this.pumping = false;
      if (!this.retryTimer && !this.closed && (this.ready.length || (this.spool.size && !this.down))) this.kick();
      else if (!this.ready.length && !this.spool.size) for (const w of this.idleWaiters.splice(0)) w();
    });
  }

  private scheduleRetry(): void {
    if (this.retryTimer || this.closed) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.kick();
    }, this.retryDelay);
    this.retryTimer.unref();
    this.retryDelay = Math.min(this.retryDelay * 2, this.o.retryMaxMs ?? 5_000);
  }

  private async pump(): Promise<void> {
    try {
      if (!this.migrated) await this.migrate();
      await this.spool.settled();
      for (let e = this.spool.oldest(); e; e = this.spool.oldest()) {
        if (this.closed) return;
        await this.replay(e);
      }
      while (this.ready.length && !this.closed) {
        const b = this.ready.shift()!;
        this.stats.queue_rows -= b.rows.length;
        this.inflight = b;
        try {
          await this.insert(b.table, b.rows);
        } catch (e) {
          // After close() the batch is on disk already.
          if (this.inflight === b) this.toSpool(b);
          throw e;
        } finally {
          if (this.inflight === b) this.inflight = undefined;
        }
        this.stats.inserted[b.table] += b.rows.length;
        this.settle(b);
      }
      this.down = false;
      this.retryDelay = this.o.retryMs ?? 1000;
    } catch (e) {
      const wasDown = this.down;
      this.down = true;
      this.stats.insert_errors++;
      this.fail(errorText(e));
      if (!wasDown) this.o.log.debug({ event: 'history down' }, 'history: ClickHouse down');
      this.spoolReady();
      this.scheduleRetry();
    }
  }

  private async replay(e: SpoolEntry): Promise<void> {
    let rows: Row[];
    try {
      rows = await this.spool.read(e);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        await this.spool.remove(e);
        return;
      }
      throw err;
    }
    await this.insert(e.table, rows);
    await this.spool.remove(e);
    this.stats.inserted[e.table] += rows.length;
    this.stats.replayed[e.table] += rows.length;
    this.refreshSpoolStats();
  }

  private async insert(table: HistoryTable, rows: Row[]): Promise<void> {
    await this.client.insert(qualified(this.o.database, table), rows);
    this.stats.inserts++;
    this.stats.up = true;
    this.stats.last_insert_at = this.now();
  }

  /** Creates the database and applies the migrations not yet recorded. Idempotent. */
  async migrate(): Promise<void> {
    const db = this.o.database;
    await this.client.command(`CREATE DATABASE IF NOT EXISTS \`${db}\``);
    await this.client.command(migrationsTable(db));
    const have = await this.client.query<{ v: number | string }>(`SELECT max(version) AS v FROM ${qualified(db, 'schema_migrations')}`);
    let version = Number(have[0]?.v ?? 0);
    for (const m of MIGRATIONS) {
      if (m.version <= version) continue;
      for (const s of m.statements(db)) await this.client.command(s);
      await this.client.insert(qualified(db, 'schema_migrations'), [{ version: m.version, name: m.name, applied: Math.floor(this.now() / 1000) }]);
      this.o.log.info({ event: 'history migrated', version: m.version, name: m.name }, `ClickHouse schema at version ${m.version}`);
      version = m.version;
    }
    this.stats.schema_version = version;
    this.migrated = true;
    this.stats.up = true;
    await this.applyTtl();
  }

  /** Drops whole days older than ttl_days (18.16 has no TTL clause). */
  async applyTtl(): Promise<number> {
    if (!this.o.ttlDays || !this.migrated) return 0;
    const cutoff = dayOf(this.now() - this.o.ttlDays * 86_400_000);
    const tables = TABLES.map(str).join(', ');
    let dropped = 0;
    try {
      const parts = await this.client.query<{ table: string; partition: string }>(
        `SELECT DISTINCT table, partition FROM system.parts WHERE database = ${str(this.o.database)} AND table IN (${tables}) AND active AND partition < ${str(cutoff)}`,
      );
      for (const p of parts) {
        await this.client.command(`ALTER TABLE ${qualified(this.o.database, p.table)} DROP PARTITION ${str(p.partition)}`);
        dropped++;
      }
      if (dropped) this.o.log.info({ event: 'history ttl', partitions: dropped, before: cutoff }, `history: ${dropped} day partitions older than ${this.o.ttlDays} days dropped`);
    } catch (e) {
      this.o.log.warn({ event: 'history ttl failed', err: (e as Error).message }, 'history: dropping old partitions failed (retried in an hour)');
    }
    this.stats.ttl_partitions_dropped += dropped;
    return dropped;
  }

  /** Tests and benches: resolves when nothing is queued, ready or spooled (or after ms). */
  async drain(ms = 30_000): Promise<boolean> {
    this.flush();
    const end = Date.now() + ms;
    while (Date.now() < end) {
      await this.spool.settled();
      if (!this.ready.length && !this.spool.size && !this.pumping && [...this.queues.values()].every((q) => q.length === 0)) return true;
      if (this.retryTimer && this.down) {
        clearTimeout(this.retryTimer);
        this.retryTimer = undefined;
        this.kick();
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    return false;
  }

  /**
   * Stop: what is still in memory is inserted if ClickHouse answers within
   * graceMs, else written to the spool (replayed by the next start).
   */
  async close(graceMs = 2000): Promise<void> {
    if (this.closed) return;
    clearInterval(this.flushTimer);
    clearInterval(this.ttlTimer);
    this.flush();
    if (!this.down) await this.drain(graceMs).catch(() => false);
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    for (const t of TABLES) {
      const q = this.queues.get(t)!;
      if (q.length) this.ready.push(this.batch(t, q.splice(0, q.length)));
    }
    await this.spool.settled();
    // An insert still waiting for an answer: its rows go to disk too (if it lands after all, the replay collapses into it).
    const pending = this.inflight;
    this.inflight = undefined;
    if (pending) this.toSpool(pending, true);
    for (const b of this.ready.splice(0)) this.toSpool(b, true);
    this.stats.queue_rows = 0;
    this.journal.close();
    await this.client.close().catch(() => undefined);
  }
}
