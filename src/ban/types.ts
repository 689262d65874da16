/**
 * The ban module's records and events: what a ban is, what the module tells
 * its subscribers (mitigation, store, API, later notify and cluster), and the
 * shape of a ban's route as mitigation describes it. Plain data only.
 */
import type { Attack, Direction, EngineEvent, Vector } from '../engine/events.ts';
import type { Clock } from '../core/clock.ts';
import type { RefusalReason } from './guards.ts';
import type { FlowspecChoice, MitigationLevel, RouteBuilder, RouteIntent } from './intent.ts';

export type { FlowspecChoice, FlowspecRuleIntent, MitigationLevel, RouteBuilder, RouteIntent, RouteSubject } from './intent.ts';

/**
 * Ban lifecycle state (ban/lifecycle.ts): `active` while an attack on the
 * target goes on, `expiring` once it has ended (or for a manual ban) until the
 * TTL and the unban hysteresis have both run out, then `ended`.
 */
export type BanState = 'active' | 'expiring' | 'ended';

export interface Ban {
  id: string;
  target: string;
  family: 4 | 6;
  attack_id?: string;
  /** "auto" for detected attacks, "signal:<name>" for a signal's attack, or the API user for manual bans. */
  source: string;
  reason: string;
  action: 'blackhole' | 'flowspec';
  /** Index into the escalation ladder, -1 before any step. */
  escalation_step: number;
  route: RouteIntent;
  created: number;
  /** When the TTL runs out (ms since epoch). */
  expires: number;
  ttl_seconds: number;
  ended?: number;
  end_reason?: string;
  /** Lifecycle state (always set by ban/bans.ts). */
  state?: BanState;
  /** Current mitigation level (always set by ban/bans.ts). */
  level?: MitigationLevel;
  hostgroup?: string;
  direction?: Direction;
  vector?: Vector;
  /** Every attack that has kept this ban alive. */
  attack_ids?: string[];
  /** When the last linked attack ended (ms since epoch); absent while one is active. */
  quiet_since?: number;
  /** Who ended it, for manual unbans. */
  ended_by?: string;
  /** The FlowSpec rule chosen by hand or by an escalation step (method or inline match), when not the built-in one. */
  flowspec?: FlowspecChoice;
}

/** What the ban module emits. */
export type BanEvent =
  | { event: 'ban'; time: number; ban: Ban; attack?: Attack }
  | { event: 'ban_refused'; time: number; target: string; reason: string; attack?: Attack; detail?: string; source?: string }
  | { event: 'escalate'; time: number; ban: Ban; from: string; to: string }
  | { event: 'unban'; time: number; ban: Ban; reason: string };

export type BanListener = (e: BanEvent) => void;

/** Attack and ban events in the order they happened (an attack before the ban it caused). */
export type DetectionEvent = EngineEvent | BanEvent;
export type DetectionListener = (e: DetectionEvent) => void;

/** An attack as shown and stored: with the route its ban has, or would have (asked from mitigation). */
export type AttackView = Attack & { route?: RouteIntent; collateral?: Record<string, unknown> };

// ---------------------------------------------------------------- BanManager API (bans.ts)

export type BanResult = { ok: true; ban: Ban } | { ok: false; reason: RefusalReason; detail: string };

export interface ManualBanRequest {
  ip?: string;
  prefix?: string;
  /** Defaults to the target's `ban.ttl_seconds`. Must be 1 .. 31 536 000. */
  ttlSeconds?: number;
  actor: string;
  reason?: string;
  /** A FlowSpec mitigation with this rule (method or inline match) instead of the target's usual route. */
  flowspec?: FlowspecChoice;
}

export interface ManualUnbanRequest {
  ip?: string;
  prefix?: string;
  id?: string;
  actor: string;
}

export interface BanStats {
  active: number;
  active_by_state: { active: number; expiring: number };
  active_by_family: { 4: number; 6: number };
  banned_addresses: { 4: number; 6: number };
  banned_fraction: { 4: number; 6: number };
  /** Attacks under way without a ban (refused, retried). */
  pending_attacks: number;
  created_total: number;
  created_manual: number;
  ended_total: number;
  ended_by_reason: Record<string, number>;
  refused_total: number;
  refused_by_reason: Record<string, number>;
  escalations_total: number;
  listener_errors: number;
}

export interface BanManagerOptions {
  /** core/clock.ts Clock (manual operations use it); default the system clock. */
  clock?: Clock;
  /** Builds a ban's route under the running route policy (mitigation/route.ts routeBuilder); the ban module knows no BGP. */
  routes: RouteBuilder;
  /** Cluster: this node's id, appended to ban ids so nodes never make the same one. */
  idTag?: string;
}

/** What a reload did, or would do (previewReconfigure), to the active bans. */
export interface ReconfigureResult {
  /** Bans ended because their target became whitelisted or outside networks (end_reason says which). */
  unbanned: Ban[];
  /** Bans whose route changed (with the new route). */
  rerouted: Ban[];
}

