/**
 * Path attributes (RFC 4271 §4.3, §5) other than MP_REACH/MP_UNREACH, with
 * RFC 6793 (4-octet AS) and the per-attribute error actions of RFC 7606 §7.
 *
 * Attribute: flags (1) | type (1) | length (1, or 2 with EXTENDED_LENGTH) | value
 *   flags: 0x80 optional, 0x40 transitive, 0x20 partial, 0x10 extended length
 *
 * AS_PATH segment: type (1) | count (1) | ASNs (2 or 4 bytes each)
 */
import { Reader } from '../core/reader.ts';
import { Writer } from '../core/writer.ts';
import { formatIPv4, parseIPv4 } from '../core/ip.ts';
import { AS_TRANS, ATTR, FLAG } from './constants.ts';
import { decodeExtCommunity, encodeExtCommunity } from './community.ts';
import { RouteError } from './errors.ts';
import type { AsPathSegment, CodecContext, ExtCommunity, LargeCommunity, PathAttributes, RawAttribute } from './types.ts';

/** RFC 7606 error-handling approaches, weakest first. */
export type ErrorAction = 'discard' | 'withdraw' | 'reset';

export interface AttrRow {
  code: number;
  name: string;
  /** Expected flags (optional and transitive bits only). */
  flags: number;
  /** What RFC 7606 asks for when this attribute is malformed. */
  onError: ErrorAction;
}

/** One row per attribute we understand (RFC 7606 §7 for the actions). */
export const ATTR_TABLE: ReadonlyMap<number, AttrRow> = new Map(
  [
    { code: ATTR.ORIGIN, name: 'ORIGIN', flags: FLAG.TRANSITIVE, onError: 'withdraw' },
    { code: ATTR.AS_PATH, name: 'AS_PATH', flags: FLAG.TRANSITIVE, onError: 'withdraw' },
    { code: ATTR.NEXT_HOP, name: 'NEXT_HOP', flags: FLAG.TRANSITIVE, onError: 'withdraw' },
    { code: ATTR.MED, name: 'MULTI_EXIT_DISC', flags: FLAG.OPTIONAL, onError: 'withdraw' },
    { code: ATTR.LOCAL_PREF, name: 'LOCAL_PREF', flags: FLAG.TRANSITIVE, onError: 'withdraw' },
    { code: ATTR.ATOMIC_AGGREGATE, name: 'ATOMIC_AGGREGATE', flags: FLAG.TRANSITIVE, onError: 'discard' },
    { code: ATTR.AGGREGATOR, name: 'AGGREGATOR', flags: FLAG.OPTIONAL | FLAG.TRANSITIVE, onError: 'discard' },
    { code: ATTR.COMMUNITIES, name: 'COMMUNITIES', flags: FLAG.OPTIONAL | FLAG.TRANSITIVE, onError: 'withdraw' },
    { code: ATTR.ORIGINATOR_ID, name: 'ORIGINATOR_ID', flags: FLAG.OPTIONAL, onError: 'withdraw' },
    { code: ATTR.CLUSTER_LIST, name: 'CLUSTER_LIST', flags: FLAG.OPTIONAL, onError: 'withdraw' },
    { code: ATTR.MP_REACH_NLRI, name: 'MP_REACH_NLRI', flags: FLAG.OPTIONAL, onError: 'reset' },
    { code: ATTR.MP_UNREACH_NLRI, name: 'MP_UNREACH_NLRI', flags: FLAG.OPTIONAL, onError: 'reset' },
    { code: ATTR.EXTENDED_COMMUNITIES, name: 'EXTENDED_COMMUNITIES', flags: FLAG.OPTIONAL | FLAG.TRANSITIVE, onError: 'withdraw' },
    { code: ATTR.AS4_PATH, name: 'AS4_PATH', flags: FLAG.OPTIONAL | FLAG.TRANSITIVE, onError: 'discard' },
    { code: ATTR.AS4_AGGREGATOR, name: 'AS4_AGGREGATOR', flags: FLAG.OPTIONAL | FLAG.TRANSITIVE, onError: 'discard' },
    { code: ATTR.LARGE_COMMUNITIES, name: 'LARGE_COMMUNITY', flags: FLAG.OPTIONAL | FLAG.TRANSITIVE, onError: 'withdraw' },
  ].map((r) => [r.code, r as AttrRow]),
);

// ---------------------------------------------------------------- encode

function attr(w: Writer, flags: number, code: number, body: (w: Writer) => void): void {
  // Always reserve a 2-byte length, then shrink to 1 byte when it fits.
  const start = w.pos;
  w.u8(flags | FLAG.EXTENDED_LENGTH).u8(code);
  const at = w.reserve16();
  body(w);
  const len = w.pos - at - 2;
  if (len > 0xffff) throw new RouteError(`attribute ${code} is ${len} bytes, more than 65535`);
  if (len <= 255) {
    w.buf[start] = flags & ~FLAG.EXTENDED_LENGTH;
    w.buf[at] = len;
    w.buf.copy(w.buf, at + 1, at + 2, w.pos);
    w.pos -= 1;
  } else {
    w.put16(at, len);
  }
}

function checkU32(n: number | undefined, what: string): void {
  if (n !== undefined && (!Number.isInteger(n) || n < 0 || n > 0xffffffff)) throw new RouteError(`${what} ${n} is not 0..4294967295`);
}

function writeAsPath(w: Writer, segs: readonly AsPathSegment[], four: boolean, confed: boolean): void {
  for (const s of segs) {
    if (!confed && (s.type === 3 || s.type === 4)) continue;
    for (let i = 0; i < s.asns.length; i += 255) {
      const chunk = s.asns.slice(i, i + 255);
      w.u8(s.type).u8(chunk.length);
      for (const a of chunk) {
        if (four) w.u32(a);
        else w.u16(a > 0xffff ? AS_TRANS : a);
      }
    }
  }
}

export interface EncodeAttrOptions {
  /** Write the NEXT_HOP attribute (IPv4 unicast outside MP_REACH). */
  nextHop: boolean;
}

/**
 * Encodes every attribute except MP_REACH/MP_UNREACH, in type order.
 * ORIGIN and AS_PATH are always present (IGP and an empty path by default).
 * Toward a 2-octet peer, 4-octet ASNs become AS_TRANS plus AS4_PATH /
 * AS4_AGGREGATOR (RFC 6793 §4.2.2).
 */
export function writeAttributes(w: Writer, a: PathAttributes, ctx: CodecContext, opt: EncodeAttrOptions): void {
  const origin = a.origin ?? 0;
  if (origin !== 0 && origin !== 1 && origin !== 2) throw new RouteError(`origin ${origin} is not igp/egp/incomplete`);
  const path = a.asPath ?? [];
  for (const s of path) {
    if (![1, 2, 3, 4].includes(s.type)) throw new RouteError(`AS_PATH segment type ${s.type} is not 1..4`);
    if (s.asns.length === 0) throw new RouteError('AS_PATH segments must not be empty');
    for (const x of s.asns) checkU32(x, 'AS number');
  }
  checkU32(a.med, 'MED');
  checkU32(a.localPref, 'LOCAL_PREF');
  const needAs4Path = !ctx.as4 && path.some((s) => (s.type === 1 || s.type === 2) && s.asns.some((x) => x > 0xffff));

  const tasks: Array<[number, () => void]> = [];
  tasks.push([ATTR.ORIGIN, () => attr(w, FLAG.TRANSITIVE, ATTR.ORIGIN, (w) => w.u8(origin))]);
  tasks.push([ATTR.AS_PATH, () => attr(w, FLAG.TRANSITIVE, ATTR.AS_PATH, (w) => writeAsPath(w, path, ctx.as4, true))]);
  if (opt.nextHop) {
    const nh = a.nextHop === undefined ? -1 : parseIPv4(a.nextHop);
    if (nh < 0) throw new RouteError(a.nextHop ? `next hop ${a.nextHop} is not an IPv4 address` : 'an IPv4 route needs an IPv4 next hop');
    tasks.push([ATTR.NEXT_HOP, () => attr(w, FLAG.TRANSITIVE, ATTR.NEXT_HOP, (w) => w.u32(nh))]);
  }
  if (a.med !== undefined) tasks.push([ATTR.MED, () => attr(w, FLAG.OPTIONAL, ATTR.MED, (w) => w.u32(a.med!))]);
  if (a.localPref !== undefined) tasks.push([ATTR.LOCAL_PREF, () => attr(w, FLAG.TRANSITIVE, ATTR.LOCAL_PREF, (w) => w.u32(a.localPref!))]);
  if (a.atomicAggregate) tasks.push([ATTR.ATOMIC_AGGREGATE, () => attr(w, FLAG.TRANSITIVE, ATTR.ATOMIC_AGGREGATE, () => {})]);
  if (a.aggregator) {
    const ag = a.aggregator;
    checkU32(ag.asn, 'aggregator AS');
    const ip = parseIPv4(ag.address);
    if (ip < 0) throw new RouteError(`aggregator address ${ag.address} is not IPv4`);
    tasks.push([
      ATTR.AGGREGATOR,
      () => attr(w, FLAG.OPTIONAL | FLAG.TRANSITIVE, ATTR.AGGREGATOR, (w) => {
        if (ctx.as4) w.u32(ag.asn);
        else w.u16(ag.asn > 0xffff ? AS_TRANS : ag.asn);
        w.u32(ip);
      }),
    ]);
    if (!ctx.as4 && ag.asn > 0xffff) {
      tasks.push([ATTR.AS4_AGGREGATOR, () => attr(w, FLAG.OPTIONAL | FLAG.TRANSITIVE, ATTR.AS4_AGGREGATOR, (w) => w.u32(ag.asn).u32(ip))]);
    }
  }
  if (a.communities && a.communities.length) {
    for (const c of a.communities) checkU32(c, 'community');
    tasks.push([ATTR.COMMUNITIES, () => attr(w, FLAG.OPTIONAL | FLAG.TRANSITIVE, ATTR.COMMUNITIES, (w) => { for (const c of a.communities!) w.u32(c); })]);
  }
  if (a.originatorId !== undefined) {
    const ip = parseIPv4(a.originatorId);
    if (ip < 0) throw new RouteError(`originator id ${a.originatorId} is not IPv4`);
    tasks.push([ATTR.ORIGINATOR_ID, () => attr(w, FLAG.OPTIONAL, ATTR.ORIGINATOR_ID, (w) => w.u32(ip))]);
  }
  if (a.clusterList && a.clusterList.length) {
    const ids = a.clusterList.map((c) => {
      const v = parseIPv4(c);
      if (v < 0) throw new RouteError(`cluster id ${c} is not IPv4`);
      return v;
    });
    tasks.push([ATTR.CLUSTER_LIST, () => attr(w, FLAG.OPTIONAL, ATTR.CLUSTER_LIST, (w) => { for (const v of ids) w.u32(v); })]);
  }
  if (a.extCommunities && a.extCommunities.length) {
    const buf = Buffer.alloc(8 * a.extCommunities.length);
    a.extCommunities.forEach((e, i) => {
      try {
        encodeExtCommunity(e, buf, i * 8);
      } catch (err) {
        throw new RouteError((err as Error).message);
      }
    });
    tasks.push([ATTR.EXTENDED_COMMUNITIES, () => attr(w, FLAG.OPTIONAL | FLAG.TRANSITIVE, ATTR.EXTENDED_COMMUNITIES, (w) => w.bytes(buf))]);
  }
  if (needAs4Path) tasks.push([ATTR.AS4_PATH, () => attr(w, FLAG.OPTIONAL | FLAG.TRANSITIVE, ATTR.AS4_PATH, (w) => writeAsPath(w, path, true, false))]);
  if (a.largeCommunities && a.largeCommunities.length) {
    for (const l of a.largeCommunities) for (const x of l) checkU32(x, 'large community part');
    tasks.push([ATTR.LARGE_COMMUNITIES, () => attr(w, FLAG.OPTIONAL | FLAG.TRANSITIVE, ATTR.LARGE_COMMUNITIES, (w) => { for (const l of a.largeCommunities!) w.u32(l[0]).u32(l[1]).u32(l[2]); })]);
  }
  for (const u of a.unknown ?? []) {
    if (ATTR_TABLE.has(u.code)) throw new RouteError(`raw attribute ${u.code} duplicates a known attribute`);
    tasks.push([u.code, () => attr(w, u.flags & 0xe0, u.code, (w) => w.bytes(u.value))]);
  }
  tasks.sort((x, y) => x[0] - y[0]);
  for (const [, t] of tasks) t();
}

// ---------------------------------------------------------------- decode

export interface AttrProblem {
  action: ErrorAction;
  reason: string;
}

/** Parses AS_PATH-like value; returns segments or a reason it is malformed (RFC 7606 §7.2). */
export function parseAsPath(v: Reader, four: boolean): AsPathSegment[] | string {
  const segs: AsPathSegment[] = [];
  const w = four ? 4 : 2;
  while (v.remaining() > 0) {
    if (!v.has(2)) return 'truncated segment header';
    const type = v.u8();
    const count = v.u8();
    if (type < 1 || type > 4) return `segment type ${type}`;
    if (count === 0) return 'empty segment';
    if (!v.has(count * w)) return 'segment overruns the attribute';
    const asns: number[] = new Array(count);
    for (let i = 0; i < count; i++) asns[i] = four ? v.u32() : v.u16();
    segs.push({ type: type as AsPathSegment['type'], asns });
  }
  return segs;
}

function pathLength(segs: readonly AsPathSegment[]): number {
  let n = 0;
  for (const s of segs) n += s.type === 2 ? s.asns.length : s.type === 1 ? 1 : 0;
  return n;
}

/**
 * RFC 6793 §4.2.3: rebuild the real path from AS_PATH (with AS_TRANS) and
 * AS4_PATH received from a 2-octet speaker.
 */
export function mergeAs4Path(asPath: AsPathSegment[], as4Path: AsPathSegment[]): AsPathSegment[] {
  const n2 = pathLength(asPath);
  const n4 = pathLength(as4Path);
  if (n2 < n4) return asPath;
  let keep = n2 - n4;
  const out: AsPathSegment[] = [];
  for (const s of asPath) {
    if (keep <= 0) {
      if (s.type === 3 || s.type === 4) out.push(s);
      continue;
    }
    if (s.type === 2) {
      const take = s.asns.slice(0, keep);
      out.push({ type: 2, asns: take });
      keep -= take.length;
    } else if (s.type === 1) {
      out.push(s);
      keep -= 1;
    } else {
      out.push(s);
    }
  }
  for (const s of as4Path) out.push({ type: s.type, asns: [...s.asns] });
  return out;
}

/**
 * Decodes one known attribute value into `a`. Returns a problem (with the
 * RFC 7606 action) or null. `scratch` receives AS4_PATH / AS4_AGGREGATOR.
 */
export function decodeAttribute(
  code: number,
  flags: number,
  v: Reader,
  a: PathAttributes,
  ctx: CodecContext,
  scratch: { as4Path?: AsPathSegment[]; as4Aggregator?: { asn: number; address: string } },
): AttrProblem | null {
  const len = v.remaining();
  const row = ATTR_TABLE.get(code);
  if (row && (flags & (FLAG.OPTIONAL | FLAG.TRANSITIVE)) !== row.flags) {
    // RFC 7606 §3(c): conflicting flags make the attribute malformed.
    return { action: row.onError === 'discard' ? 'discard' : 'withdraw', reason: `${row.name}: flags 0x${flags.toString(16)} conflict with its definition` };
  }
  const lenErr = (what: string): AttrProblem => ({ action: row!.onError, reason: `${row!.name}: ${what} (length ${len})` });
  switch (code) {
    case ATTR.ORIGIN: {
      if (len !== 1) return lenErr('length must be 1');
      const o = v.u8();
      if (o > 2) return { action: 'withdraw', reason: `ORIGIN: undefined value ${o}` };
      a.origin = o as 0 | 1 | 2;
      return null;
    }
    case ATTR.AS_PATH: {
      const segs = parseAsPath(v, ctx.as4);
      if (typeof segs === 'string') return { action: 'withdraw', reason: `AS_PATH: ${segs}` };
      a.asPath = segs;
      return null;
    }
    case ATTR.NEXT_HOP:
      if (len !== 4) return lenErr('length must be 4');
      a.nextHop = formatIPv4(v.u32());
      return null;
    case ATTR.MED:
      if (len !== 4) return lenErr('length must be 4');
      a.med = v.u32();
      return null;
    case ATTR.LOCAL_PREF:
      if (ctx.ibgp === false) return { action: 'discard', reason: 'LOCAL_PREF from an external peer' };
      if (len !== 4) return lenErr('length must be 4');
      a.localPref = v.u32();
      return null;
    case ATTR.ATOMIC_AGGREGATE:
      if (len !== 0) return lenErr('length must be 0');
      a.atomicAggregate = true;
      return null;
    case ATTR.AGGREGATOR: {
      const want = ctx.as4 ? 8 : 6;
      if (len !== want) return lenErr(`length must be ${want}`);
      const asn = ctx.as4 ? v.u32() : v.u16();
      a.aggregator = { asn, address: formatIPv4(v.u32()) };
      return null;
    }
    case ATTR.COMMUNITIES: {
      if (len === 0 || len % 4 !== 0) return lenErr('length must be a non-zero multiple of 4');
      const list: number[] = [];
      while (v.remaining() >= 4) list.push(v.u32());
      a.communities = list;
      return null;
    }
    case ATTR.ORIGINATOR_ID:
      if (ctx.ibgp === false) return { action: 'discard', reason: 'ORIGINATOR_ID from an external peer' };
      if (len !== 4) return lenErr('length must be 4');
      a.originatorId = formatIPv4(v.u32());
      return null;
    case ATTR.CLUSTER_LIST: {
      if (ctx.ibgp === false) return { action: 'discard', reason: 'CLUSTER_LIST from an external peer' };
      if (len === 0 || len % 4 !== 0) return lenErr('length must be a non-zero multiple of 4');
      const list: string[] = [];
      while (v.remaining() >= 4) list.push(formatIPv4(v.u32()));
      a.clusterList = list;
      return null;
    }
    case ATTR.EXTENDED_COMMUNITIES: {
      if (len === 0 || len % 8 !== 0) return lenErr('length must be a non-zero multiple of 8');
      const list: ExtCommunity[] = [];
      for (let off = v.pos; off < v.end; off += 8) list.push(decodeExtCommunity(v.buf, off));
      a.extCommunities = list;
      return null;
    }
    case ATTR.AS4_PATH: {
      if (ctx.as4) return { action: 'discard', reason: 'AS4_PATH from a 4-octet speaker' };
      const segs = parseAsPath(v, true);
      if (typeof segs === 'string') return { action: 'discard', reason: `AS4_PATH: ${segs}` };
      if (segs.some((s) => s.type === 3 || s.type === 4)) return { action: 'discard', reason: 'AS4_PATH: confederation segment' };
      scratch.as4Path = segs;
      return null;
    }
    case ATTR.AS4_AGGREGATOR:
      if (ctx.as4) return { action: 'discard', reason: 'AS4_AGGREGATOR from a 4-octet speaker' };
      if (len !== 8) return lenErr('length must be 8');
      scratch.as4Aggregator = { asn: v.u32(), address: formatIPv4(v.u32()) };
      return null;
    case ATTR.LARGE_COMMUNITIES: {
      if (len === 0 || len % 12 !== 0) return lenErr('length must be a non-zero multiple of 12');
      const list: LargeCommunity[] = [];
      while (v.remaining() >= 12) list.push([v.u32(), v.u32(), v.u32()]);
      a.largeCommunities = list;
      return null;
    }
  }
  return null;
}

/** Keeps an unrecognised optional transitive attribute (Partial bit set, RFC 4271 §5). */
export function keepUnknown(a: PathAttributes, flags: number, code: number, value: Uint8Array): void {
  const raw: RawAttribute = { flags: (flags & 0xe0) | FLAG.PARTIAL, code, value: Buffer.from(value) };
  (a.unknown ??= []).push(raw);
}
