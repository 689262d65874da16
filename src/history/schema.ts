/**
 * The ClickHouse schema as versioned migrations, applied at start in order
 * and recorded in `schema_migrations`; every statement is idempotent (IF NOT
 * EXISTS), so a start that died half-way simply runs again.
 *
 * Written for ClickHouse 18.16 and later. Consequences of the old server:
 * - No TTL clause (19.6): tables are partitioned by day and ttl.ts drops
 *   whole partitions older than `ttl_days`.
 * - No insert deduplication on non-replicated tables: every table is a
 *   ReplacingMergeTree whose sorting key identifies a row (an attack id, a
 *   ban event id, (attack, sample index), (kind, key, direction, time)), so a
 *   retried batch collapses into the first; reads use FINAL.
 * - No DateTime64 (20.1): times are DateTime (seconds) for ordering and
 *   Grafana, with a `_ms` UInt64 beside them where milliseconds matter.
 * - No LowCardinality without a flag, no query parameters: values are
 *   validated and quoted by sql.ts.
 */

export interface Migration {
  version: number;
  name: string;
  statements: (db: string) => string[];
}

export const TABLES = ['attacks', 'bans', 'attack_samples', 'traffic'] as const;
export type HistoryTable = (typeof TABLES)[number];

/** Table name as written in SQL (database-qualified, backquoted). */
export function qualified(db: string, table: string): string {
  return `\`${db}\`.\`${table}\``;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'attacks, bans, attack_samples, traffic',
    statements: (db) => [
      // One row per write of an attack (start, periodic update, end); FINAL keeps the newest (updated_ms).
      `CREATE TABLE IF NOT EXISTS ${qualified(db, 'attacks')} (
        day Date,
        start DateTime,
        start_ms UInt64,
        end_ms UInt64,
        id String,
        target String,
        family UInt8,
        direction String,
        vector String,
        kind String,
        hostgroup String,
        tenant String,
        source String,
        triggers Array(String),
        pps Float64, mbps Float64, fps Float64,
        peak_pps Float64, peak_mbps Float64, peak_fps Float64,
        route String,
        thresholds String,
        summary String,
        end_reason String,
        updated_ms UInt64
      ) ENGINE = ReplacingMergeTree(updated_ms) PARTITION BY day ORDER BY (start, target, id)`,
      // Every lifecycle step of every ban (and every refusal), one row each.
      `CREATE TABLE IF NOT EXISTS ${qualified(db, 'bans')} (
        day Date,
        time DateTime,
        time_ms UInt64,
        event_id String,
        event String,
        ban_id String,
        target String,
        family UInt8,
        source String,
        reason String,
        action String,
        level String,
        escalation_step Int16,
        ttl_seconds UInt32,
        created_ms UInt64,
        expires_ms UInt64,
        attack_id String,
        attack_start_ms UInt64,
        hostgroup String,
        direction String,
        vector String,
        neighbors Array(String),
        guard String,
        end_reason String,
        route String,
        detail String,
        mode String
      ) ENGINE = ReplacingMergeTree() PARTITION BY day ORDER BY (time, target, event_id)`,
      // The flow sample of each attack, written at its start and again at its end (FINAL keeps the newest).
      `CREATE TABLE IF NOT EXISTS ${qualified(db, 'attack_samples')} (
        day Date,
        attack_start DateTime,
        attack_id String,
        seq UInt32,
        target String,
        time_ms UInt64,
        src String,
        dst String,
        src_port UInt16,
        dst_port UInt16,
        ip_proto UInt8,
        tcp_flags UInt8,
        packets UInt64,
        bytes UInt64,
        packet_size UInt32,
        sampling_rate UInt32,
        exporter String,
        written_ms UInt64
      ) ENGINE = ReplacingMergeTree(written_ms) PARTITION BY day ORDER BY (attack_start, attack_id, seq)`,
      // kind: host (key = address), hostgroup (key = name), exporter (key = address), total (key = '').
      `CREATE TABLE IF NOT EXISTS ${qualified(db, 'traffic')} (
        day Date,
        time DateTime,
        kind String,
        key String,
        direction String,
        hostgroup String,
        pps Float64,
        mbps Float64,
        fps Float64,
        tcp_pps Float64,
        udp_pps Float64,
        icmp_pps Float64,
        syn_pps Float64,
        frag_pps Float64,
        dps Float64,
        hosts UInt32
      ) ENGINE = ReplacingMergeTree() PARTITION BY day ORDER BY (kind, key, direction, time)`,
    ],
  },
];

export const LATEST_VERSION = MIGRATIONS[MIGRATIONS.length - 1].version;

export function migrationsTable(db: string): string {
  return `CREATE TABLE IF NOT EXISTS ${qualified(db, 'schema_migrations')} (version UInt32, name String, applied DateTime) ENGINE = ReplacingMergeTree() ORDER BY version`;
}
