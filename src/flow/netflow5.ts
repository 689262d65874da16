/**
 * NetFlow v5 (Cisco, "NetFlow Export Datagram Format", version 5).
 *
 *   header (24 bytes)
 *   0       2       4               8               12              16              20  21  22
 *   +-------+-------+---------------+---------------+---------------+---------------+---+---+-------+
 *   |version| count |   sysUptime   |   unix_secs   |  unix_nsecs   | flow_sequence |ety|eid|sampling|
 *   +-------+-------+---------------+---------------+---------------+---------------+---+---+-------+
 *   sampling: top 2 bits mode, low 14 bits interval (applied whenever non-zero)
 *
 *   record (48 bytes), `count` of them
 *   0        4        8        12    14    16       20       24       28       32    34    36  37  38  39  40    42    44  45  46
 *   | srcaddr| dstaddr| nexthop| in  | out | dPkts  | dOctets| First  | Last   |sport|dport|pad|flg|pro|tos|srcAS|dstAS|sm |dm |pad|
 *   First/Last are sysUptime milliseconds at the first/last packet.
 *
 * A datagram whose count does not match its length is rejected as a whole.
 */
import { countError, type DecodeContext } from './context.ts';
import { clearFlowRecord, F } from './record.ts';
import { MIN_BYTES4, reject, verdict } from './plausible.ts';
import { u32BE, viewOf } from './uint.ts';

export const V5_HEADER = 24;
export const V5_RECORD = 48;

const V5_FIELDS = F.SRC_ADDR | F.DST_ADDR | F.SRC_PORT | F.DST_PORT | F.IP_PROTO | F.TCP_FLAGS | F.BYTES | F.PACKETS | F.IN_IF | F.OUT_IF | F.START | F.END;

export function decodeNetflow5(buf: Buffer, ctx: DecodeContext): number {
  const len = buf.length;
  if (len < V5_HEADER) {
    countError(ctx.stats, 'truncated');
    return 0;
  }
  const count = (buf[2] << 8) | buf[3];
  if (count === 0 || V5_HEADER + count * V5_RECORD > len) {
    countError(ctx.stats, count === 0 ? 'empty' : 'bad_count');
    return 0;
  }
  const uptime = u32BE(buf, 4);
  const secs = u32BE(buf, 8);
  const nsecs = u32BE(buf, 12);
  // export time in ms; nsecs beyond 1e9 is garbage: ignore it
  const exportMs = secs * 1000 + (nsecs < 1e9 ? Math.floor(nsecs / 1e6) : 0);
  const interval = ((buf[22] << 8) | buf[23]) & 0x3fff;
  const rate = interval > 0 ? interval : ctx.defaultSamplingRate;
  const rec = ctx.rec;
  const sink = ctx.sink;
  const lim = ctx.limits;
  const imp = ctx.stats.implausible;
  if (rate > lim.maxRate) {
    // the rate is the datagram's: every record fails the sampling bound (plausible.ts)
    imp.sampling += count;
    imp.last = rec.received;
    return count;
  }
  rec.proto = 'netflow5';
  rec.domain = 0;
  // every record sets the same fields below; the rest stay cleared
  clearFlowRecord(rec);
  let p = V5_HEADER;
  // This loop is the tightest of all decoders: its 16- and 32-bit fields are read through a
  // DataView, which V8 compiles to one load each (count was checked against the length above).
  const dv = viewOf(buf);
  for (let i = 0; i < count; i++, p += V5_RECORD) {
    rec.src4 = dv.getUint32(p);
    rec.dst4 = dv.getUint32(p + 4);
    rec.inIf = dv.getUint16(p + 12);
    rec.outIf = dv.getUint16(p + 14);
    const packets = dv.getUint32(p + 16);
    const bytes = dv.getUint32(p + 20);
    rec.packets = packets;
    rec.bytes = bytes;
    const first = dv.getUint32(p + 24);
    const last = dv.getUint32(p + 28);
    // uptime arithmetic modulo 2^32 (sysUptime wraps after ~49.7 days)
    const start = exportMs - ((uptime - first) | 0);
    const end = exportMs - ((uptime - last) | 0);
    rec.start = start;
    rec.end = end;
    rec.srcPort = dv.getUint16(p + 32);
    const dport = dv.getUint16(p + 34);
    rec.dstPort = dport;
    rec.tcpFlags = buf[p + 37];
    const proto = buf[p + 38];
    rec.ipProto = proto;
    let fields = V5_FIELDS;
    if (proto === 1 || proto === 58) {
      const sport = rec.srcPort;
      if (dport === 0 && sport !== 0) {
        // Some exporters (fprobe) put type and code in the SOURCE port, in host
        // (little-endian) order: echo request 8/0 arrives as source port 8. A
        // low byte with a code-sized high byte reads that way; otherwise the
        // high byte is the type, as in the destination-port convention.
        const lo = sport & 0xff, hi = sport >>> 8;
        const littleEndian = lo !== 0 && hi <= 15;
        rec.icmpType = littleEndian ? lo : hi;
        rec.icmpCode = littleEndian ? hi : lo;
      } else {
        // Cisco convention: ICMP type and code travel in the destination port
        rec.icmpType = dport >>> 8;
        rec.icmpCode = dport & 0xff;
      }
      fields |= F.ICMP;
    } else {
      rec.icmpType = 0;
      rec.icmpCode = 0;
    }
    rec.samplingRate = rate;
    rec.fields = fields;
    // every v5 record carries sizes and times and is IPv4
    const v = verdict(packets, bytes, MIN_BYTES4, end - start, rate, lim);
    if (v === 0) sink.record(rec);
    else reject(imp, v, rec.received);
  }
  return count;
}
