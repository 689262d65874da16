/**
 * The real components: flow Collector (flow/collector.ts), Engine +
 * BanManager (engine-adapter.ts) and BgpSpeaker (bgp/index.ts), adapted to
 * the daemon's ports.
 */
import type { Config } from '../config/schema.ts';
import type { CollectorConfig, ReloadPlan } from '../config/diff.ts';
import type { Clock } from '../core/clock.ts';
import type { Logger } from '../core/log.ts';
import { formatIP, parseIP } from '../core/ip.ts';
import { Collector, collectorOptions } from '../flow/collector.ts';
import { flowStatsView, type FlowStatsView } from '../flow/stats-view.ts';
import type { FlowSink } from '../flow/record.ts';
import { BgpSpeaker, neighborView, type AppliedRoutes, type NeighborStatus, type NeighborView, type PeerStateEvent, type Route } from '../bgp/index.ts';
import { listenError } from '../core/errors.ts';
import type { PeerInfo, SentNotice, SpeakerPort } from '../mitigation/reconcile.ts';
import type { BgpPort, CollectorPort, Components } from './ports.ts';
import { EngineAdapter } from './engine-adapter.ts';

export class CollectorAdapter implements CollectorPort {
  private collector: Collector;
  private readonly sink: FlowSink;
  private readonly log: Logger;
  private cfg: Readonly<CollectorConfig>;

  constructor(cfg: Readonly<CollectorConfig>, sink: FlowSink, log: Logger) {
    this.cfg = cfg;
    this.sink = sink;
    this.log = log;
    this.collector = new Collector(collectorOptions(cfg), sink, log);
  }

  async start(): Promise<void> {
    try {
      await this.collector.start();
    } catch (e) {
      throw this.namedListenError(e);
    }
    this.log.info({ event: 'flow listening', netflow: this.cfg.listen.netflow, sflow: this.cfg.listen.sflow, ports: this.collector.ports, workers: this.collector.workerCount, receiver: this.collector.receiver }, 'flow listeners up');
  }

  async stop(): Promise<void> {
    await this.collector.stop();
  }

  /**
   * Which listener key a bind error belongs to: the one whose port the error
   * names, the only one configured, or both when the error does not say
   * (a worker's "bind: Address already in use").
   */
  private namedListenError(e: unknown): unknown {
    const port = (e as { port?: number }).port ?? Number(/:([0-9]+)\s*$/.exec(String((e as Error).message))?.[1]);
    const specs = ([['listen.netflow', this.cfg.listen.netflow], ['listen.sflow', this.cfg.listen.sflow]] as const).filter(([, spec]) => spec !== '' && !spec.endsWith(':0')); // port 0 never conflicts
    const hit = specs.find(([, spec]) => Number.isInteger(port) && spec.endsWith(`:${port}`)) ?? (specs.length === 1 ? specs[0] : undefined);
    if (hit) return listenError(e, hit[0], hit[1]);
    return specs.length ? listenError(e, specs.map(([k]) => k).join(' or '), specs.map(([, a]) => a).join('" / "')) : e;
  }

  /** The listeners slice: flow_sources and sampling apply in place; new listen addresses or workers rebind the listeners. */
  async reconfigure(slice: ReloadPlan['listeners']): Promise<string[]> {
    const { keys, config: cfg } = slice;
    if (keys.length === 0) return [];
    const rebind = this.collector.reconfigure(collectorOptions(cfg));
    this.cfg = cfg;
    if (!rebind) return [`applied in place: ${keys.join(', ')}`];
    this.log.info({ event: 'flow rebind', netflow: cfg.listen.netflow, sflow: cfg.listen.sflow }, 'flow listeners change: rebinding');
    await this.collector.stop();
    this.collector = new Collector(collectorOptions(cfg), this.sink, this.log);
    await this.start();
    return [`rebound the flow listeners (netflow "${cfg.listen.netflow}", sflow "${cfg.listen.sflow}")`];
  }

  stats(): FlowStatsView {
    return flowStatsView(this.collector.stats(), this.collector.receiver);
  }

  addresses(): Record<string, { host: string; port: number } | undefined> {
    const host = (spec: string) => spec.replace(/^\[/, '').replace(/\]?:[0-9]+$/, '') || '0.0.0.0';
    const p = this.collector.ports;
    return {
      netflow: p.netflow === null ? undefined : { host: host(this.cfg.listen.netflow), port: p.netflow },
      sflow: p.sflow === null ? undefined : { host: host(this.cfg.listen.sflow), port: p.sflow },
    };
  }
}

function normAddr(a: string): string {
  const ip = parseIP(a);
  return ip ? formatIP(ip.family, ip.bytes) : a;
}

/** SpeakerPort and BgpPort over BgpSpeaker. */
export class BgpAdapter implements BgpPort, SpeakerPort {
  readonly bgp: BgpSpeaker;
  private readonly log: Logger;

  private readonly listenSpec: string;

  constructor(cfg: Readonly<Config>, log: Logger, opts: { mode?: 'worker' | 'inline' } = {}) {
    this.log = log;
    this.listenSpec = cfg.bgp.listen;
    this.bgp = new BgpSpeaker(cfg.bgp, log, { mode: opts.mode });
  }

  get speaker(): SpeakerPort {
    return this;
  }

  async start(): Promise<void> {
    try {
      await this.bgp.start();
    } catch (e) {
      throw this.listenSpec ? listenError(e, 'bgp.listen', this.listenSpec) : e;
    }
  }

  async stop(graceful: boolean): Promise<void> {
    await this.bgp.stop({ graceful });
  }

  /** The neighbors slice: the speaker adds, removes and changes only the neighbors in it. */
  async reconfigure(slice: ReloadPlan['neighbors']): Promise<string[]> {
    const { added, removed, changed, keys } = slice;
    if (keys.length === 0 && added.length === 0 && removed.length === 0 && changed.length === 0) return [];
    await this.bgp.reconfigure(slice.config);
    const id = (n: { address: string; port: number }) => (n.port === 179 ? n.address : `${n.address}:${n.port}`);
    return [
      ...added.map((n) => `session added: ${id(n)}`),
      ...removed.map((n) => `session removed: ${id(n)}`),
      ...changed.map((c) => `session changed: ${id(c.after)} (${c.keys.join(', ')})`),
      ...keys.filter((k) => !k.startsWith('bgp.neighbors')).map((k) => `speaker: ${k}`),
    ];
  }

  private status(): NeighborStatus[] {
    return this.bgp.neighbors();
  }

  peers(): PeerInfo[] {
    const st = new Map(this.status().map((s) => [s.address, s]));
    // The speaker's status may lag a config change: configured neighbors come from its mirror.
    const out: PeerInfo[] = [];
    for (const s of st.values()) {
      const est = s.state === 'Established';
      out.push({ id: s.address, state: s.state, established: est, families: est ? [...s.familiesNegotiated] : [...s.familiesConfigured] });
    }
    return out;
  }

  announce(routes: Route[], neighbors: string[], leaseMs: number): void {
    this.bgp.announce(routes, { neighbors: neighbors.map(normAddr), ttlSeconds: leaseMs / 1000 });
  }

  withdraw(routes: Route[], neighbors: string[]): void {
    this.bgp.withdraw(routes, { neighbors: neighbors.map(normAddr) });
  }

  applied(neighbor: string): AppliedRoutes {
    return this.bgp.applied(neighbor);
  }

  sentTo(key: string): string[] {
    return this.bgp.announcedTo(key);
  }

  onSent(fn: (e: SentNotice) => void): void {
    this.bgp.on('sent', fn);
  }

  async adjRibOut(neighbor: string): Promise<Route[]> {
    const entries = await this.bgp.adjRibOut(normAddr(neighbor));
    return entries.map((e) => e.route);
  }

  neighbors(): NeighborView[] {
    return this.status().map(neighborView);
  }

  onPeerState(fn: (neighbor: string, from: string, to: string) => void): void {
    this.bgp.on('peer-state', (e: PeerStateEvent) => fn(e.neighbor, e.from, e.to));
  }

  listenAddress(): { host: string; port: number } | undefined {
    const a = this.bgp.listenAddress;
    return a ? { host: a.address, port: a.port } : undefined;
  }
}

export async function realComponents(cfg: Readonly<Config>, log: Logger, clock: Clock): Promise<Components> {
  const engine = new EngineAdapter(cfg, clock, log);
  const collector = new CollectorAdapter(cfg, engine.sink, log);
  const bgp = new BgpAdapter(cfg, log);
  return { engine, collector, bgp };
}
