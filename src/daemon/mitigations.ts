/**
 * The API's manual mitigations over a running daemon: methods, preview
 * (route, lint per neighbor, collateral), start (a manual ban through the
 * ban module's guards, with its FlowSpec choice), end, and "infer from
 * alarm". Reads only through the daemon's view (backend.ts DaemonView fits).
 */
import { ApiError, BreakwaterError, httpStatus, type ApiErrorCode } from '../core/errors.ts';
import { parsePrefix, prefixCovers } from '../core/ip.ts';
import type { MitigationBackend, MitigationRequest, PreviewQuery } from '../api/mitigation-routes.ts';
import { DEFAULT_PREVIEW_WINDOW_SECONDS } from '../api/mitigation-routes.ts';
import type { MutationResult } from '../api/server.ts';
import type { Attack, SampleFlow } from '../engine/events.ts';
import type { AttackView, Ban, FlowspecChoice, RouteIntent } from '../ban/types.ts';
import { buildRoute, flowspecMatches } from '../mitigation/route.ts';
import { choiceRoute, findMethod, inferMatch, listMethods } from '../mitigation/methods.ts';
import { previewCollateral, type Collateral, type CounterView } from '../mitigation/collateral.ts';
import type { Clock } from '../core/clock.ts';
import type { Config } from '../config/schema.ts';
import type { Store } from '../store/sqlite.ts';
import type { Phase, Running } from './ports.ts';

/** The part of backend.ts DaemonView this needs. */
export interface MitigationsView {
  readonly clock: Clock;
  readonly store: Store;
  config(): Readonly<Config>;
  phase(): Phase;
  running(): Running | undefined;
  attacks(): ReadonlyMap<string, AttackView>;
}

const CODE_BY_STATUS: Readonly<Record<number, ApiErrorCode>> = { 400: 'bad_request', 404: 'not_found', 409: 'conflict' };

/** How many ended attacks (newest first) are searched for samples and for infer. */
const RECENT_ATTACKS = 200;

export class DaemonMitigations implements MitigationBackend {
  private readonly d: MitigationsView;
  private readonly banView: (r: Running, b: Ban) => Record<string, unknown>;

  constructor(d: MitigationsView, banView: (r: Running, b: Ban) => Record<string, unknown>) {
    this.d = d;
    this.banView = banView;
  }

  private up(): Running {
    const r = this.d.running();
    if (!r) throw new ApiError('not_ready', 'starting: not ready yet', { ready: false });
    return r;
  }

  methods(): Record<string, unknown> {
    return listMethods(this.d.config());
  }

  private choiceOf(q: { method?: string; match?: PreviewQuery['match']; action?: PreviewQuery['action']; platforms?: string[] }): FlowspecChoice | undefined {
    if (q.method === undefined && q.match === undefined && q.action === undefined) return undefined;
    if (q.method !== undefined && !findMethod(this.d.config(), q.method)) throw new ApiError('not_found', `no flowspec_methods entry named "${q.method}"`);
    const c: FlowspecChoice = {};
    if (q.method !== undefined) c.method = q.method;
    if (q.match !== undefined) c.match = q.match;
    if (q.action !== undefined) c.action = q.action;
    if (q.platforms?.length) c.platforms = [...q.platforms];
    return c;
  }

  /** The route a mitigation of `target` with `choice` would have (the target's usual route without one). */
  private routeOf(target: string, choice: FlowspecChoice | undefined): RouteIntent {
    try {
      if (choice) return choiceRoute(choice, target, this.d.config());
      return buildRoute({ target, family: target.includes(':') ? 6 : 4 }, this.d.config());
    } catch (e) {
      if (e instanceof BreakwaterError) throw new ApiError('bad_request', e.message, { reason: e.code });
      throw e;
    }
  }

  /** Attacks on (inside) the target: active first, then the most recent ended ones. */
  private attacksOn(r: Running, target: string): Attack[] {
    const t = parsePrefix(target);
    if (typeof t === 'string') return [];
    const inside = (a: Attack) => {
      const p = parsePrefix(a.target);
      return typeof p !== 'string' && (prefixCovers(t, p) || prefixCovers(p, t));
    };
    const active = r.engine.activeAttacks().filter(inside);
    const ended = this.d.store.listAttacks({ active: false, limit: RECENT_ATTACKS, offset: 0 }).items.filter(inside);
    return [...active, ...ended];
  }

  private counters(r: Running, target: string): CounterView | undefined {
    const t = parsePrefix(target);
    if (typeof t === 'string') return undefined;
    const host = t.len === (t.family === 4 ? 32 : 128);
    const rows = host
      ? (r.engine.host(target.split('/')[0]) ?? [])
      : r.engine.hosts({ limit: 1_000_000, direction: 'incoming' }).filter((h) => {
          const p = parsePrefix(h.ip);
          return typeof p !== 'string' && prefixCovers(t, p);
        });
    const inc = rows.filter((h) => h.direction === 'incoming');
    if (!inc.length) return undefined;
    const sum = (k: 'pps' | 'tcp_pps' | 'udp_pps' | 'icmp_pps') => inc.reduce((s, h) => s + (Number((h as unknown as Record<string, number>)[k]) || 0), 0);
    return { pps: sum('pps'), tcp_pps: sum('tcp_pps'), udp_pps: sum('udp_pps'), icmp_pps: sum('icmp_pps') };
  }

  /** Collateral of a route on a target now, from the attacks' samples and the host counters. */
  collateral(r: Running, target: string, route: RouteIntent, windowSeconds = DEFAULT_PREVIEW_WINDOW_SECONDS): Collateral {
    const attacks = this.attacksOn(r, target);
    const flows: SampleFlow[] = attacks.flatMap((a) => a.summary?.sample ?? []);
    const latest = attacks[0];
    const active = attacks.filter((a) => a.end === undefined);
    return previewCollateral({
      target,
      route,
      flows,
      counters: this.counters(r, target),
      attack_pps: active.length ? active.reduce((s, a) => s + a.pps, 0) : undefined,
      attackRules: latest ? flowspecMatches({ target: latest.target, family: latest.family, vector: latest.vector, summary: latest.summary, direction: latest.direction }) : undefined,
      direction: latest?.direction,
      window_seconds: windowSeconds,
      now: this.d.clock.now(),
    });
  }

  preview(q: PreviewQuery): Record<string, unknown> {
    const r = this.up();
    const choice = this.choiceOf(q);
    const route = this.routeOf(q.target, choice);
    const pseudo = { id: 'preview', target: q.target, route, hostgroup: undefined };
    return {
      target: q.target,
      kind: route.type,
      ...(route.type === 'flowspec' && route.method ? { method: route.method } : {}),
      ...(route.type === 'flowspec' && route.platforms ? { platforms: route.platforms } : {}),
      routes: route.type === 'flowspec' ? route.rules : [route],
      lint: r.mitigator.lintOf(pseudo),
      collateral: this.collateral(r, q.target, route, q.window_seconds),
      mode: this.d.config().dry_run ? 'dry_run' : 'live',
    };
  }

  private ready(): Running {
    const r = this.up();
    if (this.d.phase() !== 'running') throw new ApiError('not_ready', 'not ready: starting or stopping', { ready: false });
    return r;
  }

  private refused(what: string, reason: string, detail: string): MutationResult {
    const status = httpStatus(reason);
    return { ok: false, status, code: CODE_BY_STATUS[status] ?? 'internal', error: `${what} refused: ${detail}`, reason };
  }

  mitigate(req: MitigationRequest, actor: string): MutationResult {
    const r = this.ready();
    const choice = this.choiceOf(req);
    const route = this.routeOf(req.target, choice); // validates the method, platforms and match before the guards
    const collateral = this.collateral(r, req.target, route);
    const out = r.engine.manualBan({ ip: req.target, ttlSeconds: req.ttl_seconds, actor, reason: req.reason ?? (choice?.method ? `manual FlowSpec: ${choice.method}` : choice ? 'manual FlowSpec' : undefined), ...(choice ? { flowspec: choice } : {}) });
    if (!out.ok) return this.refused('mitigation', out.reason, out.detail);
    const ban = r.engine.banById(out.ban.id) ?? out.ban;
    return { ok: true, status: 201, body: { id: ban.id, ban: this.banView(r, ban), lint: r.mitigator.lintOf(ban), collateral } };
  }

  end(id: string, actor: string, owns?: (target: string) => boolean): MutationResult {
    const r = this.ready();
    const none = (reason: string): MutationResult => ({ ok: false, status: 404, code: 'not_found', error: `no active mitigation ${id}`, reason });
    // A scoped caller's check comes before the ban module: another tenant's ban is answered as no ban at all.
    if (owns) {
      const ban = r.engine.banById(id);
      if (!ban || !owns(ban.target)) return none('not_banned');
    }
    const out = r.engine.manualUnban({ id, actor });
    if (!out.ok) return none(out.reason);
    return { ok: true, body: { id, ended: true, ban: { ...out.ban, active: false } } };
  }

  infer(attackId: string): Record<string, unknown> | undefined {
    const r = this.up();
    let a: Attack | AttackView | undefined = this.d.attacks().get(attackId) ?? r.engine.activeAttacks().find((x) => x.id === attackId);
    a ??= this.d.store.listAttacks({ limit: RECENT_ATTACKS, offset: 0 }).items.find((x) => x.id === attackId);
    if (!a) return undefined;
    const inf = inferMatch(a);
    return { attack_id: a.id, target: a.target, vector: a.vector, ...inf, approve: { method: 'POST', path: '/api/v1/mitigations', body: { target: a.target, match: inf.match } } };
  }
}
