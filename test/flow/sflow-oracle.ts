/**
 * An independent view of sFlow captures: runs tshark on a file and turns each
 * flow sample it dissects into the same canonical line our records give, so a
 * test can compare them sample by sample (as multisets per datagram: tshark's
 * JSON groups repeated keys, which loses their order).
 */
import { spawnSync } from 'node:child_process';
import { formatIPv4, formatIPv6 } from '../../src/core/ip.ts';
import { F, type FlowRecord } from '../../src/flow/record.ts';

export function haveTshark(): boolean {
  return spawnSync('tshark', ['-v'], { encoding: 'utf8' }).status === 0;
}

type J = Record<string, unknown>;

export interface TsharkFrame {
  number: number;
  /** The UDP payload (to align with our reader). */
  payload: Buffer | null;
  malformed: boolean;
  sflow: boolean;
  subAgent: number;
  /** One canonical line per flow sample. */
  samples: string[];
  counterSamples: number;
}

function first(v: unknown): J | undefined {
  if (Array.isArray(v)) return v[0] as J;
  return v as J | undefined;
}
function str(o: J | undefined, k: string): string | undefined {
  if (!o) return undefined;
  const v = o[k];
  if (Array.isArray(v)) return String(v[0]);
  return v === undefined ? undefined : String(v);
}
function num(o: J | undefined, k: string): number | undefined {
  const s = str(o, k);
  if (s === undefined) return undefined;
  return s.startsWith('0x') ? parseInt(s, 16) : Number(s);
}
function all(o: J, prefix: string): J[] {
  const out: J[] = [];
  for (const [k, v] of Object.entries(o)) {
    if (!k.startsWith(prefix)) continue;
    if (Array.isArray(v)) for (const x of v) out.push(x as J);
    else out.push(v as J);
  }
  return out;
}

export interface Canon {
  rate: number;
  inIf: string;
  outIf: string;
  src: string;
  dst: string;
  proto: string;
  sport: string;
  dport: string;
  flags: string;
  icmp: string;
  bytes: string;
  frag: string;
}

export function canonLine(c: Canon): string {
  return `rate=${c.rate} in=${c.inIf} out=${c.outIf} ${c.src}>${c.dst} p=${c.proto} ${c.sport}>${c.dport} fl=${c.flags} icmp=${c.icmp} bytes=${c.bytes} frag=${c.frag}`;
}

const INTERNAL = 0x3fffffff;

function ifText(format: number | undefined, value: number | undefined): string {
  if (format === undefined || value === undefined) return '-';
  if (format !== 0 || value === INTERNAL) return '-';
  return String(value);
}

function sampleCanon(s: J, expanded: boolean, defaultRate: number): string {
  const rate0 = num(s, 'sflow.flow_sample.sampling_rate') ?? 0;
  let inIf: string, outIf: string;
  if (expanded) {
    inIf = ifText(num(s, 'sflow.flow_sample.input_interface_format'), num(s, 'sflow.flow_sample.input_interface_value'));
    outIf = ifText(num(s, 'sflow.flow_sample.output_interface.format') ?? num(s, 'sflow.flow_sample.output_interface_format'), num(s, 'sflow.flow_sample.output_interface_value'));
  } else {
    const inRaw = num(s, 'sflow.flow_sample.input_interface') ?? 0;
    const outRaw = num(s, 'sflow.flow_sample.output_interface') ?? 0;
    inIf = ifText(inRaw >>> 30, inRaw & 0x3fffffff);
    outIf = ifText(outRaw >>> 30, outRaw & 0x3fffffff);
  }
  const c: Canon = { rate: rate0 === 0 ? defaultRate : rate0, inIf, outIf, src: '-', dst: '-', proto: '-', sport: '-', dport: '-', flags: '-', icmp: '-', bytes: '-', frag: '0' };
  const raw = first(s['Raw packet header']);
  const v4 = first(s['IPv4 data']);
  const v6 = first(s['IPv6 data']);
  if (raw) {
    const tree = first(raw['sflow_245.header_tree']);
    const frameLen = num(raw, 'sflow_245.header.frame_length') ?? 0;
    const stripped = num(raw, 'sflow_245.header.payload_stripped') ?? 0;
    c.bytes = String(stripped <= frameLen ? frameLen - stripped : frameLen);
    const ip = tree ? first(tree['ip']) : undefined;
    const ip6 = tree ? first(tree['ipv6']) : undefined;
    // The outermost IP header is the one our parser reads (tunnels are not entered).
    const order = tree ? Object.keys(tree) : [];
    const ipFirst = order.indexOf('ip') !== -1 && (order.indexOf('ipv6') === -1 || order.indexOf('ip') < order.indexOf('ipv6'));
    if (ip && ipFirst && str(ip, 'ip.src') !== undefined) {
      c.src = str(ip, 'ip.src')!;
      c.dst = str(ip, 'ip.dst')!;
      const proto = num(ip, 'ip.proto')!;
      c.proto = String(proto);
      const len = num(ip, 'ip.len') ?? 0;
      if (len > 0) c.bytes = String(len);
      const off = num(ip, 'ip.frag_offset') ?? 0;
      const flags = num(ip, 'ip.flags') ?? 0;
      const mf = (flags & 0x20) !== 0 || str(first(ip['ip.flags_tree']), 'ip.flags.mf') === '1';
      c.frag = off !== 0 || mf ? '1' : '0';
      if (off === 0 && mf) firstFragment(c);
      else if (off === 0) l4(tree!, proto, c);
    } else if (ip6) {
      c.src = str(ip6, 'ipv6.src')!;
      c.dst = str(ip6, 'ipv6.dst')!;
      const plen = num(ip6, 'ipv6.plen') ?? 0;
      if (plen > 0) c.bytes = String(plen + 40);
      const frag = findKey(ip6, 'ipv6.fraghdr.offset');
      const more = findKey(ip6, 'ipv6.fraghdr.more');
      const fragOff = frag === undefined ? 0 : Number(frag);
      if (fragOff !== 0 || more === '1') c.frag = '1';
      const proto = ipv6FinalProto(ip6, tree!);
      if (proto !== undefined) {
        c.proto = String(proto);
        if (fragOff === 0 && more === '1') firstFragment(c);
        else if (fragOff === 0) l4(tree!, proto, c);
      }
    }
  } else if (v4) {
    c.bytes = str(v4, 'sflow_245.ip.length') ?? '-';
    const proto = num(v4, 'sflow.ip_protocol') ?? 0;
    c.proto = String(proto);
    c.src = str(v4, 'sflow_245.ipv4_src')!;
    c.dst = str(v4, 'sflow_245.ipv4_dst')!;
    sampledPorts(v4, proto, c);
  } else if (v6) {
    c.bytes = str(v6, 'sflow_245.ip.length') ?? '-';
    const proto = num(v6, 'sflow.ip_protocol') ?? 0;
    c.proto = String(proto);
    c.src = str(v6, 'sflow_245.ipv6_src')!;
    c.dst = str(v6, 'sflow_245.ipv6_dst')!;
    sampledPorts(v6, proto, c);
  }
  return canonLine(c);
}

/** tshark holds a first fragment for reassembly and does not dissect its transport header. */
function firstFragment(c: Canon): void {
  c.sport = c.dport = c.flags = c.icmp = '*';
}

function sampledPorts(o: J, proto: number, c: Canon): void {
  const sp = num(o, 'sflow_245.ip.source_port') ?? 0;
  const dp = num(o, 'sflow.ip.destination_port') ?? 0;
  if (proto === 1 || proto === 58) c.icmp = `${sp & 0xff}/${dp & 0xff}`;
  else if (proto === 6 || proto === 17 || proto === 132) {
    c.sport = String(sp);
    c.dport = String(dp);
    // tshark 4.0 reads the flags from the first byte of the XDR word (always 0):
    // not comparable.
    if (proto === 6) c.flags = '*';
  }
}

function findKey(o: unknown, key: string): string | undefined {
  if (o === null || typeof o !== 'object') return undefined;
  for (const [k, v] of Object.entries(o as J)) {
    if (k === key) return Array.isArray(v) ? String(v[0]) : String(v);
    const r = findKey(v, key);
    if (r !== undefined) return r;
  }
  return undefined;
}

function ipv6FinalProto(ip6: J, tree: J): number | undefined {
  for (const [layer, proto] of [['tcp', 6], ['udp', 17], ['icmpv6', 58], ['sctp', 132]] as const) if (tree[layer]) return proto;
  // No transport dissected: the last next-header value in the IPv6 header chain.
  const nxt: string[] = [];
  const walk = (o: unknown): void => {
    if (o === null || typeof o !== 'object') return;
    for (const [k, v] of Object.entries(o as J)) {
      if (k.endsWith('.nxt') && !Array.isArray(v)) nxt.push(String(v));
      else if (k.endsWith('.nxt') && Array.isArray(v)) for (const x of v) nxt.push(String(x));
      else walk(v);
    }
  };
  walk(ip6);
  return nxt.length ? Number(nxt[nxt.length - 1]) : undefined;
}

function l4(tree: J, proto: number, c: Canon): void {
  if (proto === 6) {
    const t = first(tree['tcp']);
    if (t && str(t, 'tcp.srcport') !== undefined) {
      c.sport = str(t, 'tcp.srcport')!;
      c.dport = str(t, 'tcp.dstport')!;
      const fl = num(t, 'tcp.flags');
      if (fl !== undefined) c.flags = String(fl & 0xff);
    }
  } else if (proto === 17) {
    const u = first(tree['udp']);
    if (u && str(u, 'udp.srcport') !== undefined) {
      c.sport = str(u, 'udp.srcport')!;
      c.dport = str(u, 'udp.dstport')!;
    }
  } else if (proto === 132) {
    const u = first(tree['sctp']);
    if (u && str(u, 'sctp.srcport') !== undefined) {
      c.sport = str(u, 'sctp.srcport')!;
      c.dport = str(u, 'sctp.dstport')!;
    }
  } else if (proto === 1 || proto === 58) {
    const layer = proto === 1 ? 'icmp' : 'icmpv6';
    const i = first(tree[layer]);
    if (i && str(i, `${layer}.type`) !== undefined) c.icmp = `${str(i, `${layer}.type`)}/${str(i, `${layer}.code`) ?? 0}`;
  }
}

/** Our record as the same canonical line. */
export function recordLine(r: FlowRecord): string {
  const has = (b: number): boolean => (r.fields & b) !== 0;
  const addr = (v4: number, v6: Uint8Array): string => (r.family === 4 ? formatIPv4(v4) : formatIPv6(v6));
  const c: Canon = {
    rate: r.samplingRate,
    inIf: has(F.IN_IF) ? String(r.inIf) : '-',
    outIf: has(F.OUT_IF) ? String(r.outIf) : '-',
    src: has(F.SRC_ADDR) ? addr(r.src4, r.src6) : '-',
    dst: has(F.DST_ADDR) ? addr(r.dst4, r.dst6) : '-',
    proto: has(F.IP_PROTO) ? String(r.ipProto) : '-',
    sport: has(F.SRC_PORT) ? String(r.srcPort) : '-',
    dport: has(F.DST_PORT) ? String(r.dstPort) : '-',
    flags: has(F.TCP_FLAGS) ? String(r.tcpFlags) : '-',
    icmp: has(F.ICMP) ? `${r.icmpType}/${r.icmpCode}` : '-',
    bytes: has(F.BYTES) ? String(r.bytes) : '-',
    frag: String(r.fragment),
  };
  return canonLine(c);
}

/** tshark's view of every frame of a capture (sFlow forced on port 6343 and any extra ports). */
export function tsharkSflow(file: string, defaultRate = 1, ports: number[] = [6343]): TsharkFrame[] {
  const args = ['-r', file, '-T', 'json', '--no-duplicate-keys'];
  for (const p of ports) args.push('-d', `udp.port==${p},sflow`);
  const r = spawnSync('tshark', args, { encoding: 'utf8', maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`tshark failed: ${r.stderr}`);
  const frames = JSON.parse(r.stdout) as { _source: { layers: J } }[];
  return frames.map((f, i): TsharkFrame => {
    const L = f._source.layers;
    const udp = first(L['udp']);
    const hex = str(udp, 'udp.payload');
    const sf = first(L['sflow']);
    const out: TsharkFrame = {
      number: i + 1,
      payload: hex ? Buffer.from(hex.replace(/:/g, ''), 'hex') : null,
      malformed: L['_ws.malformed'] !== undefined || (sf !== undefined && findKey(sf, '_ws.malformed') !== undefined),
      sflow: sf !== undefined,
      subAgent: num(sf, 'sflow_245.sub_agent_id') ?? 0,
      samples: [],
      counterSamples: 0,
    };
    if (!sf) return out;
    for (const s of all(sf, 'Flow sample')) out.samples.push(sampleCanon(s, false, defaultRate));
    for (const s of all(sf, 'Expanded flow sample')) out.samples.push(sampleCanon(s, true, defaultRate));
    out.counterSamples = all(sf, 'Counters sample').length + all(sf, 'Expanded counters sample').length;
    return out;
  });
}

/** Matches our lines against tshark's (a '*' field in tshark's line matches anything). Returns the unmatched lines. */
export function matchLines(ours: string[], theirs: string[]): { onlyOurs: string[]; onlyTheirs: string[] } {
  const left = [...ours];
  const onlyTheirs: string[] = [];
  for (const t of theirs) {
    const re = new RegExp('^' + t.split(' ').map((f) => f.replace(/[.*+?^${}()|[\]\\]/g, (m) => (m === '*' ? '[^ >]+' : '\\' + m))).join(' ') + '$');
    const i = left.findIndex((l) => re.test(l));
    if (i === -1) onlyTheirs.push(t);
    else left.splice(i, 1);
  }
  return { onlyOurs: left, onlyTheirs };
}
