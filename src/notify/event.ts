/**
 * A notification event: plain data, written to the outbox as JSON and turned
 * into each channel's format at delivery. Built from engine events, BGP peer
 * states, exporter silence and reloads (from-engine.ts, watchers.ts).
 */
import type { NotifyEventName } from '../config/schema.ts';
import type { Direction } from '../engine/events.ts';
import type { RouteIntent } from '../ban/types.ts';

export type { NotifyEventName };

export interface Rates {
  pps: number;
  mbps: number;
  fps: number;
  peak_pps: number;
  peak_mbps: number;
  peak_fps: number;
}

export interface NotifyEvent {
  event: NotifyEventName;
  /** ms since the epoch. */
  time: number;
  mode: 'dry_run' | 'live';
  attack_id?: string;
  ban_id?: string;
  target?: string;
  direction?: Direction;
  vector?: string;
  rates?: Rates;
  route?: RouteIntent;
  /** ban: neighbors the route goes to (empty in dry-run). */
  neighbors?: string[];
  ttl_seconds?: number;
  reason?: string;
  /** Who: "auto", an API token name, "signal", "config". */
  who?: string;
  /** ban_refused: the guard that refused. */
  guard?: string;
  /** escalation and mode_change: before and after. */
  from?: string;
  to?: string;
  /** bgp_down / bgp_up. */
  neighbor?: string;
  state?: string;
  /** exporter_silent / exporter_back. */
  exporter?: string;
  silent_seconds?: number;
  /** reload: the changed keys. */
  changed?: string[];
  text?: string;
}

/** Events that arrive in bursts and are grouped per channel (notify.group_seconds). */
export const GROUPABLE: ReadonlySet<NotifyEventName> = new Set(['ban', 'unban', 'attack_start', 'attack_end', 'ban_refused', 'escalation']);

/** One delivery: one event, or a group of the same event. */
export interface Message {
  /** Stable across retries: receivers may deduplicate on it. */
  id: string;
  channel: string;
  event: NotifyEventName;
  events: NotifyEvent[];
}
