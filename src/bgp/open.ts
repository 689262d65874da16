/**
 * OPEN message and capabilities (RFC 4271 §4.2, RFC 5492, RFC 9072).
 *
 * +-+-+-+-+-+-+-+-+
 * |    Version    |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |     My Autonomous System      |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |           Hold Time           |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                         BGP Identifier                        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Opt Parm Len  |  Optional Parameters (type 2 = capabilities)  |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Capability: code (1) | length (1) | value.
 *   1 multiprotocol:   AFI (2) | reserved (1) | SAFI (1)              RFC 4760
 *   2 route refresh:   empty                                          RFC 2918
 *   6 extended msg:    empty                                          RFC 8654
 *  64 graceful restart: R|N|rsv (4 bits) restart time (12 bits),
 *                       then per family AFI (2) SAFI (1) flags (1, 0x80 = F)  RFC 4724, RFC 8538
 *  65 4-octet AS:      AS (4)                                         RFC 6793
 *  69 add-path:        per family AFI (2) SAFI (1) send/receive (1)   RFC 7911
 *  70 enhanced RR:     empty                                          RFC 7313
 */
import { Reader } from '../core/reader.ts';
import { Writer } from '../core/writer.ts';
import { formatIPv4, parseIPv4 } from '../core/ip.ts';
import { AS_TRANS, CAP, ERR, MSG, OPEN_SUB, OPT_PARAM } from './constants.ts';
import { BgpError } from './errors.ts';
import { beginMessage, endMessage } from './header.ts';
import { familyOf, type AfiSafi, type CodecContext, type FamilyName } from './types.ts';

export interface GracefulRestartFamily extends AfiSafi {
  /** F bit: forwarding state was preserved for this family. */
  forwarding: boolean;
}

export interface GracefulRestartCap {
  /** R bit: the sender has restarted. */
  restarting: boolean;
  /** N bit (RFC 8538): graceful NOTIFICATION supported. */
  notification: boolean;
  /** Restart time in seconds, 0..4095. */
  time: number;
  families: GracefulRestartFamily[];
}

export interface AddPathFamily extends AfiSafi {
  send: boolean;
  receive: boolean;
}

export interface Capabilities {
  multiprotocol: AfiSafi[];
  /** 4-octet AS number advertised in capability 65. */
  as4?: number;
  routeRefresh: boolean;
  enhancedRouteRefresh: boolean;
  extendedMessage: boolean;
  gracefulRestart?: GracefulRestartCap;
  addPath?: AddPathFamily[];
  /** Capabilities we do not understand (or could not parse), kept raw and otherwise ignored. */
  unknown: Array<{ code: number; value: Buffer }>;
}

export interface OpenMessage {
  version: number;
  /** The 2-octet "My Autonomous System" field (AS_TRANS for 4-octet ASNs). */
  myAs: number;
  /** The sender's real AS: the 4-octet capability if present, else myAs. */
  asn: number;
  holdTime: number;
  routerId: string;
  capabilities: Capabilities;
}

export function emptyCapabilities(): Capabilities {
  return { multiprotocol: [], routeRefresh: false, enhancedRouteRefresh: false, extendedMessage: false, unknown: [] };
}

function writeCapabilities(w: Writer, c: Capabilities): void {
  const cap = (code: number, body: (w: Writer) => void) => {
    w.u8(code);
    const at = w.reserve8();
    body(w);
    w.fill8(at);
  };
  for (const f of c.multiprotocol) cap(CAP.MULTIPROTOCOL, (w) => w.u16(f.afi).u8(0).u8(f.safi));
  if (c.routeRefresh) cap(CAP.ROUTE_REFRESH, () => {});
  if (c.enhancedRouteRefresh) cap(CAP.ENHANCED_ROUTE_REFRESH, () => {});
  if (c.extendedMessage) cap(CAP.EXTENDED_MESSAGE, () => {});
  if (c.gracefulRestart) {
    const g = c.gracefulRestart;
    if (g.time < 0 || g.time > 4095) throw new RangeError('graceful restart time must be 0..4095');
    cap(CAP.GRACEFUL_RESTART, (w) => {
      w.u16((g.restarting ? 0x8000 : 0) | (g.notification ? 0x4000 : 0) | g.time);
      for (const f of g.families) w.u16(f.afi).u8(f.safi).u8(f.forwarding ? 0x80 : 0);
    });
  }
  if (c.as4 !== undefined) cap(CAP.AS4, (w) => w.u32(c.as4!));
  if (c.addPath && c.addPath.length > 0) {
    cap(CAP.ADD_PATH, (w) => {
      for (const f of c.addPath!) w.u16(f.afi).u8(f.safi).u8((f.receive ? 1 : 0) | (f.send ? 2 : 0));
    });
  }
  for (const u of c.unknown) cap(u.code, (w) => w.bytes(u.value));
}

export interface OpenParams {
  /** Our AS (2- or 4-octet). A 4-octet AS goes out as AS_TRANS plus capability 65. */
  asn: number;
  holdTime: number;
  routerId: string;
  capabilities: Capabilities;
}

/** Encodes a whole OPEN message (header included). */
export function encodeOpen(p: OpenParams): Buffer {
  if (!Number.isInteger(p.asn) || p.asn < 0 || p.asn > 0xffffffff) throw new RangeError(`bad AS number ${p.asn}`);
  if (p.holdTime !== 0 && (p.holdTime < 3 || p.holdTime > 65535)) throw new RangeError('hold time must be 0 or 3..65535');
  const id = parseIPv4(p.routerId);
  if (id < 0) throw new RangeError(`router id ${p.routerId} is not an IPv4 address`);
  const caps = { ...p.capabilities };
  if (p.asn > 0xffff && caps.as4 === undefined) caps.as4 = p.asn;
  const w = new Writer(128);
  const start = beginMessage(w, MSG.OPEN);
  w.u8(4).u16(p.asn > 0xffff ? AS_TRANS : p.asn).u16(p.holdTime).u32(id);
  const cw = new Writer(64);
  writeCapabilities(cw, caps);
  const capBytes = cw.view();
  if (capBytes.length === 0) {
    w.u8(0);
  } else if (capBytes.length + 2 <= 255) {
    // One optional parameter of type 2 holding every capability.
    w.u8(capBytes.length + 2).u8(OPT_PARAM.CAPABILITIES).u8(capBytes.length).bytes(capBytes);
  } else {
    // RFC 9072 extended optional parameters length.
    w.u8(255).u8(255).u16(capBytes.length + 3).u8(OPT_PARAM.CAPABILITIES).u16(capBytes.length).bytes(capBytes);
  }
  endMessage(w, start);
  return w.finish();
}

function parseCapabilities(r: Reader, caps: Capabilities): void {
  while (r.remaining() > 0) {
    if (!r.has(2)) throw new BgpError(ERR.OPEN, 0, Buffer.alloc(0), 'truncated capability');
    const code = r.u8();
    const len = r.u8();
    if (!r.has(len)) throw new BgpError(ERR.OPEN, 0, Buffer.alloc(0), `capability ${code} overruns its parameter`);
    const v = r.sub(len);
    const raw = Buffer.from(v.buf.subarray(v.pos, v.end));
    let ok = true;
    switch (code) {
      case CAP.MULTIPROTOCOL:
        if (len !== 4) { ok = false; break; }
        {
          const afi = v.u16();
          v.u8();
          caps.multiprotocol.push({ afi, safi: v.u8() });
        }
        break;
      case CAP.ROUTE_REFRESH:
      case CAP.ROUTE_REFRESH_CISCO:
        caps.routeRefresh = true;
        break;
      case CAP.ENHANCED_ROUTE_REFRESH:
        caps.enhancedRouteRefresh = true;
        break;
      case CAP.EXTENDED_MESSAGE:
        caps.extendedMessage = true;
        break;
      case CAP.AS4:
        if (len !== 4) { ok = false; break; }
        caps.as4 = v.u32();
        break;
      case CAP.GRACEFUL_RESTART: {
        if (len < 2 || (len - 2) % 4 !== 0) { ok = false; break; }
        const h = v.u16();
        const g: GracefulRestartCap = { restarting: (h & 0x8000) !== 0, notification: (h & 0x4000) !== 0, time: h & 0x0fff, families: [] };
        while (v.remaining() >= 4) {
          const afi = v.u16();
          const safi = v.u8();
          g.families.push({ afi, safi, forwarding: (v.u8() & 0x80) !== 0 });
        }
        caps.gracefulRestart = g;
        break;
      }
      case CAP.ADD_PATH: {
        if (len % 4 !== 0) { ok = false; break; }
        const list: AddPathFamily[] = [];
        while (v.remaining() >= 4) {
          const afi = v.u16();
          const safi = v.u8();
          const sr = v.u8();
          list.push({ afi, safi, receive: (sr & 1) !== 0, send: (sr & 2) !== 0 });
        }
        caps.addPath = list;
        break;
      }
      default:
        ok = false;
    }
    if (!ok) caps.unknown.push({ code, value: raw });
  }
}

/**
 * Decodes an OPEN body. Throws BgpError with the NOTIFICATION RFC 4271 §6.2
 * asks for: unsupported version (data: the version we support), unsupported
 * optional parameter, unacceptable hold time, bad BGP identifier.
 * Unknown capabilities are kept in `unknown` and otherwise ignored.
 */
export function decodeOpen(body: Buffer): OpenMessage {
  const r = new Reader(body);
  if (!r.has(10)) throw new BgpError(ERR.HEADER, 2, Buffer.from([0, body.length + 19]));
  const version = r.u8();
  if (version !== 4) throw new BgpError(ERR.OPEN, OPEN_SUB.UNSUPPORTED_VERSION, Buffer.from([0, 4]));
  const myAs = r.u16();
  const holdTime = r.u16();
  const idNum = r.u32();
  let optLen = r.u8();
  let extended = false;
  if (optLen === 255 && r.has(1) && r.buf[r.pos] === 255) {
    // RFC 9072: non-extended type 255, then a 2-octet length.
    r.u8();
    if (!r.has(2)) throw new BgpError(ERR.OPEN, 0, Buffer.alloc(0), 'truncated extended optional parameters length');
    optLen = r.u16();
    extended = true;
  }
  if (r.remaining() !== optLen) throw new BgpError(ERR.OPEN, 0, Buffer.alloc(0), `optional parameters length ${optLen} but ${r.remaining()} bytes follow`);
  const caps = emptyCapabilities();
  while (r.remaining() > 0) {
    const hdr = extended ? 3 : 2;
    if (!r.has(hdr)) throw new BgpError(ERR.OPEN, 0, Buffer.alloc(0), 'truncated optional parameter');
    const type = r.u8();
    const len = extended ? r.u16() : r.u8();
    if (!r.has(len)) throw new BgpError(ERR.OPEN, 0, Buffer.alloc(0), 'optional parameter overruns the message');
    const p = r.sub(len);
    if (type !== OPT_PARAM.CAPABILITIES) throw new BgpError(ERR.OPEN, OPEN_SUB.UNSUPPORTED_OPTIONAL_PARAMETER);
    parseCapabilities(p, caps);
  }
  if (holdTime === 1 || holdTime === 2) throw new BgpError(ERR.OPEN, OPEN_SUB.UNACCEPTABLE_HOLD_TIME);
  if (idNum === 0) throw new BgpError(ERR.OPEN, OPEN_SUB.BAD_BGP_IDENTIFIER);
  const asn = caps.as4 !== undefined ? caps.as4 : myAs;
  return { version, myAs, asn, holdTime, routerId: formatIPv4(idNum), capabilities: caps };
}

export interface OpenExpectations {
  /** The AS configured for this neighbor. */
  peerAs: number;
  /** Our router id: the peer's must differ from it (RFC 6286 for iBGP; any session here). */
  localRouterId?: string;
  /** Reject hold times below this (0 stays acceptable unless rejectZeroHoldTime). */
  minHoldTime?: number;
  rejectZeroHoldTime?: boolean;
}

/**
 * Session-level OPEN checks. Throws BgpError(2, subcode) for the NOTIFICATION
 * to send: Bad Peer AS (2/2, also when AS_TRANS arrives without the 4-octet
 * capability's matching AS), Bad BGP Identifier (2/3), Unacceptable Hold Time (2/6).
 */
export function validateOpen(open: OpenMessage, exp: OpenExpectations): void {
  if (open.asn !== exp.peerAs) {
    const data = Buffer.alloc(2);
    data.writeUInt16BE(open.myAs);
    throw new BgpError(ERR.OPEN, OPEN_SUB.BAD_PEER_AS, data, `peer AS ${open.asn}, expected ${exp.peerAs}`);
  }
  if (open.capabilities.as4 !== undefined && open.capabilities.as4 <= 0xffff && open.myAs !== open.capabilities.as4) {
    throw new BgpError(ERR.OPEN, OPEN_SUB.BAD_PEER_AS, Buffer.alloc(0), 'My AS field and 4-octet AS capability disagree');
  }
  if (exp.localRouterId !== undefined && open.routerId === exp.localRouterId) {
    throw new BgpError(ERR.OPEN, OPEN_SUB.BAD_BGP_IDENTIFIER, Buffer.alloc(0), 'peer uses our router id');
  }
  if (open.holdTime === 0 && exp.rejectZeroHoldTime) throw new BgpError(ERR.OPEN, OPEN_SUB.UNACCEPTABLE_HOLD_TIME);
  if (open.holdTime !== 0 && exp.minHoldTime !== undefined && open.holdTime < exp.minHoldTime) {
    throw new BgpError(ERR.OPEN, OPEN_SUB.UNACCEPTABLE_HOLD_TIME);
  }
}

export interface Negotiated {
  ctx: CodecContext;
  holdTime: number;
  /** Families both sides advertised. */
  families: FamilyName[];
  /** Families only we advertised (routes of these are held, never sent). */
  missingFamilies: FamilyName[];
  routeRefresh: boolean;
  enhancedRouteRefresh: boolean;
  /** The peer's graceful restart capability, if any. */
  peerGracefulRestart?: GracefulRestartCap;
}

function famSet(list: AfiSafi[]): Set<FamilyName> {
  const s = new Set<FamilyName>();
  for (const f of list) {
    const n = familyOf(f.afi, f.safi);
    if (n) s.add(n);
  }
  return s;
}

/**
 * What a session may use given both OPENs (RFC 4760 §8: a peer that sends no
 * multiprotocol capability at all supports IPv4 unicast only).
 */
export function negotiate(local: OpenParams, remote: OpenMessage): Negotiated {
  const lc = local.capabilities, rc = remote.capabilities;
  const localF = lc.multiprotocol.length ? famSet(lc.multiprotocol) : new Set<FamilyName>(['ipv4_unicast']);
  const remoteF = rc.multiprotocol.length ? famSet(rc.multiprotocol) : new Set<FamilyName>(['ipv4_unicast']);
  const families = [...localF].filter((f) => remoteF.has(f));
  const missingFamilies = [...localF].filter((f) => !remoteF.has(f));
  const as4 = (lc.as4 !== undefined || local.asn > 0xffff) && rc.as4 !== undefined;
  const addRecv = new Set<FamilyName>();
  const addSend = new Set<FamilyName>();
  for (const l of lc.addPath ?? []) {
    const n = familyOf(l.afi, l.safi);
    const r = (rc.addPath ?? []).find((x) => x.afi === l.afi && x.safi === l.safi);
    if (!n || !r) continue;
    if (l.receive && r.send) addRecv.add(n);
    if (l.send && r.receive) addSend.add(n);
  }
  const holdTime = Math.min(local.holdTime, remote.holdTime);
  return {
    ctx: {
      as4,
      extendedMessage: lc.extendedMessage && rc.extendedMessage,
      families: new Set(families),
      addPathReceive: addRecv,
      addPathSend: addSend,
      ibgp: local.asn === remote.asn,
    },
    holdTime,
    families,
    missingFamilies,
    routeRefresh: lc.routeRefresh && rc.routeRefresh,
    enhancedRouteRefresh: lc.enhancedRouteRefresh && rc.enhancedRouteRefresh,
    peerGracefulRestart: rc.gracefulRestart,
  };
}

/** Router id as a number (collision detection compares them, RFC 4271 §6.8). */
export function routerIdNumber(id: string): number {
  const v = parseIPv4(id);
  return v < 0 ? 0 : v;
}

