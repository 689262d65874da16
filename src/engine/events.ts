/**
 * Events the engine emits: attacks. The ban module (ban/) decides on them;
 * the daemon, store and API subscribe; `breakwater detect` prints them as
 * JSON lines. Plain data only.
 */

export type Direction = 'incoming' | 'outgoing';

export const VECTORS = [
  'ntp_amplification', 'dns_amplification', 'cldap_amplification', 'memcached_amplification',
  'ssdp_amplification', 'chargen_amplification', 'snmp_amplification', 'wsd_amplification',
  'udp_amplification', 'syn_flood', 'ack_flood', 'rst_flood', 'tcp_flood', 'udp_flood',
  'icmp_flood', 'fragment_flood', 'carpet_bomb', 'mixed',
] as const;
export type Vector = (typeof VECTORS)[number];

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
  /** Absent for attacks detected from flows; "signal:<name>" for one reported by another detector (signals/). */
  source?: string;
  /** A signal's own ban lifetime (seconds); absent: the target's `ban.ttl_seconds`. */
  ttl_seconds?: number;
}

/** What the engine emits: attacks only (bans are decided by ban/). */
export type EngineEvent =
  | { event: 'attack_start'; time: number; attack: Attack }
  | { event: 'attack_update'; time: number; attack: Attack }
  | { event: 'attack_end'; time: number; attack: Attack };

export type EngineListener = (e: EngineEvent) => void;
