/**
 * Information elements Breakwater reads from NetFlow v9 (RFC 3954 §8) and IPFIX
 * (RFC 7012, IANA "IPFIX Information Elements") data records, mapped to a small
 * action code ("kind") that the compiled template plan switches on. Everything
 * else, and every enterprise-specific element except the RFC 5103 reverse
 * counters (PEN 29305), is skipped by length.
 *
 *   id   name (IPFIX)                    kind            id   name                           kind
 *   1    octetDeltaCount                 BYTES           2    packetDeltaCount               PACKETS
 *   231  initiatorOctets (NSEL)          BYTES2          298  initiatorPackets               PACKETS2
 *   85   octetTotalCount                 BYTES3          86   packetTotalCount               PACKETS3
 *   4    protocolIdentifier              PROTO           6    tcpControlBits                 TCPFLAGS
 *   7    sourceTransportPort             SPORT           11   destinationTransportPort       DPORT
 *   8    sourceIPv4Address               SRC4            12   destinationIPv4Address         DST4
 *   27   sourceIPv6Address               SRC6            28   destinationIPv6Address         DST6
 *   10   ingressInterface                IN_IF           14   egressInterface                OUT_IF
 *   32   icmpTypeCodeIPv4                ICMP_TC         139  icmpTypeCodeIPv6               ICMP_TC6
 *   176  icmpTypeIPv4                    ICMP_TYPE       177  icmpCodeIPv4                   ICMP_CODE
 *   178  icmpTypeIPv6                    ICMP_TYPE6      179  icmpCodeIPv6                   ICMP_CODE6
 *   22   flowStartSysUpTime              FIRST_UP        21   flowEndSysUpTime               LAST_UP
 *   150  flowStartSeconds                START_S         151  flowEndSeconds                 END_S
 *   152  flowStartMilliseconds           START_MS        153  flowEndMilliseconds            END_MS
 *   154  flowStartMicroseconds (NTP)     START_US        155  flowEndMicroseconds (NTP)      END_US
 *   156  flowStartNanoseconds (NTP)      START_NS        157  flowEndNanoseconds (NTP)       END_NS
 *   158  flowStartDeltaMicroseconds      START_DUS       159  flowEndDeltaMicroseconds       END_DUS
 *   160  systemInitTimeMilliseconds      SYSINIT
 *   34   samplingInterval                RATE            50   samplerRandomInterval          RATE
 *   48   samplerId (v9 FLOW_SAMPLER_ID)  SAMPLER         302  selectorId                     SAMPLER
 *   305  samplingPacketInterval          PKT_INTERVAL    306  samplingPacketSpace            PKT_SPACE
 *   309  samplingSize                    SAMP_SIZE       310  samplingPopulation             SAMP_POP
 *   61   flowDirection                   DIRECTION       197  fragmentFlags                  FRAG_FLAGS
 *   88   fragmentOffset                  FRAG_OFF
 *   PEN 29305: 1 reverse octetDeltaCount REV_BYTES       2    reverse packetDeltaCount       REV_PACKETS
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
} as const;

/** Reverse-direction elements of RFC 5103 carry this PEN. */
export const PEN_REVERSE = 29305;
/** Variable length marker (RFC 7011 §7). */
export const VARLEN = 65535;

/** Standard (PEN 0) element id -> kind. */
const STD: Record<number, number> = {
  1: K.BYTES,
  2: K.PACKETS,
  231: K.BYTES2,
  298: K.PACKETS2,
  85: K.BYTES3,
  86: K.PACKETS3,
  4: K.PROTO,
  6: K.TCPFLAGS,
  7: K.SPORT,
  11: K.DPORT,
  8: K.SRC4,
  12: K.DST4,
  27: K.SRC6,
  28: K.DST6,
  10: K.IN_IF,
  14: K.OUT_IF,
  32: K.ICMP_TC,
  139: K.ICMP_TC6,
  176: K.ICMP_TYPE,
  177: K.ICMP_CODE,
  178: K.ICMP_TYPE6,
  179: K.ICMP_CODE6,
  22: K.FIRST_UP,
  21: K.LAST_UP,
  150: K.START_S,
  151: K.END_S,
  152: K.START_MS,
  153: K.END_MS,
  154: K.START_US,
  155: K.END_US,
  156: K.START_NS,
  157: K.END_NS,
  158: K.START_DUS,
  159: K.END_DUS,
  160: K.SYSINIT,
  34: K.RATE,
  50: K.RATE,
  48: K.SAMPLER,
  302: K.SAMPLER,
  305: K.PKT_INTERVAL,
  306: K.PKT_SPACE,
  309: K.SAMP_SIZE,
  310: K.SAMP_POP,
  61: K.DIRECTION,
  197: K.FRAG_FLAGS,
  88: K.FRAG_OFF,
};

/**
 * The kind of a data-record field, or SKIP when Breakwater does not use it or
 * its length cannot hold it (e.g. an IPv4 address declared with 2 bytes).
 */
export function fieldKind(id: number, pen: number, len: number): number {
  if (len === VARLEN || len === 0) return K.SKIP;
  let k: number;
  if (pen === 0) k = STD[id] ?? K.SKIP;
  else if (pen === PEN_REVERSE) k = id === 1 ? K.REV_BYTES : id === 2 ? K.REV_PACKETS : K.SKIP;
  else return K.SKIP;
  switch (k) {
    case K.SRC4:
    case K.DST4:
      return len === 4 ? k : K.SKIP;
    case K.SRC6:
    case K.DST6:
      return len === 16 ? k : K.SKIP;
    case K.START_US:
    case K.END_US:
    case K.START_NS:
    case K.END_NS:
      return len === 8 ? k : K.SKIP;
    default:
      return len <= 8 ? k : K.SKIP;
  }
}
