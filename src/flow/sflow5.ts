/**
 * sFlow version 5 (sflow.org/sflow_version_5.txt). XDR: every field is a
 * big-endian u32 unless noted, opaque data is padded to 4 bytes.
 *
 *   datagram        version(=5) agent_address_type(1=IPv4 | 2=IPv6) agent_address(4|16)
 *                   sub_agent_id sequence_number uptime_ms num_samples sample[num_samples]
 *   sample          data_format (enterprise:20 | format:12) length opaque[length]
 *     1 flow sample          seq source_id(type:8|index:24) sampling_rate sample_pool drops
 *                            input output (format:2|value:30) num_records flow_record[]
 *     3 expanded flow sample seq source_id_type source_id_index sampling_rate sample_pool
 *                            drops input_format input_value output_format output_value
 *                            num_records flow_record[]
 *     2 counter sample       seq source_id num_records counter_record[]
 *     4 expanded counters    seq source_id_type source_id_index num_records counter_record[]
 *   flow_record     data_format length opaque[length]
 *     1 raw packet header    header_protocol frame_length stripped header_length header[]
 *     3 sampled IPv4         length protocol src_ip dst_ip src_port dst_port tcp_flags tos
 *     4 sampled IPv6         length protocol src_ip(16) dst_ip(16) src_port dst_port tcp_flags priority
 *   counter_record  data_format length opaque[length]
 *     1 generic interface    ifIndex ifType ifSpeed(u64) ifDirection ifStatus ifInOctets(u64)
 *                            ifInUcastPkts ifInMulticastPkts ifInBroadcastPkts ifInDiscards
 *                            ifInErrors ifInUnknownProtos ifOutOctets(u64) ifOutUcastPkts
 *                            ifOutMulticastPkts ifOutBroadcastPkts ifOutDiscards ifOutErrors
 *                            ifPromiscuousMode
 *
 * One FlowRecord per flow sample, packets = 1. bytes = the IP packet length
 * (what tshark calls ip.len / ipv6.plen + 40 and sflowtool "IPSize") of the
 * outermost IP header in the raw packet header, so sFlow bytes are L3 bytes
 * like NetFlow/IPFIX octet counts; for a non-IP frame (or a header cut before
 * the IP length) frame_length - stripped (frame_length when stripped is
 * larger); for a sampled IPv4/IPv6 record its length field. A sample carrying
 * both a raw header and a sampled IPv4/IPv6 record takes its fields from the
 * raw header.
 * Interfaces: compact format 0 (and expanded format 0) give the ifIndex;
 * 0x3FFFFFFF (internal) is reported as 0; format 1 (discarded) and 2
 * (multiple outputs) leave the interface unset.
 */
import { countError, type DecodeContext } from './context.ts';
import { clearFlowRecord, clearPacketFields, F, type FlowRecord } from './record.ts';
import { Parse, parseInfo, parsePacket } from './packet.ts';
import { MIN_BYTES4, MIN_BYTES6, reject, verdict } from './plausible.ts';
import { u32BE, viewOf } from './uint.ts';
import { agentHash } from './rate-guard.ts';

const IF_INTERNAL = 0x3fffffff;

/** Decodes one sFlow v5 datagram; returns the number of records emitted. Never throws. */
export function decodeSflow5(buf: Buffer, ctx: DecodeContext): number {
  const end = buf.length;
  if (end < 8) {
    countError(ctx.stats, 'truncated');
    return 0;
  }
  if (u32BE(buf, 0) !== 5) {
    countError(ctx.stats, 'bad_version');
    return 0;
  }
  const agentType = u32BE(buf, 4);
  let p = 8;
  // the agent address folded to 32 bits, hashed with the sub-agent below (rate-guard.ts agentHash)
  let agentAddr = 0;
  if (agentType === 1 && end >= 12) agentAddr = u32BE(buf, 8) | 0;
  else if (agentType === 2 && end >= 24) agentAddr = u32BE(buf, 8) ^ u32BE(buf, 12) ^ u32BE(buf, 16) ^ u32BE(buf, 20);
  if (agentType === 1) p += 4;
  else if (agentType === 2) p += 16;
  else {
    countError(ctx.stats, 'bad_agent_address');
    return 0;
  }
  if (p + 16 > end) {
    countError(ctx.stats, 'truncated');
    return 0;
  }
  const subAgent = u32BE(buf, p);
  // 30 bits: crosses the call to flowSample unboxed, where a value past 2^31 would not
  const agent = agentHash(agentAddr, subAgent);
  const numSamples = u32BE(buf, p + 12);
  p += 16;
  const rec = ctx.rec;
  rec.proto = 'sflow5';
  // 32-bit reads through a DataView: V8 compiles them in place, without spending the sample
  // decoder's inlining budget, which the packet parser needs (every read is bounds-checked first)
  const dv = viewOf(buf);
  let emitted = 0;
  for (let s = 0; s < numSamples; s++) {
    if (p + 8 > end) {
      countError(ctx.stats, 'truncated');
      break;
    }
    const format = u32BE(buf, p);
    const len = u32BE(buf, p + 4);
    const start = p + 8;
    if (len > end - start) {
      countError(ctx.stats, 'truncated');
      break;
    }
    p = start + len;
    if (format === 1 || format === 3) {
      const n = flowSample(buf, dv, start, p, format === 3, subAgent, agent, ctx);
      if (n < 0) continue;
      emitted += n;
    } else if (format === 2 || format === 4) {
      counterSample(buf, start, p, format === 4, ctx);
    }
    // Other samples (e.g. 5, discarded packets; enterprise formats) are skipped by length.
  }
  return emitted;
}

/** Returns records emitted (0|1) or -1 after counting an error. */
function flowSample(buf: Buffer, dv: DataView, p: number, end: number, expanded: boolean, subAgent: number, agent: number, ctx: DecodeContext): number {
  const hdr = expanded ? 44 : 32;
  if (p + hdr > end) {
    countError(ctx.stats, 'truncated');
    return -1;
  }
  const rec = ctx.rec;
  let rate: number, inFmt: number, inVal: number, outFmt: number, outVal: number, nrec: number;
  if (expanded) {
    rate = dv.getUint32(p + 12);
    inFmt = dv.getUint32(p + 24);
    inVal = dv.getUint32(p + 28);
    outFmt = dv.getUint32(p + 32);
    outVal = dv.getUint32(p + 36);
    nrec = dv.getUint32(p + 40);
  } else {
    rate = dv.getUint32(p + 8);
    const input = dv.getUint32(p + 20);
    const output = dv.getUint32(p + 24);
    inFmt = input >>> 30;
    inVal = input & 0x3fffffff;
    outFmt = output >>> 30;
    outVal = output & 0x3fffffff;
    nrec = dv.getUint32(p + 28);
  }
  const rates = ctx.rates;
  if (rates !== undefined) {
    const source = expanded ? ((buf[p + 7] << 24) | (dv.getUint32(p + 8) & 0xffffff)) >>> 0 : dv.getUint32(p + 4);
    if (!rates.check(agent, source, rate)) {
      // A sampler's rate changed for one sample: corrupted, not believed yet (rate-guard.ts).
      ctx.stats.implausible.sampling++;
      ctx.stats.implausible.last = ctx.received;
      return 0;
    }
  }
  p += hdr;

  clearFlowRecord(rec);
  rec.domain = subAgent;
  rec.packets = 1;
  rec.samplingRate = rate === 0 ? ctx.defaultSamplingRate : rate;
  rec.start = ctx.received;
  rec.end = ctx.received;
  rec.fields = F.PACKETS;
  if (inFmt === 0 && inVal !== IF_INTERNAL) {
    rec.inIf = inVal;
    rec.fields |= F.IN_IF;
  }
  if (outFmt === 0 && outVal !== IF_INTERNAL) {
    rec.outIf = outVal;
    rec.fields |= F.OUT_IF;
  }

  let haveRaw = false;
  let haveSampled = false;
  for (let i = 0; i < nrec; i++) {
    if (p + 8 > end) {
      countError(ctx.stats, 'truncated');
      return -1;
    }
    const format = dv.getUint32(p);
    const len = dv.getUint32(p + 4);
    const rs = p + 8;
    if (len > end - rs) {
      countError(ctx.stats, 'truncated');
      return -1;
    }
    p = rs + len;
    if (format === 1) {
      if (haveRaw) continue;
      if (len < 16) {
        countError(ctx.stats, 'bad_record_length');
        continue;
      }
      const headerProtocol = dv.getUint32(rs);
      const frameLength = dv.getUint32(rs + 4);
      const stripped = dv.getUint32(rs + 8);
      let hlen = dv.getUint32(rs + 12);
      if (hlen > len - 16) {
        countError(ctx.stats, 'header_truncated');
        hlen = len - 16;
      }
      haveRaw = true;
      if (haveSampled) clearPacketFields(rec);
      const res = parsePacket(buf, rs + 16, rs + 16 + hlen, headerProtocol, rec);
      rec.bytes = res === Parse.IP && parseInfo.ipLength > 0 ? parseInfo.ipLength : stripped <= frameLength ? frameLength - stripped : frameLength;
      rec.fields |= F.BYTES;
      if (res === Parse.TRUNCATED) countError(ctx.stats, 'header_truncated');
      else if (res === Parse.BAD_IP) countError(ctx.stats, 'bad_ip_header');
    } else if (format === 3 || format === 4) {
      if (haveRaw || haveSampled) continue;
      const need = format === 3 ? 32 : 56;
      if (len < need) {
        countError(ctx.stats, 'bad_record_length');
        continue;
      }
      haveSampled = true;
      sampledHeader(buf, dv, rs, format === 3, rec);
    }
    // Extended records (1001 switch, 1002 router, 1003 gateway, ...) and unknown formats: skipped.
  }
  // one packet per sample, no duration; the size bound only when a header or sampled record gave its length
  emitSample(rec, ctx);
  return 1;
}

/** The sample's plausibility verdict, then the sink. Takes objects only: where V8 does not inline it, no number is boxed to cross the call. */
function emitSample(rec: FlowRecord, ctx: DecodeContext): void {
  const minBytes = (rec.fields & F.BYTES) === 0 ? 0 : rec.family === 6 ? MIN_BYTES6 : MIN_BYTES4;
  const v = verdict(1, rec.bytes, minBytes, 0, rec.samplingRate, ctx.limits);
  if (v === 0) ctx.sink.record(rec);
  else reject(ctx.stats.implausible, v, rec.received);
}

/** A sampled IPv4 (format 3) or IPv6 (format 4) record's fields into rec: apart from the common raw-header path, whose inlining budget it would share. */
function sampledHeader(buf: Buffer, dv: DataView, rs: number, v4: boolean, rec: FlowRecord): void {
  rec.bytes = dv.getUint32(rs);
  const proto = dv.getUint32(rs + 4) & 0xff;
  rec.ipProto = proto;
  let q = rs + 8;
  if (v4) {
    rec.family = 4;
    rec.src4 = dv.getUint32(q);
    rec.dst4 = dv.getUint32(q + 4);
    q += 8;
  } else {
    rec.family = 6;
    const s6 = rec.src6, d6 = rec.dst6;
    for (let k = 0; k < 16; k++) {
      s6[k] = buf[q + k];
      d6[k] = buf[q + 16 + k];
    }
    q += 32;
  }
  rec.fields |= F.BYTES | F.SRC_ADDR | F.DST_ADDR | F.IP_PROTO;
  const sp = dv.getUint32(q);
  const dp = dv.getUint32(q + 4);
  if (proto === 1 || proto === 58) {
    // sFlow agents put the ICMP type/code in the port fields.
    rec.icmpType = sp & 0xff;
    rec.icmpCode = dp & 0xff;
    rec.fields |= F.ICMP;
  } else if (proto === 6 || proto === 17 || proto === 132) {
    rec.srcPort = sp & 0xffff;
    rec.dstPort = dp & 0xffff;
    rec.fields |= F.SRC_PORT | F.DST_PORT;
    if (proto === 6) {
      rec.tcpFlags = dv.getUint32(q + 8) & 0xff;
      rec.fields |= F.TCP_FLAGS;
    }
  }
}

function counterSample(buf: Buffer, p: number, end: number, expanded: boolean, ctx: DecodeContext): void {
  const hdr = expanded ? 16 : 12;
  if (p + hdr > end) {
    countError(ctx.stats, 'truncated');
    return;
  }
  const nrec = u32BE(buf, p + hdr - 4);
  p += hdr;
  for (let i = 0; i < nrec; i++) {
    if (p + 8 > end) {
      countError(ctx.stats, 'truncated');
      return;
    }
    const format = u32BE(buf, p);
    const len = u32BE(buf, p + 4);
    const rs = p + 8;
    if (len > end - rs) {
      countError(ctx.stats, 'truncated');
      return;
    }
    p = rs + len;
    if (format !== 1) continue;
    if (len < 88) {
      countError(ctx.stats, 'bad_record_length');
      continue;
    }
    const ifIndex = u32BE(buf, rs);
    let c = ctx.stats.ifCounters.get(ifIndex);
    if (c === undefined) {
      if (ctx.stats.ifCounters.size >= 65536) continue;
      c = { ifIndex, ifSpeed: 0, inOctets: 0, inUcastPkts: 0, inDiscards: 0, inErrors: 0, outOctets: 0, outUcastPkts: 0, outDiscards: 0, outErrors: 0, updated: 0 };
      ctx.stats.ifCounters.set(ifIndex, c);
    }
    c.ifSpeed = u64(buf, rs + 8);
    c.inOctets = u64(buf, rs + 24);
    c.inUcastPkts = u32BE(buf, rs + 32);
    c.inDiscards = u32BE(buf, rs + 44);
    c.inErrors = u32BE(buf, rs + 48);
    c.outOctets = u64(buf, rs + 56);
    c.outUcastPkts = u32BE(buf, rs + 64);
    c.outDiscards = u32BE(buf, rs + 76);
    c.outErrors = u32BE(buf, rs + 80);
    c.updated = ctx.received;
  }
  ctx.stats.counterSamples++;
}

function u64(b: Buffer, p: number): number {
  return u32BE(b, p) * 4294967296 + u32BE(b, p + 4);
}
