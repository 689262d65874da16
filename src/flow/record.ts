/**
 * The decoded flow record handed from the decoders to a FlowSink. Decoders own
 * ONE scratch record, overwrite it for every flow and call sink.record()
 * synchronously: a sink that wants to keep anything must copy it.
 */

export const FlowProto = { netflow5: 'netflow5', netflow9: 'netflow9', ipfix: 'ipfix', sflow5: 'sflow5' } as const;
export type FlowProto = (typeof FlowProto)[keyof typeof FlowProto];

/** Bits of FlowRecord.fields: which optional fields the source actually carried. */
export const F = {
  SRC_ADDR: 1 << 0,
  DST_ADDR: 1 << 1,
  SRC_PORT: 1 << 2,
  DST_PORT: 1 << 3,
  IP_PROTO: 1 << 4,
  TCP_FLAGS: 1 << 5,
  ICMP: 1 << 6,
  BYTES: 1 << 7,
  PACKETS: 1 << 8,
  IN_IF: 1 << 9,
  OUT_IF: 1 << 10,
  START: 1 << 11,
  END: 1 << 12,
  FRAGMENT: 1 << 13,
  /** revBytes/revPackets carried (IPFIX biflow, RFC 5103 reverse elements). */
  REVERSE: 1 << 14,
  /** direction carried (NetFlow v9 / IPFIX flowDirection, 61). */
  DIRECTION: 1 << 15,
} as const;

export interface FlowRecord {
  /** Exporter (datagram source) address text, set once per datagram. */
  exporter: string;
  proto: FlowProto;
  /** v9 source id / IPFIX observation domain / sFlow agent sub-id. */
  domain: number;
  /** 4 or 6: which of the address fields below are meaningful. */
  family: 4 | 6;
  /** IPv4 addresses as u32 (family 4). */
  src4: number;
  dst4: number;
  /** IPv6 addresses (family 6); the arrays are reused, copy them to keep them. */
  readonly src6: Uint8Array;
  readonly dst6: Uint8Array;
  srcPort: number;
  dstPort: number;
  ipProto: number;
  tcpFlags: number;
  icmpType: number;
  icmpCode: number;
  /** 1 when the packet/flow is an IP fragment (non-first, or first with MF). */
  fragment: number;
  /** As exported, NOT multiplied by the sampling rate. */
  bytes: number;
  packets: number;
  /** Biflow reverse direction counters (dst -> src), as exported; see F.REVERSE. */
  revBytes: number;
  revPackets: number;
  /** 0 ingress, 1 egress (flowDirection), when F.DIRECTION is set. */
  direction: number;
  /** The rate Breakwater applies to this record (1 when unsampled). */
  samplingRate: number;
  inIf: number;
  outIf: number;
  /** Milliseconds since the epoch, 0 when not resolvable. */
  start: number;
  end: number;
  /** Receive time of the datagram (ms since the epoch; capture time in replay). */
  received: number;
  /** Bitmask of F: which fields the source carried. */
  fields: number;
}

export function newFlowRecord(): FlowRecord {
  return {
    exporter: '',
    proto: 'netflow5',
    domain: 0,
    family: 4,
    src4: 0,
    dst4: 0,
    src6: new Uint8Array(16),
    dst6: new Uint8Array(16),
    srcPort: 0,
    dstPort: 0,
    ipProto: 0,
    tcpFlags: 0,
    icmpType: 0,
    icmpCode: 0,
    fragment: 0,
    bytes: 0,
    packets: 0,
    revBytes: 0,
    revPackets: 0,
    direction: 0,
    samplingRate: 1,
    inIf: 0,
    outIf: 0,
    start: 0,
    end: 0,
    received: 0,
    fields: 0,
  };
}

/**
 * Clears what a packet header says (addresses, ports, protocol, flags, ICMP,
 * fragment) and their bits in `fields`; counters, times and interfaces stay.
 * The IPv6 arrays are only read for family 6: they are cleared only when used.
 */
export function clearPacketFields(r: FlowRecord): void {
  if (r.family === 6) {
    r.src6.fill(0);
    r.dst6.fill(0);
  }
  r.family = 4;
  r.src4 = 0;
  r.dst4 = 0;
  r.srcPort = 0;
  r.dstPort = 0;
  r.ipProto = 0;
  r.tcpFlags = 0;
  r.icmpType = 0;
  r.icmpCode = 0;
  r.fragment = 0;
  r.fields &= ~(F.SRC_ADDR | F.DST_ADDR | F.SRC_PORT | F.DST_PORT | F.IP_PROTO | F.TCP_FLAGS | F.ICMP | F.FRAGMENT);
}

/**
 * The numeric fields clearFlowRecord zeroes (besides family 4, the IPv6
 * arrays, samplingRate 1 and fields 0): a compiled plan (plan.ts) zeroes only
 * those of them it does not always write itself.
 */
export const CLEARED_FIELDS = ['src4', 'dst4', 'srcPort', 'dstPort', 'ipProto', 'tcpFlags', 'icmpType', 'icmpCode', 'fragment', 'bytes', 'packets', 'revBytes', 'revPackets', 'direction', 'inIf', 'outIf', 'start', 'end'] as const;

/** Clears every per-record field (not exporter/proto/domain/received): the one reset all decoders use. */
export function clearFlowRecord(r: FlowRecord): void {
  clearPacketFields(r);
  r.bytes = 0;
  r.packets = 0;
  r.revBytes = 0;
  r.revPackets = 0;
  r.direction = 0;
  r.samplingRate = 1;
  r.inIf = 0;
  r.outIf = 0;
  r.start = 0;
  r.end = 0;
  r.fields = 0;
}

export interface FlowSink {
  /** Called synchronously for every decoded record; `r` is reused after return. */
  record(r: FlowRecord): void;
}
