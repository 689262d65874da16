/**
 * L2-L4 parser for sampled packet headers (sFlow raw packet header records).
 * Writes the addresses, protocol, ports, TCP flags, ICMP type/code and the
 * fragment flag straight into the scratch FlowRecord; allocates nothing.
 *
 *   Ethernet II     dst(6) src(6) type(2)
 *   802.1Q / QinQ   type 0x8100 | 0x88a8 | 0x9100 | 0x9200: TCI(2) type(2), repeated
 *   802.3 LLC/SNAP  length(2) AA AA 03 OUI(3) type(2)
 *   MPLS            0x8847 | 0x8848: label stack (4 bytes each, bottom-of-stack bit),
 *                   then IPv4/IPv6 told apart by the version nibble
 *
 *   IPv4 (RFC 791)  ver/ihl tos total_len id flags/frag_off ttl proto csum src dst [options]
 *   IPv6 (RFC 8200) ver/tc/flow payload_len next_hdr hop_limit src(16) dst(16)
 *                   extension headers: hop-by-hop (0), routing (43), destination options (60)
 *                   ((len+1)*8 bytes), fragment (44, 8 bytes), AH (51, (len+2)*4 bytes)
 *   TCP  src_port dst_port seq ack off/flags(2) ...   UDP/SCTP src_port dst_port ...
 *   ICMP / ICMPv6   type code ...
 *
 * Ports, flags and ICMP type/code are read only from the first fragment.
 */
import { F, type FlowRecord } from './record.ts';
import { u32BE } from './uint.ts';

/** sFlow header_protocol values (sFlow v5 §5.2 "header_protocol"). */
export const HeaderProtocol = { ETHERNET: 1, IPV4: 11, IPV6: 12 } as const;

/** Result of parsePacket. */
export const Parse = {
  /** An IP header was found (L4 may still be missing when the capture is short). */
  IP: 0,
  /** Not IP (ARP, LLDP, unknown ethertype or header protocol): nothing set. */
  NOT_IP: 1,
  /** The header ends inside the L2 or IP header. */
  TRUNCATED: 2,
  /** An IP header with an impossible version or header length. */
  BAD_IP: 3,
} as const;
export type Parse = (typeof Parse)[keyof typeof Parse];

const ETH_IPV4 = 0x0800;
const ETH_IPV6 = 0x86dd;
const ETH_MPLS = 0x8847;
const ETH_MPLS_MC = 0x8848;

/** Set by parsePacket: the L4 header was cut short (ports/flags missing). */
export const parseInfo = { l4Truncated: false, ipLength: 0 };

/**
 * Parses the packet header in buf[off, end) whose outermost layer is given by
 * an sFlow header_protocol. Never reads outside [off, end).
 */
export function parsePacket(buf: Uint8Array, off: number, end: number, headerProtocol: number, r: FlowRecord): Parse {
  parseInfo.l4Truncated = false;
  parseInfo.ipLength = 0;
  if (end > buf.length) end = buf.length;
  if (headerProtocol === HeaderProtocol.IPV4) return parseIPv4(buf, off, end, r);
  if (headerProtocol === HeaderProtocol.IPV6) return parseIPv6(buf, off, end, r);
  if (headerProtocol === HeaderProtocol.ETHERNET) return parseEthernet(buf, off, end, r);
  return Parse.NOT_IP;
}

export function parseEthernet(buf: Uint8Array, off: number, end: number, r: FlowRecord): Parse {
  let p = off + 12;
  if (p + 2 > end) return Parse.TRUNCATED;
  let type = (buf[p] << 8) | buf[p + 1];
  p += 2;
  // VLAN tags (802.1Q, 802.1ad QinQ, the older 0x9100/0x9200 QinQ tags), bounded.
  for (let i = 0; i < 8 && (type === 0x8100 || type === 0x88a8 || type === 0x9100 || type === 0x9200); i++) {
    if (p + 4 > end) return Parse.TRUNCATED;
    type = (buf[p + 2] << 8) | buf[p + 3];
    p += 4;
  }
  if (type < 0x0600) {
    // 802.3 length field: only LLC/SNAP carries an ethertype.
    if (p + 8 > end) return Parse.TRUNCATED;
    if (buf[p] !== 0xaa || buf[p + 1] !== 0xaa || buf[p + 2] !== 0x03) return Parse.NOT_IP;
    type = (buf[p + 6] << 8) | buf[p + 7];
    p += 8;
  }
  if (type === ETH_MPLS || type === ETH_MPLS_MC) {
    for (let i = 0; ; i++) {
      if (p + 4 > end) return Parse.TRUNCATED;
      const bos = buf[p + 2] & 1;
      p += 4;
      if (bos) break;
      if (i >= 16) return Parse.NOT_IP;
    }
    if (p >= end) return Parse.TRUNCATED;
    const v = buf[p] >> 4;
    if (v === 4) return parseIPv4(buf, p, end, r);
    if (v === 6) return parseIPv6(buf, p, end, r);
    return Parse.NOT_IP;
  }
  if (type === ETH_IPV4) return parseIPv4(buf, p, end, r);
  if (type === ETH_IPV6) return parseIPv6(buf, p, end, r);
  return Parse.NOT_IP;
}

export function parseIPv4(buf: Uint8Array, p: number, end: number, r: FlowRecord): Parse {
  if (p + 20 > end) return Parse.TRUNCATED;
  const vihl = buf[p];
  if (vihl >> 4 !== 4) return Parse.BAD_IP;
  const ihl = (vihl & 15) * 4;
  if (ihl < 20) return Parse.BAD_IP;
  parseInfo.ipLength = (buf[p + 2] << 8) | buf[p + 3];
  const fragWord = (buf[p + 6] << 8) | buf[p + 7];
  const fragOffset = fragWord & 0x1fff;
  const more = fragWord & 0x2000;
  const proto = buf[p + 9];
  r.family = 4;
  r.src4 = u32BE(buf, p + 12);
  r.dst4 = u32BE(buf, p + 16);
  r.ipProto = proto;
  r.fields |= F.SRC_ADDR | F.DST_ADDR | F.IP_PROTO;
  if (fragOffset !== 0 || more !== 0) {
    r.fragment = 1;
    r.fields |= F.FRAGMENT;
  }
  if (fragOffset !== 0) return Parse.IP;
  parseL4(buf, p + ihl, end, proto, r);
  return Parse.IP;
}

export function parseIPv6(buf: Uint8Array, p: number, end: number, r: FlowRecord): Parse {
  if (p + 40 > end) return Parse.TRUNCATED;
  if (buf[p] >> 4 !== 6) return Parse.BAD_IP;
  const plen = (buf[p + 4] << 8) | buf[p + 5];
  parseInfo.ipLength = plen === 0 ? 0 : plen + 40;
  let next = buf[p + 6];
  r.family = 6;
  const s6 = r.src6, d6 = r.dst6;
  for (let i = 0; i < 16; i++) {
    s6[i] = buf[p + 8 + i];
    d6[i] = buf[p + 24 + i];
  }
  r.fields |= F.SRC_ADDR | F.DST_ADDR | F.IP_PROTO;
  p += 40;
  // Extension headers, bounded in number.
  for (let i = 0; i < 16; i++) {
    if (next === 0 || next === 43 || next === 60 || next === 135 || next === 139 || next === 140) {
      if (p + 2 > end) {
        r.ipProto = next;
        parseInfo.l4Truncated = true;
        return Parse.IP;
      }
      const nn = buf[p];
      p += (buf[p + 1] + 1) * 8;
      next = nn;
    } else if (next === 44) {
      if (p + 8 > end) {
        r.ipProto = next;
        parseInfo.l4Truncated = true;
        return Parse.IP;
      }
      const nn = buf[p];
      const fw = (buf[p + 2] << 8) | buf[p + 3];
      const offset = fw >> 3;
      const more = fw & 1;
      if (offset !== 0 || more !== 0) {
        r.fragment = 1;
        r.fields |= F.FRAGMENT;
      }
      next = nn;
      p += 8;
      if (offset !== 0) {
        r.ipProto = next;
        return Parse.IP;
      }
    } else if (next === 51) {
      if (p + 2 > end) {
        r.ipProto = next;
        parseInfo.l4Truncated = true;
        return Parse.IP;
      }
      const nn = buf[p];
      p += (buf[p + 1] + 2) * 4;
      next = nn;
    } else break;
  }
  r.ipProto = next;
  parseL4(buf, p, end, next, r);
  return Parse.IP;
}

function parseL4(buf: Uint8Array, p: number, end: number, proto: number, r: FlowRecord): void {
  if (proto === 6) {
    if (p + 4 > end) {
      parseInfo.l4Truncated = true;
      return;
    }
    r.srcPort = (buf[p] << 8) | buf[p + 1];
    r.dstPort = (buf[p + 2] << 8) | buf[p + 3];
    r.fields |= F.SRC_PORT | F.DST_PORT;
    if (p + 14 > end) {
      parseInfo.l4Truncated = true;
      return;
    }
    r.tcpFlags = buf[p + 13];
    r.fields |= F.TCP_FLAGS;
  } else if (proto === 17 || proto === 132 || proto === 136) {
    if (p + 4 > end) {
      parseInfo.l4Truncated = true;
      return;
    }
    r.srcPort = (buf[p] << 8) | buf[p + 1];
    r.dstPort = (buf[p + 2] << 8) | buf[p + 3];
    r.fields |= F.SRC_PORT | F.DST_PORT;
  } else if (proto === 1 || proto === 58) {
    if (p + 2 > end) {
      parseInfo.l4Truncated = true;
      return;
    }
    r.icmpType = buf[p];
    r.icmpCode = buf[p + 1];
    r.fields |= F.ICMP;
  }
}
