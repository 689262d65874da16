/**
 * tshark as an independent NetFlow v5/v9 / IPFIX decoder for tests: runs
 * `tshark -T json --no-duplicate-keys -d udp.port==N,cflow` on a capture and
 * reduces its dissection to one entry per export packet, with its data and
 * options data records, in wire order.
 */
import { spawnSync } from 'node:child_process';
import { FlowDecoder, detectFlowProto } from '../../src/flow/decode.ts';
import { encodePcap, readCapture, type UdpPacket } from '../../src/flow/pcap.ts';
import type { FlowRecord } from '../../src/flow/record.ts';
import { recordJson } from '../../src/cli/decode.ts';

export interface TsharkFlow {
  /** Data set id = template id. */
  setId: number;
  /** True for options data (the template tshark used was an options template). */
  options: boolean;
  /** Every cflow.* leaf of the record (nested trees flattened); duplicates become arrays. */
  f: Record<string, string | string[]>;
}

export interface TsharkPacket {
  frame: number;
  exporter: string;
  version: number;
  domain: number;
  /** Export time (s) and, for v5/v9, sysUptime (s). */
  unixSecs: number;
  /** v5 only: residual nanoseconds of the export time. */
  unixNsecs: number;
  uptime: number;
  flows: TsharkFlow[];
  /** Data set ids tshark could not decode (no template known at that point). */
  undecoded: number[];
  /** Template ids defined in this packet: id -> options? */
  templates: Map<number, boolean>;
}

let available: boolean | undefined;
export function tsharkAvailable(): boolean {
  if (available === undefined) {
    const r = spawnSync('tshark', ['--version'], { encoding: 'utf8' });
    available = r.status === 0;
  }
  return available;
}

type J = Record<string, unknown>;

function first(v: unknown): string | undefined {
  if (Array.isArray(v)) return first(v[0]);
  return typeof v === 'string' ? v : undefined;
}

function flatten(o: J, out: Record<string, string | string[]>): void {
  for (const [k, v] of Object.entries(o)) {
    if (typeof v === 'string') {
      if (k.startsWith('cflow.')) add(out, k, v);
    } else if (Array.isArray(v)) {
      for (const x of v) {
        if (typeof x === 'string') {
          if (k.startsWith('cflow.')) add(out, k, x);
        } else if (x && typeof x === 'object') flatten(x as J, out);
      }
    } else if (v && typeof v === 'object') flatten(v as J, out);
  }
}

function add(out: Record<string, string | string[]>, k: string, v: string): void {
  const cur = out[k];
  if (cur === undefined) out[k] = v;
  else if (Array.isArray(cur)) cur.push(v);
  else out[k] = [cur, v];
}

const SET_RE = /^(?:Flow)?Set \d+ \[id=(\d+)\]/;
const TPL_RE = /^(Options )?Template \(Id = (\d+)/;

/** Runs tshark on `file`, decoding the given UDP ports as cflow. */
export function tsharkCflow(file: string, ports: readonly number[]): TsharkPacket[] {
  const args = ['-r', file, '-T', 'json', '--no-duplicate-keys'];
  for (const p of ports) args.push('-d', `udp.port==${p},cflow`);
  const r = spawnSync('tshark', args, { encoding: 'utf8', maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`tshark failed on ${file}: ${r.stderr}`);
  const pkts = JSON.parse(r.stdout || '[]') as { _source: { layers: J } }[];
  // template kind per (frame, template id), to tell options data from flow data
  const tplKind = new Map<string, boolean>();
  const out: TsharkPacket[] = [];
  for (const pk of pkts) {
    const layers = pk._source.layers;
    const frame = Number(first((layers.frame as J)['frame.number']));
    let cflows = layers.cflow as J | J[] | undefined;
    if (cflows === undefined) continue;
    if (!Array.isArray(cflows)) cflows = [cflows];
    const ip = (layers.ip ?? layers.ipv6) as J | J[] | undefined;
    const ip0 = (Array.isArray(ip) ? ip[0] : ip) as J | undefined;
    const exporter = first(ip0?.['ip.src'] ?? ip0?.['ipv6.src']) ?? '';
    for (const c of cflows) {
      const version = Number(first(c['cflow.version']));
      const ts = c['cflow.timestamp_tree'] as J | undefined;
      const p: TsharkPacket = {
        frame,
        exporter,
        version,
        domain: Number(first(c['cflow.source_id'] ?? c['cflow.od_id']) ?? 0),
        unixSecs: Number(first(ts?.['cflow.unix_secs'] ?? ts?.['cflow.exporttime']) ?? 0),
        unixNsecs: Number(first(ts?.['cflow.unix_nsecs']) ?? 0),
        uptime: Number(first(c['cflow.sysuptime']) ?? 0),
        flows: [],
        undecoded: [],
        templates: new Map(),
      };
      for (const [k, v] of Object.entries(c)) {
        if (k.startsWith('pdu ')) {
          // NetFlow v5 record
          const f: Record<string, string | string[]> = {};
          flatten(v as J, f);
          p.flows.push({ setId: 0, options: false, f });
          continue;
        }
        const m = SET_RE.exec(k);
        if (!m) continue;
        const sets = (Array.isArray(v) ? v : [v]) as J[];
        for (const set of sets) {
          const setId = Number(m[1]);
          if (setId <= 3) {
            for (const [tk, tv] of Object.entries(set)) {
              const tm = TPL_RE.exec(tk);
              if (tm) {
                p.templates.set(Number(tm[2]), tm[1] !== undefined);
                tplKind.set(`${frame}|${tm[2]}`, tm[1] !== undefined);
              }
              void tv;
            }
            continue;
          }
          const tframe = first(set['cflow.template_frame']);
          const recs = Object.entries(set).filter(([rk]) => /^Flow \d+(?: \(.*\))?$/.test(rk));
          if (tframe === undefined || recs.length === 0) {
            p.undecoded.push(setId);
            continue;
          }
          const options = tplKind.get(`${tframe}|${setId}`) ?? false;
          for (const [, rv] of recs) {
            for (const one of (Array.isArray(rv) ? rv : [rv]) as J[]) {
              const f: Record<string, string | string[]> = {};
              flatten(one, f);
              p.flows.push({ setId, options, f });
            }
          }
        }
      }
      out.push(p);
    }
  }
  return out;
}

const MONTHS: Record<string, number> = { Jan: 0, Feb: 1, Mar: 2, Apr: 3, May: 4, Jun: 5, Jul: 6, Aug: 7, Sep: 8, Oct: 9, Nov: 10, Dec: 11 };

/** tshark's absolute time text ("Oct  5, 2009 06:06:07.492059999 UTC") to ms since the epoch. */
export function tsharkTime(s: string): number {
  const m = /^([A-Z][a-z]{2}) +(\d+), (\d+) (\d+):(\d+):(\d+)(?:\.(\d+))? UTC$/.exec(s.trim());
  if (!m) return NaN;
  const frac = m[7] ? Number(`0.${m[7]}`) : 0;
  return Date.UTC(Number(m[3]), MONTHS[m[1]], Number(m[2]), Number(m[4]), Number(m[5]), Number(m[6])) + Math.floor(frac * 1000 + 1e-6);
}

function num(v: string | string[] | undefined): number | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  if (s === undefined) return undefined;
  const n = s.startsWith('0x') ? parseInt(s, 16) : Number(s);
  return Number.isFinite(n) ? n : undefined;
}

/**
 * The `breakwater decode` keys tshark's dissection of one flow record implies
 * (only those it shows). Counters: octetDeltaCount, else initiatorOctets (NSEL),
 * else octetTotalCount, the same preference Breakwater documents.
 */
export function expectedRecord(pkt: TsharkPacket, fl: TsharkFlow, sysInitMs = -1): Record<string, string | number> {
  const f = fl.f;
  const o: Record<string, string | number> = {};
  const v6s = first(f['cflow.srcaddrv6']);
  const v6d = first(f['cflow.dstaddrv6']);
  const v4s = first(f['cflow.srcaddr']);
  const v4d = first(f['cflow.dstaddr']);
  const zero6 = (s: string | undefined) => s === undefined || s === '::';
  const use6 = (v6s !== undefined || v6d !== undefined) && (!(zero6(v6s) && zero6(v6d)) || (v4s === undefined && v4d === undefined));
  const src = use6 ? v6s : v4s;
  const dst = use6 ? v6d : v4d;
  if (src !== undefined) o.src_addr = src;
  if (dst !== undefined) o.dst_addr = dst;
  const set = (key: string, v: number | undefined) => {
    if (v !== undefined) o[key] = v;
  };
  set('src_port', num(f['cflow.srcport']));
  set('dst_port', num(f['cflow.dstport']));
  set('ip_proto', num(f['cflow.protocol']));
  const flags = num(f['cflow.tcpflags']);
  set('tcp_flags', flags === undefined ? undefined : flags & 0xff);
  set('bytes', num(f['cflow.octets']) ?? num(f['cflow.initiator_octets']) ?? num(f['cflow.permanent_octets']));
  set('packets', num(f['cflow.packets']) ?? num(f['cflow.initiator_packets']) ?? num(f['cflow.permanent_packets']));
  set('in_if', num(f['cflow.inputint']));
  set('out_if', num(f['cflow.outputint']));
  // several absolute times (seconds and milliseconds elements): the finest is the largest
  const abs = (v: string | string[] | undefined) => {
    if (v === undefined) return undefined;
    const t = Math.max(...(Array.isArray(v) ? v : [v]).map(tsharkTime));
    // tshark quirk: a zero flowStart/EndSysUpTime (21/22) is shown as absolute time 0
    // (1970-01-01) instead of an uptime offset; nothing to compare against then
    return t === 0 ? undefined : t;
  };
  const start = abs(f['cflow.abstimestart']);
  const end = abs(f['cflow.abstimeend']);
  if (start !== undefined) o.start = start;
  if (end !== undefined) o.end = end;
  if (pkt.version === 10 && sysInitMs >= 0) {
    // IPFIX uptime-relative times, against systemInitTimeMilliseconds from options data
    const ts = first(f['cflow.timestart']);
    const te = first(f['cflow.timeend']);
    if (ts !== undefined && o.start === undefined) o.start = sysInitMs + Math.round(Number(ts) * 1000);
    if (te !== undefined && o.end === undefined) o.end = sysInitMs + Math.round(Number(te) * 1000);
  }
  if (pkt.version !== 10) {
    // v5/v9 uptime-relative, seconds with ms precision; modulo 2^32 ms
    const rel = (t: string | undefined) => {
      if (t === undefined) return undefined;
      const d = (Math.round(pkt.uptime * 1000) - Math.round(Number(t) * 1000)) | 0;
      const ns = pkt.unixNsecs < 1e9 ? Math.floor(pkt.unixNsecs / 1e6) : 0;
      return pkt.unixSecs * 1000 + ns - d;
    };
    const ts = rel(first(f['cflow.timestart']));
    const te = rel(first(f['cflow.timeend']));
    if (ts !== undefined && o.start === undefined) o.start = ts;
    if (te !== undefined && o.end === undefined) o.end = te;
  }
  return o;
}

/* ----------------------------------------------- Breakwater vs tshark */

type Rec = Record<string, string | number>;

export interface Ours {
  /** The netflow datagrams as read (src, ports, time, payload), in order. */
  datagrams: UdpPacket[];
  /** v9 only: records Breakwater saw in each datagram (templates, options and data), else -1. */
  v9Seen: number[];
  /** Records per netflow datagram, in capture order. */
  perDatagram: Rec[][];
  errors: Record<string, number>;
  noTemplate: number;
  ports: number[];
}

export function decodeOurs(file: string, hold: boolean): Ours {
  let cur: Rec[] = [];
  const sink = { record: (r: FlowRecord) => void cur.push(recordJson(r)) };
  const dec = new FlowDecoder(sink, { holdDataSets: hold, templateTimeoutMs: Infinity });
  const perDatagram: Rec[][] = [];
  const datagrams: UdpPacket[] = [];
  const v9Seen: number[] = [];
  const ports = new Set<number>();
  for (const pk of readCapture(file)) {
    const proto = detectFlowProto(pk.payload);
    if (proto === null || proto === 'sflow5') continue;
    ports.add(pk.dstPort);
    cur = [];
    dec.datagram(pk.payload, pk.src, pk.time);
    perDatagram.push(cur);
    datagrams.push(pk);
    v9Seen.push(proto === 'netflow9' ? dec.context(pk.src).state.seen : -1);
  }
  const errors: Record<string, number> = {};
  let noTemplate = 0;
  for (const s of dec.stats.values()) {
    noTemplate += s.noTemplate;
    for (const [k, v] of Object.entries(s.errors)) errors[k] = (errors[k] ?? 0) + v;
  }
  return { perDatagram, errors, noTemplate, ports: [...ports], datagrams, v9Seen };
}

/** Sampling rate tshark's own dissection implies, with Breakwater's documented precedence. */
class TsharkSampling {
  private readonly domains = new Map<string, { wide: number; last: number; samplers: Map<number, number> }>();
  private dom(p: TsharkPacket) {
    const k = `${p.exporter}|${p.version}|${p.domain}`;
    let d = this.domains.get(k);
    if (!d) this.domains.set(k, (d = { wide: 0, last: 0, samplers: new Map() }));
    return d;
  }
  private static rate(f: Record<string, string | string[]>): number {
    const n = (k: string) => {
      const v = f[k];
      const s = Array.isArray(v) ? v[0] : v;
      return s === undefined ? -1 : Number(s);
    };
    const direct = n('cflow.sampling_interval') > 0 ? n('cflow.sampling_interval') : n('cflow.sampler_random_interval');
    if (direct > 0) return direct;
    const iv = n('cflow.sampling_packet_interval');
    const sp = n('cflow.sampling_packet_space');
    if (iv > 0 && sp >= 0) return Math.max(1, Math.round((iv + sp) / iv));
    const size = n('cflow.sampling_size');
    const pop = n('cflow.sampling_population');
    if (size > 0 && pop > 0) return Math.max(1, Math.round(pop / size));
    return 0;
  }
  private static id(f: Record<string, string | string[]>): number {
    const v = f['cflow.sampler_id'] ?? f['cflow.selector_id'];
    const s = Array.isArray(v) ? v[0] : v;
    return s === undefined ? -1 : Number(s);
  }
  option(p: TsharkPacket, f: Record<string, string | string[]>): void {
    const r = TsharkSampling.rate(f);
    if (r <= 0) return;
    const d = this.dom(p);
    const id = TsharkSampling.id(f);
    if (id >= 0) {
      d.samplers.set(id, r);
      d.last = r;
    } else d.wide = r;
  }
  data(p: TsharkPacket, f: Record<string, string | string[]>): number {
    if (p.version === 5) {
      const v = f['cflow.samplerate'];
      return 1;
      void v;
    }
    const r = TsharkSampling.rate(f);
    if (r > 0) return r;
    const d = this.dom(p);
    const id = TsharkSampling.id(f);
    const byId = id >= 0 ? d.samplers.get(id) : undefined;
    if (byId) return byId;
    return d.wide || d.last || 1;
  }
}

const COMPARED = ['src_addr', 'dst_addr', 'src_port', 'dst_port', 'ip_proto', 'tcp_flags', 'bytes', 'packets', 'in_if', 'out_if', 'start', 'end'];

export function compareWithTshark(ours: Ours, theirs: TsharkPacket[], skipKeys: string[], lenient: boolean): string[] {
  const bad: string[] = [];
  const tpk = theirs.filter((p) => p.version === 5 || p.version === 9 || p.version === 10);
  if (tpk.length !== ours.perDatagram.length) {
    bad.push(`datagrams: ours ${ours.perDatagram.length}, tshark ${tpk.length}`);
    return bad;
  }
  const sampling = new TsharkSampling();
  const sysInit = new Map<string, number>();
  for (let i = 0; i < tpk.length; i++) {
    const p = tpk[i];
    const mine = ours.perDatagram[i];
    const data = p.flows.filter((f) => !f.options);
    // options first: a datagram's options records apply to the data after them, as in Breakwater
    let di = 0;
    for (const fl of p.flows) {
      const dk = `${p.exporter}|${p.domain}`;
      if (fl.options) {
        sampling.option(p, fl.f);
        const si = fl.f['cflow.sys_init_time'];
        if (si !== undefined) sysInit.set(dk, tsharkTime(Array.isArray(si) ? si[0] : si));
        continue;
      }
      const exp = expectedRecord(p, fl, sysInit.get(dk) ?? -1);
      const got = mine[di++];
      if (got === undefined) continue;
      const where = `frame ${p.frame} record ${di}`;
      for (const k of COMPARED) {
        if (skipKeys.includes(k)) continue;
        if (exp[k] === undefined) {
          if (got[k] !== undefined && k !== 'start' && k !== 'end') bad.push(`${where}: ${k} ours ${got[k]}, tshark none`);
          continue;
        }
        if (got[k] !== exp[k]) bad.push(`${where}: ${k} ours ${got[k]}, tshark ${exp[k]}`);
      }
      const rate = sampling.data(p, fl.f);
      if (p.version !== 5 && !skipKeys.includes('sampling_rate') && got.sampling_rate !== rate) bad.push(`${where}: sampling_rate ours ${got.sampling_rate}, tshark-implied ${rate}`);
      if (got.exporter !== p.exporter) bad.push(`${where}: exporter ours ${got.exporter}, tshark ${p.exporter}`);
    }
    if (mine.length !== data.length && !lenient) bad.push(`frame ${p.frame}: records ours ${mine.length}, tshark ${data.length}`);
  }
  return bad;
}


/**
 * tshark stops dissecting a NetFlow v9 datagram after the header's `count`
 * records (RFC 3954: templates + options + data). softflowd counts only its
 * flow records, so tshark would miss the rest. This writes a copy of the
 * datagrams whose v9 count is the number of records actually present, for
 * tshark; null when no datagram needs it.
 */
export function fixV9Counts(ours: Ours): Buffer | null {
  let changed = false;
  const pkts = ours.datagrams.map((d, i) => {
    const seen = ours.v9Seen[i];
    if (seen < 0 || d.payload.readUInt16BE(2) >= seen) return d;
    changed = true;
    const payload = Buffer.from(d.payload);
    payload.writeUInt16BE(Math.min(seen, 65535), 2);
    return { ...d, payload };
  });
  return changed ? encodePcap(pkts) : null;
}
