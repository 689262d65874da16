/**
 * tshark as an independent NetFlow v5/v9 / IPFIX decoder for tests: runs
 * `tshark -T json --no-duplicate-keys -d udp.port==N,cflow` on a capture and
 * reduces its dissection to one entry per export packet, with its data and
 * options data records, in wire order.
 */
import { spawnSync } from 'node:child_process';

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
