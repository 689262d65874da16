/**
 * The on-disk spool: batches ClickHouse could not take yet, one file each,
 * replayed oldest first when it is back. A file is written under a temporary
 * name and renamed, so a crash leaves either the whole batch or nothing; the
 * name carries the order, the table and the row count, so the index is
 * rebuilt from a directory listing after a restart (`kill -9` included).
 *
 *   <dir>/<seq, 16 digits>.<table>.<rows>.jsonl    one JSON row per line
 *
 * Bounded by maxBytes: to make room, the oldest traffic batches go first;
 * attack, ban and sample batches are never dropped (they may take the spool
 * over its bound, which is logged). Every drop is returned to the caller,
 * which counts and logs it.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Row } from './rows.ts';
import { TABLES, type HistoryTable } from './schema.ts';

export interface SpoolEntry {
  seq: number;
  table: HistoryTable;
  rows: number;
  bytes: number;
  file: string;
}

export interface SpoolResult {
  drops: SpoolDrop[];
  /** false: the batch itself was dropped (traffic, and no older traffic left to drop). */
  stored: boolean;
  /** Stored beyond maxBytes (attacks, bans and samples are never dropped). */
  overBound: boolean;
}

export interface SpoolDrop {
  table: HistoryTable;
  rows: number;
  reason: 'spool_full';
}

const NAME = /^(\d{16})\.([a-z_]+)\.(\d+)\.jsonl$/;

export function encodeRows(rows: Row[]): string {
  let s = '';
  for (const r of rows) s += JSON.stringify(r) + '\n';
  return s;
}

export function decodeRows(text: string): Row[] {
  const out: Row[] = [];
  for (const line of text.split('\n')) if (line) out.push(JSON.parse(line) as Row);
  return out;
}

export class Spool {
  readonly dir: string;
  readonly maxBytes: number;
  private entries: SpoolEntry[] = [];
  private nextSeq = 1;
  bytes = 0;
  /** Serializes writes, removals and drops (their order is the replay order). */
  private chain: Promise<unknown> = Promise.resolve();

  constructor(dir: string, maxBytes: number) {
    this.dir = dir;
    this.maxBytes = maxBytes;
  }

  /** Reads the directory (after a restart the spool is replayed from here). */
  open(): void {
    mkdirSync(this.dir, { recursive: true });
    const tables = new Set<string>(TABLES);
    for (const name of readdirSync(this.dir)) {
      const m = NAME.exec(name);
      const file = join(this.dir, name);
      if (!m || !tables.has(m[2])) {
        if (name.endsWith('.tmp')) rmSync(file, { force: true });
        continue;
      }
      const bytes = statSync(file).size;
      this.entries.push({ seq: Number(m[1]), table: m[2] as HistoryTable, rows: Number(m[3]), bytes, file });
      this.bytes += bytes;
    }
    this.entries.sort((a, b) => a.seq - b.seq);
    this.nextSeq = (this.entries.at(-1)?.seq ?? 0) + 1;
  }

  get size(): number {
    return this.entries.length;
  }

  rows(): Record<HistoryTable, number> {
    const out = { attacks: 0, bans: 0, attack_samples: 0, traffic: 0 };
    for (const e of this.entries) out[e.table] += e.rows;
    return out;
  }

  oldest(): SpoolEntry | undefined {
    return this.entries[0];
  }

  private fileFor(seq: number, table: HistoryTable, rows: number): string {
    return join(this.dir, `${String(seq).padStart(16, '0')}.${table}.${rows}.jsonl`);
  }

  /** Room for `bytes` more: the oldest traffic batches are dropped. Returns what was dropped. */
  private makeRoom(bytes: number, sync: boolean): SpoolDrop[] {
    const drops: SpoolDrop[] = [];
    for (let i = 0; this.bytes + bytes > this.maxBytes && i < this.entries.length; ) {
      const e = this.entries[i];
      if (e.table !== 'traffic') {
        i++;
        continue;
      }
      this.entries.splice(i, 1);
      this.bytes -= e.bytes;
      drops.push({ table: e.table, rows: e.rows, reason: 'spool_full' });
      if (sync) rmSync(e.file, { force: true });
      else void rm(e.file, { force: true }).catch(() => undefined);
    }
    return drops;
  }

  /**
   * Adds a batch. Resolves with what was dropped to make room (possibly the
   * batch itself, when it is traffic and no older traffic is left to drop).
   */
  add(table: HistoryTable, rows: Row[]): Promise<SpoolResult> {
    const run = this.chain.then(async () => this.addNow(table, rows, false));
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** The same, synchronously (shutdown). */
  addSync(table: HistoryTable, rows: Row[]): SpoolResult {
    return this.addNow(table, rows, true) as SpoolResult;
  }

  private addNow(table: HistoryTable, rows: Row[], sync: boolean): SpoolResult | Promise<SpoolResult> {
    const text = encodeRows(rows);
    const bytes = Buffer.byteLength(text);
    const drops = this.makeRoom(bytes, sync);
    if (this.bytes + bytes > this.maxBytes && table === 'traffic') {
      drops.push({ table, rows: rows.length, reason: 'spool_full' });
      return { drops, stored: false, overBound: false };
    }
    const overBound = this.bytes + bytes > this.maxBytes;
    const seq = this.nextSeq++;
    const file = this.fileFor(seq, table, rows.length);
    const entry: SpoolEntry = { seq, table, rows: rows.length, bytes, file };
    const done = () => {
      this.entries.push(entry);
      this.bytes += bytes;
      return { drops, stored: true, overBound };
    };
    if (sync) {
      writeFileSync(file + '.tmp', text);
      renameSync(file + '.tmp', file);
      return done();
    }
    return writeFile(file + '.tmp', text).then(() => rename(file + '.tmp', file)).then(done);
  }

  read(e: SpoolEntry): Promise<Row[]> {
    return readFile(e.file, 'utf8').then(decodeRows);
  }

  readSync(e: SpoolEntry): Row[] {
    return decodeRows(readFileSync(e.file, 'utf8'));
  }

  /** Removes a replayed batch (no-op when it was dropped meanwhile). */
  remove(e: SpoolEntry): Promise<void> {
    const run = this.chain.then(async () => {
      const i = this.entries.indexOf(e);
      if (i < 0) return;
      this.entries.splice(i, 1);
      this.bytes -= e.bytes;
      await rm(e.file, { force: true });
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Resolves when every queued write and removal is on disk. */
  settled(): Promise<void> {
    return this.chain.then(() => undefined);
  }
}
