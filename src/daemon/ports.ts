/**
 * What the daemon needs from ingest, engine and BGP. components.ts adapts
 * the real classes (flow/collector.ts, engine/engine.ts, bgp/index.ts) to
 * these shapes; the daemon itself only sees the ports. Stats come in the
 * producing modules' own types (engine/views.ts, ban/types.ts,
 * flow/stats-view.ts, bgp/neighbor-view.ts); api/metrics.ts adapts them.
 */
import type { Config } from '../config/schema.ts';
import type { ReloadPlan } from '../config/diff.ts';
import type { Clock } from '../core/clock.ts';
import type { Logger } from '../core/log.ts';
import type { Attack, EngineEvent } from '../engine/events.ts';
import type { Ban, BanStats, DetectionListener, FlowspecChoice, RouteIntent } from '../ban/types.ts';
import type { EngineStats, HostRate } from '../engine/views.ts';
import type { TopQuery, TopResult } from '../engine/top.ts';
import type { FlowStatsView } from '../flow/stats-view.ts';
import type { NeighborView } from '../bgp/index.ts';
import type { FlowSink } from '../flow/record.ts';
import type { SpeakerPort } from '../mitigation/reconcile.ts';
import type { Mitigator } from '../mitigation/reconcile.ts';
import type { BanPort } from '../cluster/sync.ts';

export type BanOutcome = { ok: true; ban: Ban } | { ok: false; reason: string; detail: string };

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
  hosts(q: { limit: number; direction?: 'incoming' | 'outgoing' }): HostRate[];
  /** The busiest hosts by a rate, one pass without an object per host (engine/top.ts); keys are the keyset positions. */
  top(q: TopQuery): TopResult;
  host(ip: string): HostRate[] | undefined;
  manualBan(req: { ip: string; ttlSeconds?: number; actor: string; reason?: string; flowspec?: FlowspecChoice }): BanOutcome;
  /** By target (`ip`) or by ban id (`id`). */
  manualUnban(req: { ip?: string; id?: string; actor: string }): BanOutcome;
  activeBans(): Ban[];
  /** An active ban by id (the ban module's own record). */
  banById(id: string): Ban | undefined;
  restore(bans: Ban[], now: number): { restored: Ban[]; expired: Ban[]; refused: Array<{ ban: Ban; reason: string }> };
  /** Applies the engine's and the ban module's slices; returns bans ended (whitelisted, outside networks) and bans whose route changed. */
  reconfigure(plan: Pick<ReloadPlan, 'engine' | 'bans' | 'mitigation'>, now: number): { unbanned: Ban[]; rerouted: Ban[] };
  /** What reconfigure(cfg) would do to the active bans (end or reroute), without doing it. */
  previewReconfigure(cfg: Readonly<Config>): { unbanned: Ban[]; rerouted: Ban[] };
  /** The active bans a reload to cfg would lift (whitelisted, outside networks), changing nothing. */
  previewReload(cfg: Readonly<Config>): Array<{ target: string; reason: string }>;
  /** One snapshot of the engine's and the ban module's own stats. */
  stats(): { engine: EngineStats; bans: BanStats };
  /**
   * An attack reported by another detector (signals/): `record` sends the
   * event to the daemon's listeners like an engine event (store, API,
   * notifications, history), `ban` feeds it to the ban module.
   */
  signalEvent?(e: EngineEvent, to: { record: boolean; ban: boolean }): void;
  /** Cluster: the ban module as the ledger sync drives it (adopt, release). */
  clusterBans?(): BanPort;
  /** Cluster: new bans only while this says so (partition_policy hold). */
  setAdmit?(fn: () => boolean): void;
}

export interface CollectorPort {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Applies the listeners slice; says what it did. */
  reconfigure(slice: ReloadPlan['listeners']): Promise<string[]> | string[] | void;
  stats(): FlowStatsView;
  /** Bound UDP ports (tests use port 0). */
  addresses(): Record<string, { host: string; port: number } | undefined>;
}

export interface BgpPort {
  readonly speaker: SpeakerPort;
  start(): Promise<void>;
  /** Graceful: close the sessions without a Cease so routers keep routes (graceful restart). */
  stop(graceful: boolean): Promise<void>;
  /** Applies the neighbors slice (sessions added, removed, changed; speaker-wide keys); says what it did. */
  reconfigure(slice: ReloadPlan['neighbors']): Promise<string[]> | string[] | void;
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
