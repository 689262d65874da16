/**
 * `breakwater decode FILE...`: prints the flow records Breakwater decodes from
 * the flow-export datagrams of pcap/pcapng files (any UDP port; the protocol
 * is recognised from the payload), one JSON object per line, then a summary
 * on stderr.
 */
import { formatIPv4, formatIPv6 } from '../core/ip.ts';
import { FlowDecoder, detectFlowProto } from '../flow/decode.ts';
import { newCaptureStats, readCapture } from '../flow/pcap.ts';
import { F, type FlowRecord, type FlowSink } from '../flow/record.ts';
import { parseFlags, UsageError } from './flags.ts';
import { BreakwaterError } from '../core/errors.ts';

/** The JSON object `breakwater decode` prints for a record (keys only for what the source carried). */
export function recordJson(r: FlowRecord): Record<string, string | number> {
  const f = r.fields;
  const o: Record<string, string | number> = { exporter: r.exporter, proto: r.proto };
  if (r.proto !== 'netflow5') o.domain = r.domain;
  if (f & F.SRC_ADDR) o.src_addr = r.family === 6 ? formatIPv6(r.src6) : formatIPv4(r.src4);
  if (f & F.DST_ADDR) o.dst_addr = r.family === 6 ? formatIPv6(r.dst6) : formatIPv4(r.dst4);
  if (f & F.SRC_PORT) o.src_port = r.srcPort;
  if (f & F.DST_PORT) o.dst_port = r.dstPort;
  if (f & F.IP_PROTO) o.ip_proto = r.ipProto;
  if (f & F.TCP_FLAGS) o.tcp_flags = r.tcpFlags;
  if (f & F.ICMP) {
    o.icmp_type = r.icmpType;
    o.icmp_code = r.icmpCode;
  }
  if (f & F.BYTES) o.bytes = r.bytes;
  if (f & F.PACKETS) o.packets = r.packets;
  o.sampling_rate = r.samplingRate;
  if (f & F.IN_IF) o.in_if = r.inIf;
  if (f & F.OUT_IF) o.out_if = r.outIf;
  if (f & F.START) o.start = r.start;
  if (f & F.END) o.end = r.end;
  return o;
}

export interface DecodeSummary {
  files: number;
  datagrams: number;
  /** UDP datagrams that are no flow export (skipped). */
  other: number;
  records: number;
  errors: Record<string, number>;
  exporters: number;
  /** Records dropped by the plausibility bounds (not printed), by reason. */
  implausible: Record<string, number>;
}

/** Decodes capture files, calling `onRecord` for every record. */
export function decodeFiles(paths: readonly string[], sink: FlowSink, defaultSamplingRate = 1): DecodeSummary {
  // templates never expire here: captures are often stitched from sessions days apart
  const dec = new FlowDecoder(sink, { defaultSamplingRate, templateTimeoutMs: Infinity });
  let other = 0;
  for (const path of paths) {
    const stats = newCaptureStats();
    for (const pk of readCapture(path, stats)) {
      if (detectFlowProto(pk.payload) === null) {
        other++;
        continue;
      }
      dec.datagram(pk.payload, pk.src, pk.time);
    }
    // a corrupt record header or an unknown link type: say which file, stop
    if (stats.corrupt) throw new BreakwaterError('invalid_capture', `${path}: ${stats.corrupt}`);
  }
  const sum: DecodeSummary = { files: paths.length, datagrams: 0, other, records: 0, errors: {}, exporters: dec.stats.size, implausible: {} };
  for (const s of dec.stats.values()) {
    sum.datagrams += s.datagrams;
    sum.records += s.records;
    for (const k of ['sampling', 'size', 'rate', 'time'] as const) if (s.implausible[k] > 0) sum.implausible[`implausible_${k}`] = (sum.implausible[`implausible_${k}`] ?? 0) + s.implausible[k];
    for (const [k, v] of Object.entries(s.errors)) sum.errors[k] = (sum.errors[k] ?? 0) + v;
  }
  return sum;
}

export async function run(argv: string[]): Promise<number> {
  const flags = parseFlags(argv, { string: ['default-sampling-rate'], boolean: ['h', 'help'] });
  if (flags.flags.has('h') || flags.flags.has('help') || flags.positional.length === 0) {
    process.stderr.write('usage: breakwater decode [--default-sampling-rate N] FILE...\n');
    return flags.positional.length === 0 && !flags.flags.has('h') && !flags.flags.has('help') ? 2 : 0;
  }
  let rate = 1;
  if (flags.values['default-sampling-rate'] !== undefined) {
    rate = Number(flags.values['default-sampling-rate']);
    if (!Number.isInteger(rate) || rate < 1) throw new UsageError('-default-sampling-rate must be a positive integer');
  }
  const out: string[] = [];
  let pending = 0;
  const flush = (): void => {
    if (out.length > 0) {
      process.stdout.write(out.join(''));
      out.length = 0;
      pending = 0;
    }
  };
  const sink: FlowSink = {
    record(r) {
      out.push(JSON.stringify(recordJson(r)) + '\n');
      if (++pending >= 4096) flush();
    },
  };
  let sum: DecodeSummary;
  try {
    sum = decodeFiles(flags.positional, sink, rate);
  } catch (e) {
    flush();
    process.stderr.write(`breakwater decode: ${(e as Error).message}\n`);
    return 1;
  }
  flush();
  const errs = Object.entries(sum.errors)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  const implausible = Object.entries(sum.implausible).map(([k, v]) => `${k}=${v}`).join(' ');
  process.stderr.write(`datagrams: ${sum.datagrams}  records: ${sum.records}  exporters: ${sum.exporters}  other udp: ${sum.other}  errors: ${errs || 'none'}  dropped: ${implausible || 'none'}\n`);
  return 0;
}
