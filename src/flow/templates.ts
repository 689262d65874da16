/**
 * NetFlow v9 / IPFIX template state and the compiled data-record decoder.
 *
 * State is kept per exporter (one ExporterState per datagram source address),
 * then per (version, source id / observation domain): templates by id, the
 * sampling state learned from options data, and data sets held while their
 * template is unknown.
 *
 * A template is compiled once, when it arrives, into a field plan of typed
 * arrays: element id, PEN, length (65535 = variable) and the action kind
 * (ie.ts). decodeDataSet() walks that plan over each record, writing into the
 * one scratch record and handing it to the sink; it allocates nothing.
 *
 * Bounds (against hostile or broken exporters): 1024 domains and 8192
 * templates per exporter, 1024 fields per template; at most 4 held sets per
 * (domain, template id), 64 sets / 512 KiB per exporter, each kept 60 s.
 */
import { countError, type DecodeContext } from './context.ts';
import { F, type FlowRecord } from './record.ts';
import { K, VARLEN, fieldKind } from './ie.ts';
import { compilePlan, type RecordFn } from './plan.ts';
import { domainRate, newSamplingState, rateFrom, readOptionsRecords, type SamplingState } from './sampling.ts';

export const MAX_DOMAINS = 1024;
export const MAX_TEMPLATES = 8192;
export const MAX_FIELDS = 1024;
export const HOLD_PER_TEMPLATE = 4;
export const HOLD_SETS = 64;
export const HOLD_BYTES = 512 * 1024;
export const HOLD_MS = 60_000;

let useCompiledPlans = true;
/** Tests: compile templates into specialised decoders (default) or use only the generic walk. */
export function setCompiledPlans(on: boolean): void {
  useCompiledPlans = on;
}

/** NTP era 0 (1900) to Unix epoch, seconds. */
const NTP_UNIX = 2208988800;

export interface Template {
  id: number;
  options: boolean;
  /** Number of leading scope fields (options templates). */
  scopeCount: number;
  n: number;
  ids: Uint16Array;
  pens: Uint32Array;
  lens: Uint16Array;
  kinds: Uint8Array;
  /** Record length when no field is variable-length, else -1. */
  fixedLen: number;
  /** Smallest possible record length (a variable field takes at least 1 byte). */
  minLen: number;
  /** Definition bytes, to tell a refresh from a redefinition. */
  raw: Buffer;
  lastSeen: number;
  /** Specialised record decoder (fixed-length data templates), see plan.ts. */
  fn: RecordFn | null;
}

export interface FieldDef {
  id: number;
  pen: number;
  len: number;
}

/** Compiles a template definition into its field plan. */
export function compileTemplate(id: number, fields: readonly FieldDef[], options: boolean, scopeCount: number, raw: Buffer, now: number): Template {
  const n = fields.length;
  const ids = new Uint16Array(n);
  const pens = new Uint32Array(n);
  const lens = new Uint16Array(n);
  const kinds = new Uint8Array(n);
  let fixed = 0;
  let min = 0;
  let hasVar = false;
  const seen = new Uint8Array(64); // kinds already assigned
  for (let i = 0; i < n; i++) {
    const f = fields[i];
    ids[i] = f.id;
    pens[i] = f.pen;
    lens[i] = f.len;
    if (f.len === VARLEN) {
      hasVar = true;
      min += 1;
    } else {
      fixed += f.len;
      min += f.len;
    }
    let k = options ? K.SKIP : fieldKind(f.id, f.pen, f.len);
    // an element repeated (outer and inner header of tunnelled traffic): the first occurrence wins
    if (k !== K.SKIP) {
      if (seen[k] !== 0) k = K.SKIP;
      else seen[k] = 1;
    }
    kinds[i] = k;
  }
  const fn = !options && !hasVar && fixed > 0 && useCompiledPlans ? compilePlan(kinds, lens) : null;
  return { id, options, scopeCount, n, ids, pens, lens, kinds, fixedLen: hasVar ? -1 : fixed, minLen: min, raw: Buffer.from(raw), lastSeen: now, fn };
}

export class DomainState {
  readonly id: number;
  readonly v9: boolean;
  readonly templates = new Map<number, Template>();
  readonly sampling: SamplingState = newSamplingState();
  constructor(id: number, v9: boolean) {
    this.id = id;
    this.v9 = v9;
  }
}

interface HeldSet {
  dom: DomainState;
  tplId: number;
  data: Buffer;
  exportMs: number;
  uptime: number;
  heldAt: number;
}

export class ExporterState {
  templateTimeoutMs: number;
  readonly domains = new Map<number, DomainState>();
  private held: HeldSet[] = [];
  private heldBytes = 0;
  templateCount = 0;
  /** Records (template, options and data) seen in the current datagram, for v9's header count check. */
  seen = 0;
  private last: DomainState | null = null;

  readonly holdEnabled: boolean;

  constructor(templateTimeoutMs: number, holdEnabled = true) {
    this.templateTimeoutMs = templateTimeoutMs;
    this.holdEnabled = holdEnabled;
  }

  /** The domain state for (version, id), created on first use; null past the bound. */
  domain(v9: boolean, id: number): DomainState | null {
    const last = this.last;
    if (last !== null && last.id === id && last.v9 === v9) return last;
    const key = v9 ? id + 4294967296 : id;
    let d = this.domains.get(key);
    if (d === undefined) {
      if (this.domains.size >= MAX_DOMAINS) return null;
      d = new DomainState(id, v9);
      this.domains.set(key, d);
    }
    this.last = d;
    return d;
  }

  /** The live template `id`, dropping it when it has not been refreshed within the timeout. */
  template(ctx: DecodeContext, dom: DomainState, id: number): Template | undefined {
    const t = dom.templates.get(id);
    if (t !== undefined && ctx.received - t.lastSeen > this.templateTimeoutMs) {
      dom.templates.delete(id);
      this.templateCount--;
      ctx.stats.templates = this.templateCount;
      countError(ctx.stats, 'template_expired');
      return undefined;
    }
    return t;
  }

  /** When `raw` is the definition already stored for `id`, only refreshes its time. */
  refresh(ctx: DecodeContext, dom: DomainState, id: number, options: boolean, raw: Buffer): boolean {
    const old = dom.templates.get(id);
    if (old === undefined || old.options !== options || !old.raw.equals(raw)) return false;
    old.lastSeen = ctx.received;
    return true;
  }

  /**
   * Stores a template (a refresh only updates its time; a redefinition, also
   * between data and options, replaces it) and decodes the data sets held for
   * it. Returns the records emitted from held sets.
   */
  addTemplate(ctx: NetflowContext, dom: DomainState, tpl: Template): number {
    const old = dom.templates.get(tpl.id);
    if (old !== undefined && old.options === tpl.options && old.scopeCount === tpl.scopeCount && old.raw.equals(tpl.raw)) {
      old.lastSeen = tpl.lastSeen;
    } else {
      if (old === undefined) {
        if (this.templateCount >= MAX_TEMPLATES) {
          countError(ctx.stats, 'too_many_templates');
          return 0;
        }
        this.templateCount++;
        ctx.stats.templates = this.templateCount;
      }
      dom.templates.set(tpl.id, tpl);
    }
    return this.held.length > 0 ? this.release(ctx, dom, tpl.id) : 0;
  }

  withdraw(ctx: DecodeContext, dom: DomainState, id: number): void {
    if (dom.templates.delete(id)) {
      this.templateCount--;
      ctx.stats.templates = this.templateCount;
    } else countError(ctx.stats, 'withdraw_unknown');
  }

  /** Withdraws all data (options=false) or all options (options=true) templates of a domain. */
  withdrawAll(ctx: DecodeContext, dom: DomainState, options: boolean): void {
    for (const [id, t] of dom.templates) {
      if (t.options === options) {
        dom.templates.delete(id);
        this.templateCount--;
      }
    }
    ctx.stats.templates = this.templateCount;
  }

  /** Keeps a copy of a data set whose template is unknown (bounded). */
  hold(ctx: DecodeContext, dom: DomainState, tplId: number, buf: Buffer, p: number, end: number, exportMs: number, uptime: number): void {
    if (!this.holdEnabled) return;
    this.expireHeld(ctx.received);
    const len = end - p;
    let same = 0;
    for (const h of this.held) if (h.dom === dom && h.tplId === tplId) same++;
    if (same >= HOLD_PER_TEMPLATE || this.held.length >= HOLD_SETS || this.heldBytes + len > HOLD_BYTES) {
      countError(ctx.stats, 'held_dropped');
      return;
    }
    this.held.push({ dom, tplId, data: Buffer.from(buf.subarray(p, end)), exportMs, uptime, heldAt: ctx.received });
    this.heldBytes += len;
  }

  heldSets(): number {
    return this.held.length;
  }

  private expireHeld(now: number): void {
    if (this.held.length === 0) return;
    const keep: HeldSet[] = [];
    for (const h of this.held) {
      if (now - h.heldAt > HOLD_MS) this.heldBytes -= h.data.length;
      else keep.push(h);
    }
    this.held = keep;
  }

  private release(ctx: NetflowContext, dom: DomainState, tplId: number): number {
    this.expireHeld(ctx.received);
    let n = 0;
    const rest: HeldSet[] = [];
    const mine: HeldSet[] = [];
    for (const h of this.held) (h.dom === dom && h.tplId === tplId ? mine : rest).push(h);
    if (mine.length === 0) return 0;
    this.held = rest;
    for (const h of mine) {
      this.heldBytes -= h.data.length;
      const tpl = dom.templates.get(tplId);
      if (tpl === undefined) break;
      const r = decodeSet(ctx, dom, tpl, h.data, 0, h.data.length, h.exportMs, h.uptime);
      if (r > 0) n += r;
    }
    return n;
  }
}

export interface NetflowContext extends DecodeContext {
  state: ExporterState;
}

/** Decodes one data set (options or flow data) with a known template. Returns flow records emitted. */
export function decodeSet(ctx: DecodeContext, dom: DomainState, tpl: Template, buf: Buffer, p: number, end: number, exportMs: number, uptime: number): number {
  const state = (ctx as NetflowContext).state;
  if (tpl.options) {
    const n = readOptionsRecords(dom.sampling, tpl, buf, p, end, dom.v9);
    if (n < 0) countError(ctx.stats, 'truncated_record');
    else if (state !== undefined) state.seen += n;
    return 0;
  }
  const n = decodeDataSet(ctx, dom, tpl, buf, p, end, exportMs, uptime);
  if (state !== undefined) state.seen += n;
  return n;
}

function resetRecord(rec: FlowRecord): void {
  if (rec.family === 6) {
    rec.src6.fill(0);
    rec.dst6.fill(0);
  }
  rec.family = 4;
  rec.src4 = 0;
  rec.dst4 = 0;
  rec.srcPort = 0;
  rec.dstPort = 0;
  rec.ipProto = 0;
  rec.tcpFlags = 0;
  rec.icmpType = 0;
  rec.icmpCode = 0;
  rec.fragment = 0;
  rec.bytes = 0;
  rec.packets = 0;
  rec.revBytes = 0;
  rec.revPackets = 0;
  rec.direction = 0;
  rec.inIf = 0;
  rec.outIf = 0;
  rec.start = 0;
  rec.end = 0;
  rec.fields = 0;
}

/** Unsigned big-endian integer of l (1..8) bytes (small, so it inlines). */
function uintAt(b: Buffer, p: number, l: number): number {
  if (l === 4) return ((b[p] << 24) >>> 0) + ((b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]);
  if (l === 2) return (b[p] << 8) | b[p + 1];
  if (l === 1) return b[p];
  return uintSlow(b, p, l);
}

function uintSlow(b: Buffer, p: number, l: number): number {
  if (l === 8) return (((b[p] << 24) >>> 0) + ((b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3])) * 4294967296 + (((b[p + 4] << 24) >>> 0) + ((b[p + 5] << 16) | (b[p + 6] << 8) | b[p + 7]));
  let v = 0;
  for (let i = 0; i < l; i++) v = v * 256 + b[p + i];
  return v;
}

/** NTP 64-bit timestamp (RFC 7011 §6.1.9/10) at p to ms since the Unix epoch. */
function ntpMs(b: Buffer, p: number): number {
  const sec = ((b[p] << 24) >>> 0) + ((b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]);
  const frac = ((b[p + 4] << 24) >>> 0) + ((b[p + 5] << 16) | (b[p + 6] << 8) | b[p + 7]);
  return (sec - NTP_UNIX) * 1000 + Math.floor((frac * 1000) / 4294967296);
}

/**
 * The hot path: decodes the flow records of one data set (p..end) with a data
 * template. `uptime` is the v9 header sysUptime (ms) or -1 for IPFIX, where
 * uptime-relative times use systemInitTimeMilliseconds from options data.
 */
export function decodeDataSet(ctx: DecodeContext, dom: DomainState, tpl: Template, buf: Buffer, p: number, end: number, exportMs: number, uptime: number): number {
  const rec = ctx.rec;
  const sink = ctx.sink;
  const n = tpl.n;
  const kinds = tpl.kinds;
  const lens = tpl.lens;
  const fixed = tpl.fixedLen;
  const minLen = tpl.minLen;
  if (minLen === 0) {
    // every field zero-length (or none): records carry nothing and cannot advance
    if (end > p) countError(ctx.stats, 'empty_template');
    return 0;
  }
  const sampling = dom.sampling;
  const setRate = domainRate(sampling, ctx.defaultSamplingRate);
  const sysInit = sampling.sysInitMs;
  rec.domain = dom.id;
  let count = 0;
  const fn = tpl.fn;
  if (fn !== null) {
    const samplers = sampling.samplers;
    while (end - p >= fixed) {
      resetRecord(rec);
      fn(buf, p, rec, exportMs, uptime, sysInit, setRate, samplers);
      p += fixed;
      count++;
      sink.record(rec);
    }
    return count;
  }
  while (end - p >= minLen) {
    if (fixed > 0 && end - p < fixed) break;
    resetRecord(rec);
    let fields = 0;
    let has4 = 0;
    let has6 = 0;
    let nz6 = 0;
    let start = -1;
    let stop = -1;
    let startS = -1;
    let icmp6 = -1;
    let stopS = -1;
    let firstUp = -1;
    let lastUp = -1;
    let recInit = -1;
    let rate = 0;
    let sampler = -1;
    let interval = -1;
    let space = -1;
    let size = -1;
    let population = -1;
    let bytes2 = -1;
    let packets2 = -1;
    let bytes3 = -1;
    let packets3 = -1;
    let ok = true;
    for (let i = 0; i < n; i++) {
      let l = lens[i];
      if (l === VARLEN) {
        if (p >= end) {
          ok = false;
          break;
        }
        l = buf[p++];
        if (l === 255) {
          if (p + 2 > end) {
            ok = false;
            break;
          }
          l = (buf[p] << 8) | buf[p + 1];
          p += 2;
        }
        if (p + l > end) {
          ok = false;
          break;
        }
        p += l;
        continue;
      }
      if (p + l > end) {
        ok = false;
        break;
      }
      const k = kinds[i];
      if (k !== 0) {
        switch (k) {
          case K.SRC4:
            rec.src4 = ((buf[p] << 24) >>> 0) + ((buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3]);
            has4 |= 1;
            break;
          case K.DST4:
            rec.dst4 = ((buf[p] << 24) >>> 0) + ((buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3]);
            has4 |= 2;
            break;
          case K.SRC6: {
            const a = rec.src6;
            for (let j = 0; j < 16; j++) nz6 |= a[j] = buf[p + j];
            has6 |= 1;
            break;
          }
          case K.DST6: {
            const a = rec.dst6;
            for (let j = 0; j < 16; j++) nz6 |= a[j] = buf[p + j];
            has6 |= 2;
            break;
          }
          case K.SPORT:
            rec.srcPort = uintAt(buf, p, l) & 0xffff;
            fields |= F.SRC_PORT;
            break;
          case K.DPORT:
            rec.dstPort = uintAt(buf, p, l) & 0xffff;
            fields |= F.DST_PORT;
            break;
          case K.PROTO:
            rec.ipProto = buf[p + l - 1];
            fields |= F.IP_PROTO;
            break;
          case K.TCPFLAGS:
            // tcpControlBits may be 2 bytes (RFC 7125); the classic flags are the low byte
            rec.tcpFlags = buf[p + l - 1];
            fields |= F.TCP_FLAGS;
            break;
          case K.BYTES:
            rec.bytes = uintAt(buf, p, l);
            fields |= F.BYTES;
            break;
          case K.PACKETS:
            rec.packets = uintAt(buf, p, l);
            fields |= F.PACKETS;
            break;
          case K.BYTES2:
            bytes2 = uintAt(buf, p, l);
            break;
          case K.PACKETS2:
            packets2 = uintAt(buf, p, l);
            break;
          case K.BYTES3:
            bytes3 = uintAt(buf, p, l);
            break;
          case K.PACKETS3:
            packets3 = uintAt(buf, p, l);
            break;
          case K.REV_BYTES:
            rec.revBytes = uintAt(buf, p, l);
            fields |= F.REVERSE;
            break;
          case K.REV_PACKETS:
            rec.revPackets = uintAt(buf, p, l);
            fields |= F.REVERSE;
            break;
          case K.IN_IF:
            rec.inIf = uintAt(buf, p, l);
            fields |= F.IN_IF;
            break;
          case K.OUT_IF:
            rec.outIf = uintAt(buf, p, l);
            fields |= F.OUT_IF;
            break;
          case K.ICMP_TC6:
            if (l >= 2) icmp6 = (buf[p + l - 2] << 8) | buf[p + l - 1];
            break;
          case K.ICMP_TYPE6:
            icmp6 = (icmp6 < 0 ? 0 : icmp6 & 0xff) | (buf[p + l - 1] << 8);
            break;
          case K.ICMP_CODE6:
            icmp6 = (icmp6 < 0 ? 0 : icmp6 & 0xff00) | buf[p + l - 1];
            break;
          case K.ICMP_TC:
            if (l >= 2) {
              rec.icmpType = buf[p + l - 2];
              rec.icmpCode = buf[p + l - 1];
              fields |= F.ICMP;
            }
            break;
          case K.ICMP_TYPE:
            rec.icmpType = buf[p + l - 1];
            fields |= F.ICMP;
            break;
          case K.ICMP_CODE:
            rec.icmpCode = buf[p + l - 1];
            fields |= F.ICMP;
            break;
          case K.FIRST_UP:
            firstUp = uintAt(buf, p, l);
            break;
          case K.LAST_UP:
            lastUp = uintAt(buf, p, l);
            break;
          case K.START_S:
            startS = uintAt(buf, p, l) * 1000;
            break;
          case K.END_S:
            stopS = uintAt(buf, p, l) * 1000;
            break;
          case K.START_MS:
            start = uintAt(buf, p, l);
            break;
          case K.END_MS:
            stop = uintAt(buf, p, l);
            break;
          case K.START_US:
          case K.START_NS:
            start = ntpMs(buf, p);
            break;
          case K.END_US:
          case K.END_NS:
            stop = ntpMs(buf, p);
            break;
          case K.START_DUS:
            start = exportMs - Math.floor(uintAt(buf, p, l) / 1000);
            break;
          case K.END_DUS:
            stop = exportMs - Math.floor(uintAt(buf, p, l) / 1000);
            break;
          case K.SYSINIT:
            recInit = uintAt(buf, p, l);
            break;
          case K.RATE:
            rate = uintAt(buf, p, l);
            break;
          case K.SAMPLER:
            sampler = uintAt(buf, p, l);
            break;
          case K.PKT_INTERVAL:
            interval = uintAt(buf, p, l);
            break;
          case K.PKT_SPACE:
            space = uintAt(buf, p, l);
            break;
          case K.SAMP_SIZE:
            size = uintAt(buf, p, l);
            break;
          case K.SAMP_POP:
            population = uintAt(buf, p, l);
            break;
          case K.DIRECTION:
            rec.direction = buf[p + l - 1];
            fields |= F.DIRECTION;
            break;
          case K.FRAG_FLAGS:
            // bit 2 (MSB first) is More Fragments
            if (buf[p + l - 1] & 0x20) rec.fragment = 1;
            fields |= F.FRAGMENT;
            break;
          case K.FRAG_OFF:
            if (uintAt(buf, p, l) !== 0) rec.fragment = 1;
            fields |= F.FRAGMENT;
            break;
        }
      }
      p += l;
    }
    if (!ok) {
      countError(ctx.stats, 'truncated_record');
      break;
    }
    // addresses: IPv6 when present and not all zero (some templates carry both families)
    if (has6 !== 0 && (nz6 !== 0 || has4 === 0)) {
      rec.family = 6;
      fields |= (has6 & 1 ? F.SRC_ADDR : 0) | (has6 & 2 ? F.DST_ADDR : 0);
    } else if (has4 !== 0) {
      fields |= (has4 & 1 ? F.SRC_ADDR : 0) | (has4 & 2 ? F.DST_ADDR : 0);
    }
    // counters: delta > initiator (NSEL) > total
    if ((fields & F.BYTES) === 0) {
      if (bytes2 >= 0) {
        rec.bytes = bytes2;
        fields |= F.BYTES;
      } else if (bytes3 >= 0) {
        rec.bytes = bytes3;
        fields |= F.BYTES;
      }
    }
    if ((fields & F.PACKETS) === 0) {
      if (packets2 >= 0) {
        rec.packets = packets2;
        fields |= F.PACKETS;
      } else if (packets3 >= 0) {
        rec.packets = packets3;
        fields |= F.PACKETS;
      }
    }
    // ICMPv6 elements apply to IPv6 records (templates often carry both families' elements)
    if (icmp6 >= 0 && (rec.family === 6 || (fields & F.ICMP) === 0)) {
      rec.icmpType = icmp6 >>> 8;
      rec.icmpCode = icmp6 & 0xff;
      fields |= F.ICMP;
    }
    // no ICMP element: Cisco exporters put type << 8 | code in the destination port
    if ((fields & (F.ICMP | F.DST_PORT)) === F.DST_PORT && (rec.ipProto === 1 || rec.ipProto === 58) && (fields & F.IP_PROTO) !== 0) {
      rec.icmpType = rec.dstPort >>> 8;
      rec.icmpCode = rec.dstPort & 0xff;
      fields |= F.ICMP;
    }
    // times: absolute (finest first) > delta > uptime-relative
    if (start < 0) start = startS;
    if (stop < 0) stop = stopS;
    if (start < 0 && firstUp >= 0) {
      if (uptime >= 0) start = exportMs - ((uptime - firstUp) | 0);
      else if (recInit >= 0) start = recInit + firstUp;
      else if (sysInit >= 0) start = sysInit + firstUp;
    }
    if (stop < 0 && lastUp >= 0) {
      if (uptime >= 0) stop = exportMs - ((uptime - lastUp) | 0);
      else if (recInit >= 0) stop = recInit + lastUp;
      else if (sysInit >= 0) stop = sysInit + lastUp;
    }
    if (start >= 0) {
      rec.start = start;
      fields |= F.START;
    }
    if (stop >= 0) {
      rec.end = stop;
      fields |= F.END;
    }
    // sampling: record > sampler table > exporter-wide > default
    if (rate <= 0) rate = rateFrom(interval, space, size, population);
    if (rate <= 0 && sampler >= 0) rate = sampling.samplers.get(sampler) ?? 0;
    rec.samplingRate = rate > 0 ? rate : setRate;
    rec.fields = fields;
    count++;
    sink.record(rec);
  }
  return count;
}
