/**
 * The route model shared by the codec, the speaker and mitigation.
 * Plain data (JSON-friendly except raw attribute values), compared by the
 * canonical keys below.
 */
import { AFI, SAFI } from './constants.ts';

export type FamilyName = 'ipv4_unicast' | 'ipv6_unicast' | 'ipv4_flowspec' | 'ipv6_flowspec';
export const FAMILY_NAMES: readonly FamilyName[] = ['ipv4_unicast', 'ipv6_unicast', 'ipv4_flowspec', 'ipv6_flowspec'];

export interface AfiSafi {
  afi: number;
  safi: number;
}

export const AfiSafi: Record<FamilyName, AfiSafi> = {
  ipv4_unicast: { afi: AFI.IPV4, safi: SAFI.UNICAST },
  ipv6_unicast: { afi: AFI.IPV6, safi: SAFI.UNICAST },
  ipv4_flowspec: { afi: AFI.IPV4, safi: SAFI.FLOWSPEC },
  ipv6_flowspec: { afi: AFI.IPV6, safi: SAFI.FLOWSPEC },
};

/** The family name of an AFI/SAFI pair we support, or undefined. */
export function familyOf(afi: number, safi: number): FamilyName | undefined {
  if (afi === AFI.IPV4) return safi === SAFI.UNICAST ? 'ipv4_unicast' : safi === SAFI.FLOWSPEC ? 'ipv4_flowspec' : undefined;
  if (afi === AFI.IPV6) return safi === SAFI.UNICAST ? 'ipv6_unicast' : safi === SAFI.FLOWSPEC ? 'ipv6_flowspec' : undefined;
  return undefined;
}

/** "afi/safi" text for any pair (also unsupported ones), for logs. */
export function afiSafiText(afi: number, safi: number): string {
  return familyOf(afi, safi) ?? `afi ${afi}/safi ${safi}`;
}

export function isFlowspecFamily(f: FamilyName): f is 'ipv4_flowspec' | 'ipv6_flowspec' {
  return f === 'ipv4_flowspec' || f === 'ipv6_flowspec';
}

export function familyIpVersion(f: FamilyName): 4 | 6 {
  return f === 'ipv4_unicast' || f === 'ipv4_flowspec' ? 4 : 6;
}

// ---------------------------------------------------------------- attributes

export type Origin = 0 | 1 | 2; // igp, egp, incomplete

export interface AsPathSegment {
  /** 1 AS_SET, 2 AS_SEQUENCE, 3 AS_CONFED_SEQUENCE, 4 AS_CONFED_SET. */
  type: 1 | 2 | 3 | 4;
  asns: number[];
}

/** A large community (RFC 8092): global administrator, local data 1, local data 2. */
export type LargeCommunity = [number, number, number];

/** Extended communities we understand; anything else stays `raw`. */
export type ExtCommunity =
  /** 0x8006: rate in bytes/s as IEEE float32; 0 means discard. */
  | { type: 'traffic-rate'; asn: number; rate: number }
  /** 0x800c: rate in packets/s as IEEE float32. */
  | { type: 'traffic-rate-packets'; asn: number; rate: number }
  /** 0x8007. */
  | { type: 'traffic-action'; sample: boolean; terminal: boolean }
  /** 0x8008 (2-octet AS, 4-octet value) or 0x8208 (as4: 4-octet AS, 2-octet value). */
  | { type: 'redirect'; asn: number; value: number; as4: boolean }
  /** 0x8108. */
  | { type: 'redirect-ip'; ip: string; value: number }
  /** 0x8009: DSCP 0..63. */
  | { type: 'traffic-marking'; dscp: number }
  /** Route target / origin (RFC 4360, RFC 5668): global is an AS number or an IPv4 address. */
  | { type: 'target' | 'origin'; format: 'as2' | 'ipv4' | 'as4'; global: string; local: number }
  /** Any other: 8 bytes as 16 lowercase hex digits. */
  | { type: 'raw'; hex: string };

export interface RawAttribute {
  flags: number;
  code: number;
  value: Uint8Array;
}

export interface PathAttributes {
  origin?: Origin;
  asPath?: AsPathSegment[];
  /** IPv4 next hop (NEXT_HOP attribute), dotted text. */
  nextHop?: string;
  /** IPv6 global next hop carried in MP_REACH_NLRI. */
  nextHop6?: string;
  /** Optional IPv6 link-local next hop (32-byte MP next hop). */
  nextHop6LinkLocal?: string;
  med?: number;
  localPref?: number;
  atomicAggregate?: boolean;
  aggregator?: { asn: number; address: string };
  /** RFC 1997 communities as u32 (high 16 bits AS, low 16 bits value). */
  communities?: number[];
  extCommunities?: ExtCommunity[];
  largeCommunities?: LargeCommunity[];
  originatorId?: string;
  clusterList?: string[];
  /** Unrecognised optional transitive attributes, kept with their flags. */
  unknown?: RawAttribute[];
}

// ---------------------------------------------------------------- routes

export interface UnicastRoute {
  family: 'ipv4_unicast' | 'ipv6_unicast';
  /** Canonical prefix text, e.g. "198.51.100.7/32", "2001:db8::7/128". */
  prefix: string;
  attrs: PathAttributes;
  /** RFC 7911 path identifier when ADD-PATH is negotiated. */
  pathId?: number;
}

/** One numeric operator term (RFC 8955 §4.2.1.1). */
export interface NumericOp {
  /** AND with the previous term (false: OR). Ignored on the first term. */
  and: boolean;
  lt: boolean;
  gt: boolean;
  eq: boolean;
  value: number;
}

/** One bitmask operator term (RFC 8955 §4.2.1.2). */
export interface BitmaskOp {
  and: boolean;
  /** Logical negation of the result. */
  not: boolean;
  /** true: (data & value) == value; false: (data & value) != 0. */
  match: boolean;
  value: number;
}

export interface FlowspecPrefix {
  /** Canonical prefix text (host bits zero). */
  prefix: string;
  /** IPv6 only (RFC 8956): first bit of the address the pattern starts at. */
  offset?: number;
}

/** A FlowSpec rule: each component at most once; encoded in type order. */
export interface FlowspecRule {
  destination?: FlowspecPrefix; // 1
  source?: FlowspecPrefix; // 2
  /** IP protocol (IPv4) or next header (IPv6). */
  protocol?: NumericOp[]; // 3
  port?: NumericOp[]; // 4
  destinationPort?: NumericOp[]; // 5
  sourcePort?: NumericOp[]; // 6
  icmpType?: NumericOp[]; // 7
  icmpCode?: NumericOp[]; // 8
  tcpFlags?: BitmaskOp[]; // 9
  packetLength?: NumericOp[]; // 10
  dscp?: NumericOp[]; // 11
  fragment?: BitmaskOp[]; // 12
  /** IPv6 only. */
  flowLabel?: NumericOp[]; // 13
}

export interface FlowspecRoute {
  family: 'ipv4_flowspec' | 'ipv6_flowspec';
  rule: FlowspecRule;
  /** Actions live in attrs.extCommunities. */
  attrs: PathAttributes;
}

export type Route = UnicastRoute | FlowspecRoute;

export function isFlowspecRoute(r: Route): r is FlowspecRoute {
  return r.family === 'ipv4_flowspec' || r.family === 'ipv6_flowspec';
}

// ---------------------------------------------------------------- session context

/** What the session negotiated; passed to every encode/decode. */
export interface CodecContext {
  /** Both sides advertised the 4-octet AS capability. */
  as4: boolean;
  /** Both sides advertised the extended message capability (RFC 8654). */
  extendedMessage: boolean;
  /** Families negotiated (both sides advertised multiprotocol for them). */
  families?: ReadonlySet<FamilyName>;
  /** Families in which received NLRI carry an ADD-PATH identifier (RFC 7911). */
  addPathReceive?: ReadonlySet<FamilyName>;
  /** Families in which we send an ADD-PATH identifier. */
  addPathSend?: ReadonlySet<FamilyName>;
  /** Internal session (same AS): affects RFC 7606 handling of LOCAL_PREF etc. */
  ibgp?: boolean;
}

export const DEFAULT_CONTEXT: CodecContext = Object.freeze({ as4: true, extendedMessage: false });

export function maxMessageLength(ctx: CodecContext): number {
  return ctx.extendedMessage ? 65535 : 4096;
}

// ---------------------------------------------------------------- canonical text and keys

const TCP_FLAG_NAMES: Array<[number, string]> = [
  [0x01, 'fin'], [0x02, 'syn'], [0x04, 'rst'], [0x08, 'push'], [0x10, 'ack'], [0x20, 'urgent'], [0x40, 'ece'], [0x80, 'cwr'],
];
const FRAGMENT_NAMES: Array<[number, string]> = [
  [0x01, 'dont-fragment'], [0x02, 'is-fragment'], [0x04, 'first-fragment'], [0x08, 'last-fragment'],
];

function bitNames(v: number, names: Array<[number, string]>): string {
  const out: string[] = [];
  let rest = v;
  for (const [bit, name] of names) if (v & bit) { out.push(name); rest &= ~bit; }
  if (rest !== 0 || out.length === 0) out.push(`0x${rest.toString(16)}`);
  return out.join('+');
}

/** ExaBGP-style text of a numeric operator list: ">=1024&<=2048", "=53 =123". */
export function formatNumericOps(ops: readonly NumericOp[]): string {
  let s = '';
  ops.forEach((o, i) => {
    if (i > 0) s += o.and ? '&' : ' ';
    const op = (o.lt ? 4 : 0) | (o.gt ? 2 : 0) | (o.eq ? 1 : 0);
    s += ['false', '=', '>', '>=', '<', '<=', '!=', 'true'][op];
    if (op !== 0 && op !== 7) s += String(o.value);
    else s += `:${o.value}`;
  });
  return s;
}

/** ExaBGP-style text of a bitmask operator list: "=syn", "!ack", "syn&!ack". */
export function formatBitmaskOps(ops: readonly BitmaskOp[], names?: 'tcp' | 'fragment'): string {
  let s = '';
  ops.forEach((o, i) => {
    if (i > 0) s += o.and ? '&' : ' ';
    s += (o.not ? '!' : '') + (o.match ? '=' : '');
    s += names === 'tcp' ? bitNames(o.value, TCP_FLAG_NAMES) : names === 'fragment' ? bitNames(o.value, FRAGMENT_NAMES) : String(o.value);
  });
  return s;
}

function formatFsPrefix(p: FlowspecPrefix): string {
  return p.offset ? `${p.prefix}/${p.offset}` : p.prefix;
}

/**
 * Canonical ExaBGP-like text of a rule, components in type order:
 * "destination 192.0.2.1/32; protocol =17; source-port =53;".
 */
export function formatFlowspecRule(r: FlowspecRule): string {
  const parts: string[] = [];
  if (r.destination) parts.push(`destination ${formatFsPrefix(r.destination)}`);
  if (r.source) parts.push(`source ${formatFsPrefix(r.source)}`);
  if (r.protocol) parts.push(`protocol ${formatNumericOps(r.protocol)}`);
  if (r.port) parts.push(`port ${formatNumericOps(r.port)}`);
  if (r.destinationPort) parts.push(`destination-port ${formatNumericOps(r.destinationPort)}`);
  if (r.sourcePort) parts.push(`source-port ${formatNumericOps(r.sourcePort)}`);
  if (r.icmpType) parts.push(`icmp-type ${formatNumericOps(r.icmpType)}`);
  if (r.icmpCode) parts.push(`icmp-code ${formatNumericOps(r.icmpCode)}`);
  if (r.tcpFlags) parts.push(`tcp-flags ${formatBitmaskOps(r.tcpFlags, 'tcp')}`);
  if (r.packetLength) parts.push(`packet-length ${formatNumericOps(r.packetLength)}`);
  if (r.dscp) parts.push(`dscp ${formatNumericOps(r.dscp)}`);
  if (r.fragment) parts.push(`fragment ${formatBitmaskOps(r.fragment, 'fragment')}`);
  if (r.flowLabel) parts.push(`flow-label ${formatNumericOps(r.flowLabel)}`);
  return parts.map((p) => p + ';').join(' ');
}

/**
 * Canonical key of a route's NLRI (what identifies it in an Adj-RIB-Out):
 * "ipv4_unicast 198.51.100.7/32", "ipv6_flowspec destination 2001:db8::1/128; ...".
 */
export function routeKey(r: Route): string {
  if (isFlowspecRoute(r)) return `${r.family} ${formatFlowspecRule(r.rule)}`;
  return r.pathId !== undefined ? `${r.family} ${r.prefix} path ${r.pathId}` : `${r.family} ${r.prefix}`;
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/** Canonical key of a set of path attributes: equal keys encode identically. */
export function attrsKey(a: PathAttributes): string {
  const parts: unknown[] = [
    a.origin ?? null,
    a.asPath ? a.asPath.map((s) => [s.type, ...s.asns]) : null,
    a.nextHop ?? null,
    a.nextHop6 ?? null,
    a.nextHop6LinkLocal ?? null,
    a.med ?? null,
    a.localPref ?? null,
    a.atomicAggregate ? 1 : 0,
    a.aggregator ? [a.aggregator.asn, a.aggregator.address] : null,
    a.communities ?? null,
    a.extCommunities ? a.extCommunities.map((e) => JSON.stringify(e, Object.keys(e).sort())) : null,
    a.largeCommunities ?? null,
    a.originatorId ?? null,
    a.clusterList ?? null,
    a.unknown ? a.unknown.map((u) => [u.flags, u.code, hex(u.value)]) : null,
  ];
  return JSON.stringify(parts);
}
