/**
 * THE information-element table: every NetFlow v9 (RFC 3954 §8) / IPFIX
 * (RFC 7012, IANA "IPFIX Information Elements") element Breakwater reads, with
 * its id, enterprise number, IANA name, action code ("kind"), the widths it
 * may be encoded in, where it applies (data records, options records or both)
 * and what it does to the record. The generic data-set walker (dataset.ts),
 * the compiled plans (plan.ts) and the options reader (sampling.ts) all see
 * elements only through fieldKind()/optionKind() below, which read this
 * table: a new element is one row here plus the code for its kind.
 *
 * Everything not in the table, and every enterprise-specific element except
 * the RFC 5103 reverse counters (PEN 29305), is skipped by length, as are
 * variable-length and zero-length encodings and widths the row does not allow
 * (e.g. an IPv4 address declared with 2 bytes).
 */

export const K = {
  SKIP: 0,
  SRC4: 1,
  DST4: 2,
  SRC6: 3,
  DST6: 4,
  SPORT: 5,
  DPORT: 6,
  PROTO: 7,
  TCPFLAGS: 8,
  BYTES: 9,
  PACKETS: 10,
  BYTES2: 11,
  PACKETS2: 12,
  BYTES3: 13,
  PACKETS3: 14,
  REV_BYTES: 15,
  REV_PACKETS: 16,
  IN_IF: 17,
  OUT_IF: 18,
  ICMP_TC: 19,
  ICMP_TYPE: 20,
  ICMP_CODE: 21,
  FIRST_UP: 22,
  LAST_UP: 23,
  START_S: 24,
  END_S: 25,
  START_MS: 26,
  END_MS: 27,
  START_US: 28,
  END_US: 29,
  START_NS: 30,
  END_NS: 31,
  START_DUS: 32,
  END_DUS: 33,
  RATE: 34,
  SAMPLER: 35,
  PKT_INTERVAL: 36,
  PKT_SPACE: 37,
  SAMP_SIZE: 38,
  SAMP_POP: 39,
  DIRECTION: 40,
  FRAG_FLAGS: 41,
  FRAG_OFF: 42,
  SYSINIT: 43,
  ICMP_TC6: 44,
  ICMP_TYPE6: 45,
  ICMP_CODE6: 46,
  SAMP_PROB: 47,
} as const;

/** Reverse-direction elements of RFC 5103 carry this PEN. */
export const PEN_REVERSE = 29305;
/** Variable length marker (RFC 7011 §7). */
export const VARLEN = 65535;

/** Where an element is read: in flow data records, in options data records (sampler state), or both. */
export const APPLIES = { DATA: 1, OPTIONS: 2, BOTH: 3 } as const;
export type Applies = (typeof APPLIES)[keyof typeof APPLIES];

export interface InfoElement {
  id: number;
  /** Enterprise number (0 = IANA standard). */
  pen: number;
  name: string;
  kind: number;
  /** Encoded widths accepted (reduced-size encoding, RFC 7011 §6.2); others are skipped. */
  widths: readonly number[];
  applies: Applies;
  /** What the element does to the decoded record (or to the sampler state). */
  effect: string;
}

const UINT = [1, 2, 3, 4, 5, 6, 7, 8] as const;
const { DATA, OPTIONS, BOTH } = APPLIES;

function ie(id: number, pen: number, name: string, kind: number, widths: readonly number[], applies: Applies, effect: string): InfoElement {
  return { id, pen, name, kind, widths, applies, effect };
}

export const ELEMENTS: readonly InfoElement[] = [
  ie(1, 0, 'octetDeltaCount', K.BYTES, UINT, DATA, 'bytes (first choice)'),
  ie(2, 0, 'packetDeltaCount', K.PACKETS, UINT, DATA, 'packets (first choice)'),
  ie(231, 0, 'initiatorOctets', K.BYTES2, UINT, DATA, 'bytes when no octetDeltaCount (Cisco NSEL)'),
  ie(298, 0, 'initiatorPackets', K.PACKETS2, UINT, DATA, 'packets when no packetDeltaCount'),
  ie(85, 0, 'octetTotalCount', K.BYTES3, UINT, DATA, 'bytes when neither of the above'),
  ie(86, 0, 'packetTotalCount', K.PACKETS3, UINT, DATA, 'packets when neither of the above'),
  ie(4, 0, 'protocolIdentifier', K.PROTO, UINT, DATA, 'ipProto (last byte)'),
  ie(6, 0, 'tcpControlBits', K.TCPFLAGS, UINT, DATA, 'tcpFlags (last byte: 2-byte encodings per RFC 7125)'),
  ie(7, 0, 'sourceTransportPort', K.SPORT, UINT, DATA, 'srcPort (low 16 bits)'),
  ie(11, 0, 'destinationTransportPort', K.DPORT, UINT, DATA, 'dstPort (low 16 bits); type<<8|code for ICMP without an ICMP element'),
  ie(8, 0, 'sourceIPv4Address', K.SRC4, [4], DATA, 'src4'),
  ie(12, 0, 'destinationIPv4Address', K.DST4, [4], DATA, 'dst4'),
  ie(27, 0, 'sourceIPv6Address', K.SRC6, [16], DATA, 'src6; family 6 unless all zero beside IPv4 addresses'),
  ie(28, 0, 'destinationIPv6Address', K.DST6, [16], DATA, 'dst6; family 6 unless all zero beside IPv4 addresses'),
  ie(10, 0, 'ingressInterface', K.IN_IF, UINT, DATA, 'inIf'),
  ie(14, 0, 'egressInterface', K.OUT_IF, UINT, DATA, 'outIf'),
  ie(32, 0, 'icmpTypeCodeIPv4', K.ICMP_TC, UINT, DATA, 'icmpType, icmpCode (last two bytes)'),
  ie(139, 0, 'icmpTypeCodeIPv6', K.ICMP_TC6, UINT, DATA, 'icmpType, icmpCode of IPv6 records (last two bytes)'),
  ie(176, 0, 'icmpTypeIPv4', K.ICMP_TYPE, UINT, DATA, 'icmpType'),
  ie(177, 0, 'icmpCodeIPv4', K.ICMP_CODE, UINT, DATA, 'icmpCode'),
  ie(178, 0, 'icmpTypeIPv6', K.ICMP_TYPE6, UINT, DATA, 'icmpType of IPv6 records'),
  ie(179, 0, 'icmpCodeIPv6', K.ICMP_CODE6, UINT, DATA, 'icmpCode of IPv6 records'),
  ie(22, 0, 'flowStartSysUpTime', K.FIRST_UP, UINT, DATA, 'start = export time - (sysUptime - value) (v9) or systemInitTime + value'),
  ie(21, 0, 'flowEndSysUpTime', K.LAST_UP, UINT, DATA, 'end, likewise'),
  ie(150, 0, 'flowStartSeconds', K.START_S, UINT, DATA, 'start (s) when no finer absolute time'),
  ie(151, 0, 'flowEndSeconds', K.END_S, UINT, DATA, 'end (s) when no finer absolute time'),
  ie(152, 0, 'flowStartMilliseconds', K.START_MS, UINT, DATA, 'start (first choice)'),
  ie(153, 0, 'flowEndMilliseconds', K.END_MS, UINT, DATA, 'end (first choice)'),
  ie(154, 0, 'flowStartMicroseconds', K.START_US, [8], DATA, 'start (NTP timestamp)'),
  ie(155, 0, 'flowEndMicroseconds', K.END_US, [8], DATA, 'end (NTP timestamp)'),
  ie(156, 0, 'flowStartNanoseconds', K.START_NS, [8], DATA, 'start (NTP timestamp)'),
  ie(157, 0, 'flowEndNanoseconds', K.END_NS, [8], DATA, 'end (NTP timestamp)'),
  ie(158, 0, 'flowStartDeltaMicroseconds', K.START_DUS, UINT, DATA, 'start = export time - value'),
  ie(159, 0, 'flowEndDeltaMicroseconds', K.END_DUS, UINT, DATA, 'end = export time - value'),
  ie(160, 0, 'systemInitTimeMilliseconds', K.SYSINIT, UINT, BOTH, 'base of the SysUpTime elements (record, else the options value)'),
  ie(34, 0, 'samplingInterval', K.RATE, UINT, BOTH, 'samplingRate (record first; options: sampler or exporter-wide rate)'),
  ie(50, 0, 'samplerRandomInterval', K.RATE, UINT, BOTH, 'samplingRate, as samplingInterval'),
  ie(48, 0, 'samplerId', K.SAMPLER, UINT, BOTH, 'sampler table key (v9 FLOW_SAMPLER_ID)'),
  ie(302, 0, 'selectorId', K.SAMPLER, UINT, BOTH, 'sampler table key'),
  ie(305, 0, 'samplingPacketInterval', K.PKT_INTERVAL, UINT, BOTH, 'samplingRate = (interval + space) / interval'),
  ie(306, 0, 'samplingPacketSpace', K.PKT_SPACE, UINT, BOTH, 'see samplingPacketInterval'),
  ie(309, 0, 'samplingSize', K.SAMP_SIZE, UINT, BOTH, 'samplingRate = population / size'),
  ie(310, 0, 'samplingPopulation', K.SAMP_POP, UINT, BOTH, 'see samplingSize'),
  ie(311, 0, 'samplingProbability', K.SAMP_PROB, [8], OPTIONS, 'samplingRate = 1 / probability (float64)'),
  ie(61, 0, 'flowDirection', K.DIRECTION, UINT, DATA, 'direction (0 ingress, 1 egress)'),
  ie(197, 0, 'fragmentFlags', K.FRAG_FLAGS, UINT, DATA, 'fragment = 1 when More Fragments'),
  ie(88, 0, 'fragmentOffset', K.FRAG_OFF, UINT, DATA, 'fragment = 1 when non-zero'),
  ie(1, PEN_REVERSE, 'reverseOctetDeltaCount', K.REV_BYTES, UINT, DATA, 'revBytes (RFC 5103 biflow)'),
  ie(2, PEN_REVERSE, 'reversePacketDeltaCount', K.REV_PACKETS, UINT, DATA, 'revPackets (RFC 5103 biflow)'),
];

/**
 * The kinds of the rows that apply to options records: what sampling.ts's
 * readSamplingField() reads, in options records and (those that apply to
 * both) in flow data records alike.
 */
export const SAMPLING_KINDS: ReadonlySet<number> = new Set(ELEMENTS.filter((e) => (e.applies & OPTIONS) !== 0).map((e) => e.kind));

/** (pen, id) -> row; read when a template is compiled, never per record. */
const BY_KEY = new Map<number, InfoElement>(ELEMENTS.map((e) => [e.pen * 65536 + e.id, e]));

/** The table row of an element, or undefined. */
export function infoElement(id: number, pen: number): InfoElement | undefined {
  return BY_KEY.get(pen * 65536 + id);
}

function kindOf(id: number, pen: number, len: number, where: Applies): number {
  if (len === VARLEN || len === 0) return K.SKIP;
  const e = BY_KEY.get(pen * 65536 + id);
  if (e === undefined || (e.applies & where) === 0 || !e.widths.includes(len)) return K.SKIP;
  return e.kind;
}

/** The kind of a data-record field, or SKIP when Breakwater does not use it there or its width cannot hold it. */
export function fieldKind(id: number, pen: number, len: number): number {
  return kindOf(id, pen, len, DATA);
}

/** The kind of an options-record field (sampler state), or SKIP. */
export function optionKind(id: number, pen: number, len: number): number {
  return kindOf(id, pen, len, OPTIONS);
}
