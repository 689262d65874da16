/**
 * IPFIX (RFC 7011).
 *
 *   message header (16 bytes, §3.1)
 *   +-----------+-----------+-------------+-----------------+-----------------------+
 *   | version 10| length    | export time | sequence number | observation domain id |
 *   |    u16    | u16 total |  u32 secs   |       u32       |          u32          |
 *   +-----------+-----------+-------------+-----------------+-----------------------+
 *   then Sets, each | set id u16 | length u16 (incl. these 4) | records, padding |
 *
 *   set 2  template records (§3.4.1):         | template id | field count | specifiers |
 *   set 3  options template records (§3.4.2): | template id | field count | scope field count | specifiers |
 *          field specifier: | E | element id (15 bits) | length | [enterprise number u32 when E] |
 *          field count 0 = template withdrawal (§8.1); id 2 (set 2) / 3 (set 3) withdraws all
 *   set ≥ 256 data records; length 65535 = variable (§7): | len u8 | or | 255 | len u16 |
 *
 * Templates live per (exporter address, observation domain). Enterprise
 * elements are skipped by length; RFC 5103 reverse counters (PEN 29305) are read.
 */
import { countError } from './context.ts';
import { walkSets } from './sets.ts';
import { compileTemplate, type DomainState, type FieldDef, type NetflowContext, MAX_FIELDS } from './templates.ts';
import { u32BE } from './uint.ts';

export const IPFIX_HEADER = 16;

export function decodeIpfix(buf: Buffer, ctx: NetflowContext): number {
  const stats = ctx.stats;
  if (buf.length < IPFIX_HEADER) {
    countError(stats, 'truncated');
    return 0;
  }
  const msgLen = (buf[2] << 8) | buf[3];
  if (msgLen < IPFIX_HEADER) {
    countError(stats, 'bad_length');
    return 0;
  }
  // Sets are bounded by the datagram: some exporters get the message length
  // wrong (too short or too long); a mismatch is counted, not fatal.
  const len = buf.length;
  if (msgLen !== len) countError(stats, msgLen > len ? 'truncated' : 'length_mismatch');
  const secs = u32BE(buf, 4);
  const domainId = u32BE(buf, 12);
  const exportMs = secs * 1000;
  const state = ctx.state;
  const dom = state.domain(false, domainId);
  if (dom === null) {
    countError(stats, 'too_many_domains');
    return 0;
  }
  ctx.rec.proto = 'ipfix';
  ctx.rec.domain = domainId;
  return walkSets(buf, IPFIX_HEADER, ctx, dom, exportMs, -1, false, templates);
}

/** Template or options template set. Returns records decoded from held data. */
function templates(buf: Buffer, p: number, end: number, ctx: NetflowContext, dom: DomainState, options: boolean): number {
  let released = 0;
  const state = ctx.state;
  while (end - p >= 4) {
    const start = p;
    const id = (buf[p] << 8) | buf[p + 1];
    const n = (buf[p + 2] << 8) | buf[p + 3];
    if (n === 0) {
      // withdrawal (§8.1); a template id of 0 here is set padding
      if (id === 0) break;
      if (id === (options ? 3 : 2)) state.withdrawAll(ctx, dom, options);
      else if (id >= 256) state.withdraw(ctx, dom, id);
      else countError(ctx.stats, 'bad_template');
      p += 4;
      continue;
    }
    let scopeCount = 0;
    p += 4;
    if (options) {
      if (end - p < 2) {
        countError(ctx.stats, 'bad_template');
        return released;
      }
      scopeCount = (buf[p] << 8) | buf[p + 1];
      p += 2;
      if (scopeCount > n) {
        countError(ctx.stats, 'bad_template');
        return released;
      }
    }
    if (id < 256 || n > MAX_FIELDS) {
      countError(ctx.stats, 'bad_template');
      return released;
    }
    // first pass: find the end of the definition (specifiers are 4 or 8 bytes)
    let q = p;
    for (let i = 0; i < n; i++) {
      if (end - q < 4) {
        countError(ctx.stats, 'bad_template');
        return released;
      }
      q += buf[q] & 0x80 ? 8 : 4;
    }
    if (q > end) {
      countError(ctx.stats, 'bad_template');
      return released;
    }
    const raw = buf.subarray(start, q);
    if (state.refresh(ctx, dom, id, options, raw)) {
      p = q;
      continue;
    }
    const fields: FieldDef[] = [];
    for (let i = 0; i < n; i++) {
      const e = (buf[p] << 8) | buf[p + 1];
      const flen = (buf[p + 2] << 8) | buf[p + 3];
      if (e & 0x8000) {
        const pen = u32BE(buf, p + 4);
        fields.push({ id: e & 0x7fff, pen, len: flen });
        p += 8;
      } else {
        fields.push({ id: e, pen: 0, len: flen });
        p += 4;
      }
    }
    released += state.addTemplate(ctx, dom, compileTemplate(id, fields, options, scopeCount, false, raw, ctx.received));
  }
  return released;
}
