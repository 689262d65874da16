/**
 * In-process daemon for tests: the real engine, ban manager, mitigator, store
 * and API, with the flow collector replaced by direct record injection and
 * the BGP speaker by FakeSpeaker (the end-to-end suites use the real ones).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { ManualClock } from '../../src/core/clock.ts';
import { silentLogger, type Logger } from '../../src/core/log.ts';
import { newFlowRecord } from '../../src/flow/record.ts';
import { parseIPv4 } from '../../src/core/ip.ts';
import { Daemon } from '../../src/daemon/daemon.ts';
import { EngineAdapter } from '../../src/daemon/engine-adapter.ts';
import type { BgpPort, CollectorPort, Components } from '../../src/daemon/ports.ts';
import type { FlowStatsView } from '../../src/flow/stats-view.ts';
import type { NeighborView } from '../../src/bgp/index.ts';
import { FakeSpeaker } from '../mitigation/fake-speaker.ts';

export interface Harness {
  dir: string;
  configFile: string;
  clock: ManualClock;
  d: Daemon;
  speaker: FakeSpeaker;
  /** Adj-RIB-Out size per neighbor at the moment bgp.start() ran. */
  ribAtStart: Map<string, number>;
  base: string;
  writeConfig(cfg: Record<string, unknown>): void;
  /** Injects `n` UDP records of `packets` packets each to dst at the clock's time. */
  flood(dst: string, n: number, packets: number, opts?: { srcPort?: number; bytes?: number }): void;
  /** Moves the clock by ms in tick steps, ticking the engine each time. */
  advance(ms: number): void;
  req(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; json: any; text: string }>;
  restart(): Promise<void>;
  stop(): Promise<void>;
  /** Resolves when Daemon.start() has returned (startHarness waits for it unless wait: false). */
  started: Promise<void>;
}

export interface HarnessOptions {
  /** Runs inside the fake BGP start (e.g. to hold the daemon in its startup). */
  bgpStart?: () => Promise<void>;
  /** false: return as soon as start() is called; await h.started. */
  wait?: boolean;
}

export function baseConfig(dataDir: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    dry_run: true,
    listen: { netflow: '', sflow: '' },
    networks: ['198.51.100.0/24', '2001:db8::/32'],
    protected_whitelist: ['198.51.100.1/32'],
    detection: { window_seconds: 1, tick_ms: 100, attack_hysteresis_seconds: 1 },
    thresholds: { pps: 1000 },
    ban: { ttl_seconds: 5, unban_hysteresis_seconds: 1 },
    bgp: {
      local_asn: 65000,
      next_hop: '192.0.2.1',
      communities: ['65000:666'],
      neighbors: [
        { address: '127.0.0.2', remote_asn: 65001 },
        { address: '127.0.0.3', remote_asn: 65002, families: ['ipv4_unicast', 'ipv6_unicast'] },
      ],
    },
    api: { listen: '127.0.0.1:0' },
    storage: { data_dir: dataDir },
    ...extra,
  };
}

class FakeCollector implements CollectorPort {
  datagrams = 0;
  async start() {}
  async stop() {}
  reconfigure() {}
  stats(): FlowStatsView {
    return { exporters: [{ exporter: '192.0.2.200', datagrams: this.datagrams, records: this.datagrams, errors: {}, byProto: { sflow5: this.datagrams }, templates: 0, noTemplate: 0, lastSeen: Date.now() }], dropped: {} };
  }
  addresses() {
    return {};
  }
}

class FakeBgp implements BgpPort {
  readonly speaker: FakeSpeaker;
  readonly ribAtStart: Map<string, number>;
  private cbs: Array<(nb: string, from: string, to: string) => void> = [];
  private readonly hook?: () => Promise<void>;
  constructor(speaker: FakeSpeaker, ribAtStart: Map<string, number>, hook?: () => Promise<void>) {
    this.speaker = speaker;
    this.ribAtStart = ribAtStart;
    this.hook = hook;
  }
  async start() {
    await this.hook?.();
    for (const p of this.speaker.peerList) this.ribAtStart.set(p.id, this.speaker.rib(p.id).size);
  }
  async stop() {}
  reconfigure() {}
  neighbors(): NeighborView[] {
    return this.speaker.peerList.map((p) => ({ neighbor: p.id, state: p.state, messages_in: 0, messages_out: 0, updates_in: 0, updates_out: 0, flaps: 1, last_error: '', routes_out: this.speaker.rib(p.id).size }));
  }
  onPeerState(fn: (nb: string, from: string, to: string) => void) {
    this.cbs.push(fn);
  }
  listenAddress() {
    return undefined;
  }
}

export async function startHarness(t: { after(fn: () => Promise<void> | void): void }, extra: Record<string, unknown> = {}, log: Logger = silentLogger(), opts: HarnessOptions = {}): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'bw-daemon-'));
  const configFile = join(dir, 'breakwater.yaml');
  const clock = new ManualClock(Math.floor(Date.now() / 1000) * 1000);
  const h = {} as Harness;
  h.dir = dir;
  h.configFile = configFile;
  h.clock = clock;
  h.writeConfig = (cfg) => writeFileSync(configFile, stringify(cfg));
  h.writeConfig(baseConfig(join(dir, 'data'), extra));
  let collector: FakeCollector;

  const boot = async () => {
    const speaker = new FakeSpeaker([{ id: '127.0.0.2' }, { id: '127.0.0.3', families: ['ipv4_unicast', 'ipv6_unicast'] }]);
    h.speaker = speaker;
    h.ribAtStart = new Map();
    collector = new FakeCollector();
    const components = (cfg: any, l: Logger): Components => ({ engine: new EngineAdapter(cfg, clock, l), collector, bgp: new FakeBgp(speaker, h.ribAtStart, opts.bgpStart) });
    h.d = new Daemon({ configFile, log, clock, components });
    await h.d.start();
    h.base = `http://127.0.0.1:${h.d.apiAddress!.port}`;
  };
  h.started = boot();
  if (opts.wait !== false) await h.started;
  else h.started.catch(() => undefined);
  t.after(async () => {
    await h.started.catch(() => undefined);
    await h.d.stop('test end').catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  const rec = newFlowRecord();
  h.flood = (dst, n, packets, opts = {}) => {
    const engine = (h.d.engine as EngineAdapter).engine;
    for (let i = 0; i < n; i++) {
      rec.exporter = '192.0.2.200';
      rec.proto = 'sflow5';
      rec.family = 4;
      rec.src4 = parseIPv4(`203.0.113.${(i % 200) + 1}`);
      rec.dst4 = parseIPv4(dst);
      rec.ipProto = 17;
      rec.srcPort = opts.srcPort ?? 40000 + (i % 1000);
      rec.dstPort = 80;
      rec.packets = packets;
      rec.bytes = (opts.bytes ?? 500) * packets;
      rec.samplingRate = 1;
      rec.received = clock.now();
      rec.start = rec.end = 0;
      rec.fields = 0;
      engine.record(rec);
    }
    collector.datagrams += n;
  };
  h.advance = (ms) => {
    const step = 100;
    for (let x = 0; x < ms; x += step) {
      clock.advance(step);
      h.d.engine.tick(clock.now());
    }
  };
  h.req = async (method, path, body, headers = {}) => {
    const res = await fetch(h.base + path, {
      method,
      headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let json: any;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, json, text };
  };
  h.restart = async () => {
    await h.d.stop('restart');
    await boot();
  };
  h.stop = () => h.d.stop('test');
  return h;
}
