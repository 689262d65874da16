/**
 * What the daemon needs from ingest, engine and BGP. components.ts adapts
 * the real classes (flow/collector.ts, engine/engine.ts, bgp/index.ts) to
 * these shapes; the daemon itself only sees the ports. The stats types here
 * are the daemon's own: api/metrics.ts declares what it reads and adapts.
 */
import type { Config } from '../config/schema.ts';
import type { Clock } from '../core/clock.ts';
import type { Logger } from '../core/log.ts';
import type { Attack } from '../engine/events.ts';
import type { Ban, DetectionListener, RouteIntent } from '../ban/types.ts';
import type { FlowSink } from '../flow/record.ts';
import type { SpeakerPort } from '../mitigation/reconcile.ts';
import type { Mitigator } from '../mitigation/reconcile.ts';

export type BanOutcome = { ok: true; ban: Ban } | { ok: false; reason: string; detail: string };

export interface HostView {
  ip: string;
  direction: 'incoming' | 'outgoing';
  pps: number;
  mbps: number;
  fps: number;
}

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

export interface ExporterStats {
  exporter: string;
  datagrams: number;
  records: number;
  errors: Record<string, number>;
  byProto: Partial<Record<string, number>>;
  recordsByProto?: Partial<Record<string, number>>;
  errorsByProto?: Partial<Record<string, Record<string, number>>>;
  templates: number;
  noTemplate: number;
  lastSeen: number;
}

export interface FlowStatsView {
  exporters: ExporterStats[];
  /** Datagrams or records dropped, by reason. */
  dropped: Record<string, number>;
  /** reason -> source address -> count, where the collector knows the source. */
  dropped_sources?: Record<string, Record<string, number>>;
  receiver?: string | null;
  /** Estimated bytes of per-exporter flow state, all collector threads. */
  state_bytes?: number;
  /** Exporters whose whole flow state was evicted, by reason. */
  exporter_evictions?: Record<string, number>;
}

/** One BGP neighbor's status, translated once from the speaker's. */
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

/** What one module did with its slice of a reload plan. */
export interface ModuleReport {
  module: string;
  did: string[];
}

export interface EnginePort {
  /** Where decoded flow records go. */
  readonly sink: FlowSink;
  /** Attack events and the ban events they cause, in that order. */
  on(listener: DetectionListener): void;
  tick(now: number): void;
  /** Attacks in progress. */
  activeAttacks(): Attack[];
  /** The route a ban for this attack has or would have. */
  routeForAttack(a: Attack): RouteIntent;
  hosts(q: { limit: number; direction?: 'incoming' | 'outgoing' }): HostView[];
  /** The busiest hosts by a rate, one pass without an object per host (engine.top); keys are the keyset positions. */
  top(q: { limit: number; by?: 'pps' | 'bps' | 'fps'; direction?: 'incoming' | 'outgoing'; group?: (g: number) => boolean; after?: { value: number; id: string } }): { total: number; items: HostView[]; keys: Array<{ value: number; id: string }> };
  host(ip: string): HostView[] | undefined;
  manualBan(req: { ip: string; ttlSeconds?: number; actor: string; reason?: string }): BanOutcome;
  manualUnban(req: { ip: string; actor: string }): BanOutcome;
  activeBans(): Ban[];
  /** An active ban by id (the ban module's own record). */
  banById(id: string): Ban | undefined;
  restore(bans: Ban[], now: number): { restored: Ban[]; expired: Ban[]; refused: Array<{ ban: Ban; reason: string }> };
  /** Applies a new config; returns bans ended (whitelisted, outside networks) and bans whose route changed. */
  reconfigure(cfg: Readonly<Config>, now: number): { unbanned: Ban[]; rerouted: Ban[] };
  /** What reconfigure(cfg) would do to the active bans (end or reroute), without doing it. */
  previewReconfigure(cfg: Readonly<Config>): { unbanned: Ban[]; rerouted: Ban[] };
  /** The active bans a reload to cfg would lift (whitelisted, outside networks), changing nothing. */
  previewReload(cfg: Readonly<Config>): Array<{ target: string; reason: string }>;
  stats(): EngineStatsView;
}

export interface CollectorPort {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Applies the listeners slice (cfg is the plan's config); says what it did. */
  reconfigure(cfg: Readonly<Config>, keys: readonly string[]): Promise<string[]> | string[] | void;
  stats(): FlowStatsView;
  /** Bound UDP ports (tests use port 0). */
  addresses(): Record<string, { host: string; port: number } | undefined>;
}

export interface BgpPort {
  readonly speaker: SpeakerPort;
  start(): Promise<void>;
  /** Graceful: close the sessions without a Cease so routers keep routes (graceful restart). */
  stop(graceful: boolean): Promise<void>;
  reconfigure(cfg: Readonly<Config>): Promise<void> | void;
  neighbors(): NeighborView[];
  /** Called on every session state change (the speaker logs `bgp peer state` itself). */
  onPeerState(fn: (neighbor: string, from: string, to: string) => void): void;
  listenAddress(): { host: string; port: number } | undefined;
}

export interface Components {
  engine: EnginePort;
  collector: CollectorPort;
  bgp: BgpPort;
}

export type ComponentFactory = (cfg: Readonly<Config>, log: Logger, clock: Clock) => Promise<Components> | Components;

/** The running components: built once at start, never replaced. */
export interface Running {
  readonly engine: EnginePort;
  readonly collector: CollectorPort;
  readonly bgp: BgpPort;
  readonly mitigator: Mitigator;
}

/** starting: the API answers, components may not exist yet; running: all exist and ready. */
export type Phase = 'new' | 'starting' | 'running' | 'stopping' | 'stopped';
