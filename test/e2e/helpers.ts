/**
 * End-to-end helpers: Breakwater as a real child process (`node src/main.ts
 * -config FILE`), its REST API, and an sFlow v5 attack sender over UDP built
 * from the hand-made sFlow fixture builders; and the one setup of the tests
 * that run it against BIRD (withBirdAndBreakwater).
 */
import { spawn } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { loopbackBlock, randomPort, removeDir, startDaemon, stopDaemon, tempDir, waitFor, type Daemon } from '../helpers/netns.ts';
import { Bird, birdConfig, type BirdPeerOptions } from '../helpers/bird.ts';
import { datagram, eth, flowSample, ipv4, tcp, udp } from '../fixtures/sflow/build.ts';

export const repoRoot = resolve(import.meta.dirname, '../..');

/** `breakwater replay capture --to 127.0.0.1:port --speed 0` as a child process; resolves when it exits. */
export function replayCapture(capture: string, port: number): Promise<unknown> {
  const p = spawn(process.execPath, [join(repoRoot, 'src/main.ts'), 'replay', capture, '--to', `127.0.0.1:${port}`, '--speed', '0'], { stdio: 'ignore' });
  return new Promise((r) => p.on('exit', r));
}

export interface Breakwater {
  d: Daemon;
  configFile: string;
  apiPort: number;
  sflowPort: number;
  dataDir: string;
  api(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; json: any; text: string }>;
  metrics(): Promise<string>;
  logLines(): any[];
  signal(sig: NodeJS.Signals): void;
  stop(): Promise<number | null>;
  kill9(): Promise<void>;
}

export function writeYaml(file: string, cfg: unknown): void {
  writeFileSync(file, stringify(cfg));
}

/** Starts `node src/main.ts -config file` and waits for /healthz. */
export async function startBreakwater(configFile: string, cfg: any, opts: { waitReady?: boolean; nodeArgs?: string[] } = {}): Promise<Breakwater> {
  const apiPort = Number(String(cfg.api.listen).split(':').pop());
  const sflowPort = Number(String(cfg.listen.sflow).split(':').pop());
  const d = startDaemon(process.execPath, [...(opts.nodeArgs ?? []), join(repoRoot, 'src/main.ts'), '-config', configFile, '-log-format', 'json'], { cwd: repoRoot });
  const base = `http://127.0.0.1:${apiPort}`;
  const bw: Breakwater = {
    d,
    configFile,
    apiPort,
    sflowPort,
    dataDir: cfg.storage.data_dir,
    async api(method, path, body, headers = {}) {
      const res = await fetch(base + path, {
        method,
        headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(10_000),
      });
      const text = await res.text();
      let json: any;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      return { status: res.status, json, text };
    },
    async metrics() {
      return (await bw.api('GET', '/metrics')).text;
    },
    logLines() {
      return d
        .output()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => {
          try {
            return JSON.parse(l);
          } catch {
            return undefined;
          }
        })
        .filter(Boolean);
    },
    signal(sig) {
      process.kill(d.pid, sig);
    },
    async stop() {
      await stopDaemon(d, 10_000);
      return d.proc.exitCode;
    },
    async kill9() {
      try {
        process.kill(d.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
      await d.exited;
    },
  };
  if (opts.waitReady !== false) {
    try {
      await waitFor(
        'Breakwater /healthz',
        async () => {
          if (d.proc.exitCode !== null) throw new Error(`breakwater exited ${d.proc.exitCode}: ${d.output().slice(-3000)}`);
          return (await bw.api('GET', '/healthz')).status === 200;
        },
        30_000,
        200,
      );
    } catch (e) {
      // The caller never gets `bw` to stop: a daemon left running would keep the test process alive.
      await bw.kill9();
      throw e;
    }
  }
  return bw;
}

export function metricValue(text: string, name: string, labels = ''): number {
  const esc = (name + (labels ? `{${labels}}` : '')).replace(/[{}"=,.]/g, (c) => `\\${c}`);
  const m = new RegExp(`^${esc} ([0-9.e+-]+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

export interface AttackSpec {
  /** Victim address (inside networks). */
  victim: string;
  /** Sampling-corrected packets per second the engine should see. */
  pps: number;
  /** sFlow sampling rate written in the samples. */
  samplingRate: number;
  /** udp source port (NTP 123 by default) or 'syn'. */
  kind?: 'ntp' | 'syn';
  frameLength?: number;
  agent?: string;
  /** Samples per datagram. */
  perDatagram?: number;
}

/** Builds one sFlow datagram with `n` flow samples of the attack. */
export function attackDatagram(s: AttackSpec, n: number, seq: number, srcBase = 1): Buffer {
  const samples = [];
  for (let i = 0; i < n; i++) {
    const src = `203.0.113.${((srcBase + i) % 250) + 1}`;
    const l4 = s.kind === 'syn' ? tcp(1024 + (i % 60000), 80, 0x02) : udp(123, 40000 + (i % 20000), Buffer.alloc(8));
    const pkt = Buffer.concat([eth(0x0800), ipv4(src, s.victim, s.kind === 'syn' ? 6 : 17, l4)]);
    samples.push(flowSample({ rate: s.samplingRate, input: [0, 1], output: [0, 2], records: [{ kind: 'raw', frameLength: s.frameLength ?? (s.kind === 'syn' ? 64 : 468), header: pkt }] }, seq * 1000 + i));
  }
  return datagram(s.agent ?? '127.0.0.1', 0, samples, seq);
}

/** Sends an sFlow attack at a steady rate for durationMs; resolves with the time of the first datagram. */
export class SflowSender {
  private readonly sock: Socket;
  private timer?: NodeJS.Timeout;
  private done?: () => void;
  sent = 0;
  firstAt = 0;

  constructor() {
    this.sock = createSocket('udp4');
  }

  start(port: number, s: AttackSpec, durationMs: number): Promise<number> {
    const samplesPerSec = s.pps / s.samplingRate;
    const perDatagram = s.perDatagram ?? 5;
    const everyMs = 20;
    let carry = 0;
    let seq = 1;
    const end = Date.now() + durationMs;
    return new Promise((resolve) => {
      this.done = () => resolve(this.firstAt);
      const send = () => {
        carry += (samplesPerSec * everyMs) / 1000;
        while (carry >= 1) {
          const n = Math.min(perDatagram, Math.floor(carry));
          carry -= n;
          const dg = attackDatagram(s, n, seq++, seq);
          this.sock.send(dg, port, '127.0.0.1');
          this.sent++;
          if (!this.firstAt) this.firstAt = performance.now();
        }
        if (Date.now() >= end) this.stop();
      };
      send();
      this.timer = setInterval(send, everyMs);
    });
  }

  /** Stops sending; the promise of start() resolves. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    const d = this.done;
    this.done = undefined;
    d?.();
  }

  close(): void {
    this.stop();
    this.sock.close();
  }
}

/** A port for a test listener: see randomPort. */
export const freePort = randomPort;

/** One BIRD neighbor of withBirdAndBreakwater: it listens (passive) at L(host) with its own AS. */
export interface BirdPeer {
  host: number;
  asn: number;
  families?: BirdPeerOptions['families'];
}

export interface BirdSetup {
  /** Addresses of the loopback block: L(1) is Breakwater, the BIRDs are at their hosts. */
  L: (n: number) => string;
  dir: string;
  /** The config file Breakwater runs (rewrite it and signal a reload to change it). */
  file: string;
  birds: Bird[];
  /** Each BIRD's listening port, in the order of `peers`. */
  birdPorts: number[];
  bw: Breakwater;
}

/**
 * The setup the live-against-BIRD tests share: a temporary directory (with
 * data/), a loopback block, BIRD 2 per peer (passive, hold 9 s, AS 65000 as
 * its neighbor at L(1)), Breakwater started on the config `config` builds
 * (written to dir/breakwater.yaml), then every session Established. Cleans up
 * after the test even when setup fails: `beforeStop` (say, resume a paused
 * process) first, then Breakwater, the BIRDs and the directory.
 */
export async function withBirdAndBreakwater(
  t: { after(fn: () => Promise<void>): void },
  o: {
    dirPrefix: string;
    peers?: BirdPeer[];
    config: (s: { L: (n: number) => string; dir: string; birdPorts: number[] }) => Record<string, unknown>;
    nodeArgs?: string[];
    /** Established label and timeout (ms), as the test's messages had them. */
    established?: { label: string; timeoutMs: number; intervalMs?: number };
    beforeStop?: () => Promise<void>;
  },
): Promise<BirdSetup> {
  const dir = tempDir(o.dirPrefix);
  mkdirSync(join(dir, 'data'));
  const L = loopbackBlock();
  const peers = o.peers ?? [{ host: 2, asn: 65001 }];
  const birdPorts = peers.map(() => freePort());
  const birds = peers.map(
    (p, i) => new Bird(birdConfig({ routerId: L(p.host), localAddress: L(p.host), localPort: birdPorts[i], localAsn: p.asn, peerAddress: L(1), peerPort: freePort(), peerAsn: 65000, holdTime: 9, passive: true, ...(p.families ? { families: p.families } : {}) })),
  );
  let bw: Breakwater | undefined;
  t.after(async () => {
    await o.beforeStop?.().catch(() => undefined);
    await bw?.stop().catch(() => undefined);
    for (const b of birds) await b.dispose();
    removeDir(dir);
  });
  for (const b of birds) await b.start();
  const cfg = o.config({ L, dir, birdPorts });
  const file = join(dir, 'breakwater.yaml');
  writeYaml(file, cfg);
  bw = await startBreakwater(file, cfg, o.nodeArgs ? { nodeArgs: o.nodeArgs } : {});
  const est = o.established ?? { label: 'BIRD Established', timeoutMs: 30_000, intervalMs: 200 };
  const all = async () => {
    for (const b of birds) if ((await b.state()) !== 'Established') return false;
    return true;
  };
  if (est.intervalMs !== undefined) await waitFor(est.label, all, est.timeoutMs, est.intervalMs);
  else await waitFor(est.label, all, est.timeoutMs);
  return { L, dir, file, birds, birdPorts, bw };
}
