/**
 * Persistent state in SQLite (node:sqlite, WAL): bans (active and historical),
 * attacks, and an audit log of every ban, unban, reload and mode change.
 *
 * Durability rule: a ban is written (and fsynced, synchronous=FULL) BEFORE its
 * route is announced, so a crash at any moment loses no ban. A failed write
 * (disk full, I/O error) never throws into the caller: it is counted, logged,
 * kept in a bounded retry queue and written again by retryPending(). Detection
 * and BGP go on either way.
 */
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import type { AttackView as Attack, Ban } from '../ban/types.ts';
import { BreakwaterError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';

/** Schema migrations; PRAGMA user_version holds how many have run. Append only. */
const MIGRATIONS: string[] = [
  `CREATE TABLE bans (
     id TEXT PRIMARY KEY,
     target TEXT NOT NULL,
     family INTEGER NOT NULL,
     attack_id TEXT,
     source TEXT NOT NULL,
     reason TEXT NOT NULL,
     action TEXT NOT NULL,
     escalation_step INTEGER NOT NULL,
     route TEXT NOT NULL,
     created INTEGER NOT NULL,
     expires INTEGER NOT NULL,
     ttl_seconds INTEGER NOT NULL,
     ended INTEGER,
     end_reason TEXT,
     announced_to TEXT NOT NULL DEFAULT '[]',
     data TEXT NOT NULL
   );
   CREATE INDEX bans_active ON bans(ended, expires);
   CREATE INDEX bans_created ON bans(created);
   CREATE TABLE attacks (
     id TEXT PRIMARY KEY,
     target TEXT NOT NULL,
     family INTEGER NOT NULL,
     direction TEXT NOT NULL,
     vector TEXT NOT NULL,
     start INTEGER NOT NULL,
     end INTEGER,
     peak_pps REAL NOT NULL,
     peak_mbps REAL NOT NULL,
     peak_fps REAL NOT NULL,
     data TEXT NOT NULL
   );
   CREATE INDEX attacks_start ON attacks(start);
   CREATE TABLE audit (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     time INTEGER NOT NULL,
     actor TEXT NOT NULL,
     action TEXT NOT NULL,
     target TEXT,
     detail TEXT
   );
   CREATE INDEX audit_time ON audit(time);
   CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);`,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

export interface StoredBan extends Ban {
  /** Neighbors the ban's route was really announced to (empty in dry-run). */
  announced_to: string[];
}

export interface AuditEntry {
  id?: number;
  time: number;
  /** Who did it: "auto", "config", "signal", an API token name, "api" without tokens. */
  actor: string;
  /** ban, unban, ban_refused, reload, reload_failed, mode, start, stop, ... */
  action: string;
  target?: string;
  detail?: unknown;
}

export interface Page<T> {
  total: number;
  items: T[];
}

export interface ListOptions {
  limit?: number;
  offset?: number;
  /** Keyset position: only rows strictly after (time, id) in the newest-first order. */
  before?: { t: number; id: string };
  /** true: only active (not ended); false: only ended; undefined: all. */
  active?: boolean;
}

export interface StoreStats {
  path: string;
  writes: number;
  write_errors: number;
  /** Writes waiting to be retried after a failure. */
  pending: number;
  /** Writes dropped because the retry queue was full. */
  dropped: number;
  last_error: string;
  /** True while the last write failed. */
  degraded: boolean;
}

const MAX_PENDING = 10_000;

export function defaultDbPath(dataDir: string, sqlitePath?: string): string {
  return sqlitePath && sqlitePath !== '' ? sqlitePath : join(dataDir, 'breakwater.db');
}

/** The keyset condition "strictly after (t, id)" of a newest-first list. */
function keyset(tcol: string, idcol: string, before: { t: number; id: string | number } | undefined, hasWhere: boolean): { sql: string; args: Array<string | number> } {
  if (!before) return { sql: '', args: [] };
  return { sql: `${hasWhere ? 'AND' : 'WHERE'} (${tcol} < ? OR (${tcol} = ? AND ${idcol} < ?))`, args: [before.t, before.t, before.id] };
}

/** Statement shapes kept prepared (sql()); the code builds fewer. */
const MAX_SHAPES = 64;

function clampLimit(n: number | undefined, def = 100, max = 1000): number {
  if (n === undefined || !Number.isFinite(n)) return def;
  return Math.max(1, Math.min(max, Math.floor(n)));
}

export class Store {
  readonly path: string;
  private readonly db: DatabaseSync;
  private readonly log?: Logger;
  private readonly st: Record<string, StatementSync>;
  /** Failed writes by key (a later write of the same key replaces an earlier one). */
  private readonly pending = new Map<string, () => void>();
  private auditSeq = 0;
  /**
   * The list queries' statements by SQL text (their filters make a few dozen
   * shapes; values are bound, never in the text), prepared once instead of
   * once per request: a statement prepared per request holds SQLite memory
   * outside V8 until V8 collects its handle, and a list query runs faster
   * without the prepare (50,000-query rounds in 7 s against 11 s).
   */
  private readonly shapes = new Map<string, StatementSync>();
  readonly stats: StoreStats;

  constructor(path: string, log?: Logger) {
    this.path = path;
    this.log = log;
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new DatabaseSync(path);
    this.db.exec('PRAGMA journal_mode = WAL');
    // FULL: a committed ban is on disk before its route goes out.
    this.db.exec('PRAGMA synchronous = FULL');
    this.db.exec('PRAGMA busy_timeout = 2000');
    this.migrate();
    this.stats = { path, writes: 0, write_errors: 0, pending: 0, dropped: 0, last_error: '', degraded: false };
    this.st = {
      upsertBan: this.db.prepare(
        `INSERT INTO bans (id, target, family, attack_id, source, reason, action, escalation_step, route, created, expires, ttl_seconds, ended, end_reason, data)
         VALUES (:id, :target, :family, :attack_id, :source, :reason, :action, :escalation_step, :route, :created, :expires, :ttl_seconds, :ended, :end_reason, :data)
         ON CONFLICT(id) DO UPDATE SET target=excluded.target, attack_id=excluded.attack_id, reason=excluded.reason, action=excluded.action,
           escalation_step=excluded.escalation_step, route=excluded.route, expires=excluded.expires, ttl_seconds=excluded.ttl_seconds,
           ended=excluded.ended, end_reason=excluded.end_reason, data=excluded.data`,
      ),
      setAnnounced: this.db.prepare('UPDATE bans SET announced_to = ? WHERE id = ?'),
      upsertAttack: this.db.prepare(
        `INSERT INTO attacks (id, target, family, direction, vector, start, end, peak_pps, peak_mbps, peak_fps, data)
         VALUES (:id, :target, :family, :direction, :vector, :start, :end, :peak_pps, :peak_mbps, :peak_fps, :data)
         ON CONFLICT(id) DO UPDATE SET vector=excluded.vector, end=excluded.end, peak_pps=excluded.peak_pps,
           peak_mbps=excluded.peak_mbps, peak_fps=excluded.peak_fps, data=excluded.data`,
      ),
      audit: this.db.prepare('INSERT INTO audit (time, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)'),
      kvSet: this.db.prepare('INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value'),
      kvGet: this.db.prepare('SELECT value FROM kv WHERE key = ?'),
      activeBans: this.db.prepare('SELECT data, announced_to FROM bans WHERE ended IS NULL ORDER BY created'),
      getBan: this.db.prepare('SELECT data, announced_to FROM bans WHERE id = ?'),
    };
  }

  /** The cached statement for `sql` (a bounded set: the oldest shape goes past MAX_SHAPES). */
  private sql(sql: string): StatementSync {
    let st = this.shapes.get(sql);
    if (st === undefined) {
      if (this.shapes.size >= MAX_SHAPES) this.shapes.delete(this.shapes.keys().next().value as string);
      st = this.db.prepare(sql);
      this.shapes.set(sql, st);
    }
    return st;
  }

  static open(dataDir: string, sqlitePath?: string, log?: Logger): Store {
    return new Store(defaultDbPath(dataDir, sqlitePath), log);
  }

  private migrate(): void {
    const row = this.db.prepare('PRAGMA user_version').get() as { user_version: number };
    const from = row.user_version;
    if (from > MIGRATIONS.length) throw new BreakwaterError('store_schema', `${this.path}: database schema ${from} is newer than this build (${MIGRATIONS.length})`);
    for (let i = from; i < MIGRATIONS.length; i++) {
      this.db.exec('BEGIN IMMEDIATE');
      try {
        this.db.exec(MIGRATIONS[i]);
        this.db.exec(`PRAGMA user_version = ${i + 1}`);
        this.db.exec('COMMIT');
      } catch (e) {
        this.db.exec('ROLLBACK');
        throw e;
      }
    }
  }

  /** Runs a write; on failure keeps it for retryPending() under `key`. Returns whether it is on disk. */
  private write(key: string, fn: () => void): boolean {
    try {
      fn();
      this.stats.writes++;
      this.pending.delete(key);
      if (this.stats.degraded && this.pending.size === 0) {
        this.stats.degraded = false;
        this.log?.info({ event: 'store recovered', path: this.path }, 'store writes succeed again');
      }
      this.stats.pending = this.pending.size;
      return true;
    } catch (e) {
      this.stats.write_errors++;
      const msg = (e as Error).message;
      if (!this.stats.degraded || this.stats.last_error !== msg) {
        this.log?.error({ event: 'store write failed', path: this.path, err: msg, key }, 'state write failed; kept in memory and retried');
      }
      this.stats.last_error = msg;
      this.stats.degraded = true;
      if (this.pending.has(key) || this.pending.size < MAX_PENDING) this.pending.set(key, fn);
      else this.stats.dropped++;
      this.stats.pending = this.pending.size;
      return false;
    }
  }

  /** Writes again what failed before, oldest first. Returns how many are still pending. */
  retryPending(): number {
    for (const [key, fn] of [...this.pending]) {
      if (!this.write(key, fn)) break;
    }
    return this.pending.size;
  }

  saveBan(ban: Ban): boolean {
    const params = {
      id: ban.id,
      target: ban.target,
      family: ban.family,
      attack_id: ban.attack_id ?? null,
      source: ban.source,
      reason: ban.reason,
      action: ban.action,
      escalation_step: ban.escalation_step,
      route: JSON.stringify(ban.route),
      created: ban.created,
      expires: ban.expires,
      ttl_seconds: ban.ttl_seconds,
      ended: ban.ended ?? null,
      end_reason: ban.end_reason ?? null,
      data: JSON.stringify(ban),
    };
    return this.write(`ban:${ban.id}`, () => {
      this.st.upsertBan.run(params);
    });
  }

  setAnnounced(banId: string, neighbors: string[]): boolean {
    const json = JSON.stringify([...neighbors].sort());
    return this.write(`announced:${banId}`, () => {
      this.st.setAnnounced.run(json, banId);
    });
  }

  private rowToBan(r: { data: string; announced_to: string }): StoredBan {
    const b = JSON.parse(r.data) as StoredBan;
    b.announced_to = JSON.parse(r.announced_to) as string[];
    return b;
  }

  /** Bans not ended, oldest first (expired ones included: the caller decides). */
  activeBans(): StoredBan[] {
    return (this.st.activeBans.all() as Array<{ data: string; announced_to: string }>).map((r) => this.rowToBan(r));
  }

  getBan(id: string): StoredBan | undefined {
    const r = this.st.getBan.get(id) as { data: string; announced_to: string } | undefined;
    return r ? this.rowToBan(r) : undefined;
  }

  listBans(o: ListOptions & { target?: string } = {}): Page<StoredBan> {
    const where: string[] = [];
    const args: Array<string | number> = [];
    if (o.active === true) where.push('ended IS NULL');
    if (o.active === false) where.push('ended IS NOT NULL');
    if (o.target) {
      where.push('target = ?');
      args.push(o.target);
    }
    const w = where.length ? `WHERE ${where.join(' AND ')}` : '';
    const total = (this.sql(`SELECT count(*) AS n FROM bans ${w}`).get(...args) as { n: number }).n;
    const ks = keyset('created', 'id', o.before, where.length > 0);
    const rows = this
      .sql(`SELECT data, announced_to FROM bans ${w} ${ks.sql} ORDER BY created DESC, id DESC LIMIT ? OFFSET ?`)
      .all(...args, ...ks.args, clampLimit(o.limit), Math.max(0, Math.floor(o.offset ?? 0))) as Array<{ data: string; announced_to: string }>;
    return { total, items: rows.map((r) => this.rowToBan(r)) };
  }

  /** Targets of the rows a list would show (to count what a tenant owns without reading whole rows). */
  listTargets(table: 'bans' | 'attacks' | 'audit', active?: boolean, action?: string): string[] {
    const end = table === 'bans' ? 'ended' : 'end';
    const where: string[] = [];
    const args: string[] = [];
    if (table !== 'audit' && active === true) where.push(`${end} IS NULL`);
    if (table !== 'audit' && active === false) where.push(`${end} IS NOT NULL`);
    if (table === 'audit') where.push('target IS NOT NULL');
    if (table === 'audit' && action) {
      where.push('action = ?');
      args.push(action);
    }
    const w = where.length ? `WHERE ${where.join(' AND ')}` : '';
    return (this.sql(`SELECT target FROM ${table} ${w}`).all(...args) as Array<{ target: string }>).map((r) => r.target);
  }

  saveAttack(a: Attack): boolean {
    const params = {
      id: a.id,
      target: a.target,
      family: a.family,
      direction: a.direction,
      vector: a.vector,
      start: a.start,
      end: a.end ?? null,
      peak_pps: a.peak_pps,
      peak_mbps: a.peak_mbps,
      peak_fps: a.peak_fps,
      data: JSON.stringify(a),
    };
    return this.write(`attack:${a.id}`, () => {
      this.st.upsertAttack.run(params);
    });
  }

  listAttacks(o: ListOptions & { since?: number } = {}): Page<Attack> {
    const where: string[] = [];
    const args: number[] = [];
    if (o.active === true) where.push('end IS NULL');
    if (o.active === false) where.push('end IS NOT NULL');
    if (o.since !== undefined) {
      where.push('start >= ?');
      args.push(o.since);
    }
    const w = where.length ? `WHERE ${where.join(' AND ')}` : '';
    const total = (this.sql(`SELECT count(*) AS n FROM attacks ${w}`).get(...args) as { n: number }).n;
    const ks = keyset('start', 'id', o.before, where.length > 0);
    const rows = this
      .sql(`SELECT data FROM attacks ${w} ${ks.sql} ORDER BY start DESC, id DESC LIMIT ? OFFSET ?`)
      .all(...args, ...ks.args, clampLimit(o.limit), Math.max(0, Math.floor(o.offset ?? 0))) as Array<{ data: string }>;
    return { total, items: rows.map((r) => JSON.parse(r.data) as Attack) };
  }

  audit(e: AuditEntry): boolean {
    const detail = e.detail === undefined ? null : JSON.stringify(e.detail);
    const args = [e.time, e.actor, e.action, e.target ?? null, detail] as const;
    return this.write(`audit:${++this.auditSeq}`, () => {
      this.st.audit.run(...args);
    });
  }

  listAudit(o: { limit?: number; offset?: number; action?: string; before?: { t: number; id: number } } = {}): Page<AuditEntry> {
    const w = o.action ? 'WHERE action = ?' : '';
    const args = o.action ? [o.action] : [];
    const total = (this.sql(`SELECT count(*) AS n FROM audit ${w}`).get(...args) as { n: number }).n;
    const ks = keyset('time', 'id', o.before, o.action !== undefined && o.action !== '');
    const rows = this
      .sql(`SELECT id, time, actor, action, target, detail FROM audit ${w} ${ks.sql} ORDER BY time DESC, id DESC LIMIT ? OFFSET ?`)
      .all(...args, ...ks.args, clampLimit(o.limit), Math.max(0, Math.floor(o.offset ?? 0))) as Array<{ id: number; time: number; actor: string; action: string; target: string | null; detail: string | null }>;
    return {
      total,
      items: rows.map((r) => ({ id: r.id, time: r.time, actor: r.actor, action: r.action, target: r.target ?? undefined, detail: r.detail === null ? undefined : JSON.parse(r.detail) })),
    };
  }

  setValue(key: string, value: string): boolean {
    return this.write(`kv:${key}`, () => {
      this.st.kvSet.run(key, value);
    });
  }

  getValue(key: string): string | undefined {
    const r = this.st.kvGet.get(key) as { value: string } | undefined;
    return r?.value;
  }

  /** Deletes ended bans, ended attacks and audit entries older than retentionDays. */
  prune(now: number, retentionDays: number): void {
    const cut = now - retentionDays * 86_400_000;
    this.write('prune', () => {
      this.sql('DELETE FROM bans WHERE ended IS NOT NULL AND ended < ?').run(cut);
      this.sql('DELETE FROM attacks WHERE end IS NOT NULL AND end < ?').run(cut);
      this.sql('DELETE FROM audit WHERE time < ?').run(cut);
    });
  }

  journalMode(): string {
    return (this.sql('PRAGMA journal_mode').get() as { journal_mode: string }).journal_mode;
  }

  schemaVersion(): number {
    return (this.db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version;
  }

  /** Test hook: limit the database size in pages (SQLITE_FULL once reached). */
  setMaxPages(n: number): void {
    this.db.exec(`PRAGMA max_page_count = ${Math.floor(n)}`);
  }

  close(): void {
    try {
      this.retryPending();
    } catch {
      /* best effort */
    }
    try {
      this.db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
    } catch {
      /* disk full: the WAL stays, SQLite replays it on next open */
    }
    this.db.close();
  }
}
