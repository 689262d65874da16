/**
 * The one set walker of NetFlow v9 and IPFIX: the two differ only in their
 * set ids, their template record formats and how they end a message.
 *
 *   v9 FlowSet (RFC 3954 §5) / IPFIX Set (RFC 7011 §3.3):
 *   +--------+--------+---------------------------------+
 *   | id u16 | len u16| body (len - 4 bytes, padded)    |
 *   +--------+--------+---------------------------------+
 *   id         v9   IPFIX
 *   templates   0     2
 *   options     1     3
 *   data      ≥256  ≥256   (other ids: reserved, counted and skipped)
 *
 * A data set whose template is unknown is counted (no_template) and held
 * until its template arrives; an unknown template skips one set, not the
 * datagram.
 */
import { countError } from './context.ts';
import { decodeSet } from './dataset.ts';
import type { DomainState, NetflowContext } from './templates.ts';

/** Parses the template records of one template (options=false) or options template set; returns records released from held data. */
export type TemplateSetParser = (buf: Buffer, p: number, end: number, ctx: NetflowContext, dom: DomainState, options: boolean) => number;

/**
 * Walks the sets of buf[p..] (the datagram after its header). `uptime` is the
 * v9 header sysUptime (ms), -1 for IPFIX. Returns flow records emitted.
 */
export function walkSets(buf: Buffer, p: number, ctx: NetflowContext, dom: DomainState, exportMs: number, uptime: number, v9: boolean, templates: TemplateSetParser): number {
  const stats = ctx.stats;
  const state = ctx.state;
  const len = buf.length;
  const templateSet = v9 ? 0 : 2;
  const optionsSet = v9 ? 1 : 3;
  let records = 0;
  // trailing bytes shorter than a set header: padding
  while (len - p >= 4) {
    const setId = (buf[p] << 8) | buf[p + 1];
    const setLen = (buf[p + 2] << 8) | buf[p + 3];
    if (setLen < 4) {
      // some v9 exporters zero-fill the rest of the datagram
      if (!v9 || setId !== 0 || setLen !== 0 || !allZero(buf, p, len)) countError(stats, 'bad_set_length');
      return records;
    }
    if (p + setLen > len) {
      countError(stats, 'truncated');
      return records;
    }
    const body = p + 4;
    const end = p + setLen;
    if (setId === templateSet) records += templates(buf, body, end, ctx, dom, false);
    else if (setId === optionsSet) records += templates(buf, body, end, ctx, dom, true);
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
  if (!v9 && len - p > 0) countError(stats, 'trailing_bytes');
  return records;
}

function allZero(buf: Buffer, p: number, end: number): boolean {
  for (let i = p; i < end; i++) if (buf[i] !== 0) return false;
  return true;
}
