/**
 * ROUTE-REFRESH message (RFC 2918, subtypes from RFC 7313).
 *
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |              AFI              | Subtype (0/1/2)|     SAFI     |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  subtype 0 normal request, 1 Beginning of Route Refresh, 2 End of Route Refresh
 */
import { ERR, MSG } from './constants.ts';
import { BgpError } from './errors.ts';
import { frameMessage } from './header.ts';
import { familyOf, type FamilyName } from './types.ts';

export interface RouteRefreshMessage {
  afi: number;
  safi: number;
  /** 0 normal, 1 BoRR, 2 EoRR. */
  subtype: number;
  /** Known family, or undefined for an AFI/SAFI we do not support (ignore it). */
  family?: FamilyName;
}

export function encodeRouteRefresh(afi: number, safi: number, subtype = 0): Buffer {
  return frameMessage(MSG.ROUTE_REFRESH, Buffer.from([afi >> 8, afi & 0xff, subtype, safi]));
}

/**
 * RFC 7313 §5: a ROUTE-REFRESH whose length is not 4 (23 with header) gets
 * NOTIFICATION 7/1 with the whole message as data.
 */
export function decodeRouteRefresh(body: Buffer): RouteRefreshMessage {
  if (body.length !== 4) {
    const hdr = Buffer.alloc(19, 0xff);
    hdr.writeUInt16BE(body.length + 19, 16);
    hdr[18] = MSG.ROUTE_REFRESH;
    throw new BgpError(ERR.ROUTE_REFRESH, 1, Buffer.concat([hdr, body]));
  }
  const afi = body.readUInt16BE(0);
  const subtype = body[2];
  const safi = body[3];
  return { afi, safi, subtype, family: familyOf(afi, safi) };
}
