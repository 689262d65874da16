/**
 * `npm run soak`: Breakwater under everything hostile at once, for a bounded
 * time, on loopback only. Not part of CI (it runs 30 minutes by default).
 *
 *   npm run soak -- [--minutes 30] [--pps auto|N] [--api-clients 50]
 *                   [--api-interval-ms 1000] [--node-args '--cpu-prof ...'] [--json]
 *                   [--malloc-arena-max N] [--heap-snapshots DIR]
 *
 * --pps auto (default) first measures this machine's lossless rate (steps of
 * 4 s until the daemon counts less than 99 % of what was sent) and runs at
 * 80 % of it; the steps are in the report.
 * The daemon runs live (child process `node src/main.ts`) with two neighbors:
 * BIRD 2 (its session disabled and re-enabled every minute) and a scripted
 * BGP peer that completes OPEN, then stops reading, keeps sending KEEPALIVEs
 * and floods ROUTE-REFRESH. Meanwhile:
 * - sFlow background load at --pps datagrams/s (benign per-host rates), one
 *   in ten datagrams mutated (random bytes rewritten);
 * - a NetFlow v9 template flood from 128 spoofed loopback exporters;
 * - 50 API clients polling status, attacks, bans, hosts and metrics;
 * - every 5 minutes the real pmacct sFlow capture of an NTP amplification
 *   (pcaps/pmacct-sflow5-sampled-ntp-amp.pcap, 12,000 pps) replayed at its own
 *   pace; each replay must be detected as ntp_amplification.
 * Reported: RSS slope (MB/h, least squares over the second half), peak RSS,
 * main-thread heap / external memory / estimated flow state once a minute
 * (with their slopes: which component grows), KEEPALIVEs to BIRD later than
 * hold/3 outside the flaps (tcpdump), hold-timer expiries, the slow peer's
 * sessions and Out-of-Resources resets, API error rate and latency
 * percentiles, daemon crashes, and the replayed attacks detected with their
 * vector. The final /metrics scrape is retried after the load stops.
 * Per thread (main, collector-N, bgp-N) once a minute: V8 heap used (live)
 * and total (reserved), from breakwater_thread_heap_bytes, so reserved slack
 * is told apart from live growth. --malloc-arena-max sets MALLOC_ARENA_MAX
 * for the daemon only (glibc malloc arenas). --heap-snapshots DIR starts the
 * daemon with the inspector on loopback and writes heap snapshots of the main
 * and BGP threads after minute 1 and in the last minute; the report lists
 * what grew between them, by constructor.
 * Over 600 lines: one bounded scenario whose loads, measurements and report
 * belong together; the inspector client lives in heap-inspector.ts.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { mkdirSync, readFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket as TcpSocket } from 'node:net';
import { availableParallelism, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { Bird, birdAvailable, birdConfig } from '../test/helpers/bird.ts';
import { loopbackBlock, removeDir, sleep, tempDir, waitFor } from '../test/helpers/netns.ts';
import { freePort, metricValue, startBreakwater, writeYaml, type Breakwater } from '../test/e2e/helpers.ts';
import { datagram, eth, flowSample, ipv4, udp } from '../test/fixtures/sflow/build.ts';
import { v9, v9Template } from '../test/fixtures/netflow/build.ts';
import { parseFlags } from '../src/cli/flags.ts';
import { growth, Inspector, summarize } from './heap-inspector.ts';

const root = resolve(import.meta.dirname, '..');
const HOLD = 9;
const ATTACK_PCAP = join(root, 'pcaps/pmacct-sflow5-sampled-ntp-amp.pcap');
const VICTIM = '203.0.113.20';

const flags = parseFlags(process.argv.slice(2), { string: ['minutes', 'pps', 'api-clients', 'api-interval-ms', 'node-args', 'malloc-arena-max', 'heap-snapshots'], boolean: ['json'] });
const apiClients = Number(flags.values['api-clients'] ?? 50);
const apiIntervalMs = Number(flags.values['api-interval-ms'] ?? 1000);
const minutes = Number(flags.values.minutes ?? 30);
// --pps auto (the default): 80 % of the lossless rate measured on this machine at the start of the run.
const ppsAuto = (flags.values.pps ?? 'auto') === 'auto';
let pps = ppsAuto ? 80_000 : Number(flags.values.pps);
// Extra Node flags for the daemon only (e.g. '--cpu-prof --cpu-prof-dir=/tmp/p', '--heapsnapshot-signal=SIGUSR2').
const nodeArgs = String(flags.values['node-args'] ?? '').split(' ').filter(Boolean);
const arenaMax = flags.values['malloc-arena-max'] === undefined ? undefined : String(flags.values['malloc-arena-max']);
const snapDir = flags.values['heap-snapshots'] === undefined ? undefined : resolve(String(flags.values['heap-snapshots']));
if (!(minutes > 0 && minutes <= 240) || !(pps > 0 && pps <= 1_000_000)) {
  console.error('soak: --minutes must be in (0, 240] and --pps in (0, 1000000]');
  process.exit(2);
}
if (!birdAvailable()) {
  console.error('soak: needs BIRD 2 (bird2) and root');
  process.exit(2);
}
const log = (m: string) => console.error(`[soak ${new Date().toISOString().slice(11, 19)}] ${m}`);

/** Benign sFlow datagrams: 7 samples each, 1:1 sampling, spread over 198.51.100.0/24. */
function background(): Buffer[] {
  const out: Buffer[] = [];
  for (let d = 0; d < 256; d++) {
    const samples = [];
    for (let i = 0; i < 7; i++) {
      const k = d * 7 + i;
      // 198.51.100.0/24 only: the replayed attack's victim (203.0.113.20) carries no background.
      const dst = `198.51.100.${(k % 250) + 2}`;
      const pkt = Buffer.concat([eth(0x0800), ipv4(`192.0.2.${(k % 250) + 1}`, dst, 17, udp(40000 + i, 443, Buffer.alloc(8)))]);
      samples.push(flowSample({ rate: 1, input: [0, 1], output: [0, 2], records: [{ kind: 'raw', frameLength: 1200, header: pkt }] }, k));
    }
    out.push(datagram('127.0.0.1', 0, samples, d));
  }
  return out;
}

/** One in ten datagrams gets 1–8 random bytes rewritten. */
function mutate(b: Buffer): Buffer {
  const c = Buffer.from(b);
  const n = 1 + Math.floor(Math.random() * 8);
  for (let i = 0; i < n; i++) c[Math.floor(Math.random() * c.length)] = Math.floor(Math.random() * 256);
  return c;
}

class Load {
  sent = 0;
  mutated = 0;
  private stopped = false;
  private readonly sock: Socket = createSocket('udp4');
  private readonly port: number;
  private readonly rate: number;
  constructor(port: number, rate = pps) {
    this.port = port;
    this.rate = rate;
  }
  run(): void {
    const dgs = background();
    const pps = this.rate;
    const perTick = Math.max(1, Math.round(pps / 100));
    const t0 = Date.now();
    const tick = () => {
      if (this.stopped) return;
      const due = Math.floor(((Date.now() - t0) / 1000) * pps);
      let burst = 0;
      // catch up to 100 ms of backlog per tick: a busy machine fires timers late
      while (this.sent < due && burst < perTick * 10) {
        let dg = dgs[this.sent & 255];
        if (this.sent % 10 === 9) {
          dg = mutate(dg);
          this.mutated++;
        }
        this.sock.send(dg, this.port, '127.0.0.1');
        this.sent++;
        burst++;
      }
      if (this.sent < due) setImmediate(tick);
      else setTimeout(tick, 10);
    };
    tick();
  }
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.sock.close();
  }
}

/** v9 templates with fresh ids from 128 spoofed 127.77.x.y exporters, each sending 20 templates a second. */
class TemplateFlood {
  sent = 0;
  private readonly socks: Socket[] = [];
  private timer?: NodeJS.Timeout;
  private readonly port: number;
  constructor(port: number) {
    this.port = port;
  }
  async run(): Promise<void> {
    for (let i = 0; i < 128; i++) {
      const s = createSocket('udp4');
      await new Promise<void>((r) => s.bind({ address: `127.77.${i >> 6}.${(i & 63) + 1}`, port: 0 }, r));
      this.socks.push(s);
    }
    let next = 256;
    this.timer = setInterval(() => {
      for (const [i, s] of this.socks.entries()) {
        const sets = [];
        for (let k = 0; k < 20; k++) {
          const fields = [{ id: 8, len: 4 }, { id: 12, len: 4 }, { id: 2, len: 4 }, { id: 1, len: 4 }];
          for (let f = 0; f < 1 + (next % 30); f++) fields.push({ id: 100 + ((next + f) % 120), len: 1 + (f % 8) });
          sets.push({ id: 0, body: v9Template(next, fields) });
          next = next >= 65535 ? 256 : next + 1;
        }
        s.send(v9(i, sets), this.port, '127.0.0.1');
        this.sent++;
      }
    }, 1000);
  }
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    for (const s of this.socks.splice(0)) s.close();
  }
}

class ApiClients {
  requests = 0;
  errors = 0;
  timeouts = 0;
  /** Latency of every request, ms (bounded: clients x minutes x 60 / interval). */
  readonly latencies: number[] = [];
  private stopped = false;
  private readonly bw: Breakwater;
  constructor(bw: Breakwater) {
    this.bw = bw;
  }
  run(n: number): void {
    const paths = ['/api/v1/status', '/api/v1/attacks', '/api/v1/bans', '/api/v1/hosts?limit=50', '/metrics'];
    for (let c = 0; c < n; c++) {
      const loop = async () => {
        for (let i = 0; !this.stopped; i++) {
          const t = performance.now();
          try {
            const r = await this.bw.api('GET', paths[(c + i) % paths.length]);
            if (r.status !== 200) this.errors++;
          } catch (e) {
            this.errors++;
            if ((e as Error).name === 'TimeoutError') this.timeouts++;
          }
          if (this.latencies.length < 2_000_000) this.latencies.push(performance.now() - t);
          this.requests++;
          await sleep(apiIntervalMs);
        }
      };
      void loop();
    }
  }
  stop(): void {
    this.stopped = true;
  }
}

/** A BGP peer that completes OPEN, then never reads again while sending KEEPALIVEs and ROUTE-REFRESHes. */
class SlowReader {
  private server?: Server;
  private timers: NodeJS.Timeout[] = [];
  sessions = 0;
  refreshes = 0;
  /** Connections Breakwater closed (the scripted peer never closes one). */
  closedByBreakwater = 0;
  private stopping = false;
  readonly address: string;
  readonly port: number;
  private readonly asn: number;
  constructor(address: string, port: number, asn: number) {
    this.address = address;
    this.port = port;
    this.asn = asn;
  }
  private msg(type: number, body: Buffer): Buffer {
    const h = Buffer.alloc(19, 0xff);
    h.writeUInt16BE(19 + body.length, 16);
    h[18] = type;
    return Buffer.concat([h, body]);
  }
  private open(): Buffer {
    // Capabilities: MP IPv4 unicast (1), route refresh (2), 4-octet AS (65).
    const caps = Buffer.from([1, 4, 0, 1, 0, 1, 2, 0, 65, 4, 0, 0, 0, 0]);
    caps.writeUInt32BE(this.asn, 10);
    const param = Buffer.concat([Buffer.from([2, caps.length]), caps]);
    const body = Buffer.alloc(10);
    body[0] = 4;
    body.writeUInt16BE(this.asn, 1);
    body.writeUInt16BE(HOLD, 3);
    Buffer.from(this.address.split('.').map(Number)).copy(body, 5);
    body[9] = param.length;
    return this.msg(1, Buffer.concat([body, param]));
  }
  async start(): Promise<void> {
    this.server = createServer((sock: TcpSocket) => {
      this.sessions++;
      sock.on('error', () => undefined);
      sock.write(this.open());
      sock.write(this.msg(4, Buffer.alloc(0)));
      // Read until the peer's OPEN and KEEPALIVE arrived, then stop reading for good.
      let got = 0;
      sock.on('data', (b) => {
        got += b.length;
        if (got >= 19 + 10 + 19) sock.pause();
      });
      const ka = setInterval(() => sock.writable && sock.write(this.msg(4, Buffer.alloc(0))), 3000);
      const rr = setInterval(() => {
        if (!sock.writable) return;
        sock.write(this.msg(5, Buffer.from([0, 1, 0, 1])));
        this.refreshes++;
      }, 10);
      this.timers.push(ka, rr);
      sock.on('close', () => {
        clearInterval(ka);
        clearInterval(rr);
        if (!this.stopping) this.closedByBreakwater++;
      });
    });
    await new Promise<void>((r) => this.server!.listen(this.port, this.address, r));
  }
  stop(): void {
    this.stopping = true;
    for (const t of this.timers) clearInterval(t);
    this.server?.close();
  }
}

/** /metrics with its own timeout, retried: a busy main thread must not turn the report into zeros. */
async function scrape(bw: Breakwater, tries = 5, timeoutMs = 30_000): Promise<string> {
  for (let k = 0; k < tries; k++) {
    try {
      const res = await fetch(`http://127.0.0.1:${bw.apiPort}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
      if (res.status === 200) return await res.text();
    } catch {
      // retried below
    }
    await sleep(1000);
  }
  return '';
}

function sumMetric(m: string, name: string, filter = ''): number {
  let n = 0;
  for (const line of m.split('\n')) {
    if (!line.startsWith(name) || (line[name.length] !== ' ' && line[name.length] !== '{')) continue;
    if (filter && !line.includes(filter)) continue;
    const v = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(v)) n += v;
  }
  return n;
}

/**
 * The lossless rate of this machine now: background sFlow offered in steps of
 * 4 s; a step is lossless when the daemon counted at least 99 % of what was
 * sent. Stops at the first lossy step, or when the sender itself cannot reach
 * the step (then the rate is bounded by the sender, and said so).
 */
async function calibrate(bw: Breakwater): Promise<{ lossless_pps: number; bound: 'collector' | 'sender' | 'max_step'; steps: Array<{ offered: number; sent_per_s: number; received_per_s: number }> }> {
  const steps: Array<{ offered: number; sent_per_s: number; received_per_s: number }> = [];
  let lossless = 0;
  let bound: 'collector' | 'sender' | 'max_step' = 'max_step';
  for (const offered of [10_000, 20_000, 40_000, 60_000, 80_000, 100_000, 130_000, 160_000, 200_000]) {
    const before = sumMetric(await scrape(bw), 'breakwater_flow_datagrams_total', 'exporter="127.0.0.1"');
    const l = new Load(bw.sflowPort, offered);
    const t0 = Date.now();
    l.run();
    await sleep(4000);
    l.stop();
    const secs = (Date.now() - t0) / 1000;
    await sleep(1500); // let the queues empty
    const after = sumMetric(await scrape(bw), 'breakwater_flow_datagrams_total', 'exporter="127.0.0.1"');
    const step = { offered, sent_per_s: Math.round(l.sent / secs), received_per_s: Math.round((after - before) / secs) };
    steps.push(step);
    log(`calibration: offered ${offered}/s, sent ${step.sent_per_s}/s, received ${step.received_per_s}/s`);
    if (l.sent < 0.9 * offered * secs) {
      bound = 'sender';
      if (after - before >= 0.99 * l.sent) lossless = step.sent_per_s;
      break;
    }
    if (after - before < 0.99 * l.sent) {
      bound = 'collector';
      break;
    }
    lossless = offered;
  }
  return { lossless_pps: lossless, bound, steps };
}

interface ThreadMb {
  used_mb: number;
  total_mb: number;
  external_mb: number;
}

/** Per thread, from breakwater_thread_heap_bytes: V8 heap used (live) and total (reserved), and external buffers, MB. */
function threadHeapsMb(m: string): Record<string, ThreadMb> {
  const out: Record<string, ThreadMb> = {};
  for (const x of m.matchAll(/^breakwater_thread_heap_bytes\{thread="([^"]+)",kind="(used|total|external)"\} ([0-9.e+]+)$/gm)) {
    const t = (out[x[1]] ??= { used_mb: 0, total_mb: 0, external_mb: 0 });
    t[`${x[2] as 'used' | 'total' | 'external'}_mb`] = Number((Number(x[3]) / 1048576).toFixed(1));
  }
  return out;
}

/**
 * Counts `bgp peer state` transitions out of Established of one neighbor, by
 * reason, from the daemon's output as it streams (the output the helper keeps
 * is only its last 100 kB, too short for a whole soak).
 */
function countResets(stream: NodeJS.ReadableStream, neighbor: string): Map<string, number> {
  const byReason = new Map<string, number>();
  let rest = '';
  stream.on('data', (b: Buffer) => {
    const lines = (rest + b.toString()).split('\n');
    rest = lines.pop() ?? '';
    if (rest.length > 1 << 20) rest = '';
    for (const l of lines) {
      if (!l.includes('bgp peer state') || !l.includes(neighbor)) continue;
      try {
        const j = JSON.parse(l);
        if (j.neighbor !== neighbor || j.from !== 'Established') continue;
        const reason = String(j.reason ?? '').replace(/\d+/g, 'N');
        byReason.set(reason, (byReason.get(reason) ?? 0) + 1);
      } catch {
        // not a JSON line
      }
    }
  });
  return byReason;
}

function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

function rssMb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

/**
 * Where the daemon's resident memory lives, from /proc/PID/smaps, in MB:
 * brk: glibc's main arena ([heap]); arenas: glibc's per-thread arenas
 * (anonymous mappings in 64 MiB-aligned reservations); anon: every other
 * anonymous mapping (V8 pages, large allocations, buffer backing stores);
 * file: mapped files (the binary, libraries). Tells a malloc heap that grows
 * apart from V8's pages.
 */
function nativeMb(pid: number): { brk: number; arenas: number; anon: number; file: number } {
  const out = { brk: 0, arenas: 0, anon: 0, file: 0 };
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  } catch {
    return out;
  }
  const ARENA = 64 * 1024 * 1024;
  let kind: keyof typeof out = 'anon';
  let arenaEnd = 0;
  for (const line of text.split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (head) {
      const start = parseInt(head[1], 16);
      const name = head[3];
      // a thread arena: its first mapping starts on a 64 MiB boundary; the rest of the reservation follows it
      if (name === '' && start % ARENA === 0 && start >= arenaEnd) arenaEnd = start + ARENA;
      kind = name === '[heap]' ? 'brk' : name === '' ? (start < arenaEnd ? 'arenas' : 'anon') : name.startsWith('[') ? 'anon' : 'file';
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) out[kind] += Number(rss[1]) / 1024;
  }
  for (const k of Object.keys(out) as Array<keyof typeof out>) out[k] = Number(out[k].toFixed(1));
  return out;
}

/** Least-squares slope of (t seconds, mb) in MB/h. */
function slopeMbPerHour(points: Array<[number, number]>): number {
  const n = points.length;
  if (n < 3) return NaN;
  const mt = points.reduce((a, p) => a + p[0], 0) / n;
  const mm = points.reduce((a, p) => a + p[1], 0) / n;
  let num = 0, den = 0;
  for (const [t, m] of points) {
    num += (t - mt) * (m - mm);
    den += (t - mt) ** 2;
  }
  return (num / den) * 3600;
}

/**
 * Slope (MB/h) of (t seconds, mb) and its standard error: whether a slope is
 * within the noise of 0 (the main thread's collections swing RSS by tens of MB).
 */
function slopeWithError(points: Array<[number, number]>): { mb_per_h: number; standard_error: number } {
  const n = points.length;
  const b = slopeMbPerHour(points) / 3600;
  if (n < 3 || !Number.isFinite(b)) return { mb_per_h: NaN, standard_error: NaN };
  const mt = points.reduce((a, p) => a + p[0], 0) / n;
  const mm = points.reduce((a, p) => a + p[1], 0) / n;
  let res = 0, den = 0;
  for (const [t, m] of points) {
    res += (m - (mm + b * (t - mt))) ** 2;
    den += (t - mt) ** 2;
  }
  return { mb_per_h: Number((b * 3600).toFixed(2)), standard_error: Number((Math.sqrt(res / (n - 2) / den) * 3600).toFixed(2)) };
}

/** Per thread, slopes (MB/h) of heap used and total over the given minutes. */
function threadSlopes(ps: Array<{ t: number; threads: Record<string, ThreadMb> }>): Record<string, { used: number; total: number }> {
  const names = new Set(ps.flatMap((p) => Object.keys(p.threads)));
  const out: Record<string, { used: number; total: number }> = {};
  for (const th of names) {
    const pts = ps.filter((p) => p.threads[th]);
    const sl = (k: 'used_mb' | 'total_mb') => Number(slopeMbPerHour(pts.map((p) => [p.t, p.threads[th][k]] as [number, number])).toFixed(2));
    out[th] = { used: sl('used_mb'), total: sl('total_mb') };
  }
  return out;
}

async function main(): Promise<void> {
  const dir = tempDir('bw-soak-');
  const L = loopbackBlock();
  const birdPort = freePort();
  const slowPort = freePort();
  const bird = new Bird(birdConfig({ routerId: L(2), localAddress: L(2), localPort: birdPort, localAsn: 65001, peerAddress: L(1), peerPort: freePort(), peerAsn: 65000, holdTime: HOLD, passive: true, gracefulRestart: false }));
  const slow = new SlowReader(L(3), slowPort, 65002);
  const cfg = {
    dry_run: false,
    log: { level: 'info' },
    listen: { netflow: `127.0.0.1:${freePort()}`, sflow: `127.0.0.1:${freePort()}`, workers: 0 },
    networks: ['198.51.100.0/24', '203.0.113.0/24', '2001:db8::/32'],
    protected_whitelist: ['198.51.100.1/32'],
    detection: { window_seconds: 1, tick_ms: 100, attack_hysteresis_seconds: 10 },
    thresholds: { pps: 5_000 },
    ban: { ttl_seconds: 120, unban_hysteresis_seconds: 10, max_bans_per_window: 1000, max_banned_fraction: 0.5, max_active_bans: 500 },
    bgp: {
      local_asn: 65000,
      router_id: L(1),
      next_hop: '192.0.2.1',
      connect_retry_seconds: 1,
      neighbors: [
        { address: L(2), port: birdPort, remote_asn: 65001, local_address: L(1), hold_time: HOLD },
        { address: L(3), port: slowPort, remote_asn: 65002, local_address: L(1), hold_time: HOLD },
      ],
    },
    api: { listen: `127.0.0.1:${freePort()}` },
    storage: { data_dir: join(dir, 'data') },
  };
  const file = join(dir, 'breakwater.yaml');
  writeYaml(file, cfg);
  const netflowPort = Number(cfg.listen.netflow.split(':')[1]);
  let bw: Breakwater | undefined;
  let dump: ReturnType<typeof spawn> | undefined;
  const load: { l?: Load; f?: TemplateFlood; a?: ApiClients } = {};
  const report: Record<string, unknown> = { minutes, pps_offered: pps, started: new Date().toISOString(), cores: availableParallelism(), loadavg_start: loadavg().map((x) => Number(x.toFixed(2))) };
  let crashes = 0;
  try {
    await bird.start();
    await slow.start();
    const inspectPort = freePort();
    if (arenaMax !== undefined) process.env.MALLOC_ARENA_MAX = arenaMax;
    try {
      bw = await startBreakwater(file, cfg, { nodeArgs: snapDir ? [...nodeArgs, `--inspect=127.0.0.1:${inspectPort}`] : nodeArgs });
    } finally {
      delete process.env.MALLOC_ARENA_MAX;
    }
    report.malloc_arena_max = arenaMax ?? null;
    if (snapDir) mkdirSync(snapDir, { recursive: true });
    const slowResets = countResets(bw.d.proc.stdout!, L(3));
    await waitFor('BIRD Established', async () => (await bird.state()) === 'Established', 30_000, 200);
    // 128 manual bans (203.0.113.100-227, away from the replayed victim): every
    // ROUTE-REFRESH of the slow peer re-sends them, so its socket fills and the
    // send hold timer has something to measure (Cease / Out of Resources).
    let banned = 0;
    for (let i = 0; i < 128; i++) {
      const r = await bw.api('POST', '/api/v1/ban', { ip: `203.0.113.${100 + i}`, ttl_seconds: 7200 }).catch(() => undefined);
      if (r?.status === 201) banned++;
    }
    report.manual_bans = banned;
    const pcap = join(dir, 'ka.pcap');
    dump = spawn('tcpdump', ['-i', 'lo', '-U', '-s', '128', '-w', pcap, `tcp and src host ${L(1)} and dst port ${birdPort}`], { stdio: 'ignore' });
    await sleep(1000);
    if (ppsAuto) {
      const cal = await calibrate(bw);
      report.calibration = cal;
      pps = Math.max(1000, Math.round(0.8 * cal.lossless_pps));
      report.pps_offered = pps;
      log(`lossless ${cal.lossless_pps}/s (${cal.bound}-bound): running at ${pps}/s`);
      await sleep(5000);
    }
    load.l = new Load(bw.sflowPort);
    load.l.run();
    load.f = new TemplateFlood(netflowPort);
    await load.f.run();
    load.a = new ApiClients(bw);
    load.a.run(apiClients);
    log(`running ${minutes} min: sFlow ${pps}/s (10 % mutated), template flood from 128 exporters, ${apiClients} API clients, BIRD flapping every minute, one peer not reading`);

    const t0 = Date.now();
    const end = t0 + minutes * 60_000;
    const rss: Array<[number, number]> = [];
    const flaps: Array<[number, number]> = [];
    const replays: Array<{ at: string; detected: boolean; vector?: string; peak_pps?: number }> = [];
    // Per component, once a minute: main-thread V8 heap, external/array buffers, estimated flow state, attacks in progress.
    const parts: Array<{ t: number; heap_mb: number; external_mb: number; flow_state_mb: number; active_attacks: number; rss_mb: number; threads: Record<string, ThreadMb>; outside_v8_mb: number; native_mb: ReturnType<typeof nativeMb> }> = [];
    // Heap snapshots of the main and BGP threads after minute 1 and in the last minute (--heap-snapshots).
    const snapAt = snapDir && minutes >= 3 ? [t0 + 60_000, end - 60_000] : [];
    const snaps: Array<Record<string, string>> = [];
    let nextParts = t0;
    let nextFlap = t0 + 60_000;
    let nextReplay = t0 + 30_000;
    let replay: Promise<void> | undefined;
    while (Date.now() < end) {
      if (bw.d.proc.exitCode !== null || bw.d.proc.signalCode !== null) {
        crashes++;
        log(`daemon exited (${bw.d.proc.exitCode ?? bw.d.proc.signalCode}): ${bw.d.output().slice(-2000)}`);
        break;
      }
      const now = Date.now();
      rss.push([(now - t0) / 1000, rssMb(bw.d.pid)]);
      if (now >= nextParts) {
        nextParts += 60_000;
        const mm = await scrape(bw, 1, 20_000);
        if (mm) {
          const th = threadHeapsMb(mm);
          const mb = (x: number) => Number((x / 1048576).toFixed(1));
          parts.push({ t: Math.round((now - t0) / 1000), heap_mb: mb(sumMetric(mm, 'nodejs_heap_size_used_bytes')), external_mb: mb(sumMetric(mm, 'nodejs_external_memory_bytes')), flow_state_mb: mb(sumMetric(mm, 'breakwater_flow_state_bytes')), active_attacks: sumMetric(mm, 'breakwater_engine_active_attacks'), rss_mb: Number(rssMb(bw.d.pid).toFixed(1)), threads: th, outside_v8_mb: Number((rssMb(bw.d.pid) - Object.values(th).reduce((a, x) => a + x.total_mb + x.external_mb, 0)).toFixed(1)), native_mb: nativeMb(bw.d.pid) });
        }
      }
      if (snapDir && snapAt.length > 0 && now >= snapAt[0]) {
        snapAt.shift();
        const ins = await Inspector.connect(inspectPort);
        const files: Record<string, string> = {};
        try {
          for (const th of ['main', 'bgp']) {
            const session = ins.session(th);
            if (session === undefined) continue;
            const f = join(snapDir, `${th}-${Math.round((now - t0) / 60_000)}min.heapsnapshot`);
            const ts = Date.now();
            await ins.snapshot(session, f);
            files[th] = f;
            log(`heap snapshot of ${th} in ${((Date.now() - ts) / 1000).toFixed(1)} s: ${f}`);
          }
        } finally {
          ins.close();
        }
        snaps.push(files);
      }
      if (now >= nextFlap) {
        nextFlap += 60_000;
        const a = Date.now() / 1000;
        await bird.birdc('disable bw');
        await sleep(3000);
        await bird.birdc('enable bw');
        flaps.push([a, Date.now() / 1000 + 10]);
      }
      if (now >= nextReplay && !replay) {
        nextReplay += 300_000;
        const at = new Date().toISOString();
        const startedMs = Date.now();
        replay = (async () => {
          const rp = spawn(process.execPath, [join(root, 'src/main.ts'), 'replay', ATTACK_PCAP, '--to', `127.0.0.1:${bw!.sflowPort}`, '--speed', '1'], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 120_000 });
          let err = '';
          rp.stderr.on('data', (b) => (err += b));
          const code = await new Promise((r) => rp.once('exit', r));
          if (code !== 0) log(`replay failed (${code}): ${err}`);
          let attacks: any;
          for (let k = 0; k < 5 && attacks === undefined; k++) {
            attacks = await fetch(`http://127.0.0.1:${bw!.apiPort}/api/v1/attacks?limit=1000`, { signal: AbortSignal.timeout(30_000) })
              .then((r) => (r.status === 200 ? r.json() : undefined))
              .catch(() => undefined);
            if (attacks === undefined) await sleep(1000);
          }
          if (attacks === undefined) log('attack list unreadable 5 times in a row');
          const list: any[] = Array.isArray(attacks) ? attacks : (attacks?.attacks ?? attacks?.items ?? []);
          const hit = list.find((x) => (x.target ?? x.ip) === VICTIM && (typeof x.start === 'number' ? x.start : Date.parse(x.start)) >= startedMs - 1000);
          replays.push({ at, detected: !!hit, vector: hit?.vector, peak_pps: hit?.peak_pps ?? hit?.peaks?.pps });
          log(`replayed NTP amplification: ${hit ? `detected as ${hit.vector}` : 'NOT detected'}`);
        })().finally(() => {
          replay = undefined;
        });
      }
      await sleep(10_000);
    }
    await replay;
    load.l.stop();
    load.f.stop();
    load.a.stop();
    await sleep(2000);
    const m = await scrape(bw);
    if (!m) log('final metrics scrape failed 5 times: decoded/dropped figures are missing (null)');
    const sum = (re: RegExp) => (m ? [...m.matchAll(re)].reduce((a, x) => a + Number(x[1]), 0) : null);
    const secondParts = parts.slice(Math.floor(parts.length / 2));
    const partSlope = (k: 'heap_mb' | 'external_mb' | 'flow_state_mb' | 'outside_v8_mb') => Number(slopeMbPerHour(secondParts.map((p) => [p.t, p[k]] as [number, number])).toFixed(2));
    dump.kill('SIGINT');
    await new Promise((r) => dump!.once('exit', r));
    dump = undefined;
    const txt = spawnSync('tcpdump', ['-r', pcap, '-n', '-tt'], { encoding: 'utf8', maxBuffer: 256 << 20 }).stdout ?? '';
    const kas = txt.split('\n').filter((l) => / length 19$/.test(l)).map((l) => Number(l.split(' ')[0]));
    let late = 0;
    for (let i = 1; i < kas.length; i++) {
      const [a, b] = [kas[i - 1], kas[i]];
      if (flaps.some(([f0, f1]) => b >= f0 && a <= f1)) continue;
      late = Math.max(late, b - a - HOLD / 3);
    }
    const second = rss.slice(Math.floor(rss.length / 2));
    const holdExpiries = (bird.output().match(/Hold timer expired/g) ?? []).length;
    Object.assign(report, {
      datagrams_sent: load.l.sent,
      datagrams_mutated: load.l.mutated,
      template_datagrams_sent: load.f.sent,
      api_requests: load.a.requests,
      api_errors: load.a.errors,
      api_timeouts: load.a.timeouts,
      api_error_rate: Number((load.a.errors / Math.max(1, load.a.requests)).toFixed(4)),
      api_latency_ms: { p50: Math.round(percentile(load.a.latencies, 50)), p99: Math.round(percentile(load.a.latencies, 99)), max: Math.round(Math.max(0, ...load.a.latencies.slice(0, 100_000))) },
      flow_datagrams_decoded: sum(/^breakwater_flow_datagrams_total\{[^}]*\} ([0-9.e+]+)/gm),
      flow_dropped: sum(/^breakwater_flow_dropped_total\{[^}]*\} ([0-9.e+]+)/gm),
      rss_start_mb: Number(rss[0]?.[1].toFixed(1)),
      rss_peak_mb: Number(Math.max(...rss.map((p) => p[1])).toFixed(1)),
      rss_end_mb: Number(rss.at(-1)?.[1].toFixed(1)),
      rss_slope_mb_per_h: Number(slopeMbPerHour(second).toFixed(2)),
      // the same from the once-a-minute figures, with its standard error
      rss_slope_per_minute: slopeWithError(secondParts.map((p) => [p.t, p.rss_mb] as [number, number])),
      keepalives_to_bird: kas.length,
      keepalive_late_max_s: Number(Math.max(0, late).toFixed(3)),
      bird_hold_timer_expiries: holdExpiries,
      bird_flaps_induced: flaps.length,
      slow_peer_sessions: slow.sessions,
      slow_peer_closed_by_breakwater: slow.closedByBreakwater,
      slow_peer_out_of_resources_resets: [...slowResets].reduce((a, [r, n]) => a + (/does not read/.test(r) ? n : 0), 0),
      slow_peer_resets_by_reason: Object.fromEntries(slowResets),
      slow_peer_route_refreshes: slow.refreshes,
      bgp_flaps_metric_slow_peer: m ? metricValue(m, 'breakwater_bgp_flaps_total', `neighbor="${L(3)}"`) : null,
      memory_by_minute: parts,
      memory_slope_mb_per_h: { main_heap: partSlope('heap_mb'), external: partSlope('external_mb'), flow_state_estimate: partSlope('flow_state_mb'), outside_v8: partSlope('outside_v8_mb') },
      thread_heap_slope_mb_per_h: threadSlopes(secondParts),
      heap_growth: snaps.length === 2 ? Object.fromEntries(Object.keys(snaps[1]).filter((th) => snaps[0][th]).map((th) => [th, growth(summarize(snaps[0][th]), summarize(snaps[1][th]))])) : null,
      loadavg_end: loadavg().map((x) => Number(x.toFixed(2))),
      crashes,
      replays,
    });
  } finally {
    load.l?.stop();
    load.f?.stop();
    load.a?.stop();
    dump?.kill('SIGKILL');
    slow.stop();
    await bw?.stop().catch(() => undefined);
    await bird.dispose();
    removeDir(dir);
  }
  if (flags.flags.has('json')) console.log(JSON.stringify(report, null, 2));
  else for (const [k, v] of Object.entries(report)) console.log(`${k.padEnd(28)} ${typeof v === 'object' ? JSON.stringify(v) : v}`);
  const replays = report.replays as Array<{ detected: boolean; vector?: string }> | undefined;
  const ok = crashes === 0 && (replays ?? []).every((r) => r.detected && r.vector === 'ntp_amplification');
  process.exit(ok ? 0 : 1);
}

await main();
