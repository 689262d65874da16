/**
 * Prefix NLRI (RFC 4271 §4.3, RFC 7911 path ids) and the multiprotocol
 * attributes (RFC 4760).
 *
 * Prefix:  [path id (4), ADD-PATH only] | length (1, bits) | prefix (ceil(len/8) bytes)
 *
 * MP_REACH_NLRI (14):
 * +---------------------------------------------------------+
 * | AFI (2) | SAFI (1) | Next hop length (1)                 |
 * | Next hop (IPv4 4; IPv6 16, or 32 = global + link-local;  |
 * |           FlowSpec 0)                                   |
 * | Reserved (1) | NLRI (variable)                           |
 * +---------------------------------------------------------+
 * MP_UNREACH_NLRI (15): AFI (2) | SAFI (1) | withdrawn NLRI (variable)
 */
import { Reader } from '../core/reader.ts';
import { Writer } from '../core/writer.ts';
import { formatIP, parseIPv4, parseIPv6, parsePrefix, type Prefix } from '../core/ip.ts';
import { RouteError } from './errors.ts';

/** Writes one prefix; `p` must be a valid canonical prefix of the family. */
export function writePrefix(w: Writer, p: Prefix, pathId?: number): void {
  if (pathId !== undefined) w.u32(pathId);
  w.u8(p.len);
  const nb = (p.len + 7) >> 3;
  for (let i = 0; i < nb; i++) w.u8(p.bytes[i]);
}

export function prefixWireLength(p: Prefix, addPath: boolean): number {
  return (addPath ? 5 : 1) + ((p.len + 7) >> 3);
}

/** Parses a route's prefix text for `fam`; throws RouteError with the reason. */
export function routePrefix(text: string, fam: 4 | 6): Prefix {
  const p = parsePrefix(text, true);
  if (typeof p === 'string') throw new RouteError(p);
  if (p.family !== fam) throw new RouteError(`${text} is not an IPv${fam} prefix`);
  return p;
}

export interface ReadPrefix {
  prefix: string;
  pathId?: number;
}

/**
 * Reads prefixes until the reader is empty. Returns an error message on a
 * syntactically incorrect field (length beyond the address size, overrun).
 */
export function readPrefixes(r: Reader, fam: 4 | 6, addPath: boolean, out: ReadPrefix[]): string | null {
  const max = fam === 4 ? 32 : 128;
  const size = fam === 4 ? 4 : 16;
  while (r.remaining() > 0) {
    let pathId: number | undefined;
    if (addPath) {
      if (!r.has(4)) return 'truncated path identifier';
      pathId = r.u32();
    }
    if (!r.has(1)) return 'truncated prefix';
    const len = r.u8();
    if (len > max) return `prefix length ${len} > ${max}`;
    const nb = (len + 7) >> 3;
    if (!r.has(nb)) return `prefix /${len} overruns the field`;
    const bytes = new Uint8Array(size);
    for (let i = 0; i < nb; i++) bytes[i] = r.buf[r.pos + i];
    r.skip(nb);
    // Trailing bits are irrelevant on receipt (RFC 4271 §4.3): clear them.
    if (len & 7) bytes[nb - 1] &= (0xff << (8 - (len & 7))) & 0xff;
    const item: ReadPrefix = { prefix: `${formatIP(fam, bytes)}/${len}` };
    if (pathId !== undefined) item.pathId = pathId;
    out.push(item);
  }
  return null;
}

/** Next hop bytes for MP_REACH: IPv6 global (+ link-local). Throws RouteError. */
export function ipv6NextHop(global: string | undefined, linkLocal?: string): Uint8Array {
  if (!global) throw new RouteError('an IPv6 route needs an IPv6 next hop (next_hop6)');
  const g = parseIPv6(global);
  if (!g) throw new RouteError(`next hop ${global} is not an IPv6 address`);
  if (!linkLocal) return g;
  const l = parseIPv6(linkLocal);
  if (!l) throw new RouteError(`link-local next hop ${linkLocal} is not an IPv6 address`);
  const out = new Uint8Array(32);
  out.set(g, 0);
  out.set(l, 16);
  return out;
}

export function ipv4NextHop(nh: string | undefined): number {
  if (!nh) throw new RouteError('an IPv4 route needs an IPv4 next hop');
  const v = parseIPv4(nh);
  if (v < 0) throw new RouteError(`next hop ${nh} is not an IPv4 address`);
  return v;
}
