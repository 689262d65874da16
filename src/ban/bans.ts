/**
 * BanManager: turns attack events into bans under the safety model, and keeps
 * every ban's lifecycle (lifecycle.ts) — guards, TTL and hysteresis,
 * escalation, manual ban/unban, reload, snapshot/restore.
 *
 * Longer than 600 lines on purpose: one class around one lifecycle table,
 * whose actions (fire) update the same indexes (by id, by target, by attack,
 * pending refusals, rate-cap creations); split up, each part would reach
 * into the others' state. Types are in types.ts, rules in guards.ts,
 * escalation.ts, policy.ts and lifecycle.ts.
 *
 * It decides the same things whatever `dry_run` says (it never reads it):
 * mitigation decides whether a ban's route is sent to routers.
 *
 * API (all times in ms since the epoch; every method is synchronous and
 * emits its events before returning):
 *
 *   const bans = new BanManager(slice, { clock, routes })    // slice: config/diff.ts BAN_KEYS; routes: mitigation/route.ts routeBuilder(policy)
 *   bans.on((e: BanEvent) => ...)                     // ban | ban_refused | escalate | unban; returns unsubscribe
 *   bans.onAttackEvent(e)        // attack_start | attack_update | attack_end (others ignored); time = e.time
 *   bans.tick(now)               // ends due bans, extends bans of ongoing attacks, escalates, retries refused attacks
 *   bans.manualBan({ ip | prefix, ttlSeconds?, actor, reason? })  → { ok: true, ban } | { ok: false, reason, detail }
 *   bans.manualUnban({ ip | prefix | id, actor })                → { ok: true, ban } | { ok: false, reason, detail }
 *   bans.active(): Ban[]         // bans not ended (copies), oldest first
 *   bans.history(limit?): Ban[]  // ended bans, most recent first (last 1000 kept)
 *   bans.get(idOrTarget): Ban | undefined
 *   bans.banOfAttack(attackId): Ban | undefined
 *   bans.wouldBe(attack): RouteSubject  // what its ban would be built from (mitigation builds the route)
 *   bans.reconfigure(slice, routes, now) → { unbanned: Ban[], rerouted: Ban[] }    // the reload plan's bans.config, a builder for its route policy
 *   bans.previewReconfigure(slice, routes) → { unbanned: Ban[], rerouted: Ban[] }   // no side effect
 *   bans.snapshot(): Ban[]       // bans not ended, for persistence
 *   bans.restore(bans, now) → { restored: Ban[], expired: Ban[], refused: { ban, reason }[] }
 *   bans.stats(): BanStats
 *   bans.adopt(ledgerBan, now) → AdoptResult      // cluster: a ban the ledger holds (guards as restore, no event)
 *   bans.release(id, reason, actor?, now) → Ban?  // cluster: the ledger ended it (emits unban)
 *
 * Rules (see also guards.ts, escalation.ts, policy.ts, mitigation/route.ts):
 * - A detected attack gets a ban unless a guard refuses it; a refusal is
 *   emitted once per attack and reason. While the attack lasts it is retried
 *   on each of its updates, and on ticks once something that could let it
 *   through happened (a ban ended, the config changed, the rate window moved
 *   on). An attack on exactly the target of an existing ban is linked to that
 *   ban (one ban per target). A hostgroup attack (`calculation: total`) is
 *   banned as its `target` prefix, under the same guards.
 * - Every ban has a TTL (`ban.ttl_seconds`, hostgroup override, or the manual
 *   TTL). While a linked attack goes on the ban is kept: when the TTL runs out
 *   it is extended to now + unban_hysteresis. When the last linked attack ends
 *   at time E the ban ends at the first tick at or after
 *   max(created + TTL, E + unban_hysteresis), with reason `expired`.
 * - Manual bans go through the same guards (reason `already_banned` when the
 *   target is banned) and lifecycle; they carry the actor as `source`. A
 *   manual unban ends the ban at once (reason `manual`); its attacks are then
 *   not banned again automatically (refusal `manually_unbanned`) until they end.
 * - reconfigure() unbans at once every ban whose target became whitelisted or
 *   outside networks (unban reason `whitelisted` / `outside_networks`), and
 *   rebuilds the routes of the others (returned in `rerouted`: mitigation
 *   should re-read them). Lowered caps refuse new bans; they never end
 *   existing ones.
 * - restore() takes back unexpired bans (state `expiring`; a ban whose attack
 *   was active gets expires >= now + hysteresis so detection can pick the
 *   attack up again), re-checking networks, whitelist and caps; expired and
 *   refused ones are returned so mitigation can withdraw them (and go to the
 *   history as ended). Ended bans may be passed too (e.g. the recent
 *   history): they go to the history. Every ban passed in that was created
 *   within the rate window counts against `max_bans_per_window`, so a restart
 *   does not reset the rate cap. It emits no events: the caller announces
 *   `restored`.
 */
import { formatIP, formatPrefix, parsePrefix, prefixCovers, type Prefix } from '../core/ip.ts';
import type { Clock } from '../core/clock.ts';
import { systemClock } from '../core/clock.ts';
import type { BanModuleConfig } from '../config/diff.ts';
import type { Attack } from '../engine/events.ts';
import { BreakwaterError } from '../core/errors.ts';
import type { Ban, BanEvent, BanListener, BanManagerOptions, BanResult, BanStats, DetectionEvent, ManualBanRequest, ManualUnbanRequest, MitigationLevel, ReconfigureResult, RouteBuilder, RouteSubject } from './types.ts';
import { routeTargets, sameRoute } from './intent.ts';
import { initialLevel, levelAction, nextEscalation, nextStepDue } from './escalation.ts';
import { ActiveIndex, Guards, unionSize, type CapContext, type Creation, type Refusal, type RefusalReason } from './guards.ts';
import { transition, type LifecycleEvent, type LifecycleState } from './lifecycle.ts';
import { PolicyResolver, sameLadder, type TargetPolicy } from './policy.ts';

export type { BanEvent, BanListener };

export type { BanManagerOptions, BanResult, BanStats, ManualBanRequest, ManualUnbanRequest, ReconfigureResult };

export const MAX_MANUAL_TTL_SECONDS = 365 * 86400;
const HISTORY_MAX = 1000;
const PENDING_MAX = 100_000;
const ATTACK_IDS_MAX = 32;
const CREATIONS_MIN_RETENTION_MS = 86_400_000;
const CREATIONS_MAX = 100_000;
/** Mitigation levels, weakest first (escalation only moves right). */
const LEVEL_ORDER: readonly MitigationLevel[] = ['flowspec_rate_limit', 'flowspec_discard', 'blackhole'];

/** What adopt() did with a ledger ban. */
export type AdoptResult = { ok: true; ban: Ban; created: boolean; changed: boolean; replaced?: string } | { ok: false; reason: RefusalReason; detail: string };

interface Rec {
  ban: Ban;
  state: LifecycleState;
  prefix: Prefix;
  key: string;
  policy: TargetPolicy;
  /** Linked attacks still going on. */
  attacks: Set<string>;
  /** Latest linked attack (its summary feeds FlowSpec rules). */
  attack?: Attack;
}

interface Pending {
  attack: Attack;
  reported: Set<string>;
  suppressed: boolean;
  /** Refused for its target alone (networks, whitelist): only a reload or an update can change that. */
  fixed?: boolean;
  /** `freed` when last refused: a cap can only let it through once a ban ended (or config changed)... */
  gen: number;
  /** ... or, for the rate cap, once this time has come. */
  retryAt: number;
}

interface FireCtx {
  now: number;
  prefix?: Prefix;
  key?: string;
  attack?: Attack;
  manual?: ManualBanRequest;
  actor?: string;
  endReason?: string;
  restoreBan?: Ban;
}

type FireResult = { rec: Rec | null; refusal?: Refusal };

/** Canonical text of a target: a bare address for a host, else "net/len". */
export function targetKey(p: Prefix): string {
  return p.len === (p.family === 4 ? 32 : 128) ? formatIP(p.family, p.bytes) : formatPrefix(p);
}

/** A signal's TTL when it is usable (1 s .. MAX_MANUAL_TTL_SECONDS), else undefined. */
function validTtl(t: number | undefined): number | undefined {
  return t !== undefined && Number.isInteger(t) && t >= 1 && t <= MAX_MANUAL_TTL_SECONDS ? t : undefined;
}

/**
 * Sets the ban's FlowSpec method to that of the latest ladder step up to
 * `step` that names one (a manual choice stays). True when it changed.
 */
function stepMethod(b: Ban, sortedLadder: TargetPolicy['escalation'], step: number): boolean {
  if (b.source !== 'auto') return false;
  let method: string | undefined;
  for (let i = 0; i <= step && i < sortedLadder.length; i++) method = sortedLadder[i].method ?? method;
  if (method === undefined || b.flowspec?.method === method) return false;
  b.flowspec = { method };
  return true;
}

function clone<T>(x: T): T {
  return structuredClone(x);
}

export class BanManager {
  private config: Readonly<BanModuleConfig>;
  private policy: PolicyResolver;
  private guards: Guards;
  private readonly clock: Clock;
  private routes: RouteBuilder;
  /** Appended to every id ("-<node_id>" in a cluster, so two nodes never make the same id). */
  private readonly idTag: string;
  private readonly listeners: BanListener[] = [];
  private readonly byId = new Map<string, Rec>();
  private readonly byTarget = new Map<string, Rec>();
  private readonly attackToBan = new Map<string, Rec>();
  private readonly pending = new Map<string, Pending>();
  private readonly index = new ActiveIndex();
  private readonly hist: Ban[] = [];
  private creations: Creation[] = [];
  private seq = 0;
  private now = 0;
  /** Bumped whenever a ban ends or the config changes: refused attacks may pass now. */
  private freed = 0;
  private readonly counters = {
    created_total: 0,
    created_manual: 0,
    ended_total: 0,
    ended_by_reason: {} as Record<string, number>,
    refused_total: 0,
    refused_by_reason: {} as Record<string, number>,
    escalations_total: 0,
    listener_errors: 0,
  };

  constructor(config: Readonly<BanModuleConfig>, opts: BanManagerOptions) {
    this.config = config;
    this.clock = opts.clock ?? systemClock;
    this.routes = opts.routes;
    this.idTag = opts.idTag ? `-${opts.idTag}` : '';
    this.policy = new PolicyResolver(config);
    this.guards = new Guards(config, this.policy);
  }

  /** Subscribes to ban events; returns a function that unsubscribes. */
  /** The time on the clock this manager's expiries are measured with. */
  clockNow(): number {
    return this.clock.now();
  }

  on(listener: BanListener): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  // ---------------------------------------------------------------- inputs

  /** Feeds an event; only attack_start / attack_update / attack_end matter. */
  onAttackEvent(e: DetectionEvent): void {
    if (e.event !== 'attack_start' && e.event !== 'attack_update' && e.event !== 'attack_end') return;
    const now = this.advance(e.time);
    const a = e.attack;
    if (e.event === 'attack_end') {
      this.pending.delete(a.id);
      const rec = this.attackToBan.get(a.id);
      if (!rec) return;
      this.attackToBan.delete(a.id);
      rec.attacks.delete(a.id);
      if (rec.attacks.size === 0 && rec.state !== 'ended') this.fire(rec, 'attack_end', { now, attack: a });
      return;
    }
    const rec = this.attackToBan.get(a.id);
    if (rec && rec.state !== 'ended') {
      this.fire(rec, 'attack_update', { now, attack: a });
      return;
    }
    this.attachOrCreate(a, e.event, now);
  }

  /** Advances time: ends, extends and escalates bans, then retries refused attacks. */
  tick(now: number = this.clock.now()): void {
    now = this.advance(now);
    for (const rec of [...this.byId.values()]) {
      if (rec.state === 'active') {
        const due = nextStepDue(rec.ban.escalation_step, rec.policy.escalation);
        if (due !== null && now - rec.ban.created >= due * 1000) this.fire(rec, 'escalation_due', { now });
        if (now >= rec.ban.expires) this.fire(rec, 'ttl_due', { now });
      } else if (rec.state === 'expiring' && now >= rec.ban.expires) {
        this.fire(rec, 'ttl_due', { now });
      }
    }
    for (const [id, p] of [...this.pending]) {
      if (p.suppressed || p.fixed || !this.pending.has(id)) continue;
      if (p.gen === this.freed && now < p.retryAt) continue;
      this.attachOrCreate(p.attack, 'attack_update', now);
    }
    this.pruneCreations(now);
  }

  manualBan(req: ManualBanRequest): BanResult {
    const now = this.advance(this.clock.now());
    const text = req.ip ?? req.prefix ?? '';
    const p = parsePrefix(text);
    if (typeof p === 'string') return this.refuseManual(text, 'invalid_target', p, req.actor, now);
    if (req.ttlSeconds !== undefined && !(Number.isFinite(req.ttlSeconds) && req.ttlSeconds >= 1 && req.ttlSeconds <= MAX_MANUAL_TTL_SECONDS)) {
      return this.refuseManual(text, 'invalid_ttl', `ttl_seconds must be 1..${MAX_MANUAL_TTL_SECONDS}`, req.actor, now);
    }
    const key = targetKey(p);
    const existing = this.byTarget.get(key) ?? null;
    const r = this.fire(existing, 'manual_ban', { now, prefix: p, key, manual: req, actor: req.actor });
    if (r.refusal || !r.rec) {
      const ref = r.refusal ?? { reason: 'already_banned' as const, detail: `${key} is already banned` };
      return { ok: false, reason: ref.reason, detail: ref.detail };
    }
    // An attack on exactly this target that had no ban is linked now.
    for (const [id, pd] of [...this.pending]) {
      if (pd.attack.target === key || this.keyOf(pd.attack.target) === key) {
        this.pending.delete(id);
        this.fire(r.rec, 'attack_start', { now, attack: pd.attack });
      }
    }
    return { ok: true, ban: clone(r.rec.ban) };
  }

  manualUnban(req: ManualUnbanRequest): BanResult {
    const now = this.advance(this.clock.now());
    let rec: Rec | undefined;
    let text = req.id ?? '';
    if (req.id !== undefined) rec = this.byId.get(req.id);
    else {
      text = req.ip ?? req.prefix ?? '';
      const p = parsePrefix(text);
      if (typeof p === 'string') return { ok: false, reason: 'invalid_target', detail: p };
      rec = this.byTarget.get(targetKey(p));
    }
    const r = this.fire(rec ?? null, 'manual_unban', { now, actor: req.actor, endReason: 'manual' });
    if (!rec || r.refusal) return { ok: false, reason: 'not_banned', detail: `${text} is not banned` };
    return { ok: true, ban: clone(rec.ban) };
  }

  /**
   * Applies a new config. Bans whose target is now whitelisted or outside
   * networks end at once; the others get their route rebuilt by `routes`,
   * the builder of the new route policy.
   */
  reconfigure(config: Readonly<BanModuleConfig>, routes: RouteBuilder, now: number = this.clock.now()): ReconfigureResult {
    now = this.advance(now);
    this.config = config;
    this.routes = routes;
    this.policy = new PolicyResolver(config);
    this.guards = new Guards(config, this.policy);
    const unbanned: Ban[] = [];
    const rerouted: Ban[] = [];
    for (const rec of [...this.byId.values()]) {
      const bad = this.guards.checkStatic(rec.prefix);
      if (bad) {
        const linked = [...rec.attacks];
        this.fire(rec, 'whitelist_changed', { now, endReason: bad.reason });
        for (const id of linked) {
          const a = rec.attack && rec.attack.id === id ? rec.attack : undefined;
          if (a) this.pending.set(id, { attack: a, reported: new Set(), suppressed: false, gen: -1, retryAt: now });
        }
        unbanned.push(clone(rec.ban));
      } else {
        const before = rec.ban.route;
        this.fire(rec, 'config_reload', { now });
        if (!sameRoute(rec.ban.route, before)) rerouted.push(clone(rec.ban));
      }
    }
    // Attacks waiting for a ban are reconsidered under the new rules.
    for (const p of this.pending.values()) {
      p.reported.clear();
      p.fixed = false;
    }
    this.freed++;
    return { unbanned, rerouted };
  }

  snapshot(): Ban[] {
    return [...this.byId.values()].map((r) => clone(r.ban));
  }

  /**
   * Takes back bans from a snapshot. Unexpired ones pass networks, whitelist
   * and the active/fraction caps again (in creation order); the rest are
   * returned for withdrawal and go to the history as ended (reason `expired`
   * or the refusal reason). Ended bans passed in go to the history as they are.
   */
  restore(bans: readonly Ban[], now: number = this.clock.now()): { restored: Ban[]; expired: Ban[]; refused: Array<{ ban: Ban; reason: string }> } {
    now = this.advance(now);
    const restored: Ban[] = [];
    const expired: Ban[] = [];
    const refused: Array<{ ban: Ban; reason: string }> = [];
    const sorted = [...bans].sort((a, b) => a.created - b.created || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const windowFrom = now - this.retentionMs();
    const inHistory = new Set(this.hist.map((b) => b.id));
    const retire = (b: Ban, reason: string): Ban => {
      b.state = 'ended';
      b.ended = now;
      b.end_reason = reason;
      this.counters.ended_total++;
      this.counters.ended_by_reason[reason] = (this.counters.ended_by_reason[reason] ?? 0) + 1;
      this.pushHistory(b);
      return clone(b);
    };
    for (const b0 of sorted) {
      if (this.byId.has(b0.id) || inHistory.has(b0.id)) continue;
      inHistory.add(b0.id);
      // Restored or not, a ban created within the rate window counts against the rate cap.
      if (Number.isFinite(b0.created) && b0.created > windowFrom && b0.created <= now) this.creations.push({ time: b0.created, hostgroup: b0.hostgroup, id: b0.id });
      const b = clone(b0);
      if (b.state === 'ended' || b.ended !== undefined) {
        b.state = 'ended';
        this.pushHistory(b);
        continue;
      }
      if (!(Number.isFinite(b.expires) && Number.isFinite(b.created)) || now >= b.expires) {
        expired.push(retire(b, 'expired'));
        continue;
      }
      const p = parsePrefix(b.target);
      if (typeof p === 'string') {
        refused.push({ ban: retire(b, 'invalid_target'), reason: 'invalid_target' });
        continue;
      }
      const key = targetKey(p);
      if (this.byTarget.has(key)) {
        refused.push({ ban: retire(b, 'already_banned'), reason: 'already_banned' });
        continue;
      }
      const r = this.fire(null, 'restore', { now, prefix: p, key, restoreBan: b });
      if (r.refusal || !r.rec) {
        const reason = r.refusal?.reason ?? 'refused';
        refused.push({ ban: retire(b, reason), reason });
      } else restored.push(clone(r.rec.ban));
    }
    this.creations.sort((x, y) => x.time - y.time);
    this.hist.sort((x, y) => (x.ended ?? 0) - (y.ended ?? 0));
    return { restored, expired, refused };
  }

  // ---------------------------------------------------------------- cluster ledger

  /**
   * Takes a ban the cluster ledger holds (cluster/ledger.ts), under the same
   * guards as restore(): networks, whitelist and the active caps (never the
   * rate window: the creating node counted it). Emits no event; the caller
   * tells mitigation. A ban already ended is refused (`not_banned`).
   * - A ban with this id: its expiry, TTL, level and FlowSpec choice follow
   *   the ledger, never shorter and never weaker (`changed` says whether).
   * - Another ban on the same target (this node lost the create race): it
   *   takes the ledger's id, source, reason and creation time, keeps its
   *   linked attacks, and `replaced` names the id it had.
   * - No ban on the target: it is created here (state expiring; detection
   *   links an attack on it as usual).
   */
  adopt(ban: Ban, now: number = this.clock.now()): AdoptResult {
    now = this.advance(now);
    if (ban.ended !== undefined || ban.state === 'ended') return { ok: false, reason: 'not_banned', detail: `${ban.id} has ended` };
    if (!Number.isFinite(ban.expires) || !Number.isFinite(ban.created) || ban.expires <= now) return { ok: false, reason: 'not_banned', detail: `${ban.id} has no time left` };
    const p = parsePrefix(ban.target);
    if (typeof p === 'string') return { ok: false, reason: 'invalid_target', detail: p };
    const key = targetKey(p);
    const bad = this.guards.checkStatic(p);
    if (bad) return { ok: false, reason: bad.reason, detail: bad.detail };
    const rec = this.byTarget.get(key);
    if (!rec) {
      const r = this.fire(null, 'restore', { now, prefix: p, key, restoreBan: { ...clone(ban), state: 'expiring' } });
      if (r.refusal || !r.rec) return { ok: false, reason: r.refusal?.reason ?? 'already_banned', detail: r.refusal?.detail ?? `${key} refused` };
      return { ok: true, ban: clone(r.rec.ban), created: true, changed: true };
    }
    const b = rec.ban;
    let changed = false;
    let replaced: string | undefined;
    if (b.id !== ban.id) {
      replaced = b.id;
      this.byId.delete(b.id);
      for (const c of this.creations) if (c.id === b.id) c.id = ban.id;
      b.id = ban.id;
      b.source = ban.source;
      b.reason = ban.reason;
      b.created = ban.created;
      if (ban.attack_id !== undefined && b.attack_id === undefined) b.attack_id = ban.attack_id;
      this.byId.set(b.id, rec);
      changed = true;
    }
    if (Number.isFinite(ban.expires) && ban.expires > b.expires) {
      b.expires = ban.expires;
      changed = true;
    }
    if (Number.isFinite(ban.ttl_seconds) && ban.ttl_seconds > b.ttl_seconds) b.ttl_seconds = ban.ttl_seconds;
    if (ban.level !== undefined && LEVEL_ORDER.indexOf(ban.level) > LEVEL_ORDER.indexOf(b.level ?? 'flowspec_rate_limit')) {
      b.level = ban.level;
      b.action = levelAction(ban.level);
      b.escalation_step = Math.max(b.escalation_step, ban.escalation_step);
      if (ban.flowspec) b.flowspec = clone(ban.flowspec);
      this.rebuildRoute(rec);
      changed = true;
    }
    return { ok: true, ban: clone(b), created: false, changed, ...(replaced !== undefined ? { replaced } : {}) };
  }

  /**
   * Ends a ban because the cluster ledger ended it (another node unbanned
   * it, or its lease ran out); emits unban with the reason. Reason `manual`
   * keeps its attacks from being banned again, as a manual unban here does.
   */
  release(id: string, reason: string, actor?: string, now: number = this.clock.now()): Ban | undefined {
    now = this.advance(now);
    const rec = this.byId.get(id);
    if (!rec) return undefined;
    this.fire(rec, 'released', { now, endReason: reason, ...(actor !== undefined ? { actor } : {}) });
    return clone(rec.ban);
  }

  // ---------------------------------------------------------------- queries

  active(): Ban[] {
    return [...this.byId.values()].map((r) => clone(r.ban));
  }

  history(limit = HISTORY_MAX): Ban[] {
    const out: Ban[] = [];
    for (let i = this.hist.length - 1; i >= 0 && out.length < limit; i--) out.push(clone(this.hist[i]));
    return out;
  }

  /** A ban not yet ended, by id or target. */
  get(idOrTarget: string): Ban | undefined {
    const r = this.byId.get(idOrTarget) ?? this.byTarget.get(this.keyOf(idOrTarget) ?? idOrTarget);
    return r ? clone(r.ban) : undefined;
  }

  /** The ban an attack is linked to, if any. */
  banOfAttack(attackId: string): Ban | undefined {
    const rec = this.attackToBan.get(attackId);
    return rec ? clone(rec.ban) : undefined;
  }

  /**
   * What a ban for this attack would be built from now: canonical target,
   * hostgroup and start level (ladder steps due at once included). Throws
   * BreakwaterError invalid_target.
   */
  wouldBe(attack: Attack): RouteSubject {
    const p = parsePrefix(attack.target);
    if (typeof p === 'string') throw new BreakwaterError('invalid_target', `invalid attack target ${attack.target}: ${p}`);
    const pol = this.policy.forTarget(p, attack.hostgroup);
    return { ...attack, target: targetKey(p), hostgroup: pol.hostgroup?.name, level: this.startLevel(pol, 0) };
  }

  /**
   * What reconfigure(config) would do to the active bans, without doing it:
   * the bans it would end (whitelisted / outside networks, as end_reason) and
   * the bans whose route would change (with the new route). No state changes,
   * no events.
   */
  previewReconfigure(config: Readonly<BanModuleConfig>, routes: RouteBuilder): ReconfigureResult {
    const policy = new PolicyResolver(config);
    const guards = new Guards(config, policy);
    const unbanned: Ban[] = [];
    const rerouted: Ban[] = [];
    for (const rec of this.byId.values()) {
      const bad = guards.checkStatic(rec.prefix);
      if (bad) {
        unbanned.push({ ...clone(rec.ban), end_reason: bad.reason });
        continue;
      }
      const pol = policy.forTarget(rec.prefix, rec.ban.hostgroup);
      const route = routes(this.subjectOf(rec, pol.hostgroup?.name));
      if (!sameRoute(route, rec.ban.route)) rerouted.push({ ...clone(rec.ban), hostgroup: pol.hostgroup?.name, route });
    }
    return { unbanned, rerouted };
  }

  stats(): BanStats {
    const s: BanStats = {
      active: this.byId.size,
      active_by_state: { active: 0, expiring: 0 },
      active_by_family: { 4: 0, 6: 0 },
      banned_addresses: { 4: 0, 6: 0 },
      banned_fraction: { 4: 0, 6: 0 },
      pending_attacks: [...this.pending.values()].filter((p) => !p.suppressed).length,
      ...clone(this.counters),
    };
    const prefixes: Prefix[] = [];
    for (const r of this.byId.values()) {
      if (r.state === 'active') s.active_by_state.active++;
      else s.active_by_state.expiring++;
      s.active_by_family[r.prefix.family]++;
      prefixes.push(r.prefix);
    }
    for (const f of [4, 6] as const) {
      s.banned_addresses[f] = unionSize(f, prefixes);
      const net = unionSize(f, this.guards.networks);
      s.banned_fraction[f] = net > 0 ? s.banned_addresses[f] / net : 0;
    }
    return s;
  }

  // ---------------------------------------------------------------- internals

  private advance(t: number): number {
    if (Number.isFinite(t) && t > this.now) this.now = t;
    return this.now;
  }

  private keyOf(target: string): string | undefined {
    const p = parsePrefix(target);
    return typeof p === 'string' ? undefined : targetKey(p);
  }

  private attachOrCreate(a: Attack, ev: 'attack_start' | 'attack_update', now: number): void {
    const pend = this.pending.get(a.id);
    if (pend?.suppressed) {
      this.remember(a, 'manually_unbanned', `the ban of ${a.target} was lifted by hand; this attack is not banned again`, now);
      return;
    }
    const p = parsePrefix(a.target);
    if (typeof p === 'string') {
      this.remember(a, 'invalid_target', p, now);
      return;
    }
    const key = targetKey(p);
    const existing = this.byTarget.get(key);
    if (existing) {
      this.pending.delete(a.id);
      this.fire(existing, 'attack_start', { now, attack: a });
      return;
    }
    const r = this.fire(null, ev, { now, prefix: p, key, attack: a });
    if (r.rec) this.pending.delete(a.id);
    else if (r.refusal) {
      this.remember(a, r.refusal.reason, r.refusal.detail, now);
      const p = this.pending.get(a.id);
      if (p) p.retryAt = r.refusal.retryAt ?? Infinity;
    }
  }

  /** Keeps a refused attack for retries; emits its refusal once per reason. */
  private remember(a: Attack, reason: string, detail: string, now: number): void {
    let p = this.pending.get(a.id);
    if (!p) {
      if (this.pending.size >= PENDING_MAX) {
        const oldest = this.pending.keys().next().value;
        if (oldest !== undefined) this.pending.delete(oldest);
      }
      p = { attack: a, reported: new Set(), suppressed: false, gen: this.freed, retryAt: Infinity };
      this.pending.set(a.id, p);
    }
    p.attack = a;
    p.gen = this.freed;
    p.fixed = reason === 'outside_networks' || reason === 'whitelisted' || reason === 'invalid_target';
    if (p.reported.has(reason)) return;
    p.reported.add(reason);
    this.countRefusal(reason);
    this.emit({ event: 'ban_refused', time: now, target: a.target, reason, detail, attack: a, source: a.source ?? 'auto' });
  }

  private refuseManual(target: string, reason: RefusalReason, detail: string, actor: string, now: number): BanResult {
    this.countRefusal(reason);
    this.emit({ event: 'ban_refused', time: now, target, reason, detail, source: actor });
    return { ok: false, reason, detail };
  }

  private countRefusal(reason: string): void {
    this.counters.refused_total++;
    this.counters.refused_by_reason[reason] = (this.counters.refused_by_reason[reason] ?? 0) + 1;
  }

  private capContext(now: number): CapContext {
    return { active: this.index, creations: this.creations, now };
  }

  /**
   * How long ban creations are remembered for the rate cap: at least a day,
   * and at least the longest window configured, so a reload that widens the
   * window still sees the bans made before it.
   */
  private retentionMs(): number {
    return Math.max(CREATIONS_MIN_RETENTION_MS, this.guards.maxWindowMs());
  }

  private pruneCreations(now: number): void {
    const from = now - this.retentionMs();
    if (this.creations.length && this.creations[0].time <= from) this.creations = this.creations.filter((c) => c.time > from);
    if (this.creations.length > CREATIONS_MAX) this.creations = this.creations.slice(this.creations.length - CREATIONS_MAX);
  }

  private startLevel(pol: TargetPolicy, elapsedSeconds: number): MitigationLevel {
    const l0 = initialLevel(pol.mitigation, pol.flowspec.action);
    const r = nextEscalation(l0, -1, pol.escalation, elapsedSeconds, pol.flowspec.action);
    return r ? r.level : l0;
  }

  private subjectOf(rec: Rec, hostgroup: string | undefined): RouteSubject {
    const b = rec.ban;
    const s: RouteSubject = { target: b.target, family: b.family, direction: b.direction, vector: b.vector, summary: rec.attack?.summary, level: b.level, hostgroup };
    if (b.flowspec) s.flowspec = b.flowspec;
    return s;
  }

  private rebuildRoute(rec: Rec): void {
    rec.ban.route = this.routes(this.subjectOf(rec, rec.policy.hostgroup?.name));
  }

  private newId(now: number): string {
    let id: string;
    do id = `ban-${now.toString(36)}-${(++this.seq).toString(36)}${this.idTag}`;
    while (this.byId.has(id));
    return id;
  }

  /** Looks the pair up in the lifecycle table and performs its actions. */
  private fire(rec0: Rec | null, ev: LifecycleEvent, ctx: FireCtx): FireResult {
    let rec = rec0;
    const state: LifecycleState = rec ? rec.state : 'none';
    const t = transition(state, ev);
    const now = ctx.now;
    for (const action of t.actions) {
      switch (action) {
        case 'admit':
        case 'admit_restore': {
          const p = ctx.prefix!;
          const pol = this.policy.forTarget(p, ctx.attack?.hostgroup ?? ctx.restoreBan?.hostgroup);
          const restoring = action === 'admit_restore';
          const cc = this.capContext(now);
          const refusal = restoring
            ? this.guards.checkStatic(p) ?? this.guards.checkCaps(p, pol, cc, { rate: false })
            : this.guards.check(p, pol, cc);
          if (refusal) {
            if (!restoring && !ctx.attack) this.refuseManual(ctx.key ?? formatPrefix(p), refusal.reason, refusal.detail, ctx.actor ?? 'manual', now);
            return { rec: null, refusal };
          }
          break;
        }
        case 'create': {
          rec = ctx.restoreBan ? this.createRestored(ctx) : this.createNew(ctx);
          break;
        }
        case 'link_attack': {
          const a = ctx.attack;
          if (!rec || !a) break;
          rec.attacks.add(a.id);
          rec.attack = a;
          this.attackToBan.set(a.id, rec);
          const ids = rec.ban.attack_ids ?? (rec.ban.attack_ids = []);
          if (!ids.includes(a.id)) {
            ids.push(a.id);
            if (ids.length > ATTACK_IDS_MAX) ids.splice(0, ids.length - ATTACK_IDS_MAX);
          }
          if (rec.ban.attack_id === undefined) rec.ban.attack_id = a.id;
          if (rec.ban.direction === undefined) rec.ban.direction = a.direction;
          if (rec.ban.vector === undefined) rec.ban.vector = a.vector;
          delete rec.ban.quiet_since;
          break;
        }
        case 'set_quiet': {
          if (!rec) break;
          rec.ban.quiet_since = now;
          rec.ban.expires = Math.max(rec.ban.expires, now + rec.policy.ban.unban_hysteresis_seconds * 1000);
          break;
        }
        case 'extend': {
          if (!rec) break;
          rec.ban.expires = Math.max(rec.ban.expires, now + rec.policy.ban.unban_hysteresis_seconds * 1000);
          break;
        }
        case 'escalate': {
          if (!rec) break;
          const b = rec.ban;
          const from = b.level!;
          const r = nextEscalation(from, b.escalation_step, rec.policy.escalation, (now - b.created) / 1000, rec.policy.flowspec.action);
          if (!r) break;
          b.escalation_step = r.step;
          const methodChanged = stepMethod(b, rec.policy.escalation, r.step);
          if (!r.changed && methodChanged) {
            this.rebuildRoute(rec);
            this.emit({ event: 'escalate', time: now, ban: clone(b), from, to: from });
          }
          if (r.changed) {
            b.level = r.level;
            b.action = levelAction(r.level);
            this.rebuildRoute(rec);
            this.counters.escalations_total++;
            this.emit({ event: 'escalate', time: now, ban: clone(b), from, to: r.level });
          }
          break;
        }
        case 'reroute': {
          if (!rec) break;
          const oldLadder = rec.policy.escalation;
          rec.policy = this.policy.forTarget(rec.prefix, rec.ban.hostgroup);
          if (rec.ban.hostgroup !== rec.policy.hostgroup?.name) {
            rec.ban.hostgroup = rec.policy.hostgroup?.name;
            this.index.remove(rec.prefix);
            this.index.add({ prefix: rec.prefix, hostgroup: rec.ban.hostgroup });
            for (const c of this.creations) if (c.id === rec.ban.id) c.hostgroup = rec.ban.hostgroup;
          }
          if (!sameLadder(rec.policy.escalation, oldLadder)) rec.ban.escalation_step = -1;
          this.rebuildRoute(rec);
          break;
        }
        case 'emit_ban': {
          if (!rec) break;
          rec.state = t.next;
          if (t.next !== 'none') rec.ban.state = t.next;
          this.emit({ event: 'ban', time: now, ban: clone(rec.ban), attack: ctx.attack });
          break;
        }
        case 'end': {
          if (!rec) break;
          const reason = ctx.endReason ?? 'expired';
          rec.ban.ended = now;
          rec.ban.end_reason = reason;
          if (ctx.actor !== undefined) rec.ban.ended_by = ctx.actor;
          this.byId.delete(rec.ban.id);
          if (this.byTarget.get(rec.key) === rec) this.byTarget.delete(rec.key);
          this.index.remove(rec.prefix);
          for (const id of rec.attacks) {
            this.attackToBan.delete(id);
            if (reason === 'manual' && rec.attack?.id === id) {
              this.pending.set(id, { attack: rec.attack, reported: new Set(), suppressed: true, gen: -1, retryAt: now });
            } else if (reason === 'manual') {
              // Only the latest attack object is kept; older linked ids are suppressed by id.
              this.pending.set(id, { attack: { ...rec.attack!, id }, reported: new Set(), suppressed: true, gen: -1, retryAt: now });
            }
          }
          rec.attacks.clear();
          this.freed++;
          this.counters.ended_total++;
          this.counters.ended_by_reason[reason] = (this.counters.ended_by_reason[reason] ?? 0) + 1;
          break;
        }
        case 'emit_unban': {
          if (!rec) break;
          rec.state = 'ended';
          rec.ban.state = 'ended';
          this.pushHistory(clone(rec.ban));
          this.emit({ event: 'unban', time: now, ban: clone(rec.ban), reason: rec.ban.end_reason ?? 'expired' });
          break;
        }
        case 'refuse_already_banned': {
          const key = rec?.key ?? ctx.key ?? '';
          const detail = `${key} is already banned (${rec?.ban.id})`;
          this.refuseManual(key, 'already_banned', detail, ctx.actor ?? 'manual', now);
          return { rec, refusal: { reason: 'already_banned', detail } };
        }
        case 'refuse_not_banned': {
          return { rec, refusal: { reason: 'not_banned', detail: 'not banned' } };
        }
      }
    }
    if (rec) {
      rec.state = t.next;
      if (t.next !== 'none') rec.ban.state = t.next;
    }
    return { rec };
  }

  private createNew(ctx: FireCtx): Rec {
    const now = ctx.now;
    const p = ctx.prefix!;
    const key = ctx.key!;
    const a = ctx.attack;
    const pol = this.policy.forTarget(p, a?.hostgroup);
    const ttl = ctx.manual?.ttlSeconds ?? validTtl(a?.ttl_seconds) ?? pol.ban.ttl_seconds;
    // A manual FlowSpec mitigation is FlowSpec whatever the target's `mitigation` says.
    const level = a ? this.startLevel(pol, 0) : ctx.manual?.flowspec ? 'flowspec_discard' : initialLevel(pol.mitigation, pol.flowspec.action);
    const ban: Ban = {
      id: this.newId(now),
      target: key,
      family: p.family,
      attack_id: a?.id,
      source: ctx.manual ? ctx.manual.actor : (a?.source ?? 'auto'),
      reason: ctx.manual ? (ctx.manual.reason ?? 'manual ban') : a ? `${a.vector} ${a.direction} (${a.triggers.join(', ') || 'threshold'})` : 'ban',
      action: levelAction(level),
      escalation_step: -1,
      route: { type: 'flowspec', rules: [] },
      created: now,
      expires: now + ttl * 1000,
      ttl_seconds: ttl,
      state: 'expiring',
      level,
      hostgroup: pol.hostgroup?.name,
      direction: a?.direction,
      vector: a?.vector,
      attack_ids: [],
    };
    if (ctx.manual?.flowspec) ban.flowspec = structuredClone(ctx.manual.flowspec);
    const rec: Rec = { ban, state: 'none', prefix: p, key, policy: pol, attacks: new Set(), attack: a };
    if (a) {
      // Ladder steps due at once (after_seconds 0) are part of the start level.
      const r = nextEscalation(initialLevel(pol.mitigation, pol.flowspec.action), -1, pol.escalation, 0, pol.flowspec.action);
      if (r) {
        ban.escalation_step = r.step;
        stepMethod(ban, pol.escalation, r.step);
      }
    }
    this.rebuildRoute(rec);
    this.byId.set(ban.id, rec);
    this.byTarget.set(key, rec);
    this.index.add({ prefix: p, hostgroup: ban.hostgroup });
    this.creations.push({ time: now, hostgroup: ban.hostgroup, id: ban.id });
    this.counters.created_total++;
    if (ctx.manual) this.counters.created_manual++;
    return rec;
  }

  private createRestored(ctx: FireCtx): Rec {
    const now = ctx.now;
    const b = ctx.restoreBan!;
    const p = ctx.prefix!;
    const key = ctx.key!;
    const pol = this.policy.forTarget(p, b.hostgroup);
    const wasActive = b.state === 'active' || (b.state === undefined && b.quiet_since === undefined && b.attack_id !== undefined);
    const level: MitigationLevel = b.level ?? (b.action === 'blackhole' ? 'blackhole' : initialLevel('flowspec', pol.flowspec.action));
    const ban: Ban = {
      ...b,
      target: key,
      family: p.family,
      level,
      action: levelAction(level),
      hostgroup: pol.hostgroup?.name,
      state: 'expiring',
      attack_ids: [...(b.attack_ids ?? [])],
    };
    if (!Number.isFinite(ban.ttl_seconds) || ban.ttl_seconds <= 0) ban.ttl_seconds = pol.ban.ttl_seconds;
    if (wasActive) {
      ban.quiet_since = now;
      ban.expires = Math.max(ban.expires, now + pol.ban.unban_hysteresis_seconds * 1000);
    }
    if (!Number.isInteger(ban.escalation_step)) ban.escalation_step = -1;
    const rec: Rec = { ban, state: 'none', prefix: p, key, policy: pol, attacks: new Set() };
    // Keep the stored route when it matches the level and stays inside the target; else rebuild.
    const r = b.route;
    const typeOk = r && (r.type === 'blackhole') === (level === 'blackhole') && (r.type === 'blackhole' || r.rules.length > 0);
    const inside = typeOk && routeTargets(r).every((s) => {
      const q = parsePrefix(s);
      return typeof q !== 'string' && prefixCovers(p, q);
    });
    if (!inside) this.rebuildRoute(rec);
    this.byId.set(ban.id, rec);
    this.byTarget.set(key, rec);
    this.index.add({ prefix: p, hostgroup: ban.hostgroup });
    return rec;
  }

  private pushHistory(b: Ban): void {
    this.hist.push(b);
    if (this.hist.length > HISTORY_MAX) this.hist.splice(0, this.hist.length - HISTORY_MAX);
  }

  private emit(e: BanEvent): void {
    for (const l of [...this.listeners]) {
      try {
        l(e);
      } catch {
        this.counters.listener_errors++;
      }
    }
  }
}
