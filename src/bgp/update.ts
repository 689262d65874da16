/**
 * UPDATE message (RFC 4271 §4.3) with MP_REACH/MP_UNREACH (RFC 4760),
 * End-of-RIB (RFC 4724 §2) and received-UPDATE error handling (RFC 7606).
 *
 * +-----------------------------------------------------+
 * |   Withdrawn Routes Length (2 octets)                |
 * |   Withdrawn Routes (variable)                       |
 * |   Total Path Attribute Length (2 octets)            |
 * |   Path Attributes (variable)                        |
 * |   Network Layer Reachability Information (variable) |
 * +-----------------------------------------------------+
 */
import { Reader } from '../core/reader.ts';
import { Writer } from '../core/writer.ts';
import { formatIP, type Prefix } from '../core/ip.ts';
import { AS_TRANS, ATTR, ERR, FLAG, MSG, UPDATE_SUB } from './constants.ts';
import { ATTR_TABLE, decodeAttribute, keepUnknown, mergeAs4Path, writeAttributes, type ErrorAction } from './attrs.ts';
import { BgpError, RouteError } from './errors.ts';
import { decodeFlowspecNlri, encodeFlowspecNlri, flowspecNlriLength, validateFlowspecRule } from './flowspec.ts';
import { beginMessage, endMessage } from './header.ts';
import { ipv6NextHop, prefixWireLength, readPrefixes, routePrefix, writePrefix, type ReadPrefix } from './mp.ts';
import {
  AfiSafi, attrsKey, familyOf, isFlowspecRoute, maxMessageLength,
  type AsPathSegment, type CodecContext, type FamilyName, type FlowspecRoute, type PathAttributes, type Route, type UnicastRoute,
} from './types.ts';

// ================================================================ encode

export interface RouteChanges {
  announce?: readonly Route[];
  withdraw?: readonly Route[];
}

interface Nlri {
  bytes: number;
  write(w: Writer): void;
}

function nlriOf(r: Route, ctx: CodecContext): Nlri {
  if (isFlowspecRoute(r)) {
    const bad = validateFlowspecRule(r.family, r.rule, { requireDestination: false });
    if (bad) throw new RouteError(`FlowSpec rule rejected: ${bad}`);
    return { bytes: flowspecNlriLength(r.family, r.rule), write: (w) => encodeFlowspecNlri(w, r.family, r.rule) };
  }
  const fam = r.family === 'ipv4_unicast' ? 4 : 6;
  if (r.family !== 'ipv4_unicast' && r.family !== 'ipv6_unicast') throw new RouteError(`unknown family ${(r as Route).family}`);
  const p: Prefix = routePrefix(r.prefix, fam);
  const addPath = ctx.addPathSend?.has(r.family) ?? false;
  const pathId = addPath ? (r.pathId ?? 1) : undefined;
  return { bytes: prefixWireLength(p, addPath), write: (w) => writePrefix(w, p, pathId) };
}

function checkFamily(r: Route, ctx: CodecContext): void {
  if (ctx.families && !ctx.families.has(r.family)) {
    throw new RouteError(`family ${r.family} was not negotiated with this peer`);
  }
}

/** Packs NLRI into as few messages as fit; `open` starts a message and returns the room left. */
function pack(items: Nlri[], room: number, begin: (w: Writer) => () => void, out: Buffer[]): void {
  let i = 0;
  while (i < items.length) {
    // what fits first, so the buffer is sized to the message (a small UPDATE does not hold 4 KB)
    let used = 0;
    let end = i;
    while (end < items.length && used + items[end].bytes <= room) used += items[end++].bytes;
    if (end === i) throw new RouteError(`one NLRI of ${items[i].bytes} bytes does not fit a message (room ${room})`);
    const w = new Writer(Math.min(4096, room + 256, used + 256));
    const finish = begin(w);
    for (; i < end; i++) items[i].write(w);
    finish();
    out.push(w.finish());
  }
}

const MP_HDR = 4; // flags, type, 2-byte length (always extended for MP attributes)

/**
 * Builds the UPDATE messages for a batch of changes: withdrawals first, then
 * announcements grouped by family and identical attributes, each group packed
 * into as few messages as fit (4096 bytes, 65535 with extended message).
 * Throws RouteError for a route that must not be sent (bad prefix, missing or
 * wrong-family next hop, unsafe FlowSpec rule, family not negotiated).
 */
export function encodeUpdates(changes: RouteChanges, ctx: CodecContext): Buffer[] {
  const max = maxMessageLength(ctx);
  const out: Buffer[] = [];

  // ---- withdrawals, per family
  const wd = new Map<FamilyName, Nlri[]>();
  for (const r of changes.withdraw ?? []) {
    checkFamily(r, ctx);
    const list = wd.get(r.family) ?? [];
    list.push(nlriOf(r, ctx));
    wd.set(r.family, list);
  }
  for (const [family, items] of wd) {
    if (family === 'ipv4_unicast') {
      pack(items, max - 19 - 4, (w) => {
        const start = beginMessage(w, MSG.UPDATE);
        const at = w.reserve16();
        return () => {
          w.fill16(at);
          w.u16(0);
          endMessage(w, start, max);
        };
      }, out);
    } else {
      const { afi, safi } = AfiSafi[family];
      pack(items, max - 19 - 4 - MP_HDR - 3, (w) => {
        const start = beginMessage(w, MSG.UPDATE);
        w.u16(0);
        const total = w.reserve16();
        w.u8(FLAG.OPTIONAL | FLAG.EXTENDED_LENGTH).u8(ATTR.MP_UNREACH_NLRI);
        const alen = w.reserve16();
        w.u16(afi).u8(safi);
        return () => {
          w.fill16(alen);
          w.fill16(total);
          endMessage(w, start, max);
        };
      }, out);
    }
  }

  // ---- announcements, per family and attribute set
  const groups = new Map<string, { family: FamilyName; attrs: PathAttributes; items: Nlri[] }>();
  // routes of a batch mostly share one attribute object: its key is computed once
  const keys = new Map<PathAttributes, string>();
  for (const r of changes.announce ?? []) {
    checkFamily(r, ctx);
    let ak = keys.get(r.attrs);
    if (ak === undefined) keys.set(r.attrs, (ak = attrsKey(r.attrs)));
    const key = `${r.family}|${ak}`;
    let g = groups.get(key);
    if (!g) {
      g = { family: r.family, attrs: r.attrs, items: [] };
      groups.set(key, g);
    }
    g.items.push(nlriOf(r, ctx));
  }
  for (const g of groups.values()) {
    const aw = new Writer(256);
    if (g.family === 'ipv4_unicast') {
      writeAttributes(aw, g.attrs, ctx, { nextHop: true });
      const attrBytes = aw.finish();
      pack(g.items, max - 19 - 4 - attrBytes.length, (w) => {
        const start = beginMessage(w, MSG.UPDATE);
        w.u16(0).u16(attrBytes.length).bytes(attrBytes);
        return () => endMessage(w, start, max);
      }, out);
      continue;
    }
    writeAttributes(aw, g.attrs, ctx, { nextHop: false });
    const attrBytes = aw.finish();
    const nh: Uint8Array = g.family === 'ipv6_unicast' ? ipv6NextHop(g.attrs.nextHop6, g.attrs.nextHop6LinkLocal) : new Uint8Array(0);
    const { afi, safi } = AfiSafi[g.family];
    const mpFixed = MP_HDR + 2 + 1 + 1 + nh.length + 1;
    pack(g.items, max - 19 - 4 - attrBytes.length - mpFixed, (w) => {
      const start = beginMessage(w, MSG.UPDATE);
      w.u16(0);
      const total = w.reserve16();
      // RFC 7606 §5.1: MP_REACH_NLRI first.
      w.u8(FLAG.OPTIONAL | FLAG.EXTENDED_LENGTH).u8(ATTR.MP_REACH_NLRI);
      const alen = w.reserve16();
      w.u16(afi).u8(safi).u8(nh.length).bytes(nh).u8(0);
      return () => {
        w.fill16(alen);
        w.bytes(attrBytes);
        w.fill16(total);
        endMessage(w, start, max);
      };
    }, out);
  }
  return out;
}

/** End-of-RIB marker (RFC 4724 §2): empty UPDATE for IPv4 unicast, empty MP_UNREACH otherwise. */
export function encodeEndOfRib(family: FamilyName): Buffer {
  const w = new Writer(40);
  const start = beginMessage(w, MSG.UPDATE);
  if (family === 'ipv4_unicast') {
    w.u16(0).u16(0);
  } else {
    const { afi, safi } = AfiSafi[family];
    w.u16(0).u16(6).u8(FLAG.OPTIONAL).u8(ATTR.MP_UNREACH_NLRI).u8(3).u16(afi).u8(safi);
  }
  endMessage(w, start);
  return w.finish();
}

// ================================================================ decode

export interface UpdateResult {
  /** Routes announced (empty when treat-as-withdraw applies). */
  announced: Route[];
  /** Routes withdrawn (attrs empty), including those withdrawn by treat-as-withdraw. */
  withdrawn: Route[];
  /** Attributes of the announced routes. */
  attrs: PathAttributes;
  /** Set when this UPDATE is an End-of-RIB marker. */
  eor?: FamilyName;
  /** RFC 7606 treat-as-withdraw was applied. */
  treatAsWithdraw: boolean;
  /** Type codes of attributes discarded (RFC 7606 attribute discard). */
  discardedAttrs: number[];
  /** Human-readable problems found (treat-as-withdraw, discards, ignored NLRI). */
  errors: string[];
  /** AFI/SAFI pairs received that we do not support or did not negotiate (ignored). */
  ignoredFamilies: string[];
}

function attrData(body: Buffer, start: number, end: number): Buffer {
  return Buffer.from(body.subarray(start, Math.min(end, body.length)));
}

function toRoutes(family: FamilyName, list: ReadPrefix[], attrs: PathAttributes): UnicastRoute[] {
  return list.map((p) => {
    const r: UnicastRoute = { family: family as UnicastRoute['family'], prefix: p.prefix, attrs };
    if (p.pathId !== undefined) r.pathId = p.pathId;
    return r;
  });
}

interface MpPart {
  family?: FamilyName;
  text: string;
  routes: Route[];
  /** A FlowSpec NLRI was malformed (lengths still consistent): treat-as-withdraw. */
  malformed?: string;
  nextHop?: { v4?: string; v6?: string; ll?: string };
}

function decodeMpNlri(
  r: Reader, ctx: CodecContext, attrs: PathAttributes, data: Buffer, part: MpPart,
): void {
  const family = part.family!;
  if (family === 'ipv4_flowspec' || family === 'ipv6_flowspec') {
    while (r.remaining() > 0) {
      const d = decodeFlowspecNlri(r, family);
      if (d.ok) part.routes.push({ family, rule: d.rule, attrs } as FlowspecRoute);
      else if ('overrun' in d) throw new BgpError(ERR.UPDATE, UPDATE_SUB.OPTIONAL_ATTRIBUTE, data, `${family} NLRI: ${d.error}`);
      else part.malformed = `${family} NLRI malformed: ${d.error}`;
    }
    return;
  }
  const list: ReadPrefix[] = [];
  const err = readPrefixes(r, family === 'ipv4_unicast' ? 4 : 6, ctx.addPathReceive?.has(family) ?? false, list);
  if (err) throw new BgpError(ERR.UPDATE, UPDATE_SUB.OPTIONAL_ATTRIBUTE, data, `${family} NLRI: ${err}`);
  part.routes.push(...toRoutes(family, list, attrs));
}

/**
 * Decodes a received UPDATE body per RFC 7606. Returns routes and the outcome;
 * throws BgpError only where the RFC requires a session reset: inconsistent
 * Withdrawn Routes / Total Attribute lengths, MP_REACH/MP_UNREACH repeated or
 * unparseable (the NLRI cannot be located), syntactically incorrect NLRI.
 */
export function decodeUpdate(body: Buffer, ctx: CodecContext): UpdateResult {
  const res: UpdateResult = { announced: [], withdrawn: [], attrs: {}, treatAsWithdraw: false, discardedAttrs: [], errors: [], ignoredFamilies: [] };
  const r = new Reader(body);
  if (!r.has(2)) throw new BgpError(ERR.UPDATE, UPDATE_SUB.MALFORMED_ATTRIBUTE_LIST, Buffer.alloc(0), 'truncated withdrawn routes length');
  const wlen = r.u16();
  if (!r.has(wlen + 2)) throw new BgpError(ERR.UPDATE, UPDATE_SUB.MALFORMED_ATTRIBUTE_LIST, Buffer.alloc(0), `withdrawn routes length ${wlen} overruns the message`);
  const wr = r.sub(wlen);
  const alen = r.u16();
  if (!r.has(alen)) throw new BgpError(ERR.UPDATE, UPDATE_SUB.MALFORMED_ATTRIBUTE_LIST, Buffer.alloc(0), `total attribute length ${alen} overruns the message`);
  const ar = r.sub(alen);
  const nr = r; // the rest is NLRI

  const addPath4 = ctx.addPathReceive?.has('ipv4_unicast') ?? false;
  const wlist: ReadPrefix[] = [];
  const werr = readPrefixes(wr, 4, addPath4, wlist);
  if (werr) throw new BgpError(ERR.UPDATE, UPDATE_SUB.INVALID_NETWORK_FIELD, Buffer.alloc(0), `withdrawn routes: ${werr}`);
  const nlist: ReadPrefix[] = [];
  const nerr = readPrefixes(nr, 4, addPath4, nlist);
  if (nerr) throw new BgpError(ERR.UPDATE, UPDATE_SUB.INVALID_NETWORK_FIELD, Buffer.alloc(0), `NLRI: ${nerr}`);

  const attrs = res.attrs;
  const scratch: { as4Path?: AsPathSegment[]; as4Aggregator?: { asn: number; address: string } } = {};
  const seen = new Set<number>();
  let withdraw = false;
  let reach: MpPart | undefined;
  let unreach: MpPart | undefined;
  let otherAttrs = 0;
  const problem = (action: ErrorAction, code: number, reason: string) => {
    res.errors.push(reason);
    if (action === 'discard') res.discardedAttrs.push(code);
    else withdraw = true;
  };

  while (ar.remaining() > 0) {
    const astart = ar.pos;
    if (!ar.has(3) || (!ar.has(4) && (ar.buf[ar.pos] & FLAG.EXTENDED_LENGTH) !== 0)) {
      // RFC 7606 §4: not enough left for an attribute header.
      problem('withdraw', 0, 'path attributes end in a truncated attribute header');
      break;
    }
    const flags = ar.u8();
    const code = ar.u8();
    const len = flags & FLAG.EXTENDED_LENGTH ? ar.u16() : ar.u8();
    if (!ar.has(len)) {
      const data = attrData(body, astart, ar.end);
      if (code === ATTR.MP_REACH_NLRI || code === ATTR.MP_UNREACH_NLRI) {
        throw new BgpError(ERR.UPDATE, UPDATE_SUB.ATTRIBUTE_LENGTH, data, `${code === 14 ? 'MP_REACH' : 'MP_UNREACH'}_NLRI overruns the attribute list`);
      }
      problem('withdraw', code, `attribute ${code} length ${len} overruns the attribute list`);
      break;
    }
    const v = ar.sub(len);
    const data = attrData(body, astart, v.end);

    if (code === ATTR.MP_REACH_NLRI || code === ATTR.MP_UNREACH_NLRI) {
      if (seen.has(code)) throw new BgpError(ERR.UPDATE, UPDATE_SUB.MALFORMED_ATTRIBUTE_LIST, Buffer.alloc(0), `attribute ${code} appears twice`);
      seen.add(code);
      if ((flags & (FLAG.OPTIONAL | FLAG.TRANSITIVE)) !== FLAG.OPTIONAL) problem('withdraw', code, `attribute ${code}: conflicting flags 0x${flags.toString(16)}`);
      if (!v.has(3)) throw new BgpError(ERR.UPDATE, UPDATE_SUB.OPTIONAL_ATTRIBUTE, data, `attribute ${code} too short for AFI/SAFI`);
      const afi = v.u16();
      const safi = v.u8();
      const family = familyOf(afi, safi);
      const part: MpPart = { family, text: `afi ${afi}/safi ${safi}`, routes: [] };
      if (code === ATTR.MP_REACH_NLRI) {
        if (!v.has(1)) throw new BgpError(ERR.UPDATE, UPDATE_SUB.OPTIONAL_ATTRIBUTE, data, 'MP_REACH_NLRI: truncated next hop length');
        const nhl = v.u8();
        if (!v.has(nhl + 1)) throw new BgpError(ERR.UPDATE, UPDATE_SUB.OPTIONAL_ATTRIBUTE, data, 'MP_REACH_NLRI: next hop overruns the attribute');
        const nh = v.bytes(nhl);
        v.u8(); // reserved
        if (family) {
          const nhOk = family === 'ipv6_unicast' ? nhl === 16 || nhl === 32
            : family === 'ipv4_unicast' ? nhl === 4 || nhl === 16 || nhl === 32
            : true; // FlowSpec: 0 per RFC 8955; other lengths ignored
          if (!nhOk) throw new BgpError(ERR.UPDATE, UPDATE_SUB.OPTIONAL_ATTRIBUTE, data, `MP_REACH_NLRI: next hop length ${nhl} for ${family}`);
          if (nhl === 4) attrs.nextHop ??= formatIP(4, nh);
          if (nhl === 16 || nhl === 32) {
            attrs.nextHop6 = formatIP(6, nh);
            if (nhl === 32) attrs.nextHop6LinkLocal = formatIP(6, nh, 16);
          }
        }
      }
      if (!family || (ctx.families && !ctx.families.has(family))) {
        res.ignoredFamilies.push(part.text);
        res.errors.push(`NLRI of ${family ?? part.text} ignored (not negotiated)`);
      } else {
        decodeMpNlri(v, ctx, code === ATTR.MP_REACH_NLRI ? attrs : {}, data, part);
      }
      if (code === ATTR.MP_REACH_NLRI) reach = part;
      else unreach = part;
      continue;
    }

    otherAttrs++;
    if (seen.has(code)) {
      // RFC 7606 §3(g): keep the first, discard the rest.
      res.discardedAttrs.push(code);
      res.errors.push(`attribute ${code} repeated; later copies discarded`);
      continue;
    }
    seen.add(code);
    if (ATTR_TABLE.has(code)) {
      const p = decodeAttribute(code, flags, v, attrs, ctx, scratch);
      if (p) problem(p.action, code, p.reason);
    } else if (!(flags & FLAG.OPTIONAL)) {
      // Unrecognised well-known attribute (RFC 4271 §6.3 would reset); treat-as-withdraw keeps the session.
      problem('withdraw', code, `unrecognised well-known attribute ${code}`);
    } else if (flags & FLAG.TRANSITIVE) {
      keepUnknown(attrs, flags, code, v.buf.subarray(v.pos, v.end));
    }
  }

  // RFC 6793 §4.2.3: AS4_AGGREGATOR / AS4_PATH from a 2-octet speaker.
  if (!ctx.as4) {
    if (attrs.aggregator && attrs.aggregator.asn !== AS_TRANS) {
      if (scratch.as4Aggregator || scratch.as4Path) res.errors.push('AGGREGATOR is not AS_TRANS: AS4_AGGREGATOR and AS4_PATH ignored');
    } else {
      if (scratch.as4Aggregator && attrs.aggregator) attrs.aggregator = scratch.as4Aggregator;
      if (scratch.as4Path && attrs.asPath) attrs.asPath = mergeAs4Path(attrs.asPath, scratch.as4Path);
    }
  }

  const v4Withdrawn = toRoutes('ipv4_unicast', wlist, {});
  const v4Announced = toRoutes('ipv4_unicast', nlist, attrs);
  const mpAnnounced = reach?.routes ?? [];
  const mpWithdrawn = (unreach?.routes ?? []).map((x) => ({ ...x, attrs: {} }) as Route);
  if (reach?.malformed) { withdraw = true; res.errors.push(reach.malformed); }
  if (unreach?.malformed) res.errors.push(unreach.malformed);

  // End-of-RIB.
  if (body.length === 4 && wlen === 0 && alen === 0) res.eor = 'ipv4_unicast';
  else if (unreach && unreach.family && unreach.routes.length === 0 && !unreach.malformed && !reach && otherAttrs === 0 && wlist.length === 0 && nlist.length === 0) {
    res.eor = unreach.family;
  }

  // RFC 7606 §3(d): missing well-known mandatory attributes when NLRI are announced.
  const announcing = v4Announced.length > 0 || mpAnnounced.length > 0;
  if (announcing && !withdraw) {
    const missing: string[] = [];
    if (attrs.origin === undefined) missing.push('ORIGIN');
    if (attrs.asPath === undefined) missing.push('AS_PATH');
    if (v4Announced.length > 0 && attrs.nextHop === undefined) missing.push('NEXT_HOP');
    if (missing.length) {
      withdraw = true;
      res.errors.push(`missing well-known attribute(s): ${missing.join(', ')}`);
    }
  }

  res.withdrawn.push(...v4Withdrawn, ...mpWithdrawn);
  if (withdraw) {
    res.treatAsWithdraw = true;
    for (const x of [...v4Announced, ...mpAnnounced]) res.withdrawn.push({ ...x, attrs: {} } as Route);
  } else {
    res.announced.push(...v4Announced, ...mpAnnounced);
  }
  return res;
}

// ================================================================ counters

/** Plain counters a session keeps for received UPDATEs (read by the metrics layer). */
export interface UpdateStats {
  updates: number;
  routesAnnounced: number;
  routesWithdrawn: number;
  endOfRib: number;
  treatAsWithdraw: number;
  attributeDiscard: number;
  sessionReset: number;
  ignoredFamilies: number;
}

export function newUpdateStats(): UpdateStats {
  return { updates: 0, routesAnnounced: 0, routesWithdrawn: 0, endOfRib: 0, treatAsWithdraw: 0, attributeDiscard: 0, sessionReset: 0, ignoredFamilies: 0 };
}

/** decodeUpdate plus counting; rethrows the BgpError of a session reset after counting it. */
export function decodeUpdateCounted(body: Buffer, ctx: CodecContext, stats: UpdateStats): UpdateResult {
  stats.updates++;
  let res: UpdateResult;
  try {
    res = decodeUpdate(body, ctx);
  } catch (e) {
    if (e instanceof BgpError) stats.sessionReset++;
    throw e;
  }
  stats.routesAnnounced += res.announced.length;
  stats.routesWithdrawn += res.withdrawn.length;
  if (res.eor) stats.endOfRib++;
  if (res.treatAsWithdraw) stats.treatAsWithdraw++;
  stats.attributeDiscard += res.discardedAttrs.length;
  stats.ignoredFamilies += res.ignoredFamilies.length;
  return res;
}
