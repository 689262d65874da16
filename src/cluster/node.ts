/**
 * One Breakwater node of a cluster: the etcd client, the ledger sync
 * (sync.ts), membership, leader election and partition detection.
 *
 * - Membership: `<prefix>/nodes/<node_id>` = {node_id, role, last_seen,
 *   config_checksum} on a short lease, written every HEARTBEAT_MS; that
 *   write is also the node's etcd health check. The peers' records are read
 *   every HEARTBEAT_MS for status; a peer whose config_checksum differs is
 *   logged once and counted (metric).
 * - Leader: etcd's election API (`<prefix>/election/leader/`); the leader runs the
 *   LeaderFeed (leader-feed.ts), the one producer of ban side effects.
 * - Partition: no successful etcd write for `dial_timeout_seconds` → the
 *   node is partitioned: it gives up leadership, keeps the bans it knows
 *   (their routes run out with their TTL at the speaker), creates none
 *   unless `partition_policy: local` (mayCreate), and says so in status,
 *   the log and breakwater_cluster_partitioned. On return it reconciles with
 *   the ledger (sync.reconcile) and watches it again from there.
 */
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { Etcd3, type Campaign, type IOptions, type Lease, type Watcher } from 'etcd3';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../core/log.ts';
import type { BanEvent } from '../ban/types.ts';
import { Ledger } from './ledger.ts';
import { LedgerSync, type BanPort, type SyncHooks, type SyncStats } from './sync.ts';
import { LeaderFeed, type LedgerEventSink } from './leader-feed.ts';

export type ClusterConfig = NonNullable<Config['cluster']>;

export const HEARTBEAT_MS = 1_000;
/** Lease of a node's membership key, and of its election campaign. */
export const NODE_TTL_SECONDS = 5;

export interface NodeInfo {
  node_id: string;
  role: 'leader' | 'follower';
  last_seen: string;
  config_checksum: string;
}

export interface ClusterStatus {
  node_id: string;
  role: 'leader' | 'follower';
  partitioned: boolean;
  partition_policy: 'hold' | 'local';
  nodes: NodeInfo[];
}

export interface ClusterStats {
  partitioned: boolean;
  leader: boolean;
  nodes: number;
  checksum_mismatches: number;
  leader_changes: number;
  feed_events: number;
  sync: SyncStats;
}

/** Hash of what must agree across nodes: networks, whitelist, thresholds and ban policy. */
export function configChecksum(cfg: Readonly<Config>): string {
  const parts = {
    networks: cfg.networks,
    protected_whitelist: cfg.protected_whitelist,
    thresholds: cfg.thresholds,
    thresholds_outgoing: cfg.thresholds_outgoing,
    hostgroups: cfg.hostgroups,
    ban: cfg.ban,
    mitigation: cfg.mitigation,
    escalation: cfg.escalation,
  };
  return createHash('sha256').update(stableText(parts)).digest('hex').slice(0, 16);
}

/** Text of plain data with sorted object keys (the same data always gives the same text). */
function stableText(x: unknown): string {
  if (Array.isArray(x)) return `[${x.map(stableText).join(',')}]`;
  if (x && typeof x === 'object') {
    return `{${Object.keys(x)
      .filter((k) => (x as Record<string, unknown>)[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableText((x as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(x) ?? 'null';
}

/** etcd client options from `cluster.etcd` (secrets from the environment, certificates from files). */
export function etcdOptions(c: ClusterConfig, env: NodeJS.ProcessEnv = process.env): IOptions {
  const e = c.etcd;
  const o: IOptions = { hosts: [...e.endpoints], dialTimeout: e.dial_timeout_seconds * 1000 };
  const deadline = e.dial_timeout_seconds * 1000;
  o.defaultCallOptions = (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + deadline });
  if (e.username_env || e.password_env) o.auth = { username: env[e.username_env ?? ''] ?? '', password: env[e.password_env ?? ''] ?? '' };
  if (e.ca_file) {
    o.credentials = {
      rootCertificate: readFileSync(e.ca_file),
      ...(e.cert_file ? { certChain: readFileSync(e.cert_file) } : {}),
      ...(e.key_file ? { privateKey: readFileSync(e.key_file) } : {}),
    };
  }
  return o;
}

export interface ClusterNodeOptions {
  config: ClusterConfig;
  checksum: string;
  bans: BanPort;
  hooks: SyncHooks;
  /** The leader's ledger events (notifications, audit, history). */
  sink: LedgerEventSink;
  log: Logger;
  /** Told on every partition change (the daemon refreshes routes, logs). */
  onPartition?: (partitioned: boolean) => void;
}

export class ClusterNode {
  readonly cfg: ClusterConfig;
  readonly client: Etcd3;
  readonly ledger: Ledger;
  readonly sync: LedgerSync;
  private readonly feed: LeaderFeed;
  private readonly log: Logger;
  private readonly opts: ClusterNodeOptions;
  private checksum: string;
  private role: 'leader' | 'follower' = 'follower';
  private partitionedNow = false;
  private lastOk = Date.now();
  private watcher: Watcher | undefined;
  private lease: Lease | undefined;
  private campaign: Campaign | undefined;
  private nodes: NodeInfo[] = [];
  private readonly warned = new Set<string>();
  private mismatches = 0;
  private leaderChanges = 0;
  private timer: NodeJS.Timeout | undefined;
  private beating = false;
  private stopped = false;
  private recovering: Promise<void> | undefined;

  constructor(opts: ClusterNodeOptions) {
    this.opts = opts;
    this.cfg = opts.config;
    this.checksum = opts.checksum;
    this.log = opts.log;
    this.client = new Etcd3(etcdOptions(opts.config));
    this.ledger = new Ledger(this.client, opts.config.etcd.prefix);
    this.sync = new LedgerSync({ ledger: this.ledger, bans: opts.bans, hooks: opts.hooks, log: opts.log, nodeId: opts.config.node_id });
    this.sync.onEtcd = (ok) => this.etcdResult(ok);
    this.feed = new LeaderFeed({
      client: this.client,
      ledger: this.ledger,
      sink: opts.sink,
      log: opts.log,
      fence: () => this.holdsLeadership(),
      lost: () => void this.resign(),
    });
  }

  get nodeId(): string {
    return this.cfg.node_id;
  }

  get isLeader(): boolean {
    return this.role === 'leader';
  }

  get partitioned(): boolean {
    return this.partitionedNow;
  }

  /** Whether the ban module may create a ban now (hold: not while partitioned). */
  mayCreate(): boolean {
    return !this.partitionedNow || this.cfg.partition_policy === 'local';
  }

  /** Subscribe to the ban module's events. */
  onBanEvent(e: BanEvent): void {
    this.sync.onBanEvent(e);
  }

  /**
   * Joins: adopts the ledger's bans, watches it, writes the membership key
   * and campaigns. When etcd cannot be reached the node starts partitioned
   * and joins once it can.
   */
  async start(): Promise<void> {
    try {
      await this.join();
      this.lastOk = Date.now();
    } catch (err) {
      this.setPartitioned(true, (err as Error).message);
    }
    this.timer = setInterval(() => void this.beat(), HEARTBEAT_MS);
    this.timer.unref();
  }

  private async join(): Promise<void> {
    const revision = await this.sync.reconcile();
    await this.watch(revision);
    await this.heartbeat();
    this.startCampaign();
  }

  private async watch(revision: string): Promise<void> {
    const old = this.watcher;
    this.watcher = undefined;
    if (old) await old.cancel().catch(() => undefined);
    const w = await this.client.watch().prefix(this.ledger.bansPrefix).withPreviousKV().startRevision((BigInt(revision) + 1n).toString()).create();
    w.on('data', (res) => this.sync.onWatch(res));
    w.on('error', (err) => this.log.warn({ event: 'cluster watch error', err: err.message }, 'ledger watch error'));
    this.watcher = w;
  }

  private startCampaign(): void {
    if (this.campaign || this.stopped) return;
    // etcd3's election() puts its keys under `election/<name>/`: namespaced here so that they
    // stay under the prefix (an etcd user granted only the prefix may campaign).
    const c = this.client.namespace(`${this.cfg.etcd.prefix}/`).election('leader', NODE_TTL_SECONDS).campaign(this.cfg.node_id);
    this.campaign = c;
    c.on('elected', () => {
      if (this.campaign !== c || this.partitionedNow) return;
      this.setRole('leader');
    });
    c.on('error', (err) => {
      this.log.warn({ event: 'cluster election error', err: err.message }, 'leader campaign failed');
      if (this.campaign === c) this.campaign = undefined;
      this.setRole('follower');
    });
  }

  private setRole(role: 'leader' | 'follower'): void {
    if (this.role === role) return;
    this.role = role;
    this.leaderChanges++;
    this.log.warn({ event: 'cluster role', node: this.cfg.node_id, role }, `cluster: this node is now ${role}`);
    if (role === 'leader') void this.feed.start().catch((err: Error) => {
      this.log.error({ event: 'cluster feed error', err: err.message }, 'leader feed could not start');
      void this.resign();
    });
    else void this.feed.stop();
    void this.heartbeat().catch(() => undefined);
  }

  /**
   * Whether this node's election key still exists in etcd. It was the oldest key when this node
   * was elected, and later keys are younger: while it exists, this node is the leader.
   */
  private async holdsLeadership(): Promise<boolean> {
    const c = this.campaign;
    if (!c || this.role !== 'leader' || this.partitionedNow) return false;
    const key = await c.getCampaignKey();
    return (await this.client.get(key).exec()).kvs.length === 1;
  }

  private async resign(): Promise<void> {
    const c = this.campaign;
    this.campaign = undefined;
    this.setRole('follower');
    if (c) await c.resign().catch(() => undefined);
  }

  private async heartbeat(): Promise<void> {
    if (!this.lease || this.lease.revoked()) {
      const l = this.client.lease(NODE_TTL_SECONDS);
      l.on('lost', () => {
        if (this.lease === l) this.lease = undefined;
      });
      this.lease = l;
    }
    const me: NodeInfo = { node_id: this.cfg.node_id, role: this.role, last_seen: new Date().toISOString(), config_checksum: this.checksum };
    await this.lease.put(`${this.cfg.etcd.prefix}/nodes/${this.cfg.node_id}`).value(JSON.stringify(me));
    const r = await this.client.getAll().prefix(`${this.cfg.etcd.prefix}/nodes/`).strings();
    const nodes: NodeInfo[] = [];
    for (const v of Object.values(r)) {
      try {
        nodes.push(JSON.parse(v) as NodeInfo);
      } catch {
        /* not ours */
      }
    }
    nodes.sort((a, b) => (a.node_id < b.node_id ? -1 : 1));
    this.nodes = nodes;
    this.checkPeers(nodes);
  }

  private checkPeers(nodes: NodeInfo[]): void {
    let bad = 0;
    for (const n of nodes) {
      if (n.node_id === this.cfg.node_id || n.config_checksum === this.checksum) continue;
      bad++;
      const k = `${n.node_id}:${n.config_checksum}`;
      if (this.warned.has(k)) continue;
      this.warned.add(k);
      this.log.warn({ event: 'cluster config differs', node: n.node_id, theirs: n.config_checksum, ours: this.checksum }, `cluster node ${n.node_id} runs different networks, thresholds or ban policy (checksum ${n.config_checksum}, ours ${this.checksum})`);
    }
    this.mismatches = bad;
  }

  /** Every HEARTBEAT_MS: membership write (the health check), extensions, partition bookkeeping. */
  private async beat(): Promise<void> {
    if (this.beating || this.stopped) return;
    this.beating = true;
    try {
      if (this.partitionedNow) {
        await this.recover();
        return;
      }
      await this.heartbeat();
      this.etcdResult(true);
      if (!this.campaign) this.startCampaign();
      this.sync.pushExtensions();
    } catch (err) {
      this.etcdResult(false, (err as Error).message);
    } finally {
      this.beating = false;
    }
  }

  private etcdResult(ok: boolean, detail = ''): void {
    if (ok) {
      this.lastOk = Date.now();
      return;
    }
    if (!this.partitionedNow && Date.now() - this.lastOk >= this.cfg.etcd.dial_timeout_seconds * 1000) this.setPartitioned(true, detail);
  }

  private setPartitioned(p: boolean, detail = ''): void {
    if (this.partitionedNow === p) return;
    this.partitionedNow = p;
    if (p) {
      this.log.error(
        { event: 'cluster partitioned', node: this.cfg.node_id, policy: this.cfg.partition_policy, err: detail },
        `cluster: etcd unreachable; keeping the known bans until their TTL${this.cfg.partition_policy === 'hold' ? ', creating none' : ', banning on local decisions'}`,
      );
      void this.resign();
      const w = this.watcher;
      this.watcher = undefined;
      if (w) void w.cancel().catch(() => undefined);
    } else this.log.warn({ event: 'cluster rejoined', node: this.cfg.node_id }, 'cluster: etcd reachable again; reconciled with the ledger');
    this.opts.onPartition?.(p);
  }

  private recover(): Promise<void> {
    this.recovering ??= (async () => {
      try {
        await this.heartbeat();
        const revision = await this.sync.reconcile();
        await this.watch(revision);
        this.lastOk = Date.now();
        this.setPartitioned(false);
        this.startCampaign();
      } catch {
        // Still away. The membership lease may have run out meanwhile: a fresh one next time.
        this.lease?.release();
        this.lease = undefined;
      } finally {
        this.recovering = undefined;
      }
    })();
    return this.recovering;
  }

  status(): ClusterStatus {
    const nodes = this.nodes.map((n) => (n.node_id === this.cfg.node_id ? { ...n, role: this.role } : n));
    return { node_id: this.cfg.node_id, role: this.role, partitioned: this.partitionedNow, partition_policy: this.cfg.partition_policy, nodes };
  }

  stats(): ClusterStats {
    return {
      partitioned: this.partitionedNow,
      leader: this.role === 'leader',
      nodes: this.nodes.length,
      checksum_mismatches: this.mismatches,
      leader_changes: this.leaderChanges,
      feed_events: this.feed.delivered,
      sync: this.sync.stats(),
    };
  }

  /** A reload changed what the checksum covers. */
  setChecksum(c: string): void {
    this.checksum = c;
    this.warned.clear();
  }

  /** Leaves: feed stopped, leadership resigned, membership key revoked, client closed. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.feed.stop();
    const c = this.campaign;
    this.campaign = undefined;
    const withTimeout = (p: Promise<unknown>) => Promise.race([p.catch(() => undefined), new Promise((r) => setTimeout(r, 2000).unref())]);
    if (c) await withTimeout(c.resign());
    if (this.watcher) await withTimeout(this.watcher.cancel());
    await withTimeout(this.sync.settled());
    if (this.lease) await withTimeout(this.lease.revoke());
    this.client.close();
  }
}
