/**
 * What the daemon needs from ingest, engine and BGP. components.ts adapts
 * the real classes (flow/collector.ts, engine/engine.ts, bgp/index.ts) to
 * these shapes; the daemon itself only sees the ports.
 */
import type { Config } from '../config/schema.ts';
import type { Attack } from '../engine/events.ts';
import type { Ban, DetectionListener, RouteIntent } from '../ban/types.ts';
import type { FlowSink } from '../flow/record.ts';
import type { EngineStatsView, FlowStatsView, NeighborView } from '../api/metrics.ts';
import type { SpeakerPort } from '../mitigation/reconcile.ts';

export type BanOutcome = { ok: true; ban: Ban } | { ok: false; reason: string; detail: string };

export interface HostView {
  ip: string;
  direction: 'incoming' | 'outgoing';
  pps: number;
  mbps: number;
  fps: number;
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
  stats(): EngineStatsView;
}

export interface CollectorPort {
  start(): Promise<void>;
  stop(): Promise<void>;
  reconfigure(cfg: Readonly<Config>): Promise<void> | void;
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
