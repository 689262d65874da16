/**
 * The flow collector: UDP listeners (listen.netflow, listen.sflow) feeding the
 * decoders, and decoded records delivered to ONE FlowSink on the calling
 * (main) thread, where the detection engine runs.
 *
 *   workers: N (0 = one per core)
 *     worker i: sockets bound with SO_REUSEPORT on the same ports
 *               -> IngestPipeline (allowlist, FlowDecoder, boundary filter)
 *               -> BatchWriter (fixed slots in an ArrayBuffer)
 *               == postMessage(transfer) when batchRecords records are in, or
 *                  flushMs after the first record of a partial batch ==>
 *     main:     BatchReader refills one FlowRecord -> sink.record(rec)
 *               and hands the buffer back (a bounded pool: when the main thread
 *               falls behind, workers drop records and count them, memory stays bounded)
 *   workers: 'inline'
 *     sockets and decoding in the calling thread, sink called directly.
 *
 * Worker 0 binds first; the others bind the ports it actually got, so port 0
 * (tests) works with several workers.
 *
 * Over 600 lines: the per-thread pipeline, its stats and the worker protocol
 * sit beside the Collector that drives them until the worker channel in core/
 * takes over the message plumbing; then IngestPipeline and mergeStats move
 * to a file of their own.
 */
import { availableParallelism } from 'node:os';
import v8 from 'node:v8';
import type { Worker } from 'node:worker_threads';
import { Channel, type PortLike } from '../core/channel.ts';
import { spawnWorker } from '../core/spawn-worker.ts';
import { parseIP, parsePrefix, PrefixMap, type Prefix } from '../core/ip.ts';
import type { Logger } from '../core/log.ts';
import { copyExporterStats, newExporterStats, type ExporterStats } from './context.ts';
import { FlowDecoder } from './decode.ts';
import type { FlowProto, FlowSink } from './record.ts';
import { BatchReader, SLOT_BYTES, type Batch } from './record_batch.ts';
import { BoundarySink, type BoundaryRule } from './sink.ts';
import { listenUdp, parseListenSpec, type ListenSpec, type UdpListener } from './listener.ts';
import { chooseReceiver, kernelDrops, openUdp, type Receiver, type ReceiverMode } from './udp_batch.ts';
import { DEFAULT_MAX_FLOW_STATE_MB, DEFAULT_MAX_TEMPLATE_BYTES_PER_EXPORTER } from './memory.ts';
import { DEFAULT_PLAUSIBILITY, IMPLAUSIBLE_REASONS, plausibilityLimits, type ImplausibleReason, type PlausibilityLimits } from './plausible.ts';
import { BreakwaterError } from '../core/errors.ts';

export interface CollectorOptions {
  /** listen.netflow, e.g. ":2055"; "" disables. */
  netflow: string;
  /** listen.sflow, e.g. ":6343"; "" disables. */
  sflow: string;
  /** Receive threads; 0 = one per core; 'inline' = decode in the calling thread. */
  workers: number | 'inline';
  receiveBufferBytes: number;
  defaultSamplingRate: number;
  /** Allowed exporter prefixes; empty = any. */
  flowSources: string[];
  boundary: BoundaryRule[];
  /** How datagrams are read (listen.receiver; default 'auto'). */
  receiver?: ReceiverMode;
  /** Records per batch (worker mode; default 4096: each batch costs a few tens of µs to hand over, whatever its size). */
  batchRecords?: number;
  /** A partial batch is handed over at the latest this many ms after it was started (worker mode; default 5). */
  flushMs?: number;
  /** Batches a worker may have in flight before it drops records (default: 32 MiB worth). */
  maxInFlightBatches?: number;
  /** How often workers push their stats (ms). */
  statsIntervalMs?: number;
  /** At most one warning about kernel receive-buffer drops per this many ms (default 60 000). */
  dropWarnIntervalMs?: number;
  /** Plausibility bounds of every record (sampling.max_rate, listen.max_interface_gbps, listen.max_flow_seconds; default DEFAULT_PLAUSIBILITY). */
  plausibility?: PlausibilityLimits;
  /** listen.max_flow_state_mb: per decoding thread (default 64). */
  maxFlowStateMb?: number;
  /** listen.max_template_bytes_per_exporter (default 16 MiB). */
  maxTemplateBytesPerExporter?: number;
}

/** The config keys the collector reads (structurally: config.listen, config.sampling, config.flow_sources). */
export interface CollectorConfig {
  listen: {
    netflow: string;
    sflow: string;
    workers: number;
    receive_buffer_bytes: number;
    receiver: ReceiverMode;
    max_flow_state_mb: number;
    max_template_bytes_per_exporter: number;
    max_interface_gbps: number;
    max_flow_seconds: number;
  };
  sampling: { default_rate: number; max_rate: number; boundary: BoundaryRule[] };
  flow_sources: string[];
}

/** CollectorOptions from the validated config; workers: 'inline' overrides listen.workers. */
export function collectorOptions(cfg: CollectorConfig, workers?: number | 'inline'): CollectorOptions {
  return {
    netflow: cfg.listen.netflow,
    sflow: cfg.listen.sflow,
    workers: workers ?? cfg.listen.workers,
    receiveBufferBytes: cfg.listen.receive_buffer_bytes,
    receiver: cfg.listen.receiver,
    defaultSamplingRate: cfg.sampling.default_rate,
    flowSources: [...cfg.flow_sources],
    boundary: cfg.sampling.boundary.map((b) => ({ exporter: b.exporter, external_ifindexes: [...b.external_ifindexes] })),
    plausibility: plausibilityLimits(cfg),
    maxFlowStateMb: cfg.listen.max_flow_state_mb,
    maxTemplateBytesPerExporter: cfg.listen.max_template_bytes_per_exporter,
  };
}


export interface DroppedStats {
  /** Datagrams from exporters outside flow_sources. */
  not_allowed: number;
  /** The same by source address (bounded; the rest under "other"). */
  not_allowed_sources: Record<string, number>;
  /** Records of boundary exporters that did not enter on an external interface. */
  boundary: number;
  /** Records dropped because the main thread fell behind. */
  queue: number;
  /** Datagrams from new sources once MAX_EXPORTERS exporters are known (spoofed floods). */
  exporter_limit: number;
  /** Datagrams the kernel dropped because a socket's receive buffer was full (batched receiver only). */
  receive_buffer: number;
  /** Records outside the plausibility bounds (plausible.ts), by reason. */
  implausible_sampling: number;
  implausible_size: number;
  implausible_rate: number;
  implausible_time: number;
  /** The same by exporter: reason -> exporter address -> count. */
  implausible_sources: Record<ImplausibleReason, Record<string, number>>;
}

/** Per-exporter flow state against listen.max_flow_state_mb (memory.ts). */
export interface FlowStateStats {
  /** Estimated bytes held now, all decoding threads. */
  bytes: number;
  /** The budget of one decoding thread, bytes. */
  limitBytes: number;
  /** Exporters evicted (whole), by reason ("flow_state_budget"). */
  evictions: Record<string, number>;
}

export interface CollectorStats {
  exporters: ExporterStats[];
  dropped: DroppedStats;
  datagrams: number;
  /** Records decoded. */
  records: number;
  /** Records handed to the sink. */
  delivered: number;
  /** Errors thrown by the sink (counted, not propagated). */
  sinkErrors: number;
  workers: number;
  flowState: FlowStateStats;
}

export interface PipelineOptions {
  defaultSamplingRate: number;
  flowSources: string[];
  boundary: BoundaryRule[];
  plausibility?: PlausibilityLimits;
  maxFlowStateMb?: number;
  maxTemplateBytesPerExporter?: number;
}

export interface PipelineStats {
  exporters: ExporterStats[];
  datagrams: number;
  records: number;
  notAllowed: number;
  notAllowedSources: Record<string, number>;
  boundary: number;
  queue: number;
  exporterLimit: number;
  /** Kernel drops on this thread's sockets (batched receiver; 0 with node:dgram, which cannot see them). */
  receiveBuffer: number;
  /** Estimated bytes of exporter state and the budget (memory.ts). */
  flowStateBytes: number;
  flowStateLimit: number;
  /** Exporters evicted, by reason. */
  evictions: Record<string, number>;
}

const MAX_SOURCES = 1024;
export const DEFAULT_BATCH_RECORDS = 4096;
export const DEFAULT_FLUSH_MS = 5;
/** Bound on the batch memory one worker may have in flight (its records wait for the main thread). */
const MAX_IN_FLIGHT_BYTES = 32 << 20;
/** Exporters one decoding thread keeps state for; datagrams from further sources are dropped. */
export const MAX_EXPORTERS = 4096;
const MAX_ALLOW_CACHE = 4096;

let runtimeTuned = false;

/**
 * node:dgram hands every datagram over in its own backing store, malloc'd by
 * the receiving thread. By default V8 frees the dead ones on its helper threads
 * ("concurrent ArrayBuffer sweeping"), which then wait on glibc's arena lock
 * against the receiving thread's own allocations: measured here, ten times the
 * helper-thread wake-ups and 0.5-1 µs of CPU per datagram with a collector
 * worker. Sweeping them in the isolate's own GC pause is cheaper. V8 reads this
 * flag each time it starts a sweep, so setting it at run time is safe; it is
 * process-wide (every isolate, the main thread's too). Idempotent.
 */
export function tuneIngestRuntime(): void {
  if (runtimeTuned) return;
  runtimeTuned = true;
  try {
    v8.setFlagsFromString('--no-concurrent-array-buffer-sweeping');
  } catch {
    // an embedder that forbids flag changes: run with the defaults
  }
}

/** Per-thread ingest: allowlist -> FlowDecoder -> boundary filter -> sink. */
export class IngestPipeline {
  readonly decoder: FlowDecoder;
  readonly boundary: BoundarySink;
  datagrams = 0;
  records = 0;
  notAllowed = 0;
  exporterLimit = 0;
  readonly notAllowedSources = new Map<string, number>();
  private allow: PrefixMap<true> | null = null;
  private readonly allowCache = new Map<string, boolean>();
  /** The last exporter that passed the checks ('' = none). */
  private admitted = '';

  constructor(sink: FlowSink, opts: PipelineOptions) {
    this.boundary = new BoundarySink(sink, opts.boundary);
    this.decoder = new FlowDecoder(this.boundary, { defaultSamplingRate: opts.defaultSamplingRate });
    this.configure(opts);
  }

  configure(opts: PipelineOptions): void {
    this.boundary.setRules(opts.boundary);
    this.decoder.setDefaultSamplingRate(opts.defaultSamplingRate);
    this.decoder.setPlausibility(opts.plausibility ?? DEFAULT_PLAUSIBILITY);
    this.decoder.setMemoryLimits((opts.maxFlowStateMb ?? DEFAULT_MAX_FLOW_STATE_MB) * 1048576, opts.maxTemplateBytesPerExporter ?? DEFAULT_MAX_TEMPLATE_BYTES_PER_EXPORTER);
    this.allowCache.clear();
    this.admitted = '';
    if (opts.flowSources.length === 0) this.allow = null;
    else {
      const m = new PrefixMap<true>();
      for (const s of opts.flowSources) {
        const p = parsePrefix(s, false);
        if (typeof p === 'string') throw new BreakwaterError('invalid_config', `flow_sources: ${p}`);
        m.set(p as Prefix, true);
      }
      this.allow = m;
    }
  }

  allowed(address: string): boolean {
    if (this.allow === null) return true;
    let ok = this.allowCache.get(address);
    if (ok === undefined) {
      const ip = parseIP(address);
      ok = ip !== null && this.allow.lookup(ip.family, ip.bytes) !== undefined;
      if (this.allowCache.size >= MAX_ALLOW_CACHE) this.allowCache.clear();
      this.allowCache.set(address, ok);
    }
    return ok;
  }

  /** One received datagram. Never throws. */
  datagram(msg: Buffer, address: string, receivedMs: number): number {
    this.datagrams++;
    // An exporter admitted once stays admitted until configure(): consecutive
    // datagrams from it skip the allowlist and exporter-limit checks.
    if (address !== this.admitted) {
      if (!this.allowed(address)) {
        this.notAllowed++;
        const key = this.notAllowedSources.has(address) || this.notAllowedSources.size < MAX_SOURCES ? address : 'other';
        this.notAllowedSources.set(key, (this.notAllowedSources.get(key) ?? 0) + 1);
        return 0;
      }
      if (this.decoder.stats.size >= MAX_EXPORTERS && !this.decoder.stats.has(address)) {
        this.exporterLimit++;
        return 0;
      }
      this.admitted = address;
    }
    const n = this.decoder.datagram(msg, address, receivedMs);
    this.records += n;
    return n;
  }

  snapshot(queue = 0, receiveBuffer = 0): PipelineStats {
    return {
      exporters: [...this.decoder.stats.values()].map(copyExporterStats),
      datagrams: this.datagrams,
      records: this.records,
      notAllowed: this.notAllowed,
      notAllowedSources: Object.fromEntries(this.notAllowedSources),
      boundary: this.boundary.dropped,
      queue,
      exporterLimit: this.exporterLimit,
      receiveBuffer,
      flowStateBytes: this.decoder.budget.used,
      flowStateLimit: this.decoder.budget.limit,
      evictions: { ...this.decoder.budget.evictions },
    };
  }
}

/** Sums per-thread stats; exporter stats merged by exporter address. */
export function mergeStats(parts: PipelineStats[]): Omit<CollectorStats, 'delivered' | 'sinkErrors' | 'workers'> {
  const byExporter = new Map<string, ExporterStats>();
  const dropped: DroppedStats = {
    not_allowed: 0, not_allowed_sources: {}, boundary: 0, queue: 0, exporter_limit: 0, receive_buffer: 0,
    implausible_sampling: 0, implausible_size: 0, implausible_rate: 0, implausible_time: 0,
    implausible_sources: { implausible_sampling: {}, implausible_size: {}, implausible_rate: {}, implausible_time: {} },
  };
  const flowState: FlowStateStats = { bytes: 0, limitBytes: 0, evictions: {} };
  let datagrams = 0, records = 0;
  for (const p of parts) {
    flowState.bytes += p.flowStateBytes ?? 0;
    flowState.limitBytes = Math.max(flowState.limitBytes, p.flowStateLimit ?? 0);
    for (const [k, v] of Object.entries(p.evictions ?? {})) flowState.evictions[k] = (flowState.evictions[k] ?? 0) + v;
    datagrams += p.datagrams;
    records += p.records;
    dropped.not_allowed += p.notAllowed;
    dropped.boundary += p.boundary;
    dropped.queue += p.queue;
    dropped.exporter_limit += p.exporterLimit;
    dropped.receive_buffer += p.receiveBuffer ?? 0;
    for (const [k, v] of Object.entries(p.notAllowedSources)) dropped.not_allowed_sources[k] = (dropped.not_allowed_sources[k] ?? 0) + v;
    for (const e of p.exporters) {
      let m = byExporter.get(e.exporter);
      if (!m) byExporter.set(e.exporter, (m = newExporterStats(e.exporter)));
      m.datagrams += e.datagrams;
      m.records += e.records;
      m.templates += e.templates;
      m.noTemplate += e.noTemplate;
      m.counterSamples += e.counterSamples;
      m.lastSeen = Math.max(m.lastSeen, e.lastSeen);
      for (const [k, v] of Object.entries(e.errors)) m.errors[k] = (m.errors[k] ?? 0) + v;
      for (const [k, v] of Object.entries(e.byProto)) m.byProto[k as keyof typeof m.byProto] = (m.byProto[k as keyof typeof m.byProto] ?? 0) + (v ?? 0);
      for (const [k, v] of Object.entries(e.recordsByProto ?? {})) m.recordsByProto[k as FlowProto] = (m.recordsByProto[k as FlowProto] ?? 0) + (v ?? 0);
      for (const [k, errs] of Object.entries(e.errorsByProto ?? {})) {
        const into = (m.errorsByProto[k as FlowProto] ??= {});
        for (const [r, n] of Object.entries(errs ?? {})) into[r] = (into[r] ?? 0) + n;
      }
      for (const [i, c] of e.ifCounters) {
        const old = m.ifCounters.get(i);
        if (!old || old.updated <= c.updated) m.ifCounters.set(i, c);
      }
      const imp = e.implausible;
      if (imp) {
        m.implausible.sampling += imp.sampling;
        m.implausible.size += imp.size;
        m.implausible.rate += imp.rate;
        m.implausible.time += imp.time;
        m.implausible.last = Math.max(m.implausible.last, imp.last);
      }
    }
  }
  for (const m of byExporter.values()) {
    const imp = m.implausible;
    const by: Record<ImplausibleReason, number> = { implausible_sampling: imp.sampling, implausible_size: imp.size, implausible_rate: imp.rate, implausible_time: imp.time };
    for (const r of IMPLAUSIBLE_REASONS) {
      if (by[r] === 0) continue;
      dropped[r] += by[r];
      dropped.implausible_sources[r][m.exporter] = by[r];
    }
  }
  return { exporters: [...byExporter.values()], dropped, datagrams, records, flowState };
}

/* ------------------------------------------------------------ worker protocol */

export interface WorkerConfig extends PipelineOptions {
  index: number;
  netflow: ListenSpec | null;
  sflow: ListenSpec | null;
  receiveBufferBytes: number;
  receiver: ReceiverMode;
  batchRecords: number;
  flushMs: number;
  maxInFlightBatches: number;
  statsIntervalMs: number;
}

/** What the main thread sends a collector worker (core/channel.ts). */
export interface CollectorMainSends {
  req: {
    stats: [undefined, PipelineStats];
    /** Closes the sockets; the reply comes after the worker's last batch. */
    stop: [undefined, PipelineStats];
  };
  msg: { free: ArrayBuffer; configure: PipelineOptions };
}

/** What a collector worker sends the main thread. */
export interface CollectorWorkerSends {
  req: Record<never, [unknown, unknown]>;
  msg: {
    ready: { netflow: number | null; sflow: number | null; receiveBufferBytes: number; dualStack: boolean; receiver: Receiver; receiverNote: string };
    fail: string;
    batch: Batch;
    /** Pushed every statsIntervalMs. */
    stats: PipelineStats;
  };
}

interface WorkerHandle {
  worker: Worker;
  channel: Channel<CollectorMainSends, CollectorWorkerSends>;
  stats: PipelineStats | null;
  exited: boolean;
  /** Resolves when the worker said 'stopped' (after its last batch) or exited. */
  stopped: Promise<void>;
  markStopped: () => void;
}

export interface MinimalLog {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

function emptyStats(): PipelineStats {
  return { exporters: [], datagrams: 0, records: 0, notAllowed: 0, notAllowedSources: {}, boundary: 0, queue: 0, exporterLimit: 0, receiveBuffer: 0, flowStateBytes: 0, flowStateLimit: 0, evictions: {} };
}

export class Collector {
  private opts: CollectorOptions;
  private readonly sink: FlowSink;
  private readonly log: MinimalLog;
  private readonly reader = new BatchReader();
  private handles: WorkerHandle[] = [];
  private inline: IngestPipeline | null = null;
  private listeners: UdpListener[] = [];
  private delivered = 0;
  private sinkErrors = 0;
  private running = false;
  private dropTimer: NodeJS.Timeout | null = null;
  private dropsWarned = 0;
  /** When drops were last reported (0 = never since start) and when counting began. */
  private dropsWarnedAt = 0;
  private dropsSince = 0;
  /** Ports actually bound (after start). */
  ports: { netflow: number | null; sflow: number | null } = { netflow: null, sflow: null };
  /** Receive buffer the kernel granted per socket. */
  receiveBufferBytes = 0;
  /** How datagrams are read (after start): 'batched' (recvmmsg addon) or 'dgram'. */
  receiver: Receiver | null = null;
  /** Why 'auto' fell back to node:dgram ('' otherwise). */
  receiverNote = '';

  private readonly deliver: FlowSink;

  constructor(opts: CollectorOptions, sink: FlowSink, log: MinimalLog | Logger) {
    this.opts = { ...opts };
    this.sink = sink;
    this.log = log as MinimalLog;
    // Counts what reaches the sink and keeps a throwing sink from taking the collector down.
    this.deliver = {
      record: (r) => {
        this.delivered++;
        try {
          this.sink.record(r);
        } catch (err) {
          if (this.sinkErrors++ === 0) this.log.error({ err: String(err) }, 'flow sink threw');
        }
      },
    };
  }

  get workerCount(): number {
    return this.inline ? 0 : this.handles.length;
  }

  private pipelineOptions(): PipelineOptions {
    return {
      defaultSamplingRate: this.opts.defaultSamplingRate,
      flowSources: [...this.opts.flowSources],
      boundary: this.opts.boundary.map((b) => ({ exporter: b.exporter, external_ifindexes: [...b.external_ifindexes] })),
      plausibility: this.opts.plausibility ? { ...this.opts.plausibility } : undefined,
      maxFlowStateMb: this.opts.maxFlowStateMb,
      maxTemplateBytesPerExporter: this.opts.maxTemplateBytesPerExporter,
    };
  }

  async start(): Promise<void> {
    if (this.running) throw new Error('collector already started');
    const netflow = parseListenSpec(this.opts.netflow);
    const sflow = parseListenSpec(this.opts.sflow);
    // Validate flow_sources before binding anything.
    new IngestPipeline({ record() {} }, this.pipelineOptions());
    tuneIngestRuntime();
    this.running = true;
    this.handles = [];
    this.inline = null;
    this.ports = { netflow: null, sflow: null };
    try {
      if (this.opts.workers === 'inline') await this.startInline(netflow, sflow);
      else await this.startWorkers(netflow, sflow, this.opts.workers === 0 ? availableParallelism() : this.opts.workers);
    } catch (err) {
      await this.stop();
      throw err;
    }
    this.log.info({ netflow: this.ports.netflow, sflow: this.ports.sflow, workers: this.workerCount, receive_buffer_bytes: this.receiveBufferBytes, receiver: this.receiver }, 'flow collector listening');
    this.dropsWarned = 0;
    this.dropsWarnedAt = 0;
    this.dropsSince = Date.now();
    const every = this.opts.dropWarnIntervalMs ?? 60_000;
    this.dropTimer = setInterval(() => this.warnDrops(), Math.max(10, Math.min(every, 10_000)));
    this.dropTimer.unref();
    if (this.receiverNote) this.log.info({ receiver: this.receiver, reason: this.receiverNote }, 'flow collector: batched receive unavailable, reading datagrams with node:dgram');
    if (this.opts.receiveBufferBytes > 0 && this.receiveBufferBytes > 0 && this.receiveBufferBytes < this.opts.receiveBufferBytes) {
      const sysctl = `sysctl -w net.core.rmem_max=${this.opts.receiveBufferBytes}`;
      this.log.warn(
        { event: 'flow receive buffer small', requested: this.opts.receiveBufferBytes, granted: this.receiveBufferBytes, sysctl },
        `UDP receive buffer is ${this.receiveBufferBytes} bytes, not the ${this.opts.receiveBufferBytes} asked for (listen.receive_buffer_bytes): the kernel caps it at net.core.rmem_max. A burst larger than the buffer is dropped; raise the cap with \`${sysctl}\` (persist it in /etc/sysctl.d/) and restart`,
      );
    }
  }

  private async startInline(netflow: ListenSpec | null, sflow: ListenSpec | null): Promise<void> {
    const p = new IngestPipeline(this.deliver, this.pipelineOptions());
    this.inline = p;
    const on = (msg: Buffer, address: string) => p.datagram(msg, address, Date.now());
    const how = chooseReceiver(this.opts.receiver ?? 'auto');
    this.receiver = how.receiver;
    this.receiverNote = how.note;
    for (const [name, spec] of [['netflow', netflow], ['sflow', sflow]] as const) {
      if (!spec) continue;
      const l = await openUdp(how, spec, { receiveBufferBytes: this.opts.receiveBufferBytes }, on);
      this.listeners.push(l);
      this.ports[name] = l.port;
      this.receiveBufferBytes = l.receiveBufferBytes;
    }
  }

  private spawn(index: number, netflow: ListenSpec | null, sflow: ListenSpec | null): Promise<WorkerHandle> {
    const cfg: WorkerConfig = {
      ...this.pipelineOptions(),
      index,
      netflow,
      sflow,
      receiveBufferBytes: this.opts.receiveBufferBytes,
      receiver: this.opts.receiver ?? 'auto',
      batchRecords: this.opts.batchRecords ?? DEFAULT_BATCH_RECORDS,
      flushMs: this.opts.flushMs ?? DEFAULT_FLUSH_MS,
      maxInFlightBatches: this.opts.maxInFlightBatches ?? Math.max(2, Math.ceil(MAX_IN_FLIGHT_BYTES / ((this.opts.batchRecords ?? DEFAULT_BATCH_RECORDS) * SLOT_BYTES))),
      statsIntervalMs: this.opts.statsIntervalMs ?? 1000,
    };
    const worker = spawnWorker('collector', cfg);
    const channel = new Channel<CollectorMainSends, CollectorWorkerSends>(worker as PortLike, { timeoutMs: 0 });
    let markStopped = () => {};
    const stopped = new Promise<void>((r) => (markStopped = r));
    const h: WorkerHandle = { worker, channel, stats: null, exited: false, stopped, markStopped };
    this.handles.push(h);
    return new Promise((resolve, reject) => {
      let started = false;
      channel
        .on('batch', (batch) => this.onBatch(h, batch))
        .on('stats', (stats) => {
          h.stats = stats;
        })
        .on('ready', (m) => {
          started = true;
          if (index === 0) {
            this.ports = { netflow: m.netflow, sflow: m.sflow };
            this.receiveBufferBytes = m.receiveBufferBytes;
            this.receiver = m.receiver;
            this.receiverNote = m.receiverNote;
          }
          resolve(h);
        })
        .on('fail', (message) => reject(new Error(message)));
      worker.on('error', (err) => {
        if (!started) reject(err);
        else this.log.error({ err: String(err), worker: index }, 'collector worker failed');
      });
      worker.on('exit', (code) => {
        h.exited = true;
        channel.close(`collector worker ${index} exited`);
        h.markStopped();
        if (!started) reject(new Error(`collector worker exited with code ${code}`));
        else if (this.running) this.log.error({ code, worker: index }, 'collector worker exited');
      });
    });
  }

  private async startWorkers(netflow: ListenSpec | null, sflow: ListenSpec | null, n: number): Promise<void> {
    // Port 0 with SO_REUSEPORT may be given a port another reuseport socket of the
    // same user already holds (the kernel lets them share it): take a free port
    // without SO_REUSEPORT first, then let the workers share that one.
    const held: UdpListener[] = [];
    try {
      if (netflow && netflow.port === 0) {
        const l = await listenUdp(netflow, {}, () => {});
        held.push(l);
        netflow = { host: netflow.host, port: l.port };
      }
      if (sflow && sflow.port === 0) {
        const l = await listenUdp(sflow, {}, () => {});
        held.push(l);
        sflow = { host: sflow.host, port: l.port };
      }
    } finally {
      for (const l of held) await l.close();
    }
    await this.spawn(0, netflow, sflow);
    // The others bind exactly what worker 0 got (port 0 resolved).
    const nf = netflow && this.ports.netflow !== null ? { host: netflow.host, port: this.ports.netflow } : null;
    const sf = sflow && this.ports.sflow !== null ? { host: sflow.host, port: this.ports.sflow } : null;
    const rest: Promise<WorkerHandle>[] = [];
    for (let i = 1; i < n; i++) rest.push(this.spawn(i, nf, sf));
    await Promise.all(rest);
  }

  private onBatch(h: WorkerHandle, batch: Batch): void {
    this.reader.read(batch, this.deliver);
    if (!h.exited) {
      try {
        h.channel.post('free', batch.buf, [batch.buf]);
      } catch {
        // worker gone
      }
    }
  }

  /** The latest stats (workers push theirs every statsIntervalMs). */
  stats(): CollectorStats {
    const parts = this.inline ? [this.inline.snapshot(0, kernelDrops(this.listeners))] : this.handles.map((h) => h.stats ?? emptyStats());
    return { ...mergeStats(parts), delivered: this.delivered, sinkErrors: this.sinkErrors, workers: this.workerCount };
  }

  /** Asks every worker for fresh stats (and waits for the batches sent before them). */
  async statsNow(timeoutMs = 2000): Promise<CollectorStats> {
    // a worker that does not answer in time (or exits) keeps its last pushed stats
    await Promise.allSettled(
      this.handles
        .filter((h) => !h.exited)
        .map(async (h) => {
          h.stats = await h.channel.request('stats', undefined, { timeoutMs });
        }),
    );
    return this.stats();
  }

  /** Per-worker stats (to see how exporters spread over workers). */
  workerStats(): PipelineStats[] {
    return this.inline ? [this.inline.snapshot(0, kernelDrops(this.listeners))] : this.handles.map((h) => h.stats ?? emptyStats());
  }

  /** dropped.receive_buffer without merging every exporter's stats. */
  private receiveBufferDrops(): number {
    if (this.inline) return kernelDrops(this.listeners);
    let n = 0;
    for (const h of this.handles) n += h.stats?.receiveBuffer ?? 0;
    return n;
  }

  /**
   * Applies flow_sources, sampling.default_rate, sampling.max_rate,
   * sampling.boundary, the plausibility and flow-state memory bounds without
   * rebinding. Returns true when other options changed too (listen addresses,
   * workers, receive buffer): those need a restart of the collector.
   */
  reconfigure(opts: CollectorOptions): boolean {
    const rebind = opts.netflow !== this.opts.netflow || opts.sflow !== this.opts.sflow || opts.workers !== this.opts.workers || opts.receiveBufferBytes !== this.opts.receiveBufferBytes || (opts.receiver ?? 'auto') !== (this.opts.receiver ?? 'auto');
    const next = {
      ...this.opts,
      defaultSamplingRate: opts.defaultSamplingRate,
      flowSources: [...opts.flowSources],
      boundary: opts.boundary,
      plausibility: opts.plausibility,
      maxFlowStateMb: opts.maxFlowStateMb,
      maxTemplateBytesPerExporter: opts.maxTemplateBytesPerExporter,
    };
    // Validate first: a bad prefix throws here and nothing changes.
    new IngestPipeline({ record() {} }, { defaultSamplingRate: next.defaultSamplingRate, flowSources: next.flowSources, boundary: next.boundary });
    this.opts = next;
    const p = this.pipelineOptions();
    if (this.inline) this.inline.configure(p);
    for (const h of this.handles) if (!h.exited) h.channel.post('configure', p);
    return rebind;
  }

  /**
   * Kernel receive-buffer drops (batched receiver) are lost flows the operator
   * can fix: a warning at most once per dropWarnIntervalMs while they grow.
   */
  private warnDrops(): void {
    const now = Date.now();
    if (this.dropsWarnedAt !== 0 && now - this.dropsWarnedAt < (this.opts.dropWarnIntervalMs ?? 60_000)) return;
    const total = this.receiveBufferDrops();
    if (total <= this.dropsWarned) return;
    this.log.warn(
      { event: 'flow kernel drops', dropped: total - this.dropsWarned, total, seconds: Math.round((now - this.dropsSince) / 1000), receive_buffer_bytes: this.receiveBufferBytes, workers: this.workerCount },
      'the kernel dropped flow datagrams because a socket receive buffer was full: raise listen.receive_buffer_bytes (and net.core.rmem_max) or listen.workers',
    );
    this.dropsWarned = total;
    this.dropsWarnedAt = now;
    this.dropsSince = now;
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.dropTimer !== null) {
      clearInterval(this.dropTimer);
      this.dropTimer = null;
    }
    for (const l of this.listeners) await l.close();
    this.listeners = [];
    const handles = this.handles;
    await Promise.all(
      handles.map(
        (h) =>
          new Promise<void>((resolve) => {
            if (h.exited) return resolve();
            const timer = setTimeout(() => void h.worker.terminate().then(() => resolve()), 3000);
            // The stop reply comes after the worker's last batch: everything it decoded reached the sink.
            void h.stopped.then(() => {
              if (h.exited) {
                clearTimeout(timer);
                return resolve();
              }
              h.worker.once('exit', () => {
                clearTimeout(timer);
                resolve();
              });
            });
            h.channel.request('stop', undefined).then(
              (stats) => {
                h.stats = stats;
                h.markStopped();
              },
              () => h.markStopped(),
            );
          }),
      ),
    );
  }
}
