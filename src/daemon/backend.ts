/**
 * The REST API's view of a running daemon: ApiBackend over DaemonView, the
 * few things the API reads and does. It never sees the Daemon object, so the
 * API cannot reach into it, and while the daemon is starting (the API is up
 * first) the component routes answer 503 instead of reading half-built state.
 */
import type { ClusterStatus } from '../cluster/node.ts';
import { ApiError, apiCode, httpStatus } from '../core/errors.ts';
import type { Clock } from '../core/clock.ts';
import type { Config } from '../config/schema.ts';
import type { ApiBackend, BanRequest, HostSort, MutationResult, PageQuery, PageResult, ReloadResult } from '../api/server.ts';
import { after, byKeyDesc, type Keyset } from '../api/cursor.ts';
import { TenantIndex } from '../api/tenant.ts';
import type { TrafficRing } from '../api/traffic-ring.ts';
import type { Metrics } from '../api/metrics.ts';
import type { AttackView as Attack, Ban } from '../ban/types.ts';
import type { AuditEntry, Store } from '../store/sqlite.ts';
import { VERSION } from '../version.ts';
import type { Phase, Running } from './ports.ts';
import { DaemonMitigations } from './mitigations.ts';

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
  /** Cluster mode: this node, its role and its peers (undefined without `cluster`). */
  clusterStatus?(): ClusterStatus | undefined;
  /** The in-memory rates of the last minutes (undefined before it exists). */
  traffic?(): TrafficRing | undefined;
}

/** Rows read per step when a tenant's list is filtered from the store. */
const SCAN = 500;

/** The result of an audit action: refusals and failures say so in their name. */
export function auditResult(action: string): 'ok' | 'refused' | 'failed' {
  if (/refused|denied/.test(action)) return 'refused';
  if (/failed|error/.test(action)) return 'failed';
  return 'ok';
}

/**
 * A newest-first keyset page over the items in memory (`live`) and those in
 * the store (read `SCAN` at a time from the cursor on), keeping what `keep`
 * accepts: exact because every stored row not read ranks below the ones read.
 */
function keysetPage<T>(q: PageQuery, live: T[], key: (x: T) => Keyset, keep: (x: T) => boolean, stored: (before: Keyset | undefined, limit: number) => T[]): { items: T[]; more: boolean } {
  const need = q.offset + q.limit + 1;
  const c = q.cursor;
  const seen = new Set<string>();
  const pool: T[] = [];
  for (const x of live) {
    const k = key(x);
    if (c && !after(c, k.t, k.id)) continue;
    seen.add(k.id);
    if (keep(x)) pool.push(x);
  }
  let before = c;
  let got = 0;
  for (;;) {
    const rows = stored(before, SCAN);
    for (const x of rows) {
      const k = key(x);
      if (seen.has(k.id)) continue;
      seen.add(k.id);
      if (keep(x)) {
        pool.push(x);
        got++;
      }
    }
    if (rows.length < SCAN || got >= need) break;
    before = key(rows[rows.length - 1]);
  }
  pool.sort((a, b) => byKeyDesc(key(a), key(b)));
  const items = pool.slice(q.offset, q.offset + q.limit);
  return { items, more: pool.length > q.offset + q.limit };
}

const attackKey = (a: { start: number; id: string }): Keyset => ({ t: a.start, id: a.id });
const banKey = (b: { created: number; id: string }): Keyset => ({ t: b.created, id: b.id });
const auditKey = (e: { time: number; id?: number }): Keyset => ({ t: e.time, id: String(e.id ?? 0).padStart(15, '0') });

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

/** A page of a small list sorted by name (exporters, neighbors): the keyset is the name. */
function pageByName<T>(all: T[], q: PageQuery, name: (x: T) => string): PageResult<T> {
  // Ascending by name: the cursor's id is the last name shown (t stays 0).
  const c = q.cursor;
  const rest = c ? all.filter((x) => name(x) > c.id) : all;
  const items = rest.slice(q.offset, q.offset + q.limit);
  const more = rest.length > q.offset + q.limit;
  return { total: all.length, items, next: more ? { t: 0, id: name(items[items.length - 1]) } : undefined };
}

export class DaemonBackend implements ApiBackend {
  private readonly d: DaemonView;
  readonly mitigations: DaemonMitigations;

  private tenantCache?: { cfg: unknown; idx: TenantIndex };

  constructor(d: DaemonView) {
    this.d = d;
    this.mitigations = new DaemonMitigations(d, (r, b) => this.banView(r, b));
  }

  private tenants(): TenantIndex {
    const cfg = this.d.config();
    if (this.tenantCache?.cfg !== cfg) this.tenantCache = { cfg, idx: new TenantIndex(cfg.hostgroups) };
    return this.tenantCache.idx;
  }

  inTenant(target: string, tenant: string): boolean {
    return this.tenants().allows(tenant, target);
  }

  traffic(): TrafficRing | undefined {
    return this.d.traffic?.();
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
      ...(b.ended === undefined && b.route.type === 'flowspec' ? { lint: r.mitigator.lintOf(b) } : {}),
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

  status(tenant?: string): Record<string, unknown> {
    if (tenant !== undefined) return this.tenantStatus(tenant);
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
      ...(this.d.clusterStatus?.() ? { cluster: this.d.clusterStatus?.() } : {}),
    };
  }

  /** A scoped token's status: the mode and its own totals, nothing about other tenants or the infrastructure. */
  private tenantStatus(tenant: string): Record<string, unknown> {
    const idx = this.tenants();
    const r = this.d.running();
    return {
      mode: this.mode(),
      dry_run: this.d.config().dry_run,
      version: VERSION,
      ready: this.ready(),
      phase: this.d.phase(),
      tenant,
      active_attacks: [...this.d.attacks().values()].filter((a) => idx.allows(tenant, a.target)).length,
      active_bans: r ? r.mitigator.activeBans().filter((b) => idx.allows(tenant, b.target)).length : 0,
    };
  }

  attacks(q: PageQuery): PageResult {
    const r = this.up();
    if (q.cursor || q.tenant !== undefined) {
      const idx = this.tenants();
      const keep = (a: Attack) => q.tenant === undefined || idx.allows(q.tenant, a.target);
      const live = q.active === false ? [] : [...this.d.attacks().values()];
      const page = keysetPage<Attack>(q, live, attackKey, keep, (before, limit) => (q.active === true ? [] : this.d.store.listAttacks({ active: false, before, limit }).items));
      const total =
        q.tenant === undefined
          ? live.length + (q.active === true ? 0 : this.d.store.listAttacks({ active: false, limit: 1 }).total)
          : live.filter(keep).length + (q.active === true ? 0 : this.d.store.listTargets('attacks', false).filter((t) => idx.allows(q.tenant, t)).length);
      return { total, items: page.items.map((a) => this.attackView(r, a)), next: page.more ? attackKey(page.items[page.items.length - 1]) : undefined };
    }
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
    const last = items[items.length - 1] as Attack | undefined;
    return { total, items, next: last && q.offset + items.length < total ? attackKey(last) : undefined };
  }

  bans(q: PageQuery): PageResult {
    const r = this.up();
    const now = this.d.clock.now();
    if (q.cursor || q.tenant !== undefined) {
      const idx = this.tenants();
      const keep = (b: Ban) => q.tenant === undefined || idx.allows(q.tenant, b.target);
      const live = q.active === false ? [] : r.mitigator.activeBans();
      const liveIds = new Set(live.map((b) => b.id));
      const page = keysetPage<Ban>(q, live, banKey, keep, (before, limit) => (q.active === true ? [] : this.d.store.listBans({ active: false, before, limit }).items));
      const total =
        q.tenant === undefined
          ? live.length + (q.active === true ? 0 : this.d.store.listBans({ active: false, limit: 1 }).total)
          : live.filter(keep).length + (q.active === true ? 0 : this.d.store.listTargets('bans', false).filter((t) => idx.allows(q.tenant, t)).length);
      const items = page.items.map((b) => (liveIds.has(b.id) ? this.banView(r, b, now) : { ...this.banView(r, b, now), announced_to: [], stored_announced_to: (b as { announced_to?: string[] }).announced_to ?? [] }));
      return { total, items, next: page.more ? banKey(page.items[page.items.length - 1]) : undefined };
    }
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
    const last = items[items.length - 1] as Ban | undefined;
    return { total, items, next: last && q.offset + items.length < total ? banKey(last) : undefined };
  }

  hosts(q: PageQuery & { direction?: 'incoming' | 'outgoing'; sort?: HostSort }): PageResult {
    const engine = this.up().engine;
    const groups = this.d.config().hostgroups;
    const t = q.tenant;
    // Ranked by the asked rate, ties by "ip|direction": a keyset on (rate, id) pages through it.
    const res = engine.top({
      limit: q.offset + q.limit + 1,
      by: q.sort === 'bps' ? 'bps' : q.sort === 'flows' ? 'fps' : 'pps',
      direction: q.direction,
      ...(t !== undefined ? { group: (g: number) => g > 0 && groups[g - 1]?.tenant === t } : {}),
      ...(q.cursor ? { after: { value: q.cursor.t, id: q.cursor.id } } : {}),
    });
    const items = res.items.slice(q.offset, q.offset + q.limit).map((h) => ({ ...h, bps: Math.round(h.mbps * 1e6) }));
    const more = res.items.length > q.offset + q.limit;
    const k = res.keys[q.offset + items.length - 1];
    return { total: res.total, items, next: more && k ? { t: k.value, id: k.id } : undefined };
  }

  exporters(q: PageQuery): PageResult {
    const r = this.up();
    const flows = r.collector.stats();
    const rates = this.d.rates();
    const now = this.d.clock.now();
    const all = flows.exporters
      .map((e) => {
        const proto = Object.entries(e.byProto).sort((a, b) => (b[1] ?? 0) - (a[1] ?? 0))[0]?.[0] ?? 'unknown';
        const dropped: Record<string, number> = {};
        for (const [reason, bySrc] of Object.entries(flows.dropped_sources ?? {})) if (bySrc[e.exporter]) dropped[reason] = bySrc[e.exporter];
        const errors = Object.values(e.errors).reduce((x, y) => x + y, 0);
        const rt = rates[e.exporter] ?? { datagrams_per_s: 0, records_per_s: 0 };
        const silent = e.lastSeen > 0 && now - e.lastSeen > 60_000;
        return {
          address: e.exporter,
          protocol: proto,
          datagrams_per_second: rt.datagrams_per_s,
          records_per_second: rt.records_per_s,
          sampling_rate: (e as { samplingRate?: number }).samplingRate ?? null,
          last_seen: e.lastSeen ? new Date(e.lastSeen).toISOString() : null,
          errors,
          dropped,
          flagged: errors > 0 || Object.keys(dropped).length > 0 || silent,
          datagrams: e.datagrams,
          records: e.records,
          templates: e.templates,
          no_template: e.noTemplate,
        };
      })
      .sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
    return pageByName(all, q, (x) => x.address);
  }

  neighbors(q: PageQuery): PageResult {
    const r = this.up();
    const cfg = this.d.config();
    const all = r.bgp
      .neighbors()
      .map((n) => {
        const c = cfg.bgp.neighbors.find((x) => x.address === n.neighbor) as ({ remote_asn: number; profile?: string } & Record<string, unknown>) | undefined;
        return {
          address: n.neighbor,
          asn: c?.remote_asn ?? 0,
          state: n.state,
          families: n.families ?? [],
          routes_sent: n.routes_sent ?? n.routes_out,
          routes_out: n.routes_out,
          held_routes: n.held_routes ?? 0,
          last_error: n.last_error,
          uptime_seconds: n.uptime_seconds ?? 0,
          flaps: n.flaps,
          profile: c?.profile ?? null,
        };
      })
      .sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
    return pageByName(all, q, (x) => x.address);
  }

  host(ip: string): Record<string, unknown> | undefined {
    const r = this.up();
    const h = r.engine.host(ip);
    if (!h || h.length === 0) return undefined;
    const ban = r.mitigator.activeBans().find((b) => b.target === ip);
    return { ip, directions: h, ban: ban ? this.banView(r, ban) : null };
  }

  private refused(what: string, reason: string, detail: string): MutationResult {
    return { ok: false, status: httpStatus(reason), code: apiCode(reason), error: `${what} refused: ${detail}`, reason };
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
    const view = (e: AuditEntry) => ({ ...e, time: new Date(e.time).toISOString(), result: auditResult(e.action) });
    const store = this.d.store;
    if (q.cursor || q.tenant !== undefined) {
      const idx = this.tenants();
      const keep = (e: AuditEntry) => q.tenant === undefined || (e.target !== undefined && idx.allows(q.tenant, e.target));
      const page = keysetPage<AuditEntry>(q, [], auditKey, keep, (before, limit) => store.listAudit({ limit, action: q.action, before: before ? { t: before.t, id: Number(before.id) } : undefined }).items);
      const total = q.tenant === undefined ? store.listAudit({ limit: 1, action: q.action }).total : store.listTargets('audit', undefined, q.action).filter((t) => idx.allows(q.tenant, t)).length;
      return { total, items: page.items.map(view), next: page.more ? auditKey(page.items[page.items.length - 1]) : undefined };
    }
    const page = store.listAudit({ limit: q.limit, offset: q.offset, action: q.action });
    const last = page.items[page.items.length - 1];
    return { total: page.total, items: page.items.map(view), next: last && q.offset + page.items.length < page.total ? auditKey(last) : undefined };
  }

  config(): Record<string, unknown> {
    return redactConfig(this.d.config()) as Record<string, unknown>;
  }

  metrics() {
    return this.d.metrics.render();
  }
}
