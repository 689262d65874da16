/**
 * BGP code points (IANA registries) used by the codec. Plain `as const`
 * objects: Node runs .ts by stripping types, so no enums.
 */

export const MARKER_LEN = 16;
export const HEADER_LEN = 19;
/** RFC 4271 §4.1. */
export const MAX_MESSAGE_LEN = 4096;
/** RFC 8654 (extended message), for every type except OPEN and KEEPALIVE. */
export const MAX_EXTENDED_MESSAGE_LEN = 65535;

export const MSG = {
  OPEN: 1,
  UPDATE: 2,
  NOTIFICATION: 3,
  KEEPALIVE: 4,
  ROUTE_REFRESH: 5,
} as const;
export type MessageType = (typeof MSG)[keyof typeof MSG];

export const MSG_NAMES: Record<number, string> = {
  1: 'OPEN',
  2: 'UPDATE',
  3: 'NOTIFICATION',
  4: 'KEEPALIVE',
  5: 'ROUTE-REFRESH',
};

/** Minimum total length per message type (RFC 4271 §4, RFC 2918). */
export const MIN_LEN: Record<number, number> = {
  1: 29,
  2: 23,
  3: 21,
  4: 19,
  5: 23,
};

export const AFI = { IPV4: 1, IPV6: 2 } as const;
export const SAFI = { UNICAST: 1, FLOWSPEC: 133 } as const;

/** Path attribute type codes. */
export const ATTR = {
  ORIGIN: 1,
  AS_PATH: 2,
  NEXT_HOP: 3,
  MED: 4,
  LOCAL_PREF: 5,
  ATOMIC_AGGREGATE: 6,
  AGGREGATOR: 7,
  COMMUNITIES: 8,
  ORIGINATOR_ID: 9,
  CLUSTER_LIST: 10,
  MP_REACH_NLRI: 14,
  MP_UNREACH_NLRI: 15,
  EXTENDED_COMMUNITIES: 16,
  AS4_PATH: 17,
  AS4_AGGREGATOR: 18,
  LARGE_COMMUNITIES: 32,
} as const;

export const ATTR_NAMES: Record<number, string> = {
  1: 'ORIGIN',
  2: 'AS_PATH',
  3: 'NEXT_HOP',
  4: 'MULTI_EXIT_DISC',
  5: 'LOCAL_PREF',
  6: 'ATOMIC_AGGREGATE',
  7: 'AGGREGATOR',
  8: 'COMMUNITIES',
  9: 'ORIGINATOR_ID',
  10: 'CLUSTER_LIST',
  14: 'MP_REACH_NLRI',
  15: 'MP_UNREACH_NLRI',
  16: 'EXTENDED_COMMUNITIES',
  17: 'AS4_PATH',
  18: 'AS4_AGGREGATOR',
  32: 'LARGE_COMMUNITY',
};

/** Attribute flag bits. */
export const FLAG = {
  OPTIONAL: 0x80,
  TRANSITIVE: 0x40,
  PARTIAL: 0x20,
  EXTENDED_LENGTH: 0x10,
} as const;

export const ORIGIN = { IGP: 0, EGP: 1, INCOMPLETE: 2 } as const;
export const ORIGIN_NAMES = ['igp', 'egp', 'incomplete'] as const;

export const AS_PATH_SEGMENT = {
  AS_SET: 1,
  AS_SEQUENCE: 2,
  AS_CONFED_SEQUENCE: 3,
  AS_CONFED_SET: 4,
} as const;

/** RFC 6793. */
export const AS_TRANS = 23456;

/** OPEN optional parameter types. */
export const OPT_PARAM = { CAPABILITIES: 2 } as const;

/** Capability codes (IANA "Capability Codes"). */
export const CAP = {
  MULTIPROTOCOL: 1,
  ROUTE_REFRESH: 2,
  EXTENDED_MESSAGE: 6,
  GRACEFUL_RESTART: 64,
  AS4: 65,
  ADD_PATH: 69,
  ENHANCED_ROUTE_REFRESH: 70,
  /** Pre-standard Cisco route refresh; recognised, never sent. */
  ROUTE_REFRESH_CISCO: 128,
} as const;

export const CAP_NAMES: Record<number, string> = {
  1: 'multiprotocol',
  2: 'route-refresh',
  6: 'extended-message',
  64: 'graceful-restart',
  65: '4-octet-as',
  69: 'add-path',
  70: 'enhanced-route-refresh',
  128: 'route-refresh-cisco',
};

/** ROUTE-REFRESH message subtypes (RFC 7313). */
export const RR_SUBTYPE = { NORMAL: 0, BORR: 1, EORR: 2 } as const;

/** NOTIFICATION error codes and subcodes (RFC 4271 §4.5, RFC 4486, RFC 7313, RFC 8203). */
export const ERR = {
  HEADER: 1,
  OPEN: 2,
  UPDATE: 3,
  HOLD_TIMER: 4,
  FSM: 5,
  CEASE: 6,
  ROUTE_REFRESH: 7,
} as const;

export const HEADER_SUB = {
  CONNECTION_NOT_SYNCHRONIZED: 1,
  BAD_MESSAGE_LENGTH: 2,
  BAD_MESSAGE_TYPE: 3,
} as const;

export const OPEN_SUB = {
  UNSUPPORTED_VERSION: 1,
  BAD_PEER_AS: 2,
  BAD_BGP_IDENTIFIER: 3,
  UNSUPPORTED_OPTIONAL_PARAMETER: 4,
  UNACCEPTABLE_HOLD_TIME: 6,
  UNSUPPORTED_CAPABILITY: 7,
  ROLE_MISMATCH: 11,
} as const;

export const UPDATE_SUB = {
  MALFORMED_ATTRIBUTE_LIST: 1,
  UNRECOGNIZED_WELL_KNOWN: 2,
  MISSING_WELL_KNOWN: 3,
  ATTRIBUTE_FLAGS: 4,
  ATTRIBUTE_LENGTH: 5,
  INVALID_ORIGIN: 6,
  INVALID_NEXT_HOP: 8,
  OPTIONAL_ATTRIBUTE: 9,
  INVALID_NETWORK_FIELD: 10,
  MALFORMED_AS_PATH: 11,
} as const;

export const CEASE_SUB = {
  MAX_PREFIXES: 1,
  ADMIN_SHUTDOWN: 2,
  PEER_DECONFIGURED: 3,
  ADMIN_RESET: 4,
  CONNECTION_REJECTED: 5,
  OTHER_CONFIG_CHANGE: 6,
  COLLISION_RESOLUTION: 7,
  OUT_OF_RESOURCES: 8,
  HARD_RESET: 9,
  BFD_DOWN: 10,
} as const;

export const ERROR_NAMES: Record<number, { name: string; sub: Record<number, string> }> = {
  1: {
    name: 'Message Header Error',
    sub: { 1: 'Connection Not Synchronized', 2: 'Bad Message Length', 3: 'Bad Message Type' },
  },
  2: {
    name: 'OPEN Message Error',
    sub: {
      1: 'Unsupported Version Number',
      2: 'Bad Peer AS',
      3: 'Bad BGP Identifier',
      4: 'Unsupported Optional Parameter',
      5: 'Authentication Failure (deprecated)',
      6: 'Unacceptable Hold Time',
      7: 'Unsupported Capability',
      11: 'Role Mismatch',
    },
  },
  3: {
    name: 'UPDATE Message Error',
    sub: {
      1: 'Malformed Attribute List',
      2: 'Unrecognized Well-known Attribute',
      3: 'Missing Well-known Attribute',
      4: 'Attribute Flags Error',
      5: 'Attribute Length Error',
      6: 'Invalid ORIGIN Attribute',
      7: 'AS Routing Loop (deprecated)',
      8: 'Invalid NEXT_HOP Attribute',
      9: 'Optional Attribute Error',
      10: 'Invalid Network Field',
      11: 'Malformed AS_PATH',
    },
  },
  4: { name: 'Hold Timer Expired', sub: {} },
  5: {
    name: 'Finite State Machine Error',
    sub: {
      1: 'Receive Unexpected Message in OpenSent State',
      2: 'Receive Unexpected Message in OpenConfirm State',
      3: 'Receive Unexpected Message in Established State',
    },
  },
  6: {
    name: 'Cease',
    sub: {
      1: 'Maximum Number of Prefixes Reached',
      2: 'Administrative Shutdown',
      3: 'Peer De-configured',
      4: 'Administrative Reset',
      5: 'Connection Rejected',
      6: 'Other Configuration Change',
      7: 'Connection Collision Resolution',
      8: 'Out of Resources',
      9: 'Hard Reset',
      10: 'BFD Down',
    },
  },
  7: { name: 'ROUTE-REFRESH Message Error', sub: { 1: 'Invalid Message Length' } },
};

/** Well-known communities (IANA "BGP Well-known Communities"). */
export { WELL_KNOWN_COMMUNITIES } from '../core/community.ts';

/** FlowSpec component types (RFC 8955 §4.2.2, RFC 8956 §3). */
export const FS = {
  DESTINATION: 1,
  SOURCE: 2,
  PROTOCOL: 3,
  PORT: 4,
  DESTINATION_PORT: 5,
  SOURCE_PORT: 6,
  ICMP_TYPE: 7,
  ICMP_CODE: 8,
  TCP_FLAGS: 9,
  PACKET_LENGTH: 10,
  DSCP: 11,
  FRAGMENT: 12,
  FLOW_LABEL: 13,
} as const;

/** Extended community type/subtype pairs as 16-bit numbers (RFC 8955 §7, RFC 4360, RFC 5668). */
export const EXT = {
  ROUTE_TARGET_AS2: 0x0002,
  ROUTE_ORIGIN_AS2: 0x0003,
  ROUTE_TARGET_IPV4: 0x0102,
  ROUTE_ORIGIN_IPV4: 0x0103,
  ROUTE_TARGET_AS4: 0x0202,
  ROUTE_ORIGIN_AS4: 0x0203,
  TRAFFIC_RATE_BYTES: 0x8006,
  TRAFFIC_ACTION: 0x8007,
  REDIRECT_AS2: 0x8008,
  TRAFFIC_MARKING: 0x8009,
  TRAFFIC_RATE_PACKETS: 0x800c,
  REDIRECT_IPV4: 0x8108,
  REDIRECT_AS4: 0x8208,
} as const;

/** FlowSpec fragment bitmask bits (RFC 8955 §4.2.2.12). */
export const FRAGMENT_BITS = { DF: 0x01, IsF: 0x02, FF: 0x04, LF: 0x08 } as const;

/** TCP flag bits as carried in FlowSpec type 9 (low byte of the TCP header flags). */
export const TCP_FLAG_BITS = {
  fin: 0x01,
  syn: 0x02,
  rst: 0x04,
  push: 0x08,
  ack: 0x10,
  urgent: 0x20,
  ece: 0x40,
  cwr: 0x80,
} as const;
