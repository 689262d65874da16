/**
 * Events the engine emits. Mitigation, notify, store and the API subscribe;
 * `breakwater detect` prints them as JSON lines. Plain data only.
 */

export type Direction = 'incoming' | 'outgoing';

export const VECTORS = [
  'ntp_amplification', 'dns_amplification', 'cldap_amplification', 'memcached_amplification',
  'ssdp_amplification', 'chargen_amplification', 'snmp_amplification', 'wsd_amplification',
  'udp_amplification', 'syn_flood', 'ack_flood', 'rst_flood', 'tcp_flood', 'udp_flood',
  'icmp_flood', 'fragment_flood', 'carpet_bomb', 'mixed',
] as const;
export type Vector = (typeof VECTORS)[number];

/** A would-be (or real) announcement for a ban. Built by engine/route.ts; turned into BGP by mitigation/. */
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
  action: { type: 'discard' } | { type: 'rate_limit'; bytes_per_second: number };
}

export interface SampleFlow {
  src: string;
  dst: string;
  src_port: number;
  dst_port: number;
  ip_proto: number;
  tcp_flags: number;
  packets: number;
  bytes: number;
  sampling_rate: number;
  exporter: string;
  time: number;
}

export interface TopItem {
  key: string;
  /** Sampling-corrected packets. */
  packets: number;
  share: number;
}

export interface AttackSummary {
  top_sources: TopItem[];
  top_source_ports: TopItem[];
  top_destination_ports: TopItem[];
  protocols: TopItem[];
  tcp_flags: TopItem[];
  avg_packet_size: number;
  sample: SampleFlow[];
}

export interface Attack {
  id: string;
  /** Address or prefix under attack. */
  target: string;
  family: 4 | 6;
  direction: Direction;
  hostgroup?: string;
  vector: Vector;
  /** Which thresholds were crossed, e.g. ["pps", "udp_pps"]. */
  triggers: string[];
  /** Current and peak rates (sampling-corrected). */
  pps: number;
  mbps: number;
  fps: number;
  peak_pps: number;
  peak_mbps: number;
  peak_fps: number;
  /** ms since epoch. */
  start: number;
  end?: number;
  summary: AttackSummary;
  /** What would be (or is) announced for it. */
  route?: RouteIntent;
  /** host (one address), group (hostgroup with calculation: total) or carpet (a /24 or /64). */
  kind?: 'host' | 'group' | 'carpet';
  /** For a group target: every network of the group (`target` is the first). */
  prefixes?: string[];
  /** For a carpet target: hosts of the prefix with traffic when it started. */
  hosts?: number;
  /** The limits in force when it started (pps, mbps, flows_per_sec, tcp_syn_pps, ...). */
  thresholds?: Record<string, number>;
  /** Why it ended ("below threshold", "reconfigured", "outside networks"). */
  end_reason?: string;
}

/**
 * Ban lifecycle state (engine/lifecycle.ts): `active` while an attack on the
 * target goes on, `expiring` once it has ended (or for a manual ban) until the
 * TTL and the unban hysteresis have both run out, then `ended`.
 */
export type BanState = 'active' | 'expiring' | 'ended';

/** Mitigation strength of a ban, weakest first; escalation only moves right. */
export type MitigationLevel = 'flowspec_rate_limit' | 'flowspec_discard' | 'blackhole';

export interface Ban {
  id: string;
  target: string;
  family: 4 | 6;
  attack_id?: string;
  /** "auto" for detected attacks, or the API user for manual bans. */
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
  /** Lifecycle state (always set by engine/bans.ts). */
  state?: BanState;
  /** Current mitigation level (always set by engine/bans.ts). */
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
}

export type EngineEvent =
  | { event: 'attack_start'; time: number; attack: Attack }
  | { event: 'attack_update'; time: number; attack: Attack }
  | { event: 'attack_end'; time: number; attack: Attack }
  | { event: 'ban'; time: number; ban: Ban; attack?: Attack }
  | { event: 'ban_refused'; time: number; target: string; reason: string; attack?: Attack; detail?: string; source?: string }
  | { event: 'escalate'; time: number; ban: Ban; from: string; to: string }
  | { event: 'unban'; time: number; ban: Ban; reason: string };

export type EngineListener = (e: EngineEvent) => void;
