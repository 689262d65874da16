/**
 * ClickHouse history as one component: the writer (queue, spool, schema),
 * the traffic sampler on its interval, and the reader. The daemon hands it
 * engine events and ban announcements; it never throws into the caller and
 * never makes it wait.
 */
import type { Config } from '../config/schema.ts';
import type { Logger } from '../core/log.ts';
import type { Ban, DetectionEvent as EngineEvent } from '../ban/types.ts';
import { clickhouseClient, credentials, type HistoryClient } from './client.ts';
import { HistoryReader } from './reader.ts';
import { banRow, eventRows, type Row } from './rows.ts';
import { TrafficSampler, type ExporterReading, type HostReading } from './traffic.ts';
import { HistoryWriter, type HistoryStats } from './writer.ts';

/** Hosts turned into traffic rows per event-loop turn. */
const SLICE = 5000;

export type ClickhouseConfig = NonNullable<Config['storage']['clickhouse']>;

export interface HistorySources {
  /** Busiest hosts first, at most `limit`. */
  hosts(limit: number): readonly HostReading[];
  exporters(): readonly ExporterReading[];
  mode(): 'dry_run' | 'live';
  /** An active ban by id (announcement rows carry its target and route). */
  ban?(id: string): Ban | undefined;
}

export interface HistoryOptions {
  cfg: ClickhouseConfig;
  dataDir: string;
  log: Logger;
  sources: HistorySources;
  now?: () => number;
  /** Tests: another client (a hanging one, a counting one). */
  client?: HistoryClient;
  /** Attack rows between start and end: at most one per attack this often. */
  attackUpdateMs?: number;
}

export class History {
  readonly writer: HistoryWriter;
  readonly reader: HistoryReader;
  readonly client: HistoryClient;
  private readonly o: HistoryOptions;
  private readonly now: () => number;
  private readonly sampler: TrafficSampler;
  private readonly lastWrite = new Map<string, number>();
  private readonly attackStarts = new Map<string, number>();
  private trafficTimer?: NodeJS.Timeout;
  readonly counters = { event_errors: 0, traffic_errors: 0, traffic_samples: 0, traffic_last_ms: 0, traffic_longest_slice_ms: 0 };
  private sampling = false;

  constructor(o: HistoryOptions) {
    this.o = o;
    this.now = o.now ?? Date.now;
    const c = o.cfg;
    const timeoutMs = c.timeout_seconds * 1000;
    this.client = o.client ?? clickhouseClient({ url: c.url, ...credentials(c), timeoutMs });
    this.writer = new HistoryWriter(this.client, {
      database: c.database,
      dataDir: o.dataDir,
      batchSize: c.batch_size,
      queueSize: c.queue_size,
      flushIntervalMs: c.flush_interval_seconds * 1000,
      spoolMaxBytes: c.spool_max_bytes,
      ttlDays: c.ttl_days,
      log: o.log,
      now: this.now,
    });
    this.reader = new HistoryReader(this.client, c.database);
    this.sampler = new TrafficSampler({ minPps: c.traffic_min_pps, maxHosts: c.traffic_max_hosts });
  }

  get stats(): HistoryStats {
    return this.writer.stats;
  }

  start(): void {
    this.writer.start();
    this.trafficTimer = setInterval(() => void this.sampleTraffic(), this.o.cfg.traffic_interval_seconds * 1000);
    this.trafficTimer.unref();
    this.o.log.info({ event: 'history start', url: redact(this.o.cfg.url), database: this.o.cfg.database, spool: this.writer.spool.dir }, 'ClickHouse history on');
  }

  onEvent(e: EngineEvent): void {
    try {
      this.writer.pushAll(eventRows(e, this.o.sources.mode(), this.now(), this.lastWrite, this.o.attackUpdateMs ?? 10_000, this.attackStarts));
    } catch (err) {
      this.counters.event_errors++;
      this.o.log.error({ event: 'history error', engine_event: e.event, err: (err as Error).message }, 'history: event not recorded');
    }
  }

  /** The mitigator put a ban's routes into these neighbors' Adj-RIB-Out. */
  onAnnounced(banId: string, neighbors: string[], ban?: Ban): void {
    if (!neighbors.length) return;
    this.writer.push('bans', banRow(ban ?? this.o.sources.ban?.(banId) ?? ({ id: banId } as Ban), { event: 'announced', time: this.now(), mode: this.o.sources.mode(), neighbors }));
  }

  /** Bans put back at start (restored from SQLite) are recorded as such. */
  onRestored(bans: readonly Ban[]): void {
    this.writer.pushMany('bans', bans.map((b) => banRow(b, { event: 'restored', time: this.now(), mode: this.o.sources.mode() })));
  }

  /**
   * One traffic interval (the timer calls it; tests and benches call it
   * directly). Rows are built and queued in slices of SLICE hosts with the
   * event loop free in between, so a large host table never stalls
   * detection or BGP for long. Resolves with the number of rows.
   */
  async sampleTraffic(): Promise<number> {
    if (this.sampling) return 0;
    this.sampling = true;
    try {
      const t = performance.now();
      let worst = 0;
      let s = performance.now();
      const hosts = this.o.sources.hosts(this.o.cfg.traffic_max_hosts);
      const pass = this.sampler.begin(this.now());
      const rows: Row[] = [];
      let n = 0;
      for (let i = 0; i < hosts.length; i += SLICE) {
        pass.hosts(hosts, i, Math.min(hosts.length, i + SLICE), rows);
        this.writer.pushMany('traffic', rows);
        n += rows.length;
        rows.length = 0;
        worst = Math.max(worst, performance.now() - s);
        await new Promise((r) => setImmediate(r));
        s = performance.now();
      }
      pass.finish(this.o.sources.exporters(), rows);
      this.writer.pushMany('traffic', rows);
      n += rows.length;
      worst = Math.max(worst, performance.now() - s);
      this.counters.traffic_samples++;
      this.counters.traffic_last_ms = Math.round((performance.now() - t) * 10) / 10;
      this.counters.traffic_longest_slice_ms = Math.round(worst * 10) / 10;
      return n;
    } catch (err) {
      this.counters.traffic_errors++;
      this.o.log.error({ event: 'history error', err: (err as Error).message }, 'history: traffic interval not recorded');
      return 0;
    } finally {
      this.sampling = false;
    }
  }

  /** For /api/v1/status. */
  status(): Record<string, unknown> {
    const s = this.writer.stats;
    return {
      up: s.up,
      schema_version: s.schema_version,
      spool_batches: s.spool_batches,
      spool_bytes: s.spool_bytes,
      rows_inserted: s.inserted,
      rows_dropped: s.dropped,
      last_insert: s.last_insert_at ? new Date(s.last_insert_at).toISOString() : undefined,
      last_error: s.last_error || undefined,
      last_error_at: s.last_error_at ? new Date(s.last_error_at).toISOString() : undefined,
    };
  }

  async stop(graceMs = 2000): Promise<void> {
    if (this.trafficTimer) clearInterval(this.trafficTimer);
    await this.writer.close(graceMs);
  }
}

function redact(url: string): string {
  try {
    const u = new URL(url);
    u.password = '';
    u.username = '';
    return u.toString();
  } catch {
    return url;
  }
}
