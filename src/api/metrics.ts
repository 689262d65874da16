/**
 * Prometheus metrics. Flow, engine, BGP and mitigation keep plain stats
 * objects; this module reads them at scrape time through MetricsSources, so
 * none of those modules imports prom-client.
 */
import { Registry, Counter, Gauge, Histogram, collectDefaultMetrics } from 'prom-client';
import { VERSION } from '../version.ts';
import { registerHistoryMetrics, type HistoryStatsView } from './history-metrics.ts';

export interface ExporterView {
  exporter: string;
  datagrams: number;
  records: number;
  errors: Record<string, number>;
  byProto: Partial<Record<string, number>>;
  /** Records per protocol (the collector's stats have it; without it, records carry exporterProto()). */
  recordsByProto?: Partial<Record<string, number>>;
  /** Errors per protocol ("unknown": matched no decoder) and reason. */
  errorsByProto?: Partial<Record<string, Record<string, number>>>;
  templates: number;
  noTemplate: number;
  lastSeen: number;
}

export interface FlowStatsView {
  exporters: ExporterView[];
  /** Datagrams or records dropped, by reason (not_allowed, boundary, queue, exporter_limit, receive_buffer, sink_error). */
  dropped: Record<string, number>;
  /**
   * The same by source where the collector knows it: reason -> source address
   * -> count (bounded by the collector; overflow under "other").
   */
  dropped_sources?: Record<string, Record<string, number>>;
  /** How the collector reads datagrams: "batched" (recvmmsg addon) or "dgram" (node:dgram). */
  receiver?: string | null;
}

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

export interface NeighborView {
  neighbor: string;
  state: string;
  messages_in: number;
  messages_out: number;
  updates_in: number;
  updates_out: number;
  flaps: number;
  last_error: string;
  routes_out: number;
  routes_sent?: number;
  held_routes?: number;
  refused_routes?: number;
  uptime_seconds?: number;
  families?: string[];
}

export interface MitigationStatsView {
  announced_routes: { real: number; dry_run: number };
  flowspec_rules: { real: number; dry_run: number };
  fallbacks: number;
  held: number;
  repairs: Record<string, number>;
}

export interface StoreStatsView {
  writes: number;
  write_errors: number;
  pending: number;
  degraded: boolean;
}

export interface MetricsSources {
  flow?: () => FlowStatsView | undefined;
  engine?: () => EngineStatsView | undefined;
  bgp?: () => NeighborView[] | undefined;
  mitigation?: () => MitigationStatsView | undefined;
  store?: () => StoreStatsView | undefined;
  dryRun?: () => boolean;
  api?: () => { requests: number; errors: number; unauthorized: number } | undefined;
  history?: () => HistoryStatsView | undefined;
}

export const BGP_STATES = ['idle', 'connect', 'active', 'opensent', 'openconfirm', 'established'] as const;

function normState(s: string): string {
  return s.toLowerCase().replace(/[^a-z]/g, '');
}

function setCounter(c: Counter<string>, labels: Record<string, string>, value: number): void {
  if (Number.isFinite(value) && value > 0) c.inc(labels, value);
}

export class Metrics {
  readonly registry = new Registry();
  readonly engineTick: Histogram<string>;
  private readonly sources: MetricsSources;

  constructor(sources: MetricsSources, opts: { defaultMetrics?: boolean } = {}) {
    this.sources = sources;
    const reg = this.registry;
    const src = sources;
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: reg, eventLoopMonitoringPrecision: 20 });

    new Gauge({
      name: 'breakwater_build_info',
      help: 'Build information (always 1).',
      labelNames: ['version', 'node'],
      registers: [reg],
      collect() {
        this.reset();
        this.set({ version: VERSION, node: process.version }, 1);
      },
    });
    new Gauge({
      name: 'breakwater_dry_run',
      help: '1 while dry-run is on (no route reaches a router), 0 when live.',
      registers: [reg],
      collect() {
        this.set(src.dryRun?.() === false ? 0 : 1);
      },
    });

    // ---- flow ingest
    const flowCounter = (name: string, help: string, labelNames: string[], fill: (c: Counter<string>, f: FlowStatsView) => void) =>
      new Counter({
        name,
        help,
        labelNames,
        registers: [reg],
        collect() {
          this.reset();
          const f = src.flow?.();
          if (f) fill(this, f);
        },
      });
    flowCounter('breakwater_flow_datagrams_total', 'Flow datagrams received, per exporter and protocol (proto="unknown": matched no decoder).', ['exporter', 'proto'], (c, f) => {
      for (const e of f.exporters) {
        let known = 0;
        for (const [p, n] of Object.entries(e.byProto)) {
          known += n ?? 0;
          setCounter(c, { exporter: e.exporter, proto: p }, n ?? 0);
        }
        setCounter(c, { exporter: e.exporter, proto: 'unknown' }, e.datagrams - known);
      }
    });
    flowCounter('breakwater_flow_records_total', 'Flow records decoded, per exporter and protocol.', ['exporter', 'proto'], (c, f) => {
      for (const e of f.exporters) {
        if (e.recordsByProto) for (const [p, n] of Object.entries(e.recordsByProto)) setCounter(c, { exporter: e.exporter, proto: p }, n ?? 0);
        else setCounter(c, { exporter: e.exporter, proto: exporterProto(e) }, e.records);
      }
    });
    flowCounter('breakwater_flow_decode_errors_total', 'Decode errors, per exporter, protocol and reason (proto="unknown": the datagram matched no decoder).', ['exporter', 'proto', 'reason'], (c, f) => {
      for (const e of f.exporters) {
        if (e.errorsByProto) {
          for (const [p, errs] of Object.entries(e.errorsByProto)) for (const [r, n] of Object.entries(errs ?? {})) setCounter(c, { exporter: e.exporter, proto: p, reason: r }, n);
          continue;
        }
        const proto = exporterProto(e);
        for (const [r, n] of Object.entries(e.errors)) setCounter(c, { exporter: e.exporter, proto: UNRECOGNISED_REASONS.has(r) ? 'unknown' : proto, reason: r }, n);
      }
    });
    flowCounter('breakwater_flow_no_template_total', 'Data sets that arrived before their template, per exporter.', ['exporter'], (c, f) => {
      for (const e of f.exporters) setCounter(c, { exporter: e.exporter }, e.noTemplate);
    });
    flowCounter('breakwater_flow_dropped_total', 'Datagrams (not_allowed, exporter_limit, receive_buffer: the kernel dropped them because a socket receive buffer was full, seen with listen.receiver batched) or records (boundary, queue, sink_error) dropped, by reason, and by source where it is known (source="" otherwise).', ['reason', 'source'], (c, f) => {
      for (const [r, n] of Object.entries(f.dropped)) {
        const bySource = f.dropped_sources?.[r];
        let attributed = 0;
        if (bySource) {
          for (const [src, k] of Object.entries(bySource)) {
            attributed += k;
            setCounter(c, { reason: r, source: src }, k);
          }
        }
        setCounter(c, { reason: r, source: '' }, n - attributed);
      }
    });
    new Gauge({
      name: 'breakwater_flow_receiver_info',
      help: 'How the flow collector reads datagrams (receiver="batched": recvmmsg through the native addon; "dgram": node:dgram, which cannot see kernel receive-buffer drops).',
      labelNames: ['receiver'],
      registers: [reg],
      collect() {
        this.reset();
        const r = src.flow?.()?.receiver;
        if (r) this.set({ receiver: r }, 1);
      },
    });
    new Gauge({
      name: 'breakwater_flow_templates',
      help: 'Templates cached per exporter.',
      labelNames: ['exporter'],
      registers: [reg],
      collect() {
        this.reset();
        for (const e of src.flow?.()?.exporters ?? []) this.set({ exporter: e.exporter }, e.templates);
      },
    });
    new Gauge({
      name: 'breakwater_flow_exporter_last_seen_seconds',
      help: 'Unix time of the last datagram from each exporter.',
      labelNames: ['exporter'],
      registers: [reg],
      collect() {
        this.reset();
        for (const e of src.flow?.()?.exporters ?? []) if (e.lastSeen) this.set({ exporter: e.exporter }, e.lastSeen / 1000);
      },
    });

    // ---- engine
    new Gauge({
      name: 'breakwater_engine_tracked_hosts',
      help: 'Hosts with counters, per direction.',
      labelNames: ['direction'],
      registers: [reg],
      collect() {
        this.reset();
        for (const [d, n] of Object.entries(src.engine?.()?.tracked_hosts ?? {})) this.set({ direction: d }, n);
      },
    });
    new Gauge({
      name: 'breakwater_engine_active_attacks',
      help: 'Attacks in progress.',
      registers: [reg],
      collect() {
        this.set(src.engine?.()?.active_attacks ?? 0);
      },
    });
    new Gauge({
      name: 'breakwater_engine_active_bans',
      help: 'Bans in force (announced, or would be in dry-run).',
      registers: [reg],
      collect() {
        this.set(src.engine?.()?.active_bans ?? 0);
      },
    });
    new Counter({
      name: 'breakwater_engine_attacks_total',
      help: 'Attacks detected, by vector.',
      labelNames: ['vector'],
      registers: [reg],
      collect() {
        this.reset();
        for (const [k, n] of Object.entries(src.engine?.()?.attacks_by_vector ?? {})) setCounter(this, { vector: k }, n);
      },
    });
    new Counter({
      name: 'breakwater_engine_bans_total',
      help: 'Bans created (automatic and manual).',
      registers: [reg],
      collect() {
        this.reset();
        setCounter(this, {}, src.engine?.()?.bans_total ?? 0);
      },
    });
    new Counter({
      name: 'breakwater_engine_bans_refused_total',
      help: 'Bans a guard refused, by reason.',
      labelNames: ['reason'],
      registers: [reg],
      collect() {
        this.reset();
        for (const [k, n] of Object.entries(src.engine?.()?.bans_refused_by_reason ?? {})) setCounter(this, { reason: k }, n);
      },
    });
    new Counter({
      name: 'breakwater_engine_records_total',
      help: 'Flow records counted by the engine.',
      registers: [reg],
      collect() {
        this.reset();
        setCounter(this, {}, src.engine?.()?.records ?? 0);
      },
    });
    new Counter({
      name: 'breakwater_engine_host_overflow_total',
      help: 'Hosts not tracked because the host table was full.',
      registers: [reg],
      collect() {
        this.reset();
        setCounter(this, {}, src.engine?.()?.overflow ?? 0);
      },
    });
    this.engineTick = new Histogram({
      name: 'breakwater_engine_tick_seconds',
      help: 'Time one detection tick takes (thresholds, classification, ban decisions).',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [reg],
    });

    // ---- mitigation
    new Gauge({
      name: 'breakwater_mitigate_announced_routes',
      help: 'Routes for active bans: mode="real" are in the Adj-RIB-Out of a neighbor, mode="dry_run" would be.',
      labelNames: ['mode'],
      registers: [reg],
      collect() {
        const m = src.mitigation?.();
        this.set({ mode: 'real' }, m?.announced_routes.real ?? 0);
        this.set({ mode: 'dry_run' }, m?.announced_routes.dry_run ?? 0);
      },
    });
    new Gauge({
      name: 'breakwater_mitigate_flowspec_rules',
      help: 'FlowSpec rules for active bans, by mode.',
      labelNames: ['mode'],
      registers: [reg],
      collect() {
        const m = src.mitigation?.();
        this.set({ mode: 'real' }, m?.flowspec_rules.real ?? 0);
        this.set({ mode: 'dry_run' }, m?.flowspec_rules.dry_run ?? 0);
      },
    });
    new Counter({
      name: 'breakwater_mitigate_fallback_total',
      help: 'FlowSpec bans sent as blackhole routes to a neighbor without FlowSpec (ban.fallback: blackhole).',
      registers: [reg],
      collect() {
        this.reset();
        setCounter(this, {}, src.mitigation?.()?.fallbacks ?? 0);
      },
    });
    new Gauge({
      name: 'breakwater_mitigate_held_routes',
      help: 'Routes not sent to a neighbor because it lacks the address family and no fallback applies.',
      registers: [reg],
      collect() {
        this.set(src.mitigation?.()?.held ?? 0);
      },
    });
    new Counter({
      name: 'breakwater_mitigate_reconcile_repairs_total',
      help: 'Drift repaired by the reconciliation loop, by kind (missing, stale).',
      labelNames: ['kind'],
      registers: [reg],
      collect() {
        this.reset();
        for (const [k, n] of Object.entries(src.mitigation?.()?.repairs ?? {})) setCounter(this, { kind: k }, n);
      },
    });

    // ---- BGP
    new Gauge({
      name: 'breakwater_bgp_neighbor_state',
      help: 'BGP FSM state per neighbor (1 for the current state).',
      labelNames: ['neighbor', 'state'],
      registers: [reg],
      collect() {
        this.reset();
        for (const n of src.bgp?.() ?? []) {
          const cur = normState(n.state);
          for (const s of BGP_STATES) this.set({ neighbor: n.neighbor, state: s }, s === cur ? 1 : 0);
        }
      },
    });
    new Gauge({
      name: 'breakwater_bgp_neighbor_up',
      help: '1 when the session is Established.',
      labelNames: ['neighbor'],
      registers: [reg],
      collect() {
        this.reset();
        for (const n of src.bgp?.() ?? []) this.set({ neighbor: n.neighbor }, normState(n.state) === 'established' ? 1 : 0);
      },
    });
    new Counter({
      name: 'breakwater_bgp_messages_total',
      help: 'BGP messages per neighbor and direction.',
      labelNames: ['neighbor', 'direction'],
      registers: [reg],
      collect() {
        this.reset();
        for (const n of src.bgp?.() ?? []) {
          setCounter(this, { neighbor: n.neighbor, direction: 'in' }, n.messages_in);
          setCounter(this, { neighbor: n.neighbor, direction: 'out' }, n.messages_out);
        }
      },
    });
    new Counter({
      name: 'breakwater_bgp_updates_total',
      help: 'BGP UPDATE messages per neighbor and direction.',
      labelNames: ['neighbor', 'direction'],
      registers: [reg],
      collect() {
        this.reset();
        for (const n of src.bgp?.() ?? []) {
          setCounter(this, { neighbor: n.neighbor, direction: 'in' }, n.updates_in);
          setCounter(this, { neighbor: n.neighbor, direction: 'out' }, n.updates_out);
        }
      },
    });
    new Counter({
      name: 'breakwater_bgp_flaps_total',
      help: 'Times each session dropped out of Established.',
      labelNames: ['neighbor'],
      registers: [reg],
      collect() {
        this.reset();
        for (const n of src.bgp?.() ?? []) setCounter(this, { neighbor: n.neighbor }, n.flaps);
      },
    });
    new Gauge({
      name: 'breakwater_bgp_neighbor_last_error_info',
      help: 'The last error of each neighbor (label), 1 when there is one.',
      labelNames: ['neighbor', 'error'],
      registers: [reg],
      collect() {
        this.reset();
        for (const n of src.bgp?.() ?? []) if (n.last_error) this.set({ neighbor: n.neighbor, error: n.last_error.slice(0, 200) }, 1);
      },
    });
    new Gauge({
      name: 'breakwater_bgp_routes_out',
      help: 'Routes in each neighbor\'s Adj-RIB-Out.',
      labelNames: ['neighbor'],
      registers: [reg],
      collect() {
        this.reset();
        for (const n of src.bgp?.() ?? []) this.set({ neighbor: n.neighbor }, n.routes_out);
      },
    });

    // ---- store
    new Counter({
      name: 'breakwater_store_write_errors_total',
      help: 'SQLite writes that failed (disk full, I/O); they are retried.',
      registers: [reg],
      collect() {
        this.reset();
        setCounter(this, {}, src.store?.()?.write_errors ?? 0);
      },
    });
    new Gauge({
      name: 'breakwater_store_pending_writes',
      help: 'SQLite writes waiting to be retried.',
      registers: [reg],
      collect() {
        this.set(src.store?.()?.pending ?? 0);
      },
    });

    new Counter({
      name: 'breakwater_api_requests_total',
      help: 'REST API requests, by outcome (ok, error, unauthorized).',
      labelNames: ['outcome'],
      registers: [reg],
      collect() {
        this.reset();
        const a = src.api?.();
        if (!a) return;
        setCounter(this, { outcome: 'error' }, a.errors - a.unauthorized);
        setCounter(this, { outcome: 'unauthorized' }, a.unauthorized);
        setCounter(this, { outcome: 'ok' }, a.requests - a.errors);
      },
    });
    registerHistoryMetrics(reg, () => src.history?.());
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
