/**
 * The configuration schema: the single source of truth for keys, types and
 * defaults. Types are inferred from it (Config, Thresholds, ...). Every object
 * is strict, so an unknown key is an error that names it.
 */
import * as v from 'valibot';
import { parseIP, parseIPv4, parsePrefix } from '../core/ip.ts';

const nonNeg = (def?: number) => (def === undefined ? v.optional(v.pipe(v.number(), v.minValue(0))) : v.optional(v.pipe(v.number(), v.minValue(0)), def));
const posInt = (def: number, max = Number.MAX_SAFE_INTEGER) => v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(max)), def);
const nonNegInt = (def: number, max = Number.MAX_SAFE_INTEGER) => v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(max)), def);

export const PrefixString = v.pipe(
  v.string(),
  v.check((s) => typeof parsePrefix(s) !== 'string', (issue) => String(parsePrefix(issue.input as string))),
);

export const IPString = v.pipe(v.string(), v.check((s) => parseIP(s) !== null, (issue) => `"${issue.input}" is not an IP address`));
export const IPv4String = v.pipe(v.string(), v.check((s) => parseIPv4(s) >= 0, (issue) => `"${issue.input}" is not an IPv4 address`));
export const IPv6String = v.pipe(v.string(), v.check((s) => s.includes(':') && parseIP(s) !== null, (issue) => `"${issue.input}" is not an IPv6 address`));

/** "host:port", ":port", "[v6]:port". An empty string disables the listener. */
export function parseListen(s: string): { host: string; port: number } | null {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\[\]]*)):([0-9]{1,5})$/.exec(s);
  if (!m) return null;
  const port = Number(m[3]);
  if (port > 65535) return null;
  const host = m[1] ?? m[2] ?? '';
  if (m[1] !== undefined && !parseIP(m[1])) return null;
  if (host !== '' && host !== 'localhost' && m[1] === undefined && !parseIP(host)) return null;
  return { host, port };
}

export const ListenString = v.pipe(
  v.string(),
  v.check((s) => s === '' || parseListen(s) !== null, (issue) => `"${issue.input}" is not a listen address (":2055", "127.0.0.1:6343", "[::1]:2055")`),
);

/** RFC 1997 community "ASN:value" or a well-known name. */
export const WELL_KNOWN_COMMUNITIES: Record<string, number> = {
  blackhole: 0xffff029a,
  no_export: 0xffffff01,
  no_advertise: 0xffffff02,
  no_export_subconfed: 0xffffff03,
  no_peer: 0xffffff04,
  graceful_shutdown: 0xffff0000,
  accept_own: 0xffff0001,
};

export function parseCommunity(s: string): number | null {
  const wk = WELL_KNOWN_COMMUNITIES[s.toLowerCase().replace(/-/g, '_')];
  if (wk !== undefined) return wk;
  const m = /^([0-9]{1,5}):([0-9]{1,5})$/.exec(s);
  if (!m) return null;
  const a = Number(m[1]), b = Number(m[2]);
  if (a > 65535 || b > 65535) return null;
  return a * 65536 + b;
}

export function parseLargeCommunity(s: string): [number, number, number] | null {
  const m = /^([0-9]{1,10}):([0-9]{1,10}):([0-9]{1,10})$/.exec(s);
  if (!m) return null;
  const parts = [Number(m[1]), Number(m[2]), Number(m[3])] as [number, number, number];
  return parts.every((p) => p <= 0xffffffff) ? parts : null;
}

const Community = v.pipe(v.string(), v.check((s) => parseCommunity(s) !== null, (i) => `"${i.input}" is not a community (ASN:value or blackhole, no_export, ...)`));
const LargeCommunity = v.pipe(v.string(), v.check((s) => parseLargeCommunity(s) !== null, (i) => `"${i.input}" is not a large community (a:b:c)`));

const Asn = v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(4294967295));

/** Rates above which a host is under attack. Absent or 0 means "no limit". */
export const ThresholdsSchema = v.strictObject({
  pps: nonNeg(),
  mbps: nonNeg(),
  flows_per_sec: nonNeg(),
  tcp_pps: nonNeg(),
  tcp_mbps: nonNeg(),
  udp_pps: nonNeg(),
  udp_mbps: nonNeg(),
  icmp_pps: nonNeg(),
  icmp_mbps: nonNeg(),
  tcp_syn_pps: nonNeg(),
  tcp_syn_mbps: nonNeg(),
  frag_pps: nonNeg(),
  frag_mbps: nonNeg(),
});
export type Thresholds = v.InferOutput<typeof ThresholdsSchema>;

export const EscalationAction = v.picklist(['flowspec', 'flowspec_rate_limit', 'flowspec_discard', 'blackhole']);
export const EscalationSchema = v.array(
  v.strictObject({
    after_seconds: v.pipe(v.number(), v.minValue(0)),
    action: EscalationAction,
  }),
);
export type Escalation = v.InferOutput<typeof EscalationSchema>;

export const MitigationSchema = v.picklist(['blackhole', 'flowspec']);

export const FlowspecSchema = v.strictObject({
  action: v.optional(v.picklist(['discard', 'rate_limit']), 'discard'),
  /** traffic-rate for rate_limit, in megabits per second. */
  rate_mbps: nonNeg(0),
  /** At most this many FlowSpec rules per ban. */
  max_rules_per_ban: posInt(4, 64),
});

export const BanSchema = v.strictObject({
  ttl_seconds: posInt(600),
  unban_hysteresis_seconds: nonNegInt(60),
  max_active_bans: nonNegInt(100),
  /** Largest share of our address space (per family) that may be banned at once. */
  max_banned_fraction: v.optional(v.pipe(v.number(), v.minValue(0), v.maxValue(1)), 0.05),
  max_bans_per_window: nonNegInt(50),
  ban_window_seconds: posInt(60),
  /** What to do for a neighbor that cannot take FlowSpec. */
  fallback: v.optional(v.picklist(['blackhole', 'none']), 'none'),
});
export type BanConfig = v.InferOutput<typeof BanSchema>;

/** Same keys as BanSchema, all optional, for hostgroup overrides. */
export const BanOverrideSchema = v.partial(v.strictObject({ ...BanSchema.entries, ttl_seconds: v.pipe(v.number(), v.integer(), v.minValue(1)) }));

export const BaselineSchema = v.strictObject({
  enabled: v.optional(v.boolean(), false),
  /** Half-life of the exponentially weighted normal rate. */
  half_life_seconds: posInt(3600),
  /** No baseline verdicts until a host has been seen this long. */
  warmup_seconds: nonNegInt(600),
  /** A host is attacked above factor x its baseline (and above the floors). */
  factor: v.optional(v.pipe(v.number(), v.minValue(1)), 3),
  floor_pps: nonNeg(1000),
  floor_mbps: nonNeg(10),
  floor_flows_per_sec: nonNeg(100),
});

export const CarpetSchema = v.strictObject({
  enabled: v.optional(v.boolean(), false),
  prefix_length_v4: v.optional(v.pipe(v.number(), v.integer(), v.minValue(8), v.maxValue(31)), 24),
  prefix_length_v6: v.optional(v.pipe(v.number(), v.integer(), v.minValue(16), v.maxValue(127)), 64),
  /** At least this many hosts of the prefix must carry traffic. */
  min_hosts: posInt(8),
  thresholds: v.optional(ThresholdsSchema, {}),
});

export const DetectionSchema = v.strictObject({
  /** Length of the sliding window rates are averaged over. */
  window_seconds: v.optional(v.pipe(v.number(), v.minValue(0.1), v.maxValue(60)), 1),
  /** Bucket size inside the window, and how often thresholds are checked. */
  tick_ms: v.optional(v.pipe(v.number(), v.integer(), v.minValue(10), v.maxValue(10000)), 100),
  /** An attack ends after its rates stay below threshold this long. */
  attack_hysteresis_seconds: nonNeg(30),
  /** Upper bound on tracked hosts per direction. */
  max_hosts: posInt(1_000_000, 20_000_000),
  /** Hosts without traffic this long are evicted. */
  idle_seconds: posInt(120),
  /** Spread a NetFlow/IPFIX record over its duration when timestamps allow. */
  spread_long_flows: v.optional(v.boolean(), true),
});

export const HostgroupSchema = v.strictObject({
  name: v.pipe(v.string(), v.minLength(1)),
  description: v.optional(v.string()),
  networks: v.pipe(v.array(PrefixString), v.minLength(1, 'a hostgroup needs at least one network')),
  thresholds: v.optional(ThresholdsSchema),
  thresholds_outgoing: v.optional(ThresholdsSchema),
  calculation: v.optional(v.picklist(['per_host', 'total']), 'per_host'),
  ban: v.optional(BanOverrideSchema),
  mitigation: v.optional(MitigationSchema),
  escalation: v.optional(EscalationSchema),
  flowspec: v.optional(v.partial(FlowspecSchema)),
  communities: v.optional(v.array(Community)),
  large_communities: v.optional(v.array(LargeCommunity)),
  baseline: v.optional(v.partial(BaselineSchema)),
});
export type Hostgroup = v.InferOutput<typeof HostgroupSchema>;

export const FAMILIES = ['ipv4_unicast', 'ipv6_unicast', 'ipv4_flowspec', 'ipv6_flowspec'] as const;
export const FamilySchema = v.picklist(FAMILIES);

export const NeighborSchema = v.strictObject({
  address: IPString,
  remote_asn: Asn,
  port: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(65535)), 179),
  description: v.optional(v.string()),
  /** Source address the session is opened from. */
  local_address: v.optional(IPString),
  /** Overrides bgp.local_asn for this neighbor. */
  local_asn: v.optional(Asn),
  hold_time: v.optional(v.pipe(v.number(), v.integer(), v.check((n) => n === 0 || (n >= 3 && n <= 65535), 'hold_time must be 0 or 3..65535')), 90),
  families: v.optional(v.pipe(v.array(FamilySchema), v.minLength(1)), [...FAMILIES]),
  /** Only accept the peer's connection; never connect out. */
  passive: v.optional(v.boolean(), false),
  /** Environment variable holding the TCP MD5 password. */
  md5_password_env: v.optional(v.string()),
  next_hop: v.optional(IPv4String),
  next_hop6: v.optional(IPv6String),
  community: v.optional(Community),
  communities: v.optional(v.array(Community)),
  large_communities: v.optional(v.array(LargeCommunity)),
  local_pref: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(4294967295))),
  enabled: v.optional(v.boolean(), true),
});
export type NeighborConfig = v.InferOutput<typeof NeighborSchema>;

export const BgpSchema = v.strictObject({
  local_asn: v.optional(Asn, 65000),
  router_id: v.optional(IPv4String),
  /** Where passive sessions are accepted; empty disables the listener. */
  listen: v.optional(ListenString, ''),
  /** IPv4 discard next hop for RTBH routes. */
  next_hop: v.optional(IPv4String, '192.0.2.1'),
  next_hop6: v.optional(IPv6String, '100::1'),
  community: v.optional(Community, '65535:666'),
  communities: v.optional(v.array(Community), []),
  large_communities: v.optional(v.array(LargeCommunity), []),
  local_pref: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(4294967295)), 100),
  graceful_restart: v.optional(
    v.strictObject({
      enabled: v.optional(v.boolean(), true),
      restart_seconds: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(4095)), 120),
    }),
    {},
  ),
  connect_retry_seconds: v.optional(v.pipe(v.number(), v.minValue(1)), 5),
  neighbors: v.optional(v.array(NeighborSchema), []),
});
export type BgpConfig = v.InferOutput<typeof BgpSchema>;

export const NotifySchema = v.strictObject({
  telegram: v.optional(v.strictObject({ token_env: v.string(), chat_id: v.union([v.string(), v.number()]) })),
  slack: v.optional(v.strictObject({ webhook_url: v.pipe(v.string(), v.url()) })),
  email: v.optional(
    v.strictObject({
      smtp_host: v.string(),
      smtp_port: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(65535)), 587),
      from: v.string(),
      to: v.union([v.string(), v.array(v.string())]),
      username_env: v.optional(v.string()),
      password_env: v.optional(v.string()),
      require_tls: v.optional(v.boolean(), true),
    }),
  ),
  webhook: v.optional(v.strictObject({ url: v.pipe(v.string(), v.url()), token_env: v.optional(v.string()) })),
  exec: v.optional(v.strictObject({ command: v.string(), timeout_seconds: v.optional(v.pipe(v.number(), v.minValue(1)), 10) })),
});

export const ApiSchema = v.strictObject({
  listen: v.optional(ListenString, '127.0.0.1:8080'),
  dashboard: v.optional(v.boolean(), true),
  /** A single admin token, read from this environment variable. */
  token_env: v.optional(v.string()),
  tokens: v.optional(
    v.array(v.strictObject({ name: v.string(), token_env: v.string(), role: v.optional(v.picklist(['viewer', 'operator', 'admin']), 'viewer') })),
    [],
  ),
});

export const StorageSchema = v.strictObject({
  data_dir: v.optional(v.string(), './data'),
  sqlite: v.optional(v.strictObject({ path: v.optional(v.string()) }), {}),
  clickhouse: v.optional(
    v.strictObject({
      url: v.pipe(v.string(), v.url()),
      database: v.optional(v.string(), 'breakwater'),
      username_env: v.optional(v.string()),
      password_env: v.optional(v.string()),
    }),
  ),
  /** Historical attacks and bans older than this are pruned. */
  retention_days: posInt(90),
});

export const ConfigSchema = v.strictObject({
  /** Absent means true: nothing reaches a router until this is false. */
  dry_run: v.optional(v.boolean(), true),
  log: v.optional(
    v.strictObject({
      level: v.optional(v.picklist(['trace', 'debug', 'info', 'warn', 'error', 'fatal']), 'info'),
      format: v.optional(v.picklist(['json', 'text']), 'json'),
    }),
    {},
  ),
  listen: v.optional(
    v.strictObject({
      /** NetFlow v5/v9 and IPFIX share this port. */
      netflow: v.optional(ListenString, ':2055'),
      sflow: v.optional(ListenString, ':6343'),
      /** Receive threads sharing each port (SO_REUSEPORT); 0 = one per core. */
      workers: nonNegInt(0, 64),
      receive_buffer_bytes: posInt(32 * 1024 * 1024),
    }),
    {},
  ),
  sampling: v.optional(
    v.strictObject({
      default_rate: posInt(1),
      boundary: v.optional(v.array(v.strictObject({ exporter: IPString, external_ifindexes: v.array(v.pipe(v.number(), v.integer(), v.minValue(0))) })), []),
    }),
    {},
  ),
  networks: v.optional(v.array(PrefixString), []),
  protected_whitelist: v.optional(v.array(PrefixString), []),
  /** Exporters allowed to send flows; empty means any. */
  flow_sources: v.optional(v.array(PrefixString), []),
  detection: v.optional(DetectionSchema, {}),
  thresholds: v.optional(ThresholdsSchema, {}),
  thresholds_outgoing: v.optional(ThresholdsSchema, {}),
  hostgroups: v.optional(v.array(HostgroupSchema), []),
  baseline: v.optional(BaselineSchema, {}),
  carpet: v.optional(CarpetSchema, {}),
  mitigation: v.optional(MitigationSchema, 'blackhole'),
  escalation: v.optional(EscalationSchema, []),
  flowspec: v.optional(FlowspecSchema, {}),
  ban: v.optional(BanSchema, {}),
  bgp: v.optional(BgpSchema, {}),
  samples: v.optional(
    v.strictObject({
      enabled: v.optional(v.boolean(), true),
      buffer_flows: posInt(10000),
      flows_per_attack: posInt(100, 100000),
    }),
    {},
  ),
  notify: v.optional(NotifySchema, {}),
  api: v.optional(ApiSchema, {}),
  storage: v.optional(StorageSchema, {}),
});

export type Config = v.InferOutput<typeof ConfigSchema>;
export type ConfigInput = v.InferInput<typeof ConfigSchema>;
