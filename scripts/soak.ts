/**
 * `npm run soak`: Breakwater under everything hostile at once, for a bounded
 * time, on loopback only. Not part of CI (it runs 30 minutes by default).
 *
 *   npm run soak -- [--minutes 30] [--pps 80000] [--json]
 *
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
 * KEEPALIVEs to BIRD later than hold/3 outside the flaps (tcpdump), hold-timer
 * expiries, daemon crashes, and the replayed attacks detected with their vector.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket as TcpSocket } from 'node:net';
import { join, resolve } from 'node:path';
import { Bird, birdAvailable, birdConfig } from '../test/helpers/bird.ts';
import { loopbackBlock, removeDir, sleep, tempDir, waitFor } from '../test/helpers/netns.ts';
import { freePort, metricValue, startBreakwater, writeYaml, type Breakwater } from '../test/e2e/helpers.ts';
import { datagram, eth, flowSample, ipv4, udp } from '../test/fixtures/sflow/build.ts';
import { v9, v9Template } from '../test/fixtures/netflow/build.ts';
import { parseFlags } from '../src/cli/flags.ts';

const root = resolve(import.meta.dirname, '..');
const HOLD = 9;
const ATTACK_PCAP = join(root, 'pcaps/pmacct-sflow5-sampled-ntp-amp.pcap');
const VICTIM = '203.0.113.20';

const flags = parseFlags(process.argv.slice(2), { string: ['minutes', 'pps', 'api-clients', 'api-interval-ms'], boolean: ['json'] });
const apiClients = Number(flags.values['api-clients'] ?? 50);
const apiIntervalMs = Number(flags.values['api-interval-ms'] ?? 1000);
const minutes = Number(flags.values.minutes ?? 30);
const pps = Number(flags.values.pps ?? 80_000);
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
  constructor(port: number) {
    this.port = port;
  }
  run(): void {
    const dgs = background();
    const perTick = Math.max(1, Math.round(pps / 100));
    const t0 = Date.now();
    const tick = () => {
      if (this.stopped) return;
      const due = Math.floor(((Date.now() - t0) / 1000) * pps);
      let burst = 0;
      while (this.sent < due && burst < perTick * 4) {
        let dg = dgs[this.sent & 255];
        if (this.sent % 10 === 9) {
          dg = mutate(dg);
          this.mutated++;
        }
        this.sock.send(dg, this.port, '127.0.0.1');
        this.sent++;
        burst++;
      }
      setTimeout(tick, 10);
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
          try {
            const r = await this.bw.api('GET', paths[(c + i) % paths.length]);
            if (r.status !== 200) this.errors++;
          } catch {
            this.errors++;
          }
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
      });
    });
    await new Promise<void>((r) => this.server!.listen(this.port, this.address, r));
  }
  stop(): void {
    for (const t of this.timers) clearInterval(t);
    this.server?.close();
  }
}

function rssMb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
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
    ban: { ttl_seconds: 120, unban_hysteresis_seconds: 10, max_bans_per_window: 1000 },
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
  const report: Record<string, unknown> = { minutes, pps_offered: pps };
  let crashes = 0;
  try {
    await bird.start();
    await slow.start();
    bw = await startBreakwater(file, cfg);
    await waitFor('BIRD Established', async () => (await bird.state()) === 'Established', 30_000, 200);
    const pcap = join(dir, 'ka.pcap');
    dump = spawn('tcpdump', ['-i', 'lo', '-U', '-s', '128', '-w', pcap, `tcp and src host ${L(1)} and dst port ${birdPort}`], { stdio: 'ignore' });
    await sleep(1000);
    load.l = new Load(bw.sflowPort);
    load.l.run();
    load.f = new TemplateFlood(netflowPort);
    await load.f.run();
    load.a = new ApiClients(bw);
    load.a.run(apiClients);
    log(`running ${minutes} min: sFlow ${pps}/s (10 % mutated), template flood from 128 exporters, 50 API clients, BIRD flapping every minute, one peer not reading`);

    const t0 = Date.now();
    const end = t0 + minutes * 60_000;
    const rss: Array<[number, number]> = [];
    const flaps: Array<[number, number]> = [];
    const replays: Array<{ at: string; detected: boolean; vector?: string; peak_pps?: number }> = [];
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
          for (let k = 0; k < 5 && attacks === undefined; k++) attacks = (await bw!.api('GET', '/api/v1/attacks?limit=1000').catch(() => undefined))?.json;
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
    const m = await bw.metrics().catch(() => '');
    const sum = (re: RegExp) => [...m.matchAll(re)].reduce((a, x) => a + Number(x[1]), 0);
    load.l.stop();
    load.f.stop();
    load.a.stop();
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
      flow_datagrams_decoded: sum(/^breakwater_flow_datagrams_total\{[^}]*\} ([0-9.e+]+)/gm),
      flow_dropped: sum(/^breakwater_flow_dropped_total\{[^}]*\} ([0-9.e+]+)/gm),
      rss_start_mb: Number(rss[0]?.[1].toFixed(1)),
      rss_peak_mb: Number(Math.max(...rss.map((p) => p[1])).toFixed(1)),
      rss_end_mb: Number(rss.at(-1)?.[1].toFixed(1)),
      rss_slope_mb_per_h: Number(slopeMbPerHour(second).toFixed(2)),
      keepalives_to_bird: kas.length,
      keepalive_late_max_s: Number(Math.max(0, late).toFixed(3)),
      bird_hold_timer_expiries: holdExpiries,
      bird_flaps_induced: flaps.length,
      slow_peer_sessions: slow.sessions,
      slow_peer_route_refreshes: slow.refreshes,
      bgp_flaps_metric_slow_peer: metricValue(m, 'breakwater_bgp_flaps_total', `neighbor="${L(3)}"`),
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
