/**
 * NetFlow v9 / IPFIX data sets: the records of one set decoded with a known
 * template, into the one scratch record, each handed synchronously to the
 * sink. Options data goes to the sampler state (sampling.ts).
 *
 * Two ways, one meaning: a fixed-length data template runs its compiled plan
 * (plan.ts, straight-line code with constant offsets); a variable-length one
 * is walked field by field here, switching on the kinds the element table
 * (ie.ts) gave its fields. Both allocate nothing per record and are checked
 * against tshark on the capture corpus.
 *
 *   data set (RFC 7011 §3.4.3, RFC 3954 §5.3): | record | record | ... | padding |
 *   record: the template's fields in order; a variable-length field (§7) is
 *           | len u8 | value |  or  | 255 | len u16 | value |
 */
import { countError, type DecodeContext } from './context.ts';
import { clearFlowRecord, F } from './record.ts';
import { K, VARLEN } from './ie.ts';
import { domainRate, newSamplingFields, readOptionsRecords, readSamplingField, resetSamplingFields, samplingRateOf } from './sampling.ts';
import { SAMPLER_BYTES } from './memory.ts';
import { plausible, reject } from './plausible.ts';
import { ntpMs, u32BE, uintBE, viewOf } from './uint.ts';
import type { DomainState, NetflowContext, Template } from './templates.ts';

/** The sampling elements of the record being walked (decodeDataSet is synchronous: one scratch). */
const sf = newSamplingFields();

/** Decodes one data set (options or flow data) with a known template. Returns flow records emitted. */
export function decodeSet(ctx: DecodeContext, dom: DomainState, tpl: Template, buf: Buffer, p: number, end: number, exportMs: number, uptime: number): number {
  const state = (ctx as NetflowContext).state;
  if (tpl.options) {
    const samplers = dom.sampling.samplers.size;
    const n = readOptionsRecords(dom.sampling, tpl, buf, p, end);
    if (state !== undefined && dom.sampling.samplers.size !== samplers) state.charge((dom.sampling.samplers.size - samplers) * SAMPLER_BYTES);
    if (n < 0) countError(ctx.stats, 'truncated_record');
    else if (state !== undefined) state.seen += n;
    return 0;
  }
  const n = decodeDataSet(ctx, dom, tpl, buf, p, end, exportMs, uptime);
  if (state !== undefined) state.seen += n;
  return n;
}

/**
 * The hot path: decodes the flow records of one data set (p..end) with a data
 * template. `uptime` is the v9 header sysUptime (ms) or -1 for IPFIX, where
 * uptime-relative times use systemInitTimeMilliseconds from options data.
 */
export function decodeDataSet(ctx: DecodeContext, dom: DomainState, tpl: Template, buf: Buffer, p: number, end: number, exportMs: number, uptime: number): number {
  const rec = ctx.rec;
  const sink = ctx.sink;
  const lim = ctx.limits;
  const imp = ctx.stats.implausible;
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
    // the plan reads its 2-, 4- and 8-byte fields through a DataView (plan.ts), inside [p, p + fixed)
    const dv = viewOf(buf);
    // the plan resets the record and checks plausibility itself (plan.ts), and returns its verdict
    while (end - p >= fixed) {
      const v = fn(buf, dv, p, rec, exportMs, uptime, sysInit, setRate, samplers, lim);
      p += fixed;
      count++;
      if (v === 0) sink.record(rec);
      else reject(imp, v, rec.received);
    }
    return count;
  }
  while (end - p >= minLen) {
    if (fixed > 0 && end - p < fixed) break;
    clearFlowRecord(rec);
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
    resetSamplingFields(sf);
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
            rec.src4 = u32BE(buf, p);
            has4 |= 1;
            break;
          case K.DST4:
            rec.dst4 = u32BE(buf, p);
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
            rec.srcPort = uintBE(buf, p, l) & 0xffff;
            fields |= F.SRC_PORT;
            break;
          case K.DPORT:
            rec.dstPort = uintBE(buf, p, l) & 0xffff;
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
            rec.bytes = uintBE(buf, p, l);
            fields |= F.BYTES;
            break;
          case K.PACKETS:
            rec.packets = uintBE(buf, p, l);
            fields |= F.PACKETS;
            break;
          case K.BYTES2:
            bytes2 = uintBE(buf, p, l);
            break;
          case K.PACKETS2:
            packets2 = uintBE(buf, p, l);
            break;
          case K.BYTES3:
            bytes3 = uintBE(buf, p, l);
            break;
          case K.PACKETS3:
            packets3 = uintBE(buf, p, l);
            break;
          case K.REV_BYTES:
            rec.revBytes = uintBE(buf, p, l);
            fields |= F.REVERSE;
            break;
          case K.REV_PACKETS:
            rec.revPackets = uintBE(buf, p, l);
            fields |= F.REVERSE;
            break;
          case K.IN_IF:
            rec.inIf = uintBE(buf, p, l);
            fields |= F.IN_IF;
            break;
          case K.OUT_IF:
            rec.outIf = uintBE(buf, p, l);
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
            firstUp = uintBE(buf, p, l);
            break;
          case K.LAST_UP:
            lastUp = uintBE(buf, p, l);
            break;
          case K.START_S:
            startS = uintBE(buf, p, l) * 1000;
            break;
          case K.END_S:
            stopS = uintBE(buf, p, l) * 1000;
            break;
          case K.START_MS:
            start = uintBE(buf, p, l);
            break;
          case K.END_MS:
            stop = uintBE(buf, p, l);
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
            start = exportMs - Math.floor(uintBE(buf, p, l) / 1000);
            break;
          case K.END_DUS:
            stop = exportMs - Math.floor(uintBE(buf, p, l) / 1000);
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
            if (uintBE(buf, p, l) !== 0) rec.fragment = 1;
            fields |= F.FRAGMENT;
            break;
          default:
            // rate, sampler, interval/space, size/population, systemInitTime: the one reader options records use too
            readSamplingField(sf, k, buf, p, l);
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
    const recInit = sf.sysInit;
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
    let rate = samplingRateOf(sf);
    if (rate <= 0 && sf.sampler >= 0) rate = sampling.samplers.get(sf.sampler) ?? 0;
    rec.samplingRate = rate > 0 ? rate : setRate;
    rec.fields = fields;
    count++;
    if (plausible(rec, lim, imp)) sink.record(rec);
  }
  return count;
}
