/**
 * NetFlow v9 / IPFIX template state.
 *
 * State is kept per exporter (one ExporterState per datagram source address),
 * then per (version, source id / observation domain): templates by id, the
 * sampling state learned from options data, and data sets held while their
 * template is unknown.
 *
 * A template is compiled once, when it arrives, into a field plan of typed
 * arrays: element id, PEN, length (65535 = variable) and the action kind
 * from the element table (ie.ts); fixed-length data templates also get a
 * specialised decoder (plan.ts). dataset.ts decodes data sets with them.
 *
 * Bounds (against hostile or broken exporters): 1024 domains and 8192
 * templates per exporter, 1024 fields per template; at most 4 held sets per
 * (domain, template id), 64 sets / 512 KiB per exporter, each kept 60 s.
 */
import { countError, type DecodeContext } from './context.ts';
import { K, VARLEN, fieldKind, optionKind } from './ie.ts';
import { compilePlan, type RecordFn } from './plan.ts';
import { newSamplingState, type SamplingState } from './sampling.ts';
import { decodeSet } from './dataset.ts';
import { DOMAIN_BYTES, FlowStateBudget, HELD_BYTES, templateCost } from './memory.ts';

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
  /** Estimated memory (memory.ts). */
  cost: number;
}

export interface FieldDef {
  id: number;
  pen: number;
  len: number;
}

/**
 * Compiles a template definition into its field plan. Options templates get
 * option kinds (sampler state); NetFlow v9 scope fields use their own type
 * space (system, interface, ...), not elements, and are skipped.
 */
export function compileTemplate(id: number, fields: readonly FieldDef[], options: boolean, scopeCount: number, v9: boolean, raw: Buffer, now: number): Template {
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
    if (options) {
      kinds[i] = v9 && i < scopeCount ? K.SKIP : optionKind(f.id, f.pen, f.len);
      continue;
    }
    let k = fieldKind(f.id, f.pen, f.len);
    // an element repeated (outer and inner header of tunnelled traffic): the first occurrence wins
    if (k !== K.SKIP) {
      if (seen[k] !== 0) k = K.SKIP;
      else seen[k] = 1;
    }
    kinds[i] = k;
  }
  const fn = !options && !hasVar && fixed > 0 && useCompiledPlans ? compilePlan(kinds, lens) : null;
  return { id, options, scopeCount, n, ids, pens, lens, kinds, fixedLen: hasVar ? -1 : fixed, minLen: min, raw: Buffer.from(raw), lastSeen: now, fn, cost: templateCost(n, raw.length, fn !== null) };
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
  /** Estimated bytes of this exporter's state (memory.ts), also counted in budget.used. */
  bytes = 0;
  /** Estimated bytes of its templates (capped by budget.templateLimit). */
  templateBytes = 0;
  /** Datagram serial of the last use (least recently used exporters are evicted first). */
  lastUse = 0;

  readonly holdEnabled: boolean;
  readonly budget: FlowStateBudget;

  constructor(templateTimeoutMs: number, holdEnabled = true, budget: FlowStateBudget = new FlowStateBudget(Infinity, Infinity)) {
    this.templateTimeoutMs = templateTimeoutMs;
    this.holdEnabled = holdEnabled;
    this.budget = budget;
  }

  /** Adds `n` bytes (negative: frees) to this exporter's and the thread's accounted state. */
  charge(n: number): void {
    this.bytes += n;
    this.budget.used += n;
  }

  private dropTemplate(ctx: DecodeContext, dom: DomainState, t: Template): void {
    dom.templates.delete(t.id);
    this.templateCount--;
    this.templateBytes -= t.cost;
    this.charge(-t.cost);
    ctx.stats.templates = this.templateCount;
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
      this.charge(DOMAIN_BYTES);
    }
    this.last = d;
    return d;
  }

  /** The live template `id`, dropping it when it has not been refreshed within the timeout. */
  template(ctx: DecodeContext, dom: DomainState, id: number): Template | undefined {
    const t = dom.templates.get(id);
    if (t !== undefined && ctx.received - t.lastSeen > this.templateTimeoutMs) {
      this.dropTemplate(ctx, dom, t);
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
      const grow = tpl.cost - (old === undefined ? 0 : old.cost);
      if (old === undefined && this.templateCount >= MAX_TEMPLATES) {
        countError(ctx.stats, 'too_many_templates');
        return 0;
      }
      if (grow > 0 && this.templateBytes + grow > this.budget.templateLimit) {
        countError(ctx.stats, 'template_bytes_limit');
        return 0;
      }
      if (old === undefined) {
        this.templateCount++;
        ctx.stats.templates = this.templateCount;
      }
      dom.templates.set(tpl.id, tpl);
      this.templateBytes += grow;
      this.charge(grow);
    }
    return this.held.length > 0 ? this.release(ctx, dom, tpl.id) : 0;
  }

  withdraw(ctx: DecodeContext, dom: DomainState, id: number): void {
    const t = dom.templates.get(id);
    if (t !== undefined) this.dropTemplate(ctx, dom, t);
    else countError(ctx.stats, 'withdraw_unknown');
  }

  /** Withdraws all data (options=false) or all options (options=true) templates of a domain. */
  withdrawAll(ctx: DecodeContext, dom: DomainState, options: boolean): void {
    for (const t of [...dom.templates.values()]) if (t.options === options) this.dropTemplate(ctx, dom, t);
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
    this.charge(len + HELD_BYTES);
  }

  heldSets(): number {
    return this.held.length;
  }

  private expireHeld(now: number): void {
    if (this.held.length === 0) return;
    const keep: HeldSet[] = [];
    for (const h of this.held) {
      if (now - h.heldAt > HOLD_MS) {
        this.heldBytes -= h.data.length;
        this.charge(-(h.data.length + HELD_BYTES));
      } else keep.push(h);
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
      this.charge(-(h.data.length + HELD_BYTES));
    }
    for (const h of mine) {
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
