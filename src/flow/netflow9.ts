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
import { compileTemplate, decodeSet, type DomainState, type FieldDef, type NetflowContext, MAX_FIELDS } from './templates.ts';

export const V9_HEADER = 20;

export function decodeNetflow9(buf: Buffer, ctx: NetflowContext): number {
  const stats = ctx.stats;
  const len = buf.length;
  if (len < V9_HEADER) {
    countError(stats, 'truncated');
    return 0;
  }
  const uptime = ((buf[4] << 24) >>> 0) + ((buf[5] << 16) | (buf[6] << 8) | buf[7]);
  const secs = ((buf[8] << 24) >>> 0) + ((buf[9] << 16) | (buf[10] << 8) | buf[11]);
  const sourceId = ((buf[16] << 24) >>> 0) + ((buf[17] << 16) | (buf[18] << 8) | buf[19]);
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
  let records = 0;
  let p = V9_HEADER;
  while (p < len) {
    if (len - p < 4) {
      // trailing bytes shorter than a set header: padding
      break;
    }
    const setId = (buf[p] << 8) | buf[p + 1];
    const setLen = (buf[p + 2] << 8) | buf[p + 3];
    if (setLen < 4) {
      // some exporters zero-fill the rest of the datagram
      if (setId !== 0 || setLen !== 0 || !allZero(buf, p, len)) countError(stats, 'bad_set_length');
      break;
    }
    if (p + setLen > len) {
      countError(stats, 'truncated');
      break;
    }
    const body = p + 4;
    const end = p + setLen;
    if (setId === 0) records += templates(buf, body, end, ctx, dom, false);
    else if (setId === 1) records += templates(buf, body, end, ctx, dom, true);
    else if (setId >= 256) {
      const tpl = state.template(ctx, dom, setId);
      if (tpl === undefined) {
        stats.noTemplate++;
        countError(stats, 'no_template');
        state.seen++;
        state.hold(ctx, dom, setId, buf, body, end, exportMs, uptime);
      } else records += decodeSet(ctx, dom, tpl, buf, body, end, exportMs, uptime);
    } else countError(stats, 'reserved_set');
    p = end;
  }
  // fewer records than the header announces: the datagram was cut at a flowset boundary
  // (more than announced is common: some exporters count flowsets, not records)
  if (state.seen < count) countError(stats, 'short_count');
  return records;
}

function allZero(buf: Buffer, p: number, end: number): boolean {
  for (let i = p; i < end; i++) if (buf[i] !== 0) return false;
  return true;
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
    released += ctx.state.addTemplate(ctx, dom, compileTemplate(id, fields, options, scopeCount, raw, ctx.received));
  }
  return released;
}
