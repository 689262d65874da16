/**
 * NetFlow v9 (RFC 3954).
 *
 *   header (20 bytes, §5.1)
 *   +---------+---------+-------------+-------------+-----------------+-------------+
 *   | version |  count  |  sysUptime  |  unix_secs  | sequence number |  source id  |
 *   |   u16   |   u16   |   u32 ms    |     u32     |       u32       |     u32     |
 *   +---------+---------+-------------+-------------+-----------------+-------------+
 *   then FlowSets, each | flowset id u16 | length u16 (incl. these 4) | body, padded to 4 |
 *
 *   id 0  template flowset (§5.2):  { template id ≥ 256, field count, (type u16, length u16)* }*
 *   id 1  options template (§6.1):  { template id, scope length (bytes), option length (bytes),
 *                                     (scope type, length)*, (field type, length)* }*  + padding
 *   id 2..255 reserved (skipped), id ≥ 256 data flowset with that template id (§5.3).
 *
 * Templates live per (exporter address, source id). Data with an unknown
 * template is counted (no_template) and held until its template arrives.
 */
import { countError } from './context.ts';
import { walkSets } from './sets.ts';
import { compileTemplate, type DomainState, type FieldDef, type NetflowContext, MAX_FIELDS } from './templates.ts';
import { u32BE } from './uint.ts';

export const V9_HEADER = 20;

export function decodeNetflow9(buf: Buffer, ctx: NetflowContext): number {
  const stats = ctx.stats;
  if (buf.length < V9_HEADER) {
    countError(stats, 'truncated');
    return 0;
  }
  const uptime = u32BE(buf, 4);
  const secs = u32BE(buf, 8);
  const sourceId = u32BE(buf, 16);
  const exportMs = secs * 1000;
  const state = ctx.state;
  const dom = state.domain(true, sourceId);
  if (dom === null) {
    countError(stats, 'too_many_domains');
    return 0;
  }
  ctx.rec.proto = 'netflow9';
  ctx.rec.domain = sourceId;
  const count = (buf[2] << 8) | buf[3];
  state.seen = 0;
  const records = walkSets(buf, V9_HEADER, ctx, dom, exportMs, uptime, true, templates);
  // fewer records than the header announces: the datagram was cut at a flowset boundary
  // (more than announced is common: some exporters count flowsets, not records)
  if (state.seen < count) countError(stats, 'short_count');
  return records;
}

/** Template or options template flowset. Returns records decoded from held data. */
function templates(buf: Buffer, p: number, end: number, ctx: NetflowContext, dom: DomainState, options: boolean): number {
  let released = 0;
  while (end - p >= (options ? 6 : 4)) {
    const start = p;
    const id = (buf[p] << 8) | buf[p + 1];
    let n: number;
    let scopeCount = 0;
    if (options) {
      const scopeLen = (buf[p + 2] << 8) | buf[p + 3];
      const optLen = (buf[p + 4] << 8) | buf[p + 5];
      if (id === 0 && scopeLen === 0 && optLen === 0) break; // padding
      p += 6;
      if (scopeLen % 4 !== 0 || optLen % 4 !== 0 || p + scopeLen + optLen > end) {
        countError(ctx.stats, 'bad_template');
        return released;
      }
      scopeCount = scopeLen / 4;
      n = scopeCount + optLen / 4;
    } else {
      n = (buf[p + 2] << 8) | buf[p + 3];
      if (id === 0 && n === 0) break; // padding
      p += 4;
      if (p + n * 4 > end) {
        countError(ctx.stats, 'bad_template');
        return released;
      }
    }
    if (id < 256 || n === 0 || n > MAX_FIELDS) {
      countError(ctx.stats, 'bad_template');
      return released;
    }
    const defEnd = p + n * 4;
    const raw = buf.subarray(start, defEnd);
    if (ctx.state.refresh(ctx, dom, id, options, raw)) {
      ctx.state.seen++;
      p = defEnd;
      continue;
    }
    const fields: FieldDef[] = [];
    for (let i = 0; i < n; i++, p += 4) fields.push({ id: (buf[p] << 8) | buf[p + 1], pen: 0, len: (buf[p + 2] << 8) | buf[p + 3] });
    ctx.state.seen++;
    released += ctx.state.addTemplate(ctx, dom, compileTemplate(id, fields, options, scopeCount, true, raw, ctx.received));
  }
  return released;
}
