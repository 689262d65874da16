/**
 * A ban's route as data: what mitigation announces (or would) for it. The
 * ban module keeps it on the ban (stored, shown by the API, compared on
 * reload) but never builds it: mitigation hands it a RouteBuilder
 * (mitigation/route.ts), so no BGP knowledge lives here.
 */
import type { FlowspecActionConfig, FlowspecMatch } from '../config/schema.ts';
import type { AttackSummary, Direction, Vector } from '../engine/events.ts';

/** A would-be (or real) announcement for a ban. Built by mitigation/route.ts; turned into BGP by mitigation/. */
export type RouteIntent =
  | {
      type: 'blackhole';
      /** "198.51.100.7/32" or "2001:db8::7/128" (a carpet ban may be a wider prefix). */
      prefix: string;
      next_hop: string;
      communities: string[];
      large_communities: string[];
      local_pref?: number;
    }
  | {
      type: 'flowspec';
      rules: FlowspecRuleIntent[];
      /** The `flowspec_methods` entry the rules come from, when one does. */
      method?: string;
      /** Only the neighbors of these `platforms` get the rules (absent: every FlowSpec neighbor). */
      platforms?: string[];
    };

export interface FlowspecRuleIntent {
  family: 4 | 6;
  destination: string;
  source?: string;
  protocols?: number[];
  source_ports?: number[];
  destination_ports?: number[];
  /** e.g. "syn&!ack" style: match SYN set, ACK clear. */
  tcp_flags?: { set: number; clear: number };
  fragment?: boolean;
  packet_length?: { min?: number; max?: number };
  icmp_type?: number;
  icmp_code?: number;
  /** Port ranges [lo, hi] (inclusive), OR-ed with the single ports. */
  source_port_ranges?: Array<[number, number]>;
  destination_port_ranges?: Array<[number, number]>;
  /** A fragment kind other than is-fragment (`fragment: true`). */
  fragment_kind?: 'first_fragment' | 'last_fragment' | 'dont_fragment';
  dscp?: number[];
  action: { type: 'discard' } | { type: 'rate_limit'; bytes_per_second: number } | { type: 'redirect'; rt: string } | { type: 'none' };
  /** traffic-marking: rewrite DSCP (with any action). */
  mark_dscp?: number;
}

/** A FlowSpec rule chosen by hand (a `flowspec_methods` name, or an inline match and action) instead of the built-in rule for the vector. */
export interface FlowspecChoice {
  method?: string;
  match?: FlowspecMatch;
  action?: FlowspecActionConfig;
  /** Platforms to send to; absent: the method's, else every FlowSpec neighbor. */
  platforms?: string[];
}

/** Mitigation strength of a ban, weakest first; escalation only moves right. */
export type MitigationLevel = 'flowspec_rate_limit' | 'flowspec_discard' | 'blackhole';

/** What a route is built from: an Attack or a Ban both fit. */
export interface RouteSubject {
  target: string;
  family: 4 | 6;
  direction?: Direction;
  vector?: Vector;
  summary?: AttackSummary;
  /** A ban's current level; absent → the initial level from `mitigation`. */
  level?: MitigationLevel;
  hostgroup?: string;
  /** A manual mitigation's own rule, or the method an escalation step named. */
  flowspec?: FlowspecChoice;
}

/**
 * Builds a subject's route under the route policy it was made for
 * (mitigation/route.ts routeBuilder): the ban module holds a builder, never the
 * route keys (next hops, communities, methods, platforms). Throws on an invalid target.
 */
export type RouteBuilder = (subject: RouteSubject) => RouteIntent;

/** The prefixes a route targets: the blackhole prefix, or each rule's target side. */
export function routeTargets(r: RouteIntent): string[] {
  if (r.type === 'blackhole') return [r.prefix];
  return r.rules.map((x) => (x.source !== undefined && /\/0$/.test(x.destination) ? x.source : x.destination));
}

/** Deep equality of two routes (plain data: objects, arrays, numbers, strings). */
export function sameRoute(a: RouteIntent, b: RouteIntent): boolean {
  return sameData(a, b);
}

function sameData(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  const kb = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
  if (ka.length !== kb.length) return false;
  for (const k of ka) if (!sameData((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  return true;
}
