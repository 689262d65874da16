/**
 * The configuration schema: the single source of truth for keys, types and
 * defaults. Types are inferred from it (Config, Thresholds, ...). Every object
 * is strict, so an unknown key is an error that names it.
 *
 * Every key carries a one-line description (`doc(schema, text)`, valibot's
 * description metadata); `npm run config-doc` prints them, with types and
 * defaults, as the configuration reference in docs/configuration.md.
 */
import * as v from 'valibot';
import { parseCommunity, parseLargeCommunity } from '../core/community.ts';
import { parseIP, parseIPv4, parsePrefix } from '../core/ip.ts';

const nonNeg = (def?: number) => (def === undefined ? v.optional(v.pipe(v.number(), v.minValue(0))) : v.optional(v.pipe(v.number(), v.minValue(0)), def));
const posInt = (def: number, max = Number.MAX_SAFE_INTEGER) => v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(max)), def);
const nonNegInt = (def: number, max = Number.MAX_SAFE_INTEGER) => v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(max)), def);

/**
 * A key's one-line description. Metadata only: `pipe` keeps the wrapped
 * schema's type, `wrapped` and `default`, so optional keys and their defaults
 * (and the inferred types) are exactly those of `schema`.
 */
const doc = <const S extends v.GenericSchema>(schema: S, text: string) => v.pipe(schema, v.description<v.InferOutput<S>, string>(text));

export const PrefixString = v.pipe(
  v.string(),
  v.check((s) => typeof parsePrefix(s) !== 'string', (issue) => String(parsePrefix(issue.input as string))),
  v.title('prefix'),
);

export const IPString = v.pipe(v.string(), v.check((s) => parseIP(s) !== null, (issue) => `"${issue.input}" is not an IP address`), v.title('IP address'));
export const IPv4String = v.pipe(v.string(), v.check((s) => parseIPv4(s) >= 0, (issue) => `"${issue.input}" is not an IPv4 address`), v.title('IPv4 address'));
export const IPv6String = v.pipe(v.string(), v.check((s) => s.includes(':') && parseIP(s) !== null, (issue) => `"${issue.input}" is not an IPv6 address`), v.title('IPv6 address'));

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
  v.title('listen address'),
);

/** Standard and large communities: the one grammar of core/community.ts (the command line's too). */
const Community = v.pipe(v.string(), v.check((s) => typeof parseCommunity(s) === 'number', (i) => String(parseCommunity(i.input as string))), v.title('community'));
const LargeCommunity = v.pipe(v.string(), v.check((s) => typeof parseLargeCommunity(s) !== 'string', (i) => String(parseLargeCommunity(i.input as string))), v.title('large community'));

const Asn = v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(4294967295), v.title('ASN'));

/** Rates above which a host is under attack. Absent or 0 means "no limit". */
export const ThresholdsSchema = v.strictObject({
  pps: doc(nonNeg(), 'Packets per second.'),
  mbps: doc(nonNeg(), 'Megabits per second.'),
  flows_per_sec: doc(nonNeg(), 'Flows per second.'),
  tcp_pps: doc(nonNeg(), 'TCP packets per second.'),
  tcp_mbps: doc(nonNeg(), 'TCP megabits per second.'),
  udp_pps: doc(nonNeg(), 'UDP packets per second.'),
  udp_mbps: doc(nonNeg(), 'UDP megabits per second.'),
  icmp_pps: doc(nonNeg(), 'ICMP and ICMPv6 packets per second.'),
  icmp_mbps: doc(nonNeg(), 'ICMP and ICMPv6 megabits per second.'),
  tcp_syn_pps: doc(nonNeg(), 'TCP SYN (without ACK) packets per second.'),
  tcp_syn_mbps: doc(nonNeg(), 'TCP SYN (without ACK) megabits per second.'),
  frag_pps: doc(nonNeg(), 'IP fragment packets per second.'),
  frag_mbps: doc(nonNeg(), 'IP fragment megabits per second.'),
});
export type Thresholds = v.InferOutput<typeof ThresholdsSchema>;

export const EscalationAction = v.picklist(['flowspec', 'flowspec_rate_limit', 'flowspec_discard', 'blackhole']);
export const EscalationSchema = v.array(
  v.strictObject({
    after_seconds: doc(v.pipe(v.number(), v.minValue(0)), 'Seconds after the ban was created at which this step applies.'),
    action: doc(EscalationAction, 'Level to step up to (`flowspec_rate_limit` < `flowspec_discard` < `blackhole`; `flowspec` follows `flowspec.action`); a weaker step is passed over.'),
    method: doc(v.optional(v.string()), 'A `flowspec_methods` name: from this step on, FlowSpec rules of the ban use that method\'s match instead of the built-in rule for the vector.'),
  }),
);
export type Escalation = v.InferOutput<typeof EscalationSchema>;

/** A FlowSpec method's match (RFC 8955 §4.2.2 components; the destination is always the ban's target). */
const PortItem = v.union(
  [v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(65535)), v.pipe(v.string(), v.regex(/^[0-9]{1,5}(-[0-9]{1,5})?$/))],
  'a port is a number 0..65535 or a range "LO-HI"',
);
const ProtocolItem = v.union(
  [v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(255)), v.picklist(['icmp', 'tcp', 'udp', 'gre', 'esp', 'icmpv6', 'sctp'])],
  'a protocol is a number 0..255 or one of icmp, tcp, udp, gre, esp, icmpv6, sctp',
);
const Byte = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(255));
export const TCP_FLAG_RE = /^!?(fin|syn|rst|psh|ack|urg|ece|cwr)(&!?(fin|syn|rst|psh|ack|urg|ece|cwr))*$/i;
export const FRAGMENT_KINDS = ['is_fragment', 'first_fragment', 'last_fragment', 'dont_fragment'] as const;

export const FlowspecMatchSchema = v.strictObject({
  source: doc(v.optional(PrefixString), 'Source prefix of the traffic to match.'),
  protocol: doc(v.optional(v.pipe(v.array(ProtocolItem), v.minLength(1))), 'IP protocols (IPv6: next header), any of them: numbers or names (`udp`, `tcp`, `icmp`, ...).'),
  source_port: doc(v.optional(v.pipe(v.array(PortItem), v.minLength(1))), 'Source ports, any of them: numbers or ranges `"LO-HI"`.'),
  destination_port: doc(v.optional(v.pipe(v.array(PortItem), v.minLength(1))), 'Destination ports, any of them: numbers or ranges `"LO-HI"`.'),
  tcp_flags: doc(
    v.optional(v.pipe(v.string(), v.regex(TCP_FLAG_RE, 'tcp_flags is flags joined by & with ! for "must be clear", e.g. "syn&!ack"'))),
    'TCP flags that must be set, and with `!` clear, joined by `&`: `"syn&!ack"`.',
  ),
  fragment: doc(v.optional(v.union([v.boolean(), v.picklist(FRAGMENT_KINDS)])), '`true` or `is_fragment`: fragments; `first_fragment`, `last_fragment`, `dont_fragment`.'),
  packet_length: doc(
    v.optional(
      v.strictObject({
        min: doc(v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(65535))), 'Shortest packet matched, in bytes.'),
        max: doc(v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(65535))), 'Longest packet matched, in bytes.'),
      }),
    ),
    'IP packet length range in bytes, `{min, max}` (either may be left out).',
  ),
  icmp_type: doc(v.optional(Byte), 'ICMP type.'),
  icmp_code: doc(v.optional(Byte), 'ICMP code.'),
  dscp: doc(v.optional(v.pipe(v.array(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(63))), v.minLength(1))), 'DSCP values, any of them (0..63).'),
});
export type FlowspecMatch = v.InferOutput<typeof FlowspecMatchSchema>;

export const FlowspecActionSchema = v.pipe(
  v.strictObject({
    discard: doc(v.optional(v.literal(true)), 'Drop matching traffic (traffic-rate 0).'),
    rate_limit_mbps: doc(v.optional(v.pipe(v.number(), v.minValue(0))), 'Police matching traffic to this many megabits per second (traffic-rate, RFC 8955 §7.3).'),
    redirect_rt: doc(v.optional(v.pipe(v.string(), v.regex(/^[0-9]{1,10}:[0-9]{1,10}$/, 'redirect_rt is "ASN:VALUE"'))), 'Redirect matching traffic to the VRF with this route target, `"ASN:VALUE"` (RFC 8955 §7.4).'),
    mark_dscp: doc(v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(63))), 'Rewrite the DSCP of matching traffic (traffic-marking, RFC 8955 §7.5); may go with another action.'),
  }),
  v.check((a) => [a.discard, a.rate_limit_mbps, a.redirect_rt].filter((x) => x !== undefined).length + (a.mark_dscp !== undefined ? 1 : 0) >= 1, 'an action needs discard, rate_limit_mbps, redirect_rt or mark_dscp'),
  v.check((a) => [a.discard, a.rate_limit_mbps, a.redirect_rt].filter((x) => x !== undefined).length <= 1, 'discard, rate_limit_mbps and redirect_rt exclude each other'),
);
export type FlowspecActionConfig = v.InferOutput<typeof FlowspecActionSchema>;

export const FlowspecMethodSchema = v.strictObject({
  name: doc(v.pipe(v.string(), v.regex(/^[A-Za-z0-9_.-]{1,64}$/, 'a method name is 1..64 letters, digits, _ . -')), 'Unique name, used by hostgroups, escalation steps and the API.'),
  description: doc(v.optional(v.string()), 'Free text.'),
  match: doc(FlowspecMatchSchema, 'What traffic to the target the rule matches.'),
  action: doc(FlowspecActionSchema, 'What the routers do with it.'),
  platforms: doc(v.optional(v.array(v.string())), 'Names of `platforms` whose neighbors get the rule; absent: every FlowSpec neighbor.'),
});
export type FlowspecMethod = v.InferOutput<typeof FlowspecMethodSchema>;

export const PlatformSchema = v.strictObject({
  name: doc(v.pipe(v.string(), v.minLength(1)), 'Unique name of the platform (a set of routers).'),
  description: doc(v.optional(v.string()), 'Free text.'),
  neighbors: doc(v.pipe(v.array(IPString), v.minLength(1)), 'Addresses of `bgp.neighbors` in the platform.'),
});
export type Platform = v.InferOutput<typeof PlatformSchema>;

export const PROFILES = ['junos', 'iosxr', 'eos', 'sros', 'frr', 'bird', 'generic'] as const;

export const MitigationSchema = v.picklist(['blackhole', 'flowspec']);

export const FlowspecSchema = v.strictObject({
  action: doc(v.optional(v.picklist(['discard', 'rate_limit']), 'discard'), 'What a FlowSpec rule does with matching traffic: drop it, or police it to `rate_mbps`.'),
  rate_mbps: doc(nonNeg(0), 'traffic-rate of `rate_limit` rules, in megabits per second.'),
  max_rules_per_ban: doc(posInt(4, 64), 'At most this many FlowSpec rules per ban.'),
});

export const BanSchema = v.strictObject({
  ttl_seconds: doc(posInt(600), 'Lifetime of a ban; when it runs out while the attack goes on, the ban is extended by the hysteresis time.'),
  unban_hysteresis_seconds: doc(nonNegInt(60), 'A ban ends only after its attack has stayed below threshold this long.'),
  max_active_bans: doc(nonNegInt(100), 'Hard cap on live bans; `0` allows none.'),
  max_banned_fraction: doc(v.optional(v.pipe(v.number(), v.minValue(0), v.maxValue(1)), 0.05), 'Largest share of the `networks` address space (per family) that may be banned at once.'),
  max_bans_per_window: doc(nonNegInt(50), 'At most this many new bans per `ban_window_seconds` (manual bans included); `0` allows none.'),
  ban_window_seconds: doc(posInt(60), 'Window of `max_bans_per_window`.'),
  fallback: doc(v.optional(v.picklist(['blackhole', 'none']), 'none'), 'What a neighbor that cannot take FlowSpec gets for a FlowSpec ban: a blackhole route, or nothing.'),
});
export type BanConfig = v.InferOutput<typeof BanSchema>;

/** Same keys as BanSchema, all optional, for hostgroup overrides. */
export const BanOverrideSchema = v.partial(
  v.strictObject({ ...BanSchema.entries, ttl_seconds: doc(v.pipe(v.number(), v.integer(), v.minValue(1)), 'Lifetime of a ban; when it runs out while the attack goes on, the ban is extended by the hysteresis time.') }),
);

export const BaselineSchema = v.strictObject({
  enabled: doc(v.optional(v.boolean(), false), 'Also judge hosts against a learned normal rate: limit = max(static, `factor` × baseline, floor).'),
  half_life_seconds: doc(posInt(3600), 'Half-life of the exponentially weighted normal rate.'),
  warmup_seconds: doc(nonNegInt(600), 'No baseline verdicts until a host has been seen this long.'),
  factor: doc(v.optional(v.pipe(v.number(), v.minValue(1)), 3), 'A host is attacked above this many times its baseline (and above the floors).'),
  floor_pps: doc(nonNeg(1000), 'The baseline limit is never below this many packets per second.'),
  floor_mbps: doc(nonNeg(10), 'The baseline limit is never below this many megabits per second.'),
  floor_flows_per_sec: doc(nonNeg(100), 'The baseline limit is never below this many flows per second.'),
});

export const CarpetSchema = v.strictObject({
  enabled: doc(v.optional(v.boolean(), false), 'Sum incoming traffic per prefix and ban a prefix as one target (vector `carpet_bomb`).'),
  prefix_length_v4: doc(v.optional(v.pipe(v.number(), v.integer(), v.minValue(8), v.maxValue(31)), 24), 'Length of the IPv4 prefixes traffic is summed over.'),
  prefix_length_v6: doc(v.optional(v.pipe(v.number(), v.integer(), v.minValue(16), v.maxValue(127)), 64), 'Length of the IPv6 prefixes traffic is summed over.'),
  min_hosts: doc(posInt(8), 'At least this many hosts of the prefix must carry traffic.'),
  thresholds: doc(v.optional(ThresholdsSchema, {}), 'Limits for a prefix total.'),
});

export const DetectionSchema = v.strictObject({
  window_seconds: doc(v.optional(v.pipe(v.number(), v.minValue(0.1), v.maxValue(60)), 1), 'Length of the sliding window rates are averaged over.'),
  tick_ms: doc(v.optional(v.pipe(v.number(), v.integer(), v.minValue(10), v.maxValue(10000)), 100), 'Bucket size inside the window, and how often limits are checked.'),
  attack_hysteresis_seconds: doc(nonNeg(30), 'An attack ends after its rates stay below its limits this long.'),
  max_hosts: doc(posInt(1_000_000, 20_000_000), 'Upper bound on tracked hosts per direction.'),
  idle_seconds: doc(posInt(120), 'Hosts without traffic this long are evicted.'),
  spread_long_flows: doc(v.optional(v.boolean(), true), 'Count a NetFlow/IPFIX record longer than the window at its average rate over its duration.'),
});

export const HostgroupSchema = v.strictObject({
  name: doc(v.pipe(v.string(), v.minLength(1)), 'Unique name of the group.'),
  description: doc(v.optional(v.string()), 'Free text.'),
  networks: doc(v.pipe(v.array(PrefixString), v.minLength(1, 'a hostgroup needs at least one network')), 'Prefixes of the group, each inside `networks`; a host belongs to the group with the most specific one.'),
  thresholds: doc(v.optional(ThresholdsSchema), 'Incoming limits overriding `thresholds` key by key (unset keys inherit, `0` disables).'),
  thresholds_outgoing: doc(v.optional(ThresholdsSchema), 'Outgoing limits overriding `thresholds_outgoing` key by key.'),
  calculation: doc(v.optional(v.picklist(['per_host', 'total']), 'per_host'), '`per_host` judges each host; `total` sums the group and bans it as one target.'),
  ban: doc(v.optional(BanOverrideSchema), 'Ban settings for the group: TTL and hysteresis replace the global ones, its caps apply on top of the global caps.'),
  mitigation: doc(v.optional(MitigationSchema), 'How the group\'s bans start (the global `mitigation` when unset).'),
  escalation: doc(v.optional(EscalationSchema), 'Escalation ladder replacing the global `escalation`.'),
  flowspec: doc(v.optional(v.partial(FlowspecSchema)), 'FlowSpec settings overriding `flowspec` key by key.'),
  flowspec_method: doc(v.optional(v.string()), 'A `flowspec_methods` name: the group\'s FlowSpec bans use its match, action and platforms instead of the built-in rule for the vector.'),
  communities: doc(v.optional(v.array(Community)), 'Communities added to the group\'s blackhole routes.'),
  large_communities: doc(v.optional(v.array(LargeCommunity)), 'Large communities added to the group\'s blackhole routes.'),
  baseline: doc(v.optional(v.partial(BaselineSchema)), 'Baseline settings overriding `baseline` key by key.'),
  tenant: doc(v.optional(v.pipe(v.string(), v.minLength(1))), 'Tenant owning the group\'s hosts: API tokens with the same `tenant` see and act only on them.'),
});
export type Hostgroup = v.InferOutput<typeof HostgroupSchema>;

export const FAMILIES = ['ipv4_unicast', 'ipv6_unicast', 'ipv4_flowspec', 'ipv6_flowspec'] as const;
export const FamilySchema = v.picklist(FAMILIES);

export const NeighborSchema = v.strictObject({
  address: doc(IPString, 'Address of the peer.'),
  remote_asn: doc(Asn, 'AS number of the peer; equal to the local ASN makes the session iBGP.'),
  port: doc(v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(65535)), 179), 'TCP port of the peer.'),
  description: doc(v.optional(v.string()), 'Free text, shown in the status.'),
  local_address: doc(v.optional(IPString), 'Source address the session is opened from.'),
  local_asn: doc(v.optional(Asn), 'Overrides `bgp.local_asn` for this neighbor.'),
  hold_time: doc(
    v.optional(v.pipe(v.number(), v.integer(), v.check((n) => n === 0 || (n >= 3 && n <= 65535), 'hold_time must be 0 or 3..65535')), 90),
    'Hold time offered in seconds: `0` (no keepalives) or 3 to 65535.',
  ),
  families: doc(v.optional(v.pipe(v.array(FamilySchema), v.minLength(1)), [...FAMILIES]), 'Address families offered to the peer.'),
  passive: doc(v.optional(v.boolean(), false), 'Only accept the peer\'s connection (on `bgp.listen`); never connect out.'),
  md5_password_env: doc(v.optional(v.string()), 'Environment variable holding the TCP MD5 password.'),
  next_hop: doc(v.optional(IPv4String), 'Replaces `bgp.next_hop` for this neighbor.'),
  next_hop6: doc(v.optional(IPv6String), 'Replaces `bgp.next_hop6` for this neighbor.'),
  community: doc(v.optional(Community), 'Replaces `bgp.community` for this neighbor.'),
  communities: doc(v.optional(v.array(Community)), 'Replaces `bgp.communities` for this neighbor.'),
  large_communities: doc(v.optional(v.array(LargeCommunity)), 'Replaces `bgp.large_communities` for this neighbor.'),
  local_pref: doc(v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(4294967295))), 'Replaces `bgp.local_pref` for this neighbor (iBGP only).'),
  enabled: doc(v.optional(v.boolean(), true), '`false` keeps the neighbor in the file but opens no session.'),
  profile: doc(v.optional(v.picklist(PROFILES), 'generic'), 'The router\'s FlowSpec capabilities: every rule is linted against them and one that fails is not sent to this neighbor (docs/flowspec.md).'),
  send_queue_bytes: doc(
    v.optional(v.pipe(v.number(), v.integer(), v.minValue(16384), v.maxValue(268435456)), 1048576),
    'Bytes of output held for the peer beyond what the kernel buffers: the Adj-RIB-Out (initial table, route refresh) is written only while less is queued.',
  ),
  send_stall_seconds: doc(
    v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(3600)), 30),
    'A peer that reads none of the output queued for it for this long (the kernel buffers full, no progress) is reset with NOTIFICATION Cease / Out of Resources.',
  ),
});
export type NeighborConfig = v.InferOutput<typeof NeighborSchema>;

export const BgpSchema = v.strictObject({
  local_asn: doc(v.optional(Asn, 65000), 'Breakwater\'s AS number (4-byte ASNs allowed).'),
  router_id: doc(v.optional(IPv4String), 'BGP identifier; unset: a neighbor\'s IPv4 `local_address`, else a local interface address.'),
  listen: doc(v.optional(ListenString, ''), 'Where passive sessions are accepted (`":179"`); empty disables the listener.'),
  next_hop: doc(v.optional(IPv4String, '192.0.2.1'), 'IPv4 discard next hop of blackhole routes.'),
  next_hop6: doc(v.optional(IPv6String, '100::1'), 'IPv6 discard next hop of blackhole routes (`100::/64` is the RFC 6666 discard prefix).'),
  community: doc(v.optional(Community, '65535:666'), 'Community on every blackhole route (`65535:666` is BLACKHOLE, RFC 7999).'),
  communities: doc(v.optional(v.array(Community), []), 'More communities on every blackhole route.'),
  large_communities: doc(v.optional(v.array(LargeCommunity), []), 'Large communities (RFC 8092) on every blackhole route.'),
  local_pref: doc(v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(4294967295)), 100), 'LOCAL_PREF of routes sent to iBGP neighbors.'),
  graceful_restart: doc(
    v.optional(
      v.strictObject({
        enabled: doc(v.optional(v.boolean(), true), 'Offer graceful restart (RFC 4724) and close sessions without a NOTIFICATION on shutdown, so routers keep the routes.'),
        restart_seconds: doc(v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(4095)), 120), 'How long routers keep Breakwater\'s routes while it restarts.'),
      }),
      {},
    ),
    'Graceful restart: mitigation survives a restart or upgrade.',
  ),
  connect_retry_seconds: doc(v.optional(v.pipe(v.number(), v.minValue(1)), 5), 'First wait before retrying a failed connection; it doubles on each further failure (up to 120 s, with jitter) and resets once the session is established.'),
  neighbors: doc(v.optional(v.array(NeighborSchema), []), 'BGP peers: the routers that receive the routes.'),
});
export type BgpConfig = v.InferOutput<typeof BgpSchema>;

/** Names of the notification events (payload `event`); `test` is what `breakwater notify-test` sends. */
export const NOTIFY_EVENTS = [
  'attack_start', 'attack_update', 'attack_end', 'ban', 'unban', 'escalation', 'ban_refused',
  'bgp_down', 'bgp_up', 'exporter_silent', 'exporter_back', 'reload', 'mode_change', 'test',
] as const;
export type NotifyEventName = (typeof NOTIFY_EVENTS)[number];

const notifyEvents = doc(
  v.optional(v.array(v.picklist(NOTIFY_EVENTS))),
  'Events this channel receives (names as in the webhook body, e.g. `ban`, `unban`, `attack_start`, `bgp_down`); unset: every event.',
);
/** An empty string switches the channel off (configs written for other tools leave it empty). */
const urlOrEmpty = v.union([v.literal(''), v.pipe(v.string(), v.url())]);

export const NotifySchema = v.strictObject({
  telegram: doc(
    v.optional(
      v.strictObject({
        token_env: doc(v.string(), 'Environment variable holding the bot token.'),
        chat_id: doc(v.union([v.string(), v.number()]), 'Chat the bot posts to.'),
        api_url: doc(v.optional(urlOrEmpty, 'https://api.telegram.org'), 'Bot API base URL (a local Bot API server or a proxy); empty: the official one.'),
        events: notifyEvents,
      }),
    ),
    'Telegram bot messages.',
  ),
  slack: doc(
    v.optional(v.strictObject({ webhook_url: doc(urlOrEmpty, 'Slack incoming-webhook URL; empty: off.'), events: notifyEvents })),
    'Slack messages (incoming webhook, with blocks).',
  ),
  email: doc(
    v.optional(
      v.strictObject({
        smtp_host: doc(v.string(), 'SMTP server; empty: off.'),
        smtp_port: doc(v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(65535)), 587), 'SMTP port (465: implicit TLS).'),
        from: doc(v.string(), 'Sender address.'),
        to: doc(v.union([v.string(), v.array(v.string())]), 'Recipient address, or a list.'),
        username_env: doc(v.optional(v.string()), 'Environment variable holding the SMTP user name.'),
        password_env: doc(v.optional(v.string()), 'Environment variable holding the SMTP password.'),
        require_tls: doc(v.optional(v.boolean(), true), 'Send only over TLS (STARTTLS or implicit TLS). With credentials set, TLS is required whatever this says.'),
        events: notifyEvents,
      }),
    ),
    'Email.',
  ),
  webhook: doc(
    v.optional(
      v.strictObject({
        url: doc(urlOrEmpty, 'URL that receives each event as a JSON POST (body: docs/webhook.schema.json); empty: off.'),
        token_env: doc(v.optional(v.string()), 'Environment variable holding a bearer token sent with each POST.'),
        secret_env: doc(v.optional(v.string()), 'Environment variable holding the HMAC key: each POST carries `X-Breakwater-Signature: sha256=<hex HMAC-SHA256 of the body>`.'),
        events: notifyEvents,
      }),
    ),
    'HTTP webhook.',
  ),
  exec: doc(
    v.optional(
      v.strictObject({
        command: doc(
          v.union([v.string(), v.array(v.string())]),
          'Program run for each notification, without a shell: a string split on spaces (quotes group words) or a list of arguments; empty: off.',
        ),
        timeout_seconds: doc(v.optional(v.pipe(v.number(), v.minValue(1)), 10), 'The program (its whole process group) is killed after this long.'),
        format: doc(
          v.optional(v.picklist(['breakwater', 'kapkan', 'fastnetmon']), 'breakwater'),
          '`breakwater` (`kapkan`: the same): event name as last argument, JSON on stdin. `fastnetmon`: `<ip> <incoming|outgoing> <pps> <ban|unban|attack_details>`, details on stdin.',
        ),
        events: notifyEvents,
      }),
    ),
    'Exec hook. Runs with a minimal environment (PATH, LANG): no daemon secrets.',
  ),
  group_seconds: doc(
    v.optional(v.pipe(v.number(), v.minValue(0)), 3),
    'A burst of the same event (bans, unbans, attack starts and ends, refusals) within this many seconds is one message per channel, with the count; 0: one message per event.',
  ),
  timeout_seconds: doc(v.optional(v.pipe(v.number(), v.minValue(0.1)), 10), 'Time limit of one HTTP or SMTP delivery.'),
  exporter_silent_seconds: doc(v.optional(v.pipe(v.number(), v.minValue(0)), 120), 'An exporter that sent datagrams and then none for this long raises `exporter_silent` (`exporter_back` when it returns); 0: off.'),
  outbox: doc(
    v.optional(
      v.strictObject({
        path: doc(v.optional(v.string()), 'Outbox database file; unset: `notify.db` in `storage.data_dir`.'),
        max_rows: doc(posInt(10_000), 'At most this many notifications wait; beyond it the oldest waiting (failed first) is dropped and counted.'),
        max_bytes: doc(posInt(16 * 1024 * 1024), 'At most this many bytes of bodies wait; beyond it the oldest is dropped and counted.'),
        retry_initial_seconds: doc(v.optional(v.pipe(v.number(), v.minValue(0.01)), 1), 'First wait before a failed delivery is retried; it doubles each time (with jitter).'),
        retry_max_seconds: doc(v.optional(v.pipe(v.number(), v.minValue(0.01)), 60), 'Longest wait between retries.'),
        max_age_seconds: doc(v.optional(v.pipe(v.number(), v.minValue(1)), 86_400), 'A notification not delivered after this long is marked failed (logged, counted, shown in the status).'),
      }),
      {},
    ),
    'Durable outbox (SQLite): each notification is written before delivery and removed once delivered.',
  ),
});
export type NotifyConfig = v.InferOutput<typeof NotifySchema>;

export const ApiSchema = v.strictObject({
  listen: doc(v.optional(ListenString, '127.0.0.1:8080'), 'Listen address of the REST API, dashboard and `/metrics`; empty disables it.'),
  dashboard: doc(v.optional(v.boolean(), true), 'Serve the web console (docs/console.md) at `/` and `/assets/` on the API listener; it logs in with an API token. `false`: those paths answer 404. Applied on reload.'),
  token_env: doc(v.optional(v.string()), 'Environment variable holding a single admin token.'),
  tokens: doc(
    v.optional(
      v.array(
        v.strictObject({
          name: doc(v.string(), 'Token name, recorded as the actor in the audit log.'),
          token_env: doc(v.string(), 'Environment variable holding the token.'),
          role: doc(v.optional(v.picklist(['viewer', 'operator', 'admin']), 'viewer'), '`viewer` reads; `operator` also bans and unbans; `admin` also reloads (and forces a dangerous reload) and reads the config.'),
          tenant: doc(
            v.optional(v.pipe(v.string(), v.minLength(1))),
            'The token sees and acts only on the hosts of the hostgroups with this `tenant`; anything else answers 404, routes covering every tenant 403.',
          ),
        }),
      ),
      [],
    ),
    'Bearer tokens with roles; with any token set, every endpoint but `/healthz` (and `/metrics`, see `metrics_token_required`) needs one.',
  ),
  insecure_no_auth: doc(
    v.optional(v.boolean(), false),
    'Allow `listen` beyond loopback without any token (the daemon refuses to start otherwise, and warns at every start with it).',
  ),
  metrics_token_required: doc(v.optional(v.boolean(), false), '`/metrics` needs a token (any role) too; by default it stays open for Prometheus.'),
  command_pipe: doc(
    v.optional(v.string(), ''),
    'Named pipe (FIFO) the daemon creates and reads ExaBGP-style ban/unban commands from, like FastNetMon\'s `exabgp_command_pipe` (see command-pipe.md); empty: none.',
  ),
});

export const StorageSchema = v.strictObject({
  data_dir: doc(v.optional(v.string(), './data'), 'Directory of the SQLite database and the PID file.'),
  sqlite: doc(v.optional(v.strictObject({ path: doc(v.optional(v.string()), 'Database file; unset: `breakwater.db` in `data_dir`.') }), {}), 'SQLite state store.'),
  clickhouse: doc(
    v.optional(
      v.strictObject({
        url: doc(v.pipe(v.string(), v.url()), 'ClickHouse HTTP interface URL.'),
        database: doc(v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'database must be letters, digits and _')), 'breakwater'), 'Database name (created at start if missing).'),
        username_env: doc(v.optional(v.string()), 'Environment variable holding the user name.'),
        password_env: doc(v.optional(v.string()), 'Environment variable holding the password.'),
        ttl_days: doc(nonNegInt(90), 'Days of history kept (whole days are dropped, one partition each); `0` keeps everything.'),
        flush_interval_seconds: doc(posInt(5, 3600), 'Queued rows are inserted at least this often.'),
        batch_size: doc(posInt(10000, 1_000_000), 'Rows per insert; a table\'s queue is flushed as soon as it holds this many.'),
        queue_size: doc(posInt(200000, 10_000_000), 'Rows held in memory; beyond this, batches go to the on-disk spool.'),
        traffic_interval_seconds: doc(posInt(10, 3600), 'Per-host, per-hostgroup and per-exporter traffic rows are written this often.'),
        traffic_min_pps: doc(v.optional(v.pipe(v.number(), v.minValue(0)), 1), 'Hosts below this rate (packets/s, either direction) get no traffic row; the totals still count them.'),
        traffic_max_hosts: doc(posInt(100000, 10_000_000), 'At most this many hosts (busiest first) get a traffic row per interval.'),
        spool_max_bytes: doc(posInt(1024 * 1024 * 1024), 'Size of the on-disk spool (`history-spool` in `data_dir`) used while ClickHouse is slow or down; when full, the oldest traffic rows are dropped first, never attacks, bans or samples.'),
        timeout_seconds: doc(posInt(10, 600), 'An insert or query that takes longer is abandoned (inserts go to the spool and are retried).'),
      }),
    ),
    'Attack, ban, sample and traffic history in ClickHouse as well (SQLite keeps the state). Nothing accepted is lost while ClickHouse is slow or down; detection and BGP never wait on it.',
  ),
  retention_days: doc(posInt(90), 'Ended attacks and bans older than this are pruned.'),
});

const ClusterSchema = v.strictObject({
  node_id: doc(v.pipe(v.string(), v.regex(/^[A-Za-z0-9_.-]{1,64}$/, 'cluster.node_id is 1..64 letters, digits, "_", "." or "-"')), 'This node\'s name in the cluster, unique among the nodes (letters, digits, `_`, `.`, `-`).'),
  etcd: doc(
    v.strictObject({
      endpoints: doc(v.pipe(v.array(v.pipe(v.string(), v.regex(/^https?:\/\/[^\s]+$/, 'an etcd endpoint is a URL like "http://127.0.0.1:2379"'))), v.minLength(1)), 'etcd client URLs, e.g. `http://10.0.0.1:2379`.'),
      prefix: doc(v.optional(v.pipe(v.string(), v.regex(/^\/[^\s]*[^/\s]$/, 'cluster.etcd.prefix starts with "/" and does not end with "/"')), '/breakwater'), 'Key prefix of the cluster: bans under `<prefix>/bans/`, nodes under `<prefix>/nodes/`.'),
      username_env: doc(v.optional(v.string()), 'Environment variable holding the etcd user name.'),
      password_env: doc(v.optional(v.string()), 'Environment variable holding the etcd password.'),
      ca_file: doc(v.optional(v.string()), 'CA certificate (PEM) that signed the etcd server certificates: TLS to etcd.'),
      cert_file: doc(v.optional(v.string()), 'Client certificate (PEM) for etcd TLS client authentication.'),
      key_file: doc(v.optional(v.string()), 'Private key (PEM) of `cert_file`.'),
      dial_timeout_seconds: doc(v.optional(v.pipe(v.number(), v.minValue(0.1), v.maxValue(60)), 5), 'How long one etcd request may take; a node that cannot reach etcd for this long is partitioned.'),
    }),
    'The etcd cluster holding the ledger.',
  ),
  partition_policy: doc(v.optional(v.picklist(['hold', 'local']), 'hold'), 'While etcd is unreachable: `hold` keeps the known bans until their TTL and creates none; `local` also bans on this node\'s own decisions (proposed to the ledger on return).'),
});

export const ConfigSchema = v.strictObject({
  dry_run: doc(v.optional(v.boolean(), true), 'Absent or `true`: detect, ban and peer, but never announce a route; `false` goes live.'),
  log: doc(
    v.optional(
      v.strictObject({
        level: doc(v.optional(v.picklist(['trace', 'debug', 'info', 'warn', 'error', 'fatal']), 'info'), 'Lowest level logged.'),
        format: doc(v.optional(v.picklist(['json', 'text']), 'json'), 'JSON lines or human-readable text; `-log-format` overrides it.'),
      }),
      {},
    ),
    'Logging.',
  ),
  listen: doc(
    v.optional(
      v.strictObject({
        netflow: doc(v.optional(ListenString, ':2055'), 'UDP address for NetFlow v5, v9 and IPFIX; empty disables it.'),
        sflow: doc(v.optional(ListenString, ':6343'), 'UDP address for sFlow v5; empty disables it.'),
        workers: doc(nonNegInt(0, 64), 'Receive threads sharing each port (`SO_REUSEPORT`); `0` = one per core.'),
        receive_buffer_bytes: doc(posInt(32 * 1024 * 1024), 'Socket receive buffer asked for (`SO_RCVBUF`), in bytes.'),
        receiver: doc(
          v.optional(v.picklist(['auto', 'batched', 'dgram']), 'auto'),
          'How datagrams are read: `batched` = many per `recvmmsg` call (native addon, Linux); `dgram` = `node:dgram`; `auto` = `batched` when the addon is present.',
        ),
        max_flow_state_mb: doc(posInt(64), 'Memory for all exporters\' flow state (templates, held data, samplers, stats) per receive thread, in MiB (estimated); over it, the least recently heard exporters are forgotten whole.'),
        max_template_bytes_per_exporter: doc(posInt(16 * 1024 * 1024), 'Template memory one exporter may hold, in bytes (estimated); further templates from it are refused and counted.'),
        max_interface_gbps: doc(posInt(400), 'Speed of the fastest interface an exporter reports on, in Gbit/s: a record carrying more packets or bits per second than that (sampling applied) is dropped as implausible.'),
        max_flow_seconds: doc(posInt(86400), 'Longest flow a record may describe (end minus start), in seconds; a longer one, or one that ends before it starts, is dropped as implausible.'),
      }),
      {},
    ),
    'Flow listeners.',
  ),
  sampling: doc(
    v.optional(
      v.strictObject({
        default_rate: doc(posInt(1), 'Sampling rate of exporters that do not report one (`1` = every packet).'),
        max_rate: doc(posInt(1_000_000), 'Largest sampling rate believed: records with a higher one are dropped as implausible (never below `default_rate`).'),
        boundary: doc(
          v.optional(
            v.array(
              v.strictObject({
                exporter: doc(IPString, 'Source address of the exporter\'s datagrams.'),
                external_ifindexes: doc(v.array(v.pipe(v.number(), v.integer(), v.minValue(0))), 'Input interfaces (ifIndex) where traffic enters the network; its other records are dropped.'),
              }),
            ),
            [],
          ),
          'Count a packet seen by several exporters once: where it enters the network.',
        ),
      }),
      {},
    ),
    'Sampling correction and de-duplication.',
  ),
  networks: doc(v.optional(v.array(PrefixString), []), 'Protected prefixes (IPv4 and IPv6): only addresses inside them are counted or banned.'),
  protected_whitelist: doc(v.optional(v.array(PrefixString), []), 'Prefixes never banned, whatever their traffic.'),
  flow_sources: doc(v.optional(v.array(PrefixString), []), 'Exporters allowed to send flows; empty means any.'),
  detection: doc(v.optional(DetectionSchema, {}), 'Sliding window and host table.'),
  thresholds: doc(v.optional(ThresholdsSchema, {}), 'Incoming limits per destination host; absent or `0` means no limit.'),
  thresholds_outgoing: doc(v.optional(ThresholdsSchema, {}), 'Outgoing limits per source host inside `networks`; absent or `0` means no limit.'),
  hostgroups: doc(v.optional(v.array(HostgroupSchema), []), 'Groups of prefixes with their own limits, ban settings and mitigation.'),
  baseline: doc(v.optional(BaselineSchema, {}), 'Learned per-host normal rates.'),
  carpet: doc(v.optional(CarpetSchema, {}), 'Carpet-bombing detection: attacks spread over many hosts of a prefix.'),
  mitigation: doc(v.optional(MitigationSchema, 'blackhole'), 'How a ban starts: a blackhole route (RTBH) or FlowSpec rules (`flowspec.action`).'),
  escalation: doc(v.optional(EscalationSchema, []), 'Steps applied while an attack goes on, counted from the ban\'s creation; never steps down.'),
  flowspec: doc(v.optional(FlowspecSchema, {}), 'FlowSpec rules (RFC 8955/8956).'),
  flowspec_methods: doc(v.optional(v.array(FlowspecMethodSchema), []), 'Named FlowSpec rules (match and action) for manual mitigations, hostgroups and escalation steps.'),
  platforms: doc(v.optional(v.array(PlatformSchema), []), 'Named sets of neighbors a FlowSpec method is sent to.'),
  ban: doc(v.optional(BanSchema, {}), 'Ban lifetime and safety caps.'),
  bgp: doc(v.optional(BgpSchema, {}), 'The BGP speaker and its neighbors.'),
  samples: doc(
    v.optional(
      v.strictObject({
        enabled: doc(v.optional(v.boolean(), true), 'Keep sample flows on each attack.'),
        buffer_flows: doc(posInt(10000), 'Recent flows kept to seed a new attack\'s sample.'),
        flows_per_attack: doc(posInt(100, 100000), 'Sample flows kept per attack.'),
      }),
      {},
    ),
    'Flow samples kept with attacks.',
  ),
  signals: doc(
    v.optional(
      v.strictObject({
        require_corroboration: doc(posInt(1, 16), 'Distinct sources (signal names, and `flow` for an attack Breakwater detected itself) that must report a target within `corroboration_window_seconds` before a signal bans it; 1: any one signal may ban.'),
        corroboration_window_seconds: doc(posInt(300, 86400), 'How long a source\'s report of a target counts towards `require_corroboration`.'),
        max_tracked_targets: doc(posInt(10000, 1000000), 'At most this many targets are remembered for corroboration, and at most this many signal attacks are kept open; the oldest is dropped first.'),
      }),
      {},
    ),
    'Attacks reported by other detectors (`POST /api/v1/events`, `/api/v1/signals/*`): they go through the same ban guards as detected ones.',
  ),
  notify: doc(v.optional(NotifySchema, {}), 'Notifications of attacks, bans, BGP sessions, exporters and reloads: Telegram, Slack, email, webhook, exec hook.'),
  api: doc(v.optional(ApiSchema, {}), 'REST API, dashboard and metrics.'),
  storage: doc(v.optional(StorageSchema, {}), 'Where state and history are kept.'),
  cluster: doc(v.optional(ClusterSchema), 'Active/active nodes sharing one ban ledger in etcd; absent: a single node. Restart only.'),
});

export type Config = v.InferOutput<typeof ConfigSchema>;
export type ConfigInput = v.InferInput<typeof ConfigSchema>;
