/**
 * The write-ahead journal of the rows that must never be lost: attacks, bans
 * and attack samples are appended here (one synchronous write per push, into
 * the page cache) before the writer holds them in memory, so a `kill -9`
 * between a push and the next flush loses nothing. Traffic rows are not
 * journaled: they stay best-effort.
 *
 *   <dataDir>/history-journal/<seq, 16 digits>.jsonl    {"t":"<table>","r":{row}} per line
 *
 * Segments: rows go to the current segment; every flush of the writer cuts
 * all its queues into batches and rotates, so a closed segment's rows are all
 * in batches. Each batch holds a reference on the segment it came from; when
 * the batch is inserted or safely in the spool the reference is released, and
 * a closed segment without references is deleted. The one fdatasync per
 * segment and flush tick (asynchronous) covers a host crash as well; the
 * process itself never waits for the disk.
 *
 * At start, segments left by a previous run are moved into the spool (one
 * batch per table and segment, written atomically) and deleted; the spool
 * replays them. A row that had already been inserted is inserted again and
 * collapses into the first (ReplacingMergeTree keys, reads use FINAL).
 */
import { closeSync, fdatasync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Row } from './rows.ts';
import { TABLES, type HistoryTable } from './schema.ts';

/** The tables whose accepted rows survive a crash. */
export const DURABLE_TABLES: ReadonlySet<HistoryTable> = new Set<HistoryTable>(['attacks', 'bans', 'attack_samples']);

const NAME = /^(\d{16})\.jsonl$/;

/** A segment of a previous run, as read at start. */
export interface Recovered {
  seq: number;
  rows: Map<HistoryTable, Row[]>;
  /** Lines that did not parse (a write cut by the crash). */
  bad: number;
}

export class Journal {
  readonly dir: string;
  private seq = 0;
  private fd = -1;
  /** References per segment: batches not yet inserted or spooled (the current segment counts one more). */
  private readonly refs = new Map<number, number>();
  private dirty = false;
  /** Rows appended and write failures since start. */
  appended = 0;
  errors = 0;
  lastError = '';

  constructor(dir: string) {
    this.dir = dir;
  }

  /** Reads and deletes the segments of a previous run (call before open()). */
  recover(): Recovered[] {
    mkdirSync(this.dir, { recursive: true });
    const out: Recovered[] = [];
    const names = readdirSync(this.dir).filter((n) => NAME.test(n)).sort();
    const tables = new Set<string>(TABLES);
    for (const name of names) {
      const rows = new Map<HistoryTable, Row[]>();
      let bad = 0;
      for (const line of readFileSync(join(this.dir, name), 'utf8').split('\n')) {
        if (!line) continue;
        try {
          const e = JSON.parse(line) as { t: string; r: Row };
          if (!tables.has(e.t) || typeof e.r !== 'object' || e.r === null) throw new Error('bad entry');
          const t = e.t as HistoryTable;
          let list = rows.get(t);
          if (!list) rows.set(t, (list = []));
          list.push(e.r);
        } catch {
          bad++;
        }
      }
      out.push({ seq: Number(NAME.exec(name)![1]), rows, bad });
      this.seq = Math.max(this.seq, Number(NAME.exec(name)![1]));
    }
    return out;
  }

  /** Deletes a recovered segment once its rows are safely elsewhere. */
  forget(seq: number): void {
    rmSync(this.file(seq), { force: true });
  }

  /** Opens a fresh segment. */
  open(): void {
    mkdirSync(this.dir, { recursive: true });
    this.rotate();
  }

  /** The segment new rows go to (a batch cut now takes a reference on it). */
  get current(): number {
    return this.seq;
  }

  private file(seq: number): string {
    return join(this.dir, `${String(seq).padStart(16, '0')}.jsonl`);
  }

  /** Appends rows of one table in one write. Never throws: a failure is counted (the rows stay in memory). */
  append(table: HistoryTable, rows: readonly Row[]): void {
    if (this.fd < 0 || rows.length === 0) return;
    let text = '';
    for (const r of rows) text += `{"t":"${table}","r":${JSON.stringify(r)}}\n`;
    try {
      writeSync(this.fd, text);
      this.appended += rows.length;
      this.dirty = true;
    } catch (e) {
      this.errors++;
      this.lastError = (e as Error).message;
    }
  }

  /** A batch cut from the current segment: it holds a reference until release(). */
  retain(seq: number): void {
    this.refs.set(seq, (this.refs.get(seq) ?? 0) + 1);
  }

  /** The batch's rows are inserted or in the spool. */
  release(seq: number): void {
    const n = (this.refs.get(seq) ?? 0) - 1;
    if (n > 0) {
      this.refs.set(seq, n);
      return;
    }
    this.refs.delete(seq);
    if (seq !== this.seq) rmSync(this.file(seq), { force: true });
  }

  /**
   * Called at every flush, after the writer cut all its queues: syncs the
   * current segment to disk (asynchronously) and starts a new one when it has
   * rows. The old segment goes when its batches are released.
   */
  tick(): void {
    if (this.fd < 0 || !this.dirty) return;
    const fd = this.fd;
    const old = this.seq;
    this.rotate();
    fdatasync(fd, () => {
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
    });
    // The current segment's own reference
    this.release(old);
  }

  private rotate(): void {
    this.seq++;
    this.fd = openSync(this.file(this.seq), 'a');
    this.dirty = false;
    this.retain(this.seq);
  }

  /** Stop: every batch is inserted or spooled by now; an empty journal is removed. */
  close(): void {
    if (this.fd < 0) return;
    closeSync(this.fd);
    this.fd = -1;
    const cur = this.seq;
    this.release(cur);
    if (!this.refs.has(cur)) rmSync(this.file(cur), { force: true });
  }
}
