/**
 * The REST API's view of a running daemon: ApiBackend over DaemonView, the
 * few things the API reads and does. It never sees the Daemon object, so the
 * API cannot reach into it, and while the daemon is starting (the API is up
 * first) the component routes answer 503 instead of reading half-built state.
 */
import { ApiError, httpStatus, type ApiErrorCode } from '../core/errors.ts';
import type { Clock } from '../core/clock.ts';
import type { Config } from '../config/schema.ts';
import type { ApiBackend, BanRequest, MutationResult, PageQuery, PageResult, ReloadResult } from '../api/server.ts';
import type { Metrics } from '../api/metrics.ts';
import type { AttackView as Attack, Ban } from '../ban/types.ts';
import type { Store } from '../store/sqlite.ts';
import { VERSION } from '../version.ts';
import type { Phase, Running } from './ports.ts';

export interface DaemonView {
  readonly clock: Clock;
  readonly startedAt: number;
  readonly store: Store;
  readonly metrics: Metrics;
  config(): Readonly<Config>;
  phase(): Phase;
  /** The components, once all exist (undefined while starting). */
  running(): Running | undefined;
  /** Attacks in progress, by id. */
  attacks(): ReadonlyMap<string, Attack>;
  rates(): Readonly<Record<string, { datagrams_per_s: number; records_per_s: number }>>;
  reload(actor: string, opts: { force: boolean }): Promise<ReloadResult>;
  /** Notification channels for the status (undefined before they exist). */
  notifyStatus(): Record<string, unknown> | undefined;
  /** ClickHouse history for the status (undefined without storage.clickhouse). */
  historyStatus(): Record<string, unknown> | undefined;
}

/** The API error code for a refusal's HTTP status (the status comes from the catalogue, by the refusal's code). */
const CODE_BY_STATUS: Readonly<Record<number, ApiErrorCode>> = { 400: 'bad_request', 404: 'not_found', 409: 'conflict' };

/** Keys whose value is a secret even though the file holds it (URLs with embedded credentials or keys). */
const SECRET_KEYS = new Set(['webhook_url', 'url']);

/** The config with values that can carry secrets hidden; `*_env` keys only name variables and stay. */
export function redactConfig(value: unknown, key = ''): unknown {
  if (Array.isArray(value)) return value.map((x) => redactConfig(x));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(value)) out[k] = redactConfig(x, k);
    return out;
  }
  if (typeof value === 'string' && SECRET_KEYS.has(key) && value !== '') return '(hidden)';
  if (typeof value === 'string' && /^[a-z][a-z0-9+.-]*:\/\/[^/@]*@/i.test(value)) return value.replace(/\/\/[^/@]*@/, '//(hidden)@');
  return value;
}

export class DaemonBackend implements ApiBackend {
  private readonly d: DaemonView;

  constructor(d: DaemonView) {
    this.d = d;
  }

  private mode(): 'dry_run' | 'live' {
    return this.d.config().dry_run ? 'dry_run' : 'live';
  }

  ready(): boolean {
    return this.d.phase() === 'running';
  }

  /** The API starts before the engine, speaker and collector: until they exist, 503. */
  private up(): Running {
    const r = this.d.running();
    if (!r) throw new ApiError('not_ready', 'starting: not ready yet', { ready: false });
    return r;
  }

  /** Bans, unbans and reloads wait for ready (and are refused while stopping). */
  private readyForChange(): Running {
    const r = this.up();
    if (this.d.phase() !== 'running') throw new ApiError('not_ready', 'not ready: starting or stopping', { ready: false });
    return r;
  }

  banView(r: Running, b: Ban, now = this.d.clock.now()): Record<string, unknown> {
    const announced = b.ended === undefined ? r.mitigator.announcedNeighbors(b.id) : [];
    return {
      ...b,
      active: b.ended === undefined,
      ttl_left_seconds: b.ended === undefined ? Math.max(0, Math.round((b.expires - now) / 1000)) : 0,
      announced_to: announced,
      mode: this.mode(),
      announced: announced.length > 0,
    };
  }

  /** Active bans by the attacks they cover: read once per list (activeBans() copies every ban). */
  private bansByAttack(r: Running): Map<string, Ban> {
    const out = new Map<string, Ban>();
    for (const b of r.mitigator.activeBans()) {
      if (b.attack_id && !out.has(b.attack_id)) out.set(b.attack_id, b);
      for (const id of b.attack_ids ?? []) if (!out.has(id)) out.set(id, b);
    }
    return out;
  }

  private attackView(r: Running, a: Attack, bans = this.bansByAttack(r)): Record<string, unknown> {
    const ban = bans.get(a.id);
    return {
      ...a,
      active: a.end === undefined,
      mode: this.mode(),
      ban: ban ? { id: ban.id, target: ban.target, announced_to: r.mitigator.announcedNeighbors(ban.id), expires: ban.expires } : null,
    };
  }

  status(): Record<string, unknown> {
    const d = this.d;
    const cfg = d.config();
    const now = d.clock.now();
    const r = d.running();
    const m = r ? r.mitigator.stats() : undefined;
    const flows = r ? r.collector.stats() : { exporters: [], dropped: {} };
    const rates = d.rates();
    const store = d.store.stats;
    return {
      mode: this.mode(),
      dry_run: cfg.dry_run,
      version: VERSION,
      node: process.version,
      pid: process.pid,
      started: new Date(d.startedAt).toISOString(),
      uptime_seconds: Math.round((now - d.startedAt) / 1000),
      ready: this.ready(),
      phase: d.phase(),
      active_attacks: d.attacks().size,
      active_bans: r ? r.mitigator.activeBans().length : 0,
      announced_routes: m ? m.announced_routes : { real: 0, dry_run: 0 },
      flowspec_rules: m ? m.flowspec_rules : { real: 0, dry_run: 0 },
      neighbors: (r ? r.bgp.neighbors() : []).map((n) => ({ address: n.neighbor, state: n.state, uptime_seconds: n.uptime_seconds, families: n.families, routes_out: n.routes_out, routes_sent: n.routes_sent, held_routes: n.held_routes, flaps: n.flaps, last_error: n.last_error || undefined })),
      ingest: flows.exporters.map((e) => ({
        exporter: e.exporter,
        datagrams: e.datagrams,
        records: e.records,
        ...(rates[e.exporter] ?? { datagrams_per_s: 0, records_per_s: 0 }),
        last_seen: e.lastSeen ? new Date(e.lastSeen).toISOString() : undefined,
        errors: Object.values(e.errors).reduce((x, y) => x + y, 0),
      })),
      ingest_dropped: flows.dropped,
      listeners: r ? r.collector.addresses() : {},
      store: { path: store.path, degraded: store.degraded, pending_writes: store.pending, last_error: store.last_error || undefined },
      notify: this.d.notifyStatus(),
      history: this.d.historyStatus(),
    };
  }

  attacks(q: PageQuery): PageResult {
    const r = this.up();
    const active = [...this.d.attacks().values()].sort((a, b) => b.start - a.start);
    const items: unknown[] = [];
    let total = 0;
    const bans = this.bansByAttack(r);
    if (q.active !== false) {
      total += active.length;
      for (const a of active.slice(q.offset, q.offset + q.limit)) items.push(this.attackView(r, a, bans));
    }
    if (q.active !== true) {
      const skip = Math.max(0, q.offset - (q.active === false ? 0 : active.length));
      const room = q.limit - items.length;
      const hist = this.d.store.listAttacks({ active: false, limit: Math.max(1, room), offset: skip });
      total += hist.total;
      if (room > 0) for (const a of hist.items.slice(0, room)) items.push(this.attackView(r, a, bans));
    }
    return { total, items };
  }

  bans(q: PageQuery): PageResult {
    const r = this.up();
    const now = this.d.clock.now();
    const active = r.mitigator.activeBans().sort((a, b) => b.created - a.created);
    const items: unknown[] = [];
    let total = 0;
    if (q.active !== false) {
      total += active.length;
      for (const b of active.slice(q.offset, q.offset + q.limit)) items.push(this.banView(r, b, now));
    }
    if (q.active !== true) {
      const skip = Math.max(0, q.offset - (q.active === false ? 0 : active.length));
      const room = q.limit - items.length;
      const hist = this.d.store.listBans({ active: false, limit: Math.max(1, room), offset: skip });
      total += hist.total;
      if (room > 0) for (const b of hist.items.slice(0, room)) items.push({ ...this.banView(r, b, now), announced_to: [], stored_announced_to: b.announced_to });
    }
    return { total, items };
  }

  hosts(q: PageQuery & { direction?: 'incoming' | 'outgoing' }): PageResult {
    const all = this.up().engine.hosts({ limit: q.offset + q.limit, direction: q.direction });
    return { total: all.length, items: all.slice(q.offset, q.offset + q.limit) };
  }

  host(ip: string): Record<string, unknown> | undefined {
    const r = this.up();
    const h = r.engine.host(ip);
    if (!h || h.length === 0) return undefined;
    const ban = r.mitigator.activeBans().find((b) => b.target === ip);
    return { ip, directions: h, ban: ban ? this.banView(r, ban) : null };
  }

  private refused(what: string, reason: string, detail: string): MutationResult {
    const status = httpStatus(reason);
    return { ok: false, status, code: CODE_BY_STATUS[status] ?? 'internal', error: `${what} refused: ${detail}`, reason };
  }

  ban(req: BanRequest, actor: string): MutationResult {
    const r = this.readyForChange();
    const out = r.engine.manualBan({ ip: req.ip, ttlSeconds: req.ttl_seconds, actor, reason: req.reason });
    if (!out.ok) return this.refused('ban', out.reason, out.detail);
    return { ok: true, status: 201, body: { ban: this.banView(r, out.ban) } };
  }

  unban(req: BanRequest, actor: string): MutationResult {
    const out = this.readyForChange().engine.manualUnban({ ip: req.ip, actor });
    if (!out.ok) return this.refused('unban', out.reason, out.detail);
    return { ok: true, body: { unbanned: req.ip, ban: { ...out.ban, active: false } } };
  }

  reload(actor: string, opts: { force: boolean } = { force: false }): Promise<ReloadResult> {
    this.readyForChange();
    return this.d.reload(actor, opts);
  }

  audit(q: PageQuery & { action?: string }): PageResult {
    const page = this.d.store.listAudit({ limit: q.limit, offset: q.offset, action: q.action });
    return { total: page.total, items: page.items.map((e) => ({ ...e, time: new Date(e.time).toISOString() })) };
  }

  config(): Record<string, unknown> {
    return redactConfig(this.d.config()) as Record<string, unknown>;
  }

  metrics() {
    return this.d.metrics.render();
  }
}
