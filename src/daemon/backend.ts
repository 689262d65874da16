/** The REST API's view of a running daemon (ApiBackend over Daemon). */
import { HttpError, type ApiBackend, type BanRequest, type MutationResult, type PageQuery, type PageResult, type ReloadResult } from '../api/server.ts';
import type { Attack, Ban } from '../engine/events.ts';
import { VERSION } from '../version.ts';
import type { Daemon } from './daemon.ts';

/** HTTP status for a refused manual ban or unban. */
function refusalStatus(reason: string): number {
  if (reason === 'invalid_target' || reason === 'invalid_ttl') return 400;
  if (reason === 'not_banned') return 404;
  return 409;
}

export class DaemonBackend implements ApiBackend {
  private readonly d: Daemon;

  constructor(d: Daemon) {
    this.d = d;
  }

  private mode(): 'dry_run' | 'live' {
    return this.d.cfg.dry_run ? 'dry_run' : 'live';
  }

  ready(): boolean {
    return this.d.ready;
  }

  /** The API starts before the engine, speaker and collector: until they exist, 503. */
  private up(): Daemon {
    const d = this.d;
    if (!d.mitigator || !d.engine || !d.collector || !d.bgp) throw new HttpError(503, 'starting: not ready yet', { ready: false });
    return d;
  }

  /** Bans, unbans and reloads wait for ready (and are refused while stopping). */
  private readyForChange(): Daemon {
    const d = this.up();
    if (!d.ready) throw new HttpError(503, 'not ready: starting or stopping', { ready: false });
    return d;
  }

  banView(b: Ban, now = this.d.clock.now()): Record<string, unknown> {
    const announced = b.ended === undefined ? this.d.mitigator.announcedNeighbors(b.id) : [];
    return {
      ...b,
      active: b.ended === undefined,
      ttl_left_seconds: b.ended === undefined ? Math.max(0, Math.round((b.expires - now) / 1000)) : 0,
      announced_to: announced,
      mode: this.mode(),
      announced: announced.length > 0,
    };
  }

  private attackView(a: Attack): Record<string, unknown> {
    const ban = this.d.mitigator.activeBans().find((b) => b.attack_id === a.id || b.attack_ids?.includes(a.id));
    return {
      ...a,
      active: a.end === undefined,
      mode: this.mode(),
      ban: ban ? { id: ban.id, target: ban.target, announced_to: this.d.mitigator.announcedNeighbors(ban.id), expires: ban.expires } : null,
    };
  }

  status(): Record<string, unknown> {
    const d = this.d;
    const now = d.clock.now();
    const m = d.mitigator?.stats();
    const flows = d.collector?.stats() ?? { exporters: [], dropped: {} };
    return {
      mode: this.mode(),
      dry_run: d.cfg.dry_run,
      version: VERSION,
      node: process.version,
      pid: process.pid,
      started: new Date(d.startedAt).toISOString(),
      uptime_seconds: Math.round((now - d.startedAt) / 1000),
      ready: d.ready,
      active_attacks: d.attacks.size,
      active_bans: d.mitigator?.activeBans().length ?? 0,
      announced_routes: m?.announced_routes ?? { real: 0, dry_run: 0 },
      flowspec_rules: m?.flowspec_rules ?? { real: 0, dry_run: 0 },
      neighbors: (d.bgp?.neighbors() ?? []).map((n) => ({ address: n.neighbor, state: n.state, uptime_seconds: n.uptime_seconds, families: n.families, routes_out: n.routes_out, routes_sent: n.routes_sent, held_routes: n.held_routes, flaps: n.flaps, last_error: n.last_error || undefined })),
      ingest: flows.exporters.map((e) => ({
        exporter: e.exporter,
        datagrams: e.datagrams,
        records: e.records,
        ...(d.rates[e.exporter] ?? { datagrams_per_s: 0, records_per_s: 0 }),
        last_seen: e.lastSeen ? new Date(e.lastSeen).toISOString() : undefined,
        errors: Object.values(e.errors).reduce((x, y) => x + y, 0),
      })),
      ingest_dropped: flows.dropped,
      listeners: d.collector?.addresses() ?? {},
      history: d.history?.status(),
      store: d.store ? { path: d.store.path, degraded: d.store.stats.degraded, pending_writes: d.store.stats.pending, last_error: d.store.stats.last_error || undefined } : undefined,
    };
  }

  attacks(q: PageQuery): PageResult {
    const d = this.up();
    const active = [...d.attacks.values()].sort((a, b) => b.start - a.start);
    const items: unknown[] = [];
    let total = 0;
    if (q.active !== false) {
      total += active.length;
      for (const a of active.slice(q.offset, q.offset + q.limit)) items.push(this.attackView(a));
    }
    if (q.active !== true) {
      const skip = Math.max(0, q.offset - (q.active === false ? 0 : active.length));
      const room = q.limit - items.length;
      const hist = d.store.listAttacks({ active: false, limit: Math.max(1, room), offset: skip });
      total += hist.total;
      if (room > 0) for (const a of hist.items.slice(0, room)) items.push(this.attackView(a));
    }
    return { total, items };
  }

  bans(q: PageQuery): PageResult {
    const d = this.up();
    const now = d.clock.now();
    const active = d.mitigator.activeBans().sort((a, b) => b.created - a.created);
    const items: unknown[] = [];
    let total = 0;
    if (q.active !== false) {
      total += active.length;
      for (const b of active.slice(q.offset, q.offset + q.limit)) items.push(this.banView(b, now));
    }
    if (q.active !== true) {
      const skip = Math.max(0, q.offset - (q.active === false ? 0 : active.length));
      const room = q.limit - items.length;
      const hist = d.store.listBans({ active: false, limit: Math.max(1, room), offset: skip });
      total += hist.total;
      if (room > 0) for (const b of hist.items.slice(0, room)) items.push({ ...this.banView(b, now), announced_to: [], stored_announced_to: b.announced_to });
    }
    return { total, items };
  }

  hosts(q: PageQuery & { direction?: 'incoming' | 'outgoing' }): PageResult {
    const all = this.up().engine.hosts({ limit: q.offset + q.limit, direction: q.direction });
    return { total: all.length, items: all.slice(q.offset, q.offset + q.limit) };
  }

  host(ip: string): Record<string, unknown> | undefined {
    const h = this.up().engine.host(ip);
    if (!h || h.length === 0) return undefined;
    const ban = this.d.mitigator.activeBans().find((b) => b.target === ip);
    return { ip, directions: h, ban: ban ? this.banView(ban) : null };
  }

  ban(req: BanRequest, actor: string): MutationResult {
    const r = this.readyForChange().manualBan(req.ip, req.ttl_seconds, actor, req.reason);
    if (!r.ok) return { ok: false, status: refusalStatus(r.reason), error: `ban refused: ${r.detail}`, reason: r.reason };
    return { ok: true, status: 201, body: { ban: this.banView(r.ban) } };
  }

  unban(req: BanRequest, actor: string): MutationResult {
    const r = this.readyForChange().manualUnban(req.ip, actor);
    if (!r.ok) return { ok: false, status: refusalStatus(r.reason), error: `unban refused: ${r.detail}`, reason: r.reason };
    return { ok: true, body: { unbanned: req.ip, ban: { ...r.ban, active: false } } };
  }

  reload(actor: string): Promise<ReloadResult> {
    return this.readyForChange().reload(actor);
  }

  metrics() {
    return this.d.metrics.render();
  }
}
