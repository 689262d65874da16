/**
 * FlowSpec NLRI for IPv4 (RFC 8955 §4) and IPv6 (RFC 8956 §3).
 *
 * NLRI:  length (1 byte if < 240, else 2 bytes 0xfnnn) | components in type order
 *
 * Prefix component (types 1, 2):
 *   IPv4: type | prefix length | prefix (ceil(len/8) bytes)
 *   IPv6: type | prefix length | offset | pattern (bits offset..len-1, ceil((len-offset)/8) bytes)
 *
 * Operator components (types 3..13): type | (op | value)+ , the last op has the end bit.
 *   numeric op:  e | a | len(2) | 0 | lt | gt | eq      len: 0=1, 1=2, 2=4, 3=8 bytes
 *   bitmask op:  e | a | len(2) | 0 | 0 | not | m
 *
 *  type 3 protocol / next header   numeric, 1 byte     type 9  TCP flags      bitmask, 1-2 bytes
 *  type 4 port                     numeric, 1-2        type 10 packet length  numeric, 1-2
 *  type 5 destination port         numeric, 1-2        type 11 DSCP           numeric, 1 (0..63)
 *  type 6 source port              numeric, 1-2        type 12 fragment       bitmask, 1 (DF IsF FF LF)
 *  type 7 ICMP type / 8 ICMP code  numeric, 1          type 13 flow label     numeric, 1-4 (IPv6 only)
 */
import { Reader } from '../core/reader.ts';
import { Writer } from '../core/writer.ts';
import { formatIP, parsePrefix, type Prefix } from '../core/ip.ts';
import { FS } from './constants.ts';
import { RouteError } from './errors.ts';
import type { BitmaskOp, FlowspecPrefix, FlowspecRule, FlowspecRoute, NumericOp } from './types.ts';

type FsFamily = FlowspecRoute['family'];
type OpKey = Exclude<keyof FlowspecRule, 'destination' | 'source'>;

interface OpComponent {
  type: number;
  key: OpKey;
  kind: 'numeric' | 'bitmask';
  /** Largest value allowed. */
  max: number;
  name: string;
  v6only?: boolean;
}

/** One row per operator component: the table drives encode, decode and validation. */
export const OP_COMPONENTS: readonly OpComponent[] = [
  { type: FS.PROTOCOL, key: 'protocol', kind: 'numeric', max: 255, name: 'protocol' },
  { type: FS.PORT, key: 'port', kind: 'numeric', max: 65535, name: 'port' },
  { type: FS.DESTINATION_PORT, key: 'destinationPort', kind: 'numeric', max: 65535, name: 'destination-port' },
  { type: FS.SOURCE_PORT, key: 'sourcePort', kind: 'numeric', max: 65535, name: 'source-port' },
  { type: FS.ICMP_TYPE, key: 'icmpType', kind: 'numeric', max: 255, name: 'icmp-type' },
  { type: FS.ICMP_CODE, key: 'icmpCode', kind: 'numeric', max: 255, name: 'icmp-code' },
  { type: FS.TCP_FLAGS, key: 'tcpFlags', kind: 'bitmask', max: 0xffff, name: 'tcp-flags' },
  { type: FS.PACKET_LENGTH, key: 'packetLength', kind: 'numeric', max: 65535, name: 'packet-length' },
  { type: FS.DSCP, key: 'dscp', kind: 'numeric', max: 63, name: 'dscp' },
  { type: FS.FRAGMENT, key: 'fragment', kind: 'bitmask', max: 0x0f, name: 'fragment' },
  { type: FS.FLOW_LABEL, key: 'flowLabel', kind: 'numeric', max: 0xfffff, name: 'flow-label', v6only: true },
];
const BY_TYPE = new Map<number, OpComponent>(OP_COMPONENTS.map((c) => [c.type, c]));

/** Longest NLRI value the 2-byte length form can carry. */
export const MAX_FLOWSPEC_NLRI = 4095;

// ---------------------------------------------------------------- helpers to build rules

const n = (value: number, lt: boolean, gt: boolean, eq: boolean, and = false): NumericOp => ({ and, lt, gt, eq, value });
export const op = {
  eq: (v: number, and = false) => n(v, false, false, true, and),
  gt: (v: number, and = false) => n(v, false, true, false, and),
  gte: (v: number, and = false) => n(v, false, true, true, and),
  lt: (v: number, and = false) => n(v, true, false, false, and),
  lte: (v: number, and = false) => n(v, true, false, true, and),
  ne: (v: number, and = false) => n(v, true, true, false, and),
};
/** value ∈ values (OR of equalities). */
export function anyOf(values: readonly number[]): NumericOp[] {
  return values.map((v) => op.eq(v));
}
/** lo <= value <= hi. */
export function range(lo: number, hi: number): NumericOp[] {
  return lo === hi ? [op.eq(lo)] : [op.gte(lo), op.lte(hi, true)];
}
/** All bits of `set` present and none of `clear` (e.g. SYN without ACK). */
export function flagsMatch(set: number, clear = 0): BitmaskOp[] {
  const out: BitmaskOp[] = [];
  if (set) out.push({ and: false, not: false, match: true, value: set });
  if (clear) out.push({ and: out.length > 0, not: true, match: false, value: clear });
  return out;
}

// ---------------------------------------------------------------- validation

function widthOf(v: number): number {
  return v < 0x100 ? 1 : v < 0x10000 ? 2 : v < 0x100000000 ? 4 : 8;
}

function parseFsPrefix(fam: 4 | 6, p: FlowspecPrefix, what: string): Prefix | string {
  const pr = parsePrefix(p.prefix, true);
  if (typeof pr === 'string') return `${what}: ${pr}`;
  if (pr.family !== fam) return `${what} ${p.prefix} is IPv${pr.family} in an IPv${fam} rule`;
  const off = p.offset ?? 0;
  if (off !== 0) {
    if (fam === 4) return `${what}: an offset is only allowed in IPv6 rules`;
    if (!Number.isInteger(off) || off < 0 || off >= pr.len) return `${what}: offset ${off} must be 0..${pr.len - 1} (below the prefix length)`;
    for (let bit = 0; bit < off; bit++) {
      if (pr.bytes[bit >> 3] & (0x80 >> (bit & 7))) return `${what}: bits before offset ${off} must be zero`;
    }
  }
  return pr;
}

export interface ValidateOptions {
  /** Refuse rules that match every destination (no destination, or a /0). Default true. */
  requireDestination?: boolean;
}

/**
 * Checks that a rule is well formed and safe to send; returns the reason it
 * is not, or null. Also enforces the per-component value ranges.
 */
export function validateFlowspecRule(family: FsFamily, rule: FlowspecRule, opts: ValidateOptions = {}): string | null {
  const fam = family === 'ipv4_flowspec' ? 4 : 6;
  const keys = Object.keys(rule).filter((k) => (rule as Record<string, unknown>)[k] !== undefined);
  if (keys.length === 0) return 'empty match: a rule needs at least one component';
  for (const k of keys) {
    if (k !== 'destination' && k !== 'source' && !OP_COMPONENTS.some((c) => c.key === k)) return `unknown component "${k}"`;
  }
  for (const which of ['destination', 'source'] as const) {
    const p = rule[which];
    if (!p) continue;
    const pr = parseFsPrefix(fam, p, which);
    if (typeof pr === 'string') return pr;
  }
  if (opts.requireDestination !== false) {
    if (!rule.destination) return 'a rule without a destination prefix would match traffic to every address';
    const pr = parsePrefix(rule.destination.prefix);
    if (typeof pr !== 'string' && pr.len === 0) return 'a /0 destination would match traffic to every address';
  }
  for (const c of OP_COMPONENTS) {
    const ops = rule[c.key] as Array<NumericOp | BitmaskOp> | undefined;
    if (ops === undefined) continue;
    if (c.v6only && fam === 4) return `${c.name} is an IPv6 component and cannot be used in an IPv4 rule`;
    if (!Array.isArray(ops) || ops.length === 0) return `${c.name}: empty operator list`;
    for (const o of ops) {
      if (!Number.isInteger(o.value) || o.value < 0) return `${c.name}: value ${o.value} is not a non-negative integer`;
      if (o.value > c.max) return `${c.name}: value ${o.value} is outside 0..${c.max}`;
    }
    if (c.key === 'fragment' && fam === 6) {
      for (const o of ops as BitmaskOp[]) if (o.value & 0x01) return 'fragment: dont-fragment does not exist in IPv6 (RFC 8956)';
    }
  }
  const len = encodedValueLength(fam, rule);
  if (len > MAX_FLOWSPEC_NLRI) return `rule encodes to ${len} bytes, more than the ${MAX_FLOWSPEC_NLRI} a FlowSpec NLRI can carry`;
  return null;
}

// ---------------------------------------------------------------- encode

function prefixComponentLength(fam: 4 | 6, p: FlowspecPrefix): number {
  const len = Number(p.prefix.slice(p.prefix.lastIndexOf('/') + 1));
  const off = p.offset ?? 0;
  return fam === 4 ? 2 + ((len + 7) >> 3) : 3 + ((len - off + 7) >> 3);
}

function opsLength(ops: ReadonlyArray<{ value: number }>): number {
  let n = 0;
  for (const o of ops) n += 1 + widthOf(o.value);
  return n;
}

function encodedValueLength(fam: 4 | 6, r: FlowspecRule): number {
  let n = 0;
  if (r.destination) n += prefixComponentLength(fam, r.destination);
  if (r.source) n += prefixComponentLength(fam, r.source);
  for (const c of OP_COMPONENTS) {
    const ops = r[c.key] as Array<{ value: number }> | undefined;
    if (ops) n += 1 + opsLength(ops);
  }
  return n;
}

function writePrefixComponent(w: Writer, type: number, fam: 4 | 6, p: FlowspecPrefix): void {
  const pr = parsePrefix(p.prefix) as Prefix;
  w.u8(type).u8(pr.len);
  if (fam === 4) {
    w.bytes(pr.bytes.subarray(0, (pr.len + 7) >> 3));
    return;
  }
  const off = p.offset ?? 0;
  w.u8(off);
  // Pattern: bits off..len-1 of the address, left aligned.
  const nbits = pr.len - off;
  const out = new Uint8Array((nbits + 7) >> 3);
  for (let i = 0; i < nbits; i++) {
    const src = off + i;
    if (pr.bytes[src >> 3] & (0x80 >> (src & 7))) out[i >> 3] |= 0x80 >> (i & 7);
  }
  w.bytes(out);
}

function writeOps(w: Writer, ops: ReadonlyArray<NumericOp | BitmaskOp>, kind: 'numeric' | 'bitmask'): void {
  ops.forEach((o, i) => {
    const width = widthOf(o.value);
    let b = (i === ops.length - 1 ? 0x80 : 0) | (i > 0 && o.and ? 0x40 : 0) | ([0, 0, 0x10, 0, 0x20, 0, 0, 0, 0x30][width]);
    if (kind === 'numeric') {
      const x = o as NumericOp;
      b |= (x.lt ? 4 : 0) | (x.gt ? 2 : 0) | (x.eq ? 1 : 0);
    } else {
      const x = o as BitmaskOp;
      b |= (x.not ? 2 : 0) | (x.match ? 1 : 0);
    }
    w.u8(b);
    if (width === 8) w.u64(o.value);
    else if (width === 4) w.u32(o.value);
    else if (width === 2) w.u16(o.value);
    else w.u8(o.value);
  });
}

/** Writes one NLRI (length + components). Throws RouteError if the rule is invalid. */
export function encodeFlowspecNlri(w: Writer, family: FsFamily, rule: FlowspecRule): void {
  const bad = validateFlowspecRule(family, rule, { requireDestination: false });
  if (bad) throw new RouteError(`FlowSpec rule rejected: ${bad}`);
  const fam = family === 'ipv4_flowspec' ? 4 : 6;
  const len = encodedValueLength(fam, rule);
  if (len < 240) w.u8(len);
  else w.u16(0xf000 | len);
  const start = w.pos;
  if (rule.destination) writePrefixComponent(w, FS.DESTINATION, fam, rule.destination);
  if (rule.source) writePrefixComponent(w, FS.SOURCE, fam, rule.source);
  for (const c of OP_COMPONENTS) {
    const ops = rule[c.key] as Array<NumericOp | BitmaskOp> | undefined;
    if (!ops) continue;
    w.u8(c.type);
    writeOps(w, ops, c.kind);
  }
  if (w.pos - start !== len) throw new Error(`internal: FlowSpec length ${w.pos - start} != ${len}`);
}

/** One NLRI as bytes (length prefix included). */
export function flowspecNlriBytes(family: FsFamily, rule: FlowspecRule): Buffer {
  const w = new Writer(64);
  encodeFlowspecNlri(w, family, rule);
  return w.finish();
}

/** Encoded size of one NLRI including its length prefix (rule assumed valid). */
export function flowspecNlriLength(family: FsFamily, rule: FlowspecRule): number {
  const len = encodedValueLength(family === 'ipv4_flowspec' ? 4 : 6, rule);
  return len + (len < 240 ? 1 : 2);
}

// ---------------------------------------------------------------- decode

export type FlowspecDecode = { ok: true; rule: FlowspecRule } | { ok: false; error: string };

function readPrefixComponent(r: Reader, fam: 4 | 6): FlowspecPrefix | string {
  if (!r.has(fam === 4 ? 1 : 2)) return 'truncated prefix component';
  const len = r.u8();
  const max = fam === 4 ? 32 : 128;
  if (len > max) return `prefix length ${len} > ${max}`;
  const bytes = new Uint8Array(fam === 4 ? 4 : 16);
  if (fam === 4) {
    const nb = (len + 7) >> 3;
    if (!r.has(nb)) return 'truncated prefix';
    bytes.set(r.bytes(nb));
    maskTail(bytes, len);
    return { prefix: `${formatIP(4, bytes)}/${len}` };
  }
  const off = r.u8();
  if (off > len || (off === len && len !== 0)) return `IPv6 prefix offset ${off} not below length ${len}`;
  const nbits = len - off;
  const nb = (nbits + 7) >> 3;
  if (!r.has(nb)) return 'truncated IPv6 pattern';
  const pat = r.bytes(nb);
  for (let i = 0; i < nbits; i++) {
    if (pat[i >> 3] & (0x80 >> (i & 7))) {
      const dst = off + i;
      bytes[dst >> 3] |= 0x80 >> (dst & 7);
    }
  }
  const p: FlowspecPrefix = { prefix: `${formatIP(6, bytes)}/${len}` };
  if (off) p.offset = off;
  return p;
}

function maskTail(b: Uint8Array, len: number): void {
  for (let i = 0; i < b.length; i++) {
    const start = i * 8;
    if (start >= len) b[i] = 0;
    else if (start + 8 > len) b[i] &= (0xff << (8 - (len - start))) & 0xff;
  }
}

function readOps(r: Reader, c: OpComponent): Array<NumericOp | BitmaskOp> | string {
  const out: Array<NumericOp | BitmaskOp> = [];
  for (let guard = 0; guard < 4096; guard++) {
    if (!r.has(1)) return `${c.name}: operator list runs past the NLRI`;
    const b = r.u8();
    const width = 1 << ((b >> 4) & 3);
    if (!r.has(width)) return `${c.name}: value runs past the NLRI`;
    const value = width === 8 ? r.u64() : r.uint(width);
    if (value > c.max) return `${c.name}: value ${value} outside 0..${c.max}`;
    const and = out.length > 0 && (b & 0x40) !== 0;
    if (c.kind === 'numeric') out.push({ and, lt: (b & 4) !== 0, gt: (b & 2) !== 0, eq: (b & 1) !== 0, value });
    else out.push({ and, not: (b & 2) !== 0, match: (b & 1) !== 0, value });
    if (b & 0x80) return out;
  }
  return `${c.name}: too many operators`;
}

/**
 * Decodes one NLRI from `r` (length prefix first). On success or on a
 * malformed rule the reader is left after this NLRI; a length that overruns
 * the buffer is reported as `overrun` (the caller cannot find the next NLRI).
 */
export function decodeFlowspecNlri(r: Reader, family: FsFamily): FlowspecDecode | { ok: false; error: string; overrun: true } {
  if (!r.has(1)) return { ok: false, error: 'truncated NLRI length', overrun: true };
  let len = r.u8();
  if ((len & 0xf0) === 0xf0) {
    if (!r.has(1)) return { ok: false, error: 'truncated 2-byte NLRI length', overrun: true };
    len = ((len & 0x0f) << 8) | r.u8();
  }
  if (!r.has(len)) return { ok: false, error: `NLRI length ${len} overruns the attribute`, overrun: true };
  const v = r.sub(len);
  if (len === 0) return { ok: false, error: 'empty FlowSpec NLRI' };
  const fam = family === 'ipv4_flowspec' ? 4 : 6;
  const rule: FlowspecRule = {};
  let last = 0;
  while (v.remaining() > 0) {
    const type = v.u8();
    if (type <= last) return { ok: false, error: `component type ${type} after type ${last} (order or duplicate)` };
    last = type;
    if (type === FS.DESTINATION || type === FS.SOURCE) {
      const p = readPrefixComponent(v, fam);
      if (typeof p === 'string') return { ok: false, error: p };
      if (type === FS.DESTINATION) rule.destination = p;
      else rule.source = p;
      continue;
    }
    const c = BY_TYPE.get(type);
    if (!c || (c.v6only && fam === 4)) return { ok: false, error: `unknown component type ${type}` };
    const ops = readOps(v, c);
    if (typeof ops === 'string') return { ok: false, error: ops };
    (rule as Record<string, unknown>)[c.key] = ops;
  }
  return { ok: true, rule };
}
