/**
 * The collector's stats as its readers see them (metrics, the status API,
 * notifications, history): exporters and drops by reason, built from one
 * CollectorStats by flowStatsView. The collector is the producer, so its
 * view is declared here, once.
 */
import type { CollectorStats } from './collector.ts';

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
  /** Datagrams or records dropped, by reason (not_allowed, boundary, queue, exporter_limit, receive_buffer, sink_error, implausible_*). */
  dropped: Record<string, number>;
  /**
   * The same by source where the collector knows it: reason -> source address
   * -> count (bounded by the collector; overflow under "other").
   */
  dropped_sources?: Record<string, Record<string, number>>;
  /** How the collector reads datagrams: "batched" (recvmmsg addon) or "dgram" (node:dgram). */
  receiver?: string | null;
  /** Estimated bytes of per-exporter flow state, all collector threads (listen.max_flow_state_mb is per thread). */
  state_bytes?: number;
  /** Exporters whose whole flow state was evicted, by reason ("flow_state_budget"). */
  exporter_evictions?: Record<string, number>;
}

/** The readers' view of one CollectorStats snapshot (`receiver`: how the collector reads datagrams). */
export function flowStatsView(s: CollectorStats, receiver: string | null): FlowStatsView {
  return {
    exporters: s.exporters,
    dropped: {
      not_allowed: s.dropped.not_allowed, exporter_limit: s.dropped.exporter_limit, boundary: s.dropped.boundary, queue: s.dropped.queue, receive_buffer: s.dropped.receive_buffer, sink_error: s.sinkErrors,
      implausible_sampling: s.dropped.implausible_sampling, implausible_size: s.dropped.implausible_size, implausible_rate: s.dropped.implausible_rate, implausible_time: s.dropped.implausible_time,
    },
    dropped_sources: { not_allowed: s.dropped.not_allowed_sources, ...s.dropped.implausible_sources },
    state_bytes: s.flowState.bytes,
    exporter_evictions: s.flowState.evictions,
    receiver,
  };
}
