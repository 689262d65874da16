/**
 * Prometheus metrics. Flow, engine, BGP and mitigation keep plain stats
 * objects; this module reads them at scrape time through MetricsSources, so
 * none of those modules imports prom-client. Each scrape asks every source
 * once (one snapshot) and a declarative table (METRICS) turns the snapshot
 * into samples; the types below are what the table reads.
 */
import { Registry, Counter, Gauge, Histogram, collectDefaultMetrics } from 'prom-client';
import { VERSION } from '../version.ts';
import { registerHistoryMetrics, type HistoryStatsView } from './history-metrics.ts';
import { registerSignalMetrics } from './signal-metrics.ts';
import type { SignalStats } from '../signals/hub.ts';
import type { ClusterStats } from '../cluster/node.ts';
import { registerClusterMetrics } from './cluster-metrics.ts';
import { registerCommandMetrics, type CommandStatsView } from './command-metrics.ts';
import { registerThreadMetrics } from './thread-metrics.ts';
import type { ExporterView, FlowStatsView } from '../flow/stats-view.ts';
import type { EngineStats } from '../engine/views.ts';
import type { BanStats } from '../ban/types.ts';
import type { NeighborView } from '../core/neighbor-view.ts';

export type { ExporterView, FlowStatsView };

/**
 * The protocol label of an exporter's records and decode errors when the
 * stats carry no per-protocol breakdown (recordsByProto / errorsByProto):
 * its one protocol; "mixed" when it sent several; "unknown" when it never
 * sent a recognised datagram.
 */
export function exporterProto(e: Pick<ExporterView, 'byProto'>): string {
  let proto = 'unknown';
  for (const [p, n] of Object.entries(e.byProto)) {
    if (!n) continue;
    if (proto !== 'unknown') return 'mixed';
    proto = p;
  }
  return proto;
}

/** Reasons counted before the protocol is known (the datagram matched no decoder). */
const UNRECOGNISED_REASONS = new Set(['bad_version']);

/** What the engine rows read: adapted from the engine's and the ban module's own stats (engineStatsView). */
export interface EngineStatsView {
  tracked_hosts: Record<string, number>;
  active_attacks: number;
  active_bans: number;
  attacks_by_vector: Record<string, number>;
  bans_total: number;
  bans_refused_by_reason: Record<string, number>;
  records: number;
  /** Hosts not tracked because the table was full. */
  overflow: number;
}

/** The engine rows' view of one snapshot of the engine's and the ban module's stats. */
export function engineStatsView(s: { engine: EngineStats; bans: BanStats }): EngineStatsView {
  const e = s.engine, b = s.bans;
  return {
    tracked_hosts: { incoming: e.hosts.incoming4 + e.hosts.incoming6, outgoing: e.hosts.outgoing4 + e.hosts.outgoing6 },
    active_attacks: e.attacks_active,
    active_bans: b.active,
    attacks_by_vector: e.attacks_by_vector,
    bans_total: b.created_total,
    bans_refused_by_reason: b.refused_by_reason,
    records: e.records,
    overflow: e.overflow,
  };
}


export interface MitigationStatsView {
  announced_routes: { real: number; dry_run: number };
  flowspec_rules: { real: number; dry_run: number };
  fallbacks: number;
  held: number;
  repairs: Record<string, number>;
  /** FlowSpec rules kept from a neighbor by lint, by finding code. */
  lint_refused_by_code?: Record<string, number>;
}

export interface StoreStatsView {
  writes: number;
  write_errors: number;
  pending: number;
  degraded: boolean;
}

/** Notification delivery per channel (notify/notifier.ts NotifyStats). */
export type NotifyChannelView = NotifyStatsView['channels'][string];

export interface NotifyStatsView {
  channels: Record<string, { sent: number; events_sent: number; failed: number; retries: number; dropped: number; queued: number; failed_rows: number; latency: { p50_seconds: number; p99_seconds: number } }>;
  outbox: { rows: number; bytes: number };
}

export interface MetricsSources {
  flow?: () => FlowStatsView | undefined;
  engine?: () => EngineStatsView | undefined;
  bgp?: () => NeighborView[] | undefined;
  mitigation?: () => MitigationStatsView | undefined;
  store?: () => StoreStatsView | undefined;
  dryRun?: () => boolean;
  api?: () => { requests: number; errors: number; unauthorized: number } | undefined;
  notify?: () => NotifyStatsView | undefined;
  history?: () => HistoryStatsView | undefined;
  signals?: () => SignalStats | undefined;
  cluster?: () => ClusterStats | undefined;
  commands?: () => CommandStatsView | undefined;
}

export const BGP_STATES = ['idle', 'connect', 'active', 'opensent', 'openconfirm', 'established'] as const;

function normState(s: string): string {
  return s.toLowerCase().replace(/[^a-z]/g, '');
}

/** Every source read once, at the start of a scrape. */
export interface MetricsSnapshot {
  flow?: FlowStatsView;
  engine?: EngineStatsView;
  bgp: NeighborView[];
  mitigation?: MitigationStatsView;
  store?: StoreStatsView;
  dryRun: boolean;
  api?: { requests: number; errors: number; unauthorized: number };
  notify?: NotifyStatsView;
  history?: HistoryStatsView;
  signals?: SignalStats;
  cluster?: ClusterStats;
  commands?: CommandStatsView;
}

type Labels = Record<string, string>;
type Sample = readonly [labels: Labels, value: number];

/** One metric: its name, help and labels, and how its samples come out of a snapshot. */
interface MetricRow {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  labels?: readonly string[];
  samples(s: MetricsSnapshot): Iterable<Sample>;
}

function* entries(o: Record<string, number> | undefined, label: string): Iterable<Sample> {
  for (const [k, n] of Object.entries(o ?? {})) yield [{ [label]: k }, n];
}

function* flowDatagrams(f: FlowStatsView): Iterable<Sample> {
  for (const e of f.exporters) {
    let known = 0;
    for (const [p, n] of Object.entries(e.byProto)) {
      known += n ?? 0;
      yield [{ exporter: e.exporter, proto: p }, n ?? 0];
    }
    yield [{ exporter: e.exporter, proto: 'unknown' }, e.datagrams - known];
  }
}

function* flowRecords(f: FlowStatsView): Iterable<Sample> {
  for (const e of f.exporters) {
    if (e.recordsByProto) for (const [p, n] of Object.entries(e.recordsByProto)) yield [{ exporter: e.exporter, proto: p }, n ?? 0];
    else yield [{ exporter: e.exporter, proto: exporterProto(e) }, e.records];
  }
}

function* flowErrors(f: FlowStatsView): Iterable<Sample> {
  for (const e of f.exporters) {
    if (e.errorsByProto) {
      for (const [p, errs] of Object.entries(e.errorsByProto)) for (const [r, n] of Object.entries(errs ?? {})) yield [{ exporter: e.exporter, proto: p, reason: r }, n];
      continue;
    }
    const proto = exporterProto(e);
    for (const [r, n] of Object.entries(e.errors)) yield [{ exporter: e.exporter, proto: UNRECOGNISED_REASONS.has(r) ? 'unknown' : proto, reason: r }, n];
  }
}

function* flowDropped(f: FlowStatsView): Iterable<Sample> {
  for (const [r, n] of Object.entries(f.dropped)) {
    const bySource = f.dropped_sources?.[r];
    let attributed = 0;
    if (bySource) {
      for (const [src, k] of Object.entries(bySource)) {
        attributed += k;
        yield [{ reason: r, source: src }, k];
      }
    }
    yield [{ reason: r, source: '' }, n - attributed];
  }
}

const perExporter = (f: FlowStatsView | undefined, fn: (e: ExporterView) => number | undefined): Sample[] =>
  (f?.exporters ?? []).flatMap((e) => {
    const n = fn(e);
    return n === undefined ? [] : [[{ exporter: e.exporter }, n] as const];
  });
const perNeighbor = (s: MetricsSnapshot, fn: (n: NeighborView) => number): Sample[] => s.bgp.map((n) => [{ neighbor: n.neighbor }, fn(n)] as const);
const both = (s: MetricsSnapshot, fn: (n: NeighborView) => [number, number]): Sample[] =>
  s.bgp.flatMap((n) => {
    const [i, o] = fn(n);
    return [[{ neighbor: n.neighbor, direction: 'in' }, i] as const, [{ neighbor: n.neighbor, direction: 'out' }, o] as const];
  });
const one = (n: number): Sample[] => [[{}, n]];
const modes = (m: { real: number; dry_run: number } | undefined): Sample[] => [[{ mode: 'real' }, m?.real ?? 0], [{ mode: 'dry_run' }, m?.dry_run ?? 0]];

/** Every Breakwater metric: names and labels are part of the compatibility surface. */
export const METRICS: readonly MetricRow[] = [
  { name: 'breakwater_build_info', help: 'Build information (always 1).', type: 'gauge', labels: ['version', 'node'], samples: () => [[{ version: VERSION, node: process.version }, 1]] },
  { name: 'breakwater_dry_run', help: '1 while dry-run is on (no route reaches a router), 0 when live.', type: 'gauge', samples: (s) => one(s.dryRun ? 1 : 0) },

  // ---- flow ingest
  { name: 'breakwater_flow_datagrams_total', help: 'Flow datagrams received, per exporter and protocol (proto="unknown": matched no decoder).', type: 'counter', labels: ['exporter', 'proto'], samples: (s) => (s.flow ? flowDatagrams(s.flow) : []) },
  { name: 'breakwater_flow_records_total', help: 'Flow records decoded, per exporter and protocol.', type: 'counter', labels: ['exporter', 'proto'], samples: (s) => (s.flow ? flowRecords(s.flow) : []) },
  { name: 'breakwater_flow_decode_errors_total', help: 'Decode errors, per exporter, protocol and reason (proto="unknown": the datagram matched no decoder).', type: 'counter', labels: ['exporter', 'proto', 'reason'], samples: (s) => (s.flow ? flowErrors(s.flow) : []) },
  { name: 'breakwater_flow_no_template_total', help: 'Data sets that arrived before their template, per exporter.', type: 'counter', labels: ['exporter'], samples: (s) => perExporter(s.flow, (e) => e.noTemplate) },
  {
    name: 'breakwater_flow_dropped_total',
    help: 'Datagrams (not_allowed, exporter_limit, receive_buffer: the kernel dropped them because a socket receive buffer was full, seen with listen.receiver batched) or records (boundary, queue, sink_error; implausible_sampling, implausible_size, implausible_rate, implausible_time: outside the plausibility bounds, by exporter) dropped, by reason, and by source where it is known (source="" otherwise).',
    type: 'counter',
    labels: ['reason', 'source'],
    samples: (s) => (s.flow ? flowDropped(s.flow) : []),
  },
  {
    name: 'breakwater_flow_exporter_evictions_total',
    help: 'Exporters whose whole flow state (templates, held data, samplers, stats) was forgotten, by reason (flow_state_budget: over listen.max_flow_state_mb, least recently heard first).',
    type: 'counter',
    labels: ['reason'],
    samples: (s) => entries(s.flow?.exporter_evictions, 'reason'),
  },
  { name: 'breakwater_flow_state_bytes', help: 'Estimated memory of per-exporter flow state, all collector threads (each thread is bounded by listen.max_flow_state_mb).', type: 'gauge', samples: (s) => one(s.flow?.state_bytes ?? 0) },
  {
    name: 'breakwater_flow_receiver_info',
    help: 'How the flow collector reads datagrams (receiver="batched": recvmmsg through the native addon; "dgram": node:dgram, which cannot see kernel receive-buffer drops).',
    type: 'gauge',
    labels: ['receiver'],
    samples: (s) => (s.flow?.receiver ? [[{ receiver: s.flow.receiver }, 1]] : []),
  },
  { name: 'breakwater_flow_templates', help: 'Templates cached per exporter.', type: 'gauge', labels: ['exporter'], samples: (s) => perExporter(s.flow, (e) => e.templates) },
  { name: 'breakwater_flow_exporter_last_seen_seconds', help: 'Unix time of the last datagram from each exporter.', type: 'gauge', labels: ['exporter'], samples: (s) => perExporter(s.flow, (e) => (e.lastSeen ? e.lastSeen / 1000 : undefined)) },

  // ---- engine
  { name: 'breakwater_engine_tracked_hosts', help: 'Hosts with counters, per direction.', type: 'gauge', labels: ['direction'], samples: (s) => entries(s.engine?.tracked_hosts, 'direction') },
  { name: 'breakwater_engine_active_attacks', help: 'Attacks in progress.', type: 'gauge', samples: (s) => one(s.engine?.active_attacks ?? 0) },
  { name: 'breakwater_engine_active_bans', help: 'Bans in force (announced, or would be in dry-run).', type: 'gauge', samples: (s) => one(s.engine?.active_bans ?? 0) },
  { name: 'breakwater_engine_attacks_total', help: 'Attacks detected, by vector.', type: 'counter', labels: ['vector'], samples: (s) => entries(s.engine?.attacks_by_vector, 'vector') },
  { name: 'breakwater_engine_bans_total', help: 'Bans created (automatic and manual).', type: 'counter', samples: (s) => one(s.engine?.bans_total ?? 0) },
  { name: 'breakwater_engine_bans_refused_total', help: 'Bans a guard refused, by reason.', type: 'counter', labels: ['reason'], samples: (s) => entries(s.engine?.bans_refused_by_reason, 'reason') },
  { name: 'breakwater_engine_records_total', help: 'Flow records counted by the engine.', type: 'counter', samples: (s) => one(s.engine?.records ?? 0) },
  { name: 'breakwater_engine_host_overflow_total', help: 'Hosts not tracked because the host table was full.', type: 'counter', samples: (s) => one(s.engine?.overflow ?? 0) },

  // ---- mitigation
  { name: 'breakwater_mitigate_announced_routes', help: 'Routes for active bans: mode="real" are in the Adj-RIB-Out of a neighbor, mode="dry_run" would be.', type: 'gauge', labels: ['mode'], samples: (s) => modes(s.mitigation?.announced_routes) },
  { name: 'breakwater_mitigate_flowspec_rules', help: 'FlowSpec rules for active bans, by mode.', type: 'gauge', labels: ['mode'], samples: (s) => modes(s.mitigation?.flowspec_rules) },
  { name: 'breakwater_mitigate_fallback_total', help: 'FlowSpec bans sent as blackhole routes to a neighbor without FlowSpec (ban.fallback: blackhole).', type: 'counter', samples: (s) => one(s.mitigation?.fallbacks ?? 0) },
  { name: 'breakwater_mitigate_held_routes', help: 'Routes not sent to a neighbor because it lacks the address family and no fallback applies.', type: 'gauge', samples: (s) => one(s.mitigation?.held ?? 0) },
  { name: 'breakwater_mitigate_lint_refused_total', help: 'FlowSpec rules not sent to a neighbor because they failed its profile\'s lint (once per ban, neighbor and rule), by finding code.', type: 'counter', labels: ['code'], samples: (s) => entries(s.mitigation?.lint_refused_by_code, 'code') },
  { name: 'breakwater_mitigate_reconcile_repairs_total', help: 'Drift repaired by the reconciliation loop, by kind (missing, stale).', type: 'counter', labels: ['kind'], samples: (s) => entries(s.mitigation?.repairs, 'kind') },

  // ---- BGP
  {
    name: 'breakwater_bgp_neighbor_state',
    help: 'BGP FSM state per neighbor (1 for the current state).',
    type: 'gauge',
    labels: ['neighbor', 'state'],
    samples: (s) => s.bgp.flatMap((n) => BGP_STATES.map((st) => [{ neighbor: n.neighbor, state: st }, st === normState(n.state) ? 1 : 0] as const)),
  },
  { name: 'breakwater_bgp_neighbor_up', help: '1 when the session is Established.', type: 'gauge', labels: ['neighbor'], samples: (s) => perNeighbor(s, (n) => (normState(n.state) === 'established' ? 1 : 0)) },
  { name: 'breakwater_bgp_messages_total', help: 'BGP messages per neighbor and direction.', type: 'counter', labels: ['neighbor', 'direction'], samples: (s) => both(s, (n) => [n.messages_in, n.messages_out]) },
  { name: 'breakwater_bgp_updates_total', help: 'BGP UPDATE messages per neighbor and direction.', type: 'counter', labels: ['neighbor', 'direction'], samples: (s) => both(s, (n) => [n.updates_in, n.updates_out]) },
  { name: 'breakwater_bgp_flaps_total', help: 'Times each session dropped out of Established.', type: 'counter', labels: ['neighbor'], samples: (s) => perNeighbor(s, (n) => n.flaps) },
  {
    name: 'breakwater_bgp_neighbor_last_error_info',
    help: 'The last error of each neighbor (label), 1 when there is one.',
    type: 'gauge',
    labels: ['neighbor', 'error'],
    samples: (s) => s.bgp.filter((n) => n.last_error).map((n) => [{ neighbor: n.neighbor, error: n.last_error.slice(0, 200) }, 1] as const),
  },
  { name: 'breakwater_bgp_routes_out', help: "Routes in each neighbor's Adj-RIB-Out.", type: 'gauge', labels: ['neighbor'], samples: (s) => perNeighbor(s, (n) => n.routes_out) },

  // ---- store
  { name: 'breakwater_store_write_errors_total', help: 'SQLite writes that failed (disk full, I/O); they are retried.', type: 'counter', samples: (s) => one(s.store?.write_errors ?? 0) },
  { name: 'breakwater_store_pending_writes', help: 'SQLite writes waiting to be retried.', type: 'gauge', samples: (s) => one(s.store?.pending ?? 0) },

  // ---- api
  {
    name: 'breakwater_api_requests_total',
    help: 'REST API requests, by outcome (ok, error, unauthorized).',
    type: 'counter',
    labels: ['outcome'],
    samples: (s) =>
      s.api
        ? [
            [{ outcome: 'error' }, s.api.errors - s.api.unauthorized],
            [{ outcome: 'unauthorized' }, s.api.unauthorized],
            [{ outcome: 'ok' }, s.api.requests - s.api.errors],
          ]
        : [],
  },

  // ---- notifications
  ...(
    [
      ['counter', 'breakwater_notify_sent_total', 'Notification messages delivered, per channel (a grouped burst counts once).', (c) => c.sent],
      ['counter', 'breakwater_notify_events_sent_total', 'Notification events delivered, per channel.', (c) => c.events_sent],
      ['counter', 'breakwater_notify_failed_total', 'Notification messages given up after notify.outbox.max_age_seconds, per channel.', (c) => c.failed],
      ['counter', 'breakwater_notify_retries_total', 'Failed delivery attempts scheduled again, per channel.', (c) => c.retries],
      ['counter', 'breakwater_notify_dropped_total', 'Notifications dropped at the outbox bound (notify.outbox.max_rows / max_bytes), per channel.', (c) => c.dropped],
      ['gauge', 'breakwater_notify_queued', 'Notifications waiting in the outbox, per channel.', (c) => c.queued],
    ] as const satisfies ReadonlyArray<readonly ['counter' | 'gauge', string, string, (c: NotifyChannelView) => number]>
  ).map(([type, name, help, value]): MetricRow => ({ name, help, type, labels: ['channel'], samples: (s) => Object.entries(s.notify?.channels ?? {}).map(([channel, c]) => [{ channel }, value(c)] as const) })),
  {
    name: 'breakwater_notify_delivery_latency_seconds',
    help: 'Event-to-delivery latency of the last 1,024 delivered events, per channel (quantile 0.5 and 0.99).',
    type: 'gauge',
    labels: ['channel', 'quantile'],
    samples: (s) =>
      Object.entries(s.notify?.channels ?? {}).flatMap(([channel, c]) => [
        [{ channel, quantile: '0.5' }, c.latency.p50_seconds] as const,
        [{ channel, quantile: '0.99' }, c.latency.p99_seconds] as const,
      ]),
  },
  { name: 'breakwater_notify_outbox_rows', help: 'Rows in the notification outbox (waiting and failed).', type: 'gauge', samples: (s) => one(s.notify?.outbox.rows ?? 0) },
];

export class Metrics {
  readonly registry = new Registry();
  readonly engineTick: Histogram<string>;
  private readonly sources: MetricsSources;
  /** The snapshot of the scrape in progress (renders are serialized). */
  private current: MetricsSnapshot | undefined;
  private renders: Promise<unknown> = Promise.resolve();

  constructor(sources: MetricsSources, opts: { defaultMetrics?: boolean } = {}) {
    this.sources = sources;
    const reg = this.registry;
    if (opts.defaultMetrics !== false) {
      collectDefaultMetrics({ register: reg, eventLoopMonitoringPrecision: 20 });
      registerThreadMetrics(reg);
    }
    const snap = () => this.current ?? this.snapshot();
    for (const row of METRICS) {
      const labelNames = [...(row.labels ?? [])];
      if (row.type === 'counter') {
        new Counter({
          name: row.name,
          help: row.help,
          labelNames,
          registers: [reg],
          collect() {
            this.reset();
            // Counters only go up from zero: a non-positive or non-finite value is left out.
            for (const [l, n] of row.samples(snap())) if (Number.isFinite(n) && n > 0) this.inc(l, n);
          },
        });
      } else {
        new Gauge({
          name: row.name,
          help: row.help,
          labelNames,
          registers: [reg],
          collect() {
            this.reset();
            for (const [l, n] of row.samples(snap())) this.set(l, n);
          },
        });
      }
    }
    this.engineTick = new Histogram({
      name: 'breakwater_engine_tick_seconds',
      help: 'Time one detection tick takes (thresholds, classification, ban decisions).',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [reg],
    });
    registerHistoryMetrics(reg, () => snap().history);
    registerSignalMetrics(reg, () => snap().signals);
    registerCommandMetrics(reg, () => snap().commands);
    registerClusterMetrics(reg, () => snap().cluster);
  }

  /** Asks every source once. */
  snapshot(): MetricsSnapshot {
    const s = this.sources;
    return { flow: s.flow?.(), engine: s.engine?.(), bgp: s.bgp?.() ?? [], mitigation: s.mitigation?.(), store: s.store?.(), dryRun: s.dryRun?.() !== false, api: s.api?.(), notify: s.notify?.(), history: s.history?.(), signals: s.signals?.(), commands: s.commands?.(), cluster: s.cluster?.() };
  }

  /** One scrape: one snapshot, every metric adapted from it. */
  render(): Promise<{ contentType: string; body: string }> {
    const run = this.renders.then(async () => {
      this.current = this.snapshot();
      try {
        return { contentType: this.registry.contentType, body: await this.registry.metrics() };
      } finally {
        this.current = undefined;
      }
    });
    this.renders = run.catch(() => undefined);
    return run;
  }
}
