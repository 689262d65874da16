/**
 * The Mitigator: active bans → the routes each neighbor should hold, the
 * dry-run gate, and the reconciliation of that desired state with each
 * neighbor's Adj-RIB-Out.
 *
 * One owner per fact: the bans are the ban module's (read through BanSource,
 * never copied here); what has been handed to the speaker is the speaker
 * facade's applied set (SpeakerPort.applied, bgp/index.ts). The Mitigator
 * keeps only which routes each ban claims on each neighbor, so a ban's routes
 * can be withdrawn when it ends and a route two bans share stays until both
 * are gone.
 *
 * - A ban's routes for a neighbor: blackhole.ts / flowspec.ts with the
 *   neighbor's overrides (policy.ts, compiled once per config), limited to
 *   the families the neighbor has (negotiated once Established, configured
 *   before). A FlowSpec ban for a neighbor without that FlowSpec family
 *   becomes a blackhole route when `ban.fallback: blackhole` (counted once per
 *   ban and neighbor), and is otherwise held (counted, not sent).
 * - Per ban: changed(banId) re-reads that ban and applies the difference of
 *   ITS routes (announce new or changed ones, withdraw the ones it no longer
 *   claims and no other ban claims). Nothing else is recomputed.
 * - Dry-run gate: while dry-run no ban claims anything and the one place that
 *   calls speaker.announce refuses to run. Sessions are untouched. Going live
 *   applies every active ban at once; back to dry-run withdraws every route
 *   at once.
 * - Leases: every route is handed to the speaker with a lease ending
 *   LEASE_GRACE_MS after the latest expiry of the bans that claim it. The
 *   speaker withdraws it on its own thread when the lease ends, so a hung
 *   main thread never leaves a route past its ban's TTL by more than the
 *   grace. Extensions change a ban's expiry without an event:
 *   refreshLeases() (every second) moves the leases of those bans along
 *   (the speaker sends no UPDATE for a lease change; a route the lease
 *   already withdrew is announced again).
 * - reconcile() (periodic, and when a session comes up) compares every ban's
 *   routes with the speaker's real Adj-RIB-Out and repairs drift: missing or
 *   changed routes re-sent, stale ones withdrawn, each repair logged and
 *   counted.
 * - FlowSpec rules go only to the neighbors of the route's `platforms` when
 *   it names some (methods.ts), and each rule is linted against the
 *   neighbor's profile (lint.ts): a rule with an error finding is not sent
 *   to that neighbor (counted once per ban, neighbor and rule, reported
 *   through onLintRefused for the audit, and kept for lintOf()).
 * Over 600 lines: the per-ban apply, the dry-run gate, leases and the
 * reconciliation all read and write the one claim table; apart, each would
 * reach into the others' state.
 */
import type { Config } from '../config/schema.ts';
import type { RouteConfig } from '../config/diff.ts';
import type { Logger } from '../core/log.ts';
import type { Ban } from '../ban/types.ts';
import { attrsKey, isFlowspecRoute, routeKey, type AppliedRoutes, type FamilyName, type Route } from '../bgp/index.ts';
import { blackholeIntent, blackholeRoute } from './blackhole.ts';
import { flowspecRoutes } from './flowspec.ts';
import { compilePolicy, type MitigationPolicy, type NeighborPolicy } from './policy.ts';
import { hasError, lintRoute, ruleText, type LintResult } from './lint.ts';
import { platformNeighbors } from './methods.ts';
import { profileOf } from './profiles.ts';

export interface PeerInfo {
  /** Neighbor id (its canonical address, policy.ts neighborKey), as the speaker names it. */
  id: string;
  state: string;
  established: boolean;
  /** Negotiated families when Established, else the configured ones. */
  families: FamilyName[];
}

/** What the Mitigator needs from the BGP speaker (an adapter over bgp/index.ts). */
export interface SpeakerPort {
  peers(): PeerInfo[];
  /** leaseMs: how long from now the speaker keeps the routes before withdrawing them itself. */
  announce(routes: Route[], neighbors: string[], leaseMs: number): void;
  withdraw(routes: Route[], neighbors: string[]): void;
  /** The applied set: every route handed to the speaker for a neighbor and not withdrawn, by routeKey. */
  applied(neighbor: string): AppliedRoutes;
  /** The routes currently in a neighbor's real Adj-RIB-Out (the speaker's own thread). */
  adjRibOut(neighbor: string): Route[] | Promise<Route[]>;
  /** Neighbors that were Established and written the UPDATE announcing this route (routeKey), not withdrawn or down since. */
  sentTo(key: string): string[];
  /** Tells `fn` whenever UPDATEs were written to a neighbor, or its session went down (reset: it holds nothing). */
  onSent(fn: (e: SentNotice) => void): void;
}

/** What the speaker wrote to one neighbor (bgp/index.ts SentEvent). */
export interface SentNotice {
  neighbor: string;
  announced: readonly string[];
  withdrawn: readonly string[];
  reset?: boolean;
}

/** Where the Mitigator reads bans: the ban module (ban/bans.ts BanManager fits). */
export interface BanSource {
  /** Bans not ended. */
  active(): Ban[];
  /** A ban not ended, by id. */
  get(id: string): Ban | undefined;
  /** The time on the clock ban expiries are measured with (epoch ms). */
  clockNow(): number;
}

export interface MitigatorOptions {
  port: SpeakerPort;
  bans: BanSource;
  config: Readonly<Config>;
  dryRun: boolean;
  log?: Logger;
  /** Called when the set of neighbors a ban is really announced to changes. */
  onAnnounced?: (banId: string, neighbors: string[]) => void;
  /** Called once per ban, neighbor and rule when lint keeps a rule from a neighbor. */
  onLintRefused?: (ban: Ban, result: LintResult, rule: string) => void;
  /**
   * Route leases (default true). Off only to measure what they cost
   * (bench/leases.bench.ts): routes are announced without a lease and stay
   * until withdrawn, as before leases existed. Not a config key.
   */
  leases?: boolean;
}

export interface MitigationStats {
  announced_routes: { real: number; dry_run: number };
  flowspec_rules: { real: number; dry_run: number };
  fallbacks: number;
  held: number;
  repairs: { missing: number; changed: number; stale: number };
  /** Announcements the dry-run gate stopped (must stay 0: a bug if not). */
  gate_blocked: number;
  errors: number;
  /** FlowSpec rules kept from a neighbor because they failed its profile's lint (once per ban, neighbor and rule). */
  lint_refused: number;
  /** Of those, by finding code. */
  lint_refused_by_code: Record<string, number>;
}

/** Routes by routeKey. */
type RouteSet = Map<string, Route>;
/** Per neighbor. */
type Claim = Map<string, RouteSet>;

/**
 * How long a route outlives its ban's expiry at the speaker. The ban module
 * ends or extends a ban on its next tick after expiry; without the grace the
 * speaker would withdraw an extended route a moment before the extension
 * arrives (a flap).
 */
export const LEASE_GRACE_MS = 5_000;

const FLOWSPEC_FAMILY = { 4: 'ipv4_flowspec', 6: 'ipv6_flowspec' } as const;
const UNICAST_FAMILY = { 4: 'ipv4_unicast', 6: 'ipv6_unicast' } as const;

/** Attributes the speaker may add on its own (ORIGIN, AS_PATH) do not count as drift. */
function normalizeAttrs(a: Route['attrs']): Route['attrs'] {
  const { origin, asPath, ...rest } = a;
  void asPath;
  return { ...rest, origin: origin ?? 0 };
}

function familyOfTarget(target: string): 4 | 6 {
  return target.includes(':') ? 6 : 4;
}

export class Mitigator {
  private readonly port: SpeakerPort;
  private readonly bans: BanSource;
  private readonly log?: Logger;
  private readonly onAnnounced?: (banId: string, neighbors: string[]) => void;
  private readonly onLintRefused?: (ban: Ban, result: LintResult, rule: string) => void;
  private policy: MitigationPolicy;
  private cfg: Readonly<RouteConfig>;
  /** Lint refusals already counted: "ban|neighbor|routeKey". */
  private readonly lintCounted = new Set<string>();
  private readonly lintByCode: Record<string, number> = {};
  private live: boolean;
  /** The routes each ban claims on each neighbor (empty in dry-run). */
  private readonly claims = new Map<string, Claim>();
  /** FlowSpec routes held back per ban (neighbor without FlowSpec, no fallback). */
  private readonly held = new Map<string, number>();
  /** Per ban: the neighbors listed in announced_to (and the list as text, to see a change). */
  private readonly announcedTo = new Map<string, { text: string; set: Set<string> }>();
  /** The ban expiry each ban's claimed routes were last leased for. */
  private readonly leasedFor = new Map<string, number>();
  private readonly fallbackCounted = new Set<string>();
  /** Bumped on every call to the speaker: a reconcile that saw an older state does nothing. */
  private generation = 0;
  readonly counters = { fallbacks: 0, missing: 0, changed: 0, stale: 0, gate_blocked: 0, errors: 0, lint_refused: 0 };

  private readonly leases: boolean;

  constructor(o: MitigatorOptions) {
    this.leases = o.leases ?? true;
    this.port = o.port;
    this.bans = o.bans;
    this.log = o.log;
    this.onAnnounced = o.onAnnounced;
    this.onLintRefused = o.onLintRefused;
    this.live = !o.dryRun;
    this.policy = compilePolicy(o.config);
    this.cfg = o.config;
    this.port.onSent((e) => this.onSent(e));
  }

  get dryRun(): boolean {
    return !this.live;
  }

  /** The route-policy slice of a new config (overrides, fallback, flowspec limits, neighbors): every ban re-applied. Returns how many. */
  reconfigure(cfg: Readonly<RouteConfig>): number {
    this.policy = compilePolicy(cfg);
    this.cfg = cfg;
    this.applyAll();
    return this.bans.active().length;
  }

  /** Switches mode. Live: announce every active ban now. Dry-run: withdraw every route now. */
  setDryRun(dryRun: boolean): void {
    if (this.live === !dryRun) return;
    this.live = !dryRun;
    this.log?.warn({ event: 'mitigation mode', mode: dryRun ? 'dry_run' : 'live', bans: this.bans.active().length }, dryRun ? 'dry-run: withdrawing every route' : 'live: announcing active bans');
    if (dryRun) {
      for (const peer of this.port.peers()) this.send('withdraw', [...this.port.applied(peer.id).values()], peer.id);
      this.claims.clear();
    }
    this.applyAll();
  }

  /** A ban was created, changed (escalation, reroute) or ended: apply its routes, and only its. */
  changed(banId: string): void {
    const peers = this.port.peers();
    const ban = this.bans.get(banId);
    const want = ban && this.live ? this.wantFor(ban, peers) : null;
    this.applyClaim(banId, want, peers);
    if (!ban) this.forget(banId);
    this.updateAnnounced(banId, ban !== undefined);
  }

  /** Every active ban applied, and every claim of a ban no longer active withdrawn (mode or config change, restore). */
  applyAll(): void {
    const peers = this.port.peers();
    const active = this.bans.active();
    const ids = new Set(active.map((b) => b.id));
    for (const id of [...this.claims.keys()]) if (!ids.has(id)) {
      this.applyClaim(id, null, peers);
      this.forget(id);
      this.updateAnnounced(id, false);
    }
    for (const b of active) {
      this.applyClaim(b.id, this.live ? this.wantFor(b, peers) : null, peers);
      this.updateAnnounced(b.id, true);
    }
  }

  /** The ban module's active bans (no copy is kept here). */
  activeBans(): Ban[] {
    return this.bans.active();
  }

  /** Neighbors a ban is announced to (empty in dry-run). */
  announcedNeighbors(banId: string): string[] {
    const a = this.announcedTo.get(banId);
    return a ? [...a.set].sort() : [];
  }

  /** The routes of a ban for one neighbor (or for no particular neighbor when nb is undefined). */
  routesForBan(ban: Ban, nb?: NeighborPolicy, families?: readonly FamilyName[]): { routes: Route[]; held: number; fallback: boolean } {
    const fam = familyOfTarget(ban.target);
    const has = (f: FamilyName) => !families || families.includes(f);
    const g = this.policy.global;
    if (ban.route.type === 'blackhole') {
      const r = blackholeRoute(ban.route, g, nb);
      return has(r.family) ? { routes: [r], held: 0, fallback: false } : { routes: [], held: 1, fallback: false };
    }
    const fs = flowspecRoutes(ban.route, this.policy.maxRulesPerBan);
    if (has(FLOWSPEC_FAMILY[fam])) return { routes: fs, held: 0, fallback: false };
    if (this.policy.fallback(ban.target, ban.hostgroup) === 'blackhole' && has(UNICAST_FAMILY[fam])) {
      const r = blackholeRoute(blackholeIntent(ban.target, this.policy, ban.hostgroup), g, nb);
      return { routes: [r], held: 0, fallback: true };
    }
    return { routes: [], held: fs.length, fallback: false };
  }

  /**
   * The routes of a ban for one neighbor after its platforms and its lint:
   * `routes` are the ones to send, `lint` the neighbor's result (FlowSpec
   * only), `refused` the routes lint kept back. Null when the ban's platforms
   * leave this neighbor out.
   */
  routesForNeighbor(ban: Pick<Ban, 'id' | 'target' | 'route' | 'hostgroup'>, peer: Pick<PeerInfo, 'id' | 'families'>): { routes: Route[]; held: number; fallback: boolean; lint?: LintResult; refused: Route[] } | null {
    const only = ban.route.type === 'flowspec' ? platformNeighbors(this.cfg, ban.route.platforms) : undefined;
    if (only && !only.has(peer.id)) return null;
    const nb = this.policy.neighbors.get(peer.id);
    const res = this.routesForBan(ban as Ban, nb, peer.families);
    if (ban.route.type !== 'flowspec' || res.fallback) return { ...res, refused: [] };
    const profile = profileOf(nb?.profile);
    const lint: LintResult = { neighbor: peer.id, profile: profile.name, ok: true, findings: [] };
    const routes: Route[] = [];
    const refused: Route[] = [];
    for (const r of res.routes) {
      if (!isFlowspecRoute(r)) {
        routes.push(r);
        continue;
      }
      const f = lintRoute(r, profile);
      for (const x of f) if (!lint.findings.some((y) => y.code === x.code && y.message === x.message)) lint.findings.push(x);
      if (hasError(f)) refused.push(r);
      else routes.push(r);
    }
    lint.ok = refused.length === 0;
    return { routes, held: res.held, fallback: false, lint, refused };
  }

  /** Lint of a ban (or a proposed route) for every neighbor it would go to; no side effects. */
  lintOf(ban: Pick<Ban, 'id' | 'target' | 'route' | 'hostgroup'>): LintResult[] {
    if (ban.route.type !== 'flowspec') return [];
    const out: LintResult[] = [];
    for (const peer of this.port.peers()) {
      try {
        const r = this.routesForNeighbor(ban, peer);
        if (r?.lint && (r.routes.length || r.refused.length)) out.push(r.lint);
      } catch {
        /* an unbuildable route is reported when it is applied */
      }
    }
    return out;
  }

  /** What one ban should have on each neighbor now; counts held routes, fallbacks and lint refusals. */
  private wantFor(ban: Ban, peers: PeerInfo[]): Claim {
    const out: Claim = new Map();
    let held = 0;
    for (const peer of peers) {
      let res;
      try {
        res = this.routesForNeighbor(ban, peer);
        if (!res) continue;
        for (const r of res.refused) {
          const k = `${ban.id}|${peer.id}|${routeKey(r)}`;
          if (this.lintCounted.has(k)) continue;
          this.lintCounted.add(k);
          this.counters.lint_refused++;
          for (const f of res.lint!.findings) if (f.severity === 'error') this.lintByCode[f.code] = (this.lintByCode[f.code] ?? 0) + 1;
          const text = isFlowspecRoute(r) ? ruleText(r.rule) : routeKey(r);
          this.log?.warn({ event: 'flowspec lint refused', ban: ban.id, target: ban.target, neighbor: peer.id, profile: res.lint!.profile, rule: text, findings: res.lint!.findings.filter((f) => f.severity === 'error').map((f) => f.code) }, 'FlowSpec rule not sent: it fails the neighbor\'s profile');
          this.onLintRefused?.(ban, res.lint!, text);
        }
      } catch (e) {
        this.counters.errors++;
        this.log?.error({ event: 'mitigation error', ban: ban.id, target: ban.target, err: (e as Error).message }, 'cannot build the route of a ban');
        continue;
      }
      held += res.held;
      if (res.fallback) {
        const k = `${ban.id}|${peer.id}`;
        if (!this.fallbackCounted.has(k)) {
          this.fallbackCounted.add(k);
          this.counters.fallbacks++;
          this.log?.warn({ event: 'mitigation fallback', ban: ban.id, target: ban.target, neighbor: peer.id }, 'neighbor lacks FlowSpec: sending a blackhole route instead');
        }
      }
      if (res.routes.length) out.set(peer.id, new Map(res.routes.map((r) => [routeKey(r), r])));
    }
    if (held) this.held.set(ban.id, held);
    else this.held.delete(ban.id);
    return out;
  }

  /** Moves one ban's claim to `want` (null: nothing), telling the speaker only the difference. */
  private applyClaim(banId: string, want: Claim | null, peers: PeerInfo[]): void {
    const had = this.claims.get(banId);
    if (want && want.size) this.claims.set(banId, want);
    else this.claims.delete(banId);
    if (!want) this.held.delete(banId);
    // A moved expiry is left to refreshLeases(): a change that moves no route sends nothing.
    const expires = this.bans.get(banId)?.expires;
    if (!want || expires === undefined) this.leasedFor.delete(banId);
    else if (!this.leasedFor.has(banId)) this.leasedFor.set(banId, expires);
    for (const peer of peers) {
      const nb = peer.id;
      const before = had?.get(nb);
      const after = want?.get(nb);
      if (!before && !after) continue;
      const applied = this.port.applied(nb);
      const add: Route[] = [];
      const del: Route[] = [];
      /** Routes still claimed by another ban: their lease may have been this ban's. */
      const kept: Route[] = [];
      if (after) for (const [k, r] of after) {
        const a = applied.get(k);
        if (!a || attrsKey(a.attrs) !== attrsKey(r.attrs) || !before?.has(k)) add.push(r);
      }
      if (before) for (const [k, r] of before) {
        if (after?.has(k) || !applied.has(k)) continue;
        if (this.claimedByOther(banId, nb, k)) kept.push(r);
        else del.push(r);
      }
      this.send('withdraw', del, nb);
      this.announceLeased([...add, ...kept], nb);
    }
  }

  /** Announces routes, each with the lease of the bans that claim it now. */
  private announceLeased(routes: Route[], nb: string): void {
    if (routes.length === 0) return;
    if (!this.leases) return this.send('announce', routes, nb);
    const byLease = new Map<number, Route[]>();
    const now = this.bans.clockNow();
    for (const r of routes) {
      const lease = this.leaseOf(nb, routeKey(r));
      // Past its bans' expiry and grace: the ban module is about to end them; announcing would flap.
      if (lease <= now) continue;
      const list = byLease.get(lease);
      if (list) list.push(r);
      else byLease.set(lease, [r]);
    }
    for (const [lease, list] of byLease) this.send('announce', list, nb, lease - now);
  }

  /** The lease end of a route on a neighbor: the latest expiry of the bans claiming it, plus the grace (0: unclaimed). */
  private leaseOf(nb: string, key: string): number {
    let latest = 0;
    for (const [id, c] of this.claims) {
      if (!c.get(nb)?.has(key)) continue;
      const exp = this.bans.get(id)?.expires;
      if (exp !== undefined && exp > latest) latest = exp;
    }
    return latest === 0 ? 0 : latest + LEASE_GRACE_MS;
  }

  /**
   * Moves the leases of bans whose expiry changed since their routes were
   * leased (extensions happen inside the ban module without an event).
   * Returns how many bans were re-leased.
   */
  refreshLeases(): number {
    if (!this.live || !this.leases) return 0;
    let n = 0;
    for (const [banId, claim] of this.claims) {
      const ban = this.bans.get(banId);
      if (!ban || this.leasedFor.get(banId) === ban.expires) continue;
      this.leasedFor.set(banId, ban.expires);
      for (const [nb, routes] of claim) this.announceLeased([...routes.values()], nb);
      n++;
    }
    return n;
  }

  private claimedByOther(banId: string, nb: string, key: string): boolean {
    for (const [id, c] of this.claims) if (id !== banId && c.get(nb)?.has(key)) return true;
    return false;
  }

  private forget(banId: string): void {
    for (const k of [...this.fallbackCounted]) if (k.startsWith(banId + '|')) this.fallbackCounted.delete(k);
    for (const k of [...this.lintCounted]) if (k.startsWith(banId + '|')) this.lintCounted.delete(k);
    this.held.delete(banId);
    this.leasedFor.delete(banId);
  }

  /** The single place routes are handed to the speaker: the dry-run gate. */
  private send(kind: 'announce' | 'withdraw', routes: Route[], nb: string, leaseMs = 0): void {
    if (routes.length === 0) return;
    if (kind === 'announce' && !this.live) {
      this.counters.gate_blocked++;
      this.log?.error({ event: 'mitigation gate', neighbor: nb, routes: routes.length }, 'BUG: announcement attempted in dry-run; blocked');
      return;
    }
    this.generation++;
    try {
      if (kind === 'announce') this.port.announce(routes, [nb], leaseMs);
      else this.port.withdraw(routes, [nb]);
    } catch (e) {
      this.counters.errors++;
      this.log?.error({ event: 'mitigation error', neighbor: nb, kind, err: (e as Error).message }, `speaker ${kind} failed`);
    }
  }

  /**
   * The speaker wrote UPDATEs to a neighbor or lost its session: the bans
   * claiming one of those routes there (all of its bans on a reset) may have
   * gained or lost that neighbor in announced_to.
   */
  private onSent(e: SentNotice): void {
    const nb = e.neighbor;
    // A refresh re-sends routes every ban already lists: only a ban that does not list the
    // neighbor can gain it, only one that does can lose it.
    const ann = e.announced.length ? new Set(e.announced) : null;
    const wd = e.withdrawn.length ? new Set(e.withdrawn) : null;
    for (const [banId, c] of this.claims) {
      const rs = c.get(nb);
      if (!rs || rs.size === 0) continue;
      const listed = this.announcedTo.get(banId)?.set.has(nb) ?? false;
      let touch = false;
      if (e.reset) touch = listed;
      const keys = listed ? wd : ann;
      if (!touch && keys) for (const k of rs.keys()) if (keys.has(k)) {
        touch = true;
        break;
      }
      // a ban with a claim is active (its claim goes when it ends): no need to ask (and copy) it
      if (touch) this.updateAnnounced(banId, true);
    }
  }

  /**
   * Tells onAnnounced when the neighbors holding a ban's routes changed: a
   * neighbor counts once the speaker wrote it the UPDATE of one of the routes
   * the ban claims there, on an Established session (SpeakerPort.sentTo), not
   * when the route was merely handed to the speaker.
   */
  private updateAnnounced(banId: string, active: boolean): void {
    if (!active) {
      this.announcedTo.delete(banId);
      return;
    }
    const c = this.claims.get(banId);
    const list: string[] = [];
    if (c) for (const [nb, rs] of c) for (const k of rs.keys()) if (this.port.sentTo(k).includes(nb)) {
      list.push(nb);
      break;
    }
    list.sort();
    const s = list.join(',');
    if (this.announcedTo.get(banId)?.text !== s) {
      this.announcedTo.set(banId, { text: s, set: new Set(list) });
      this.onAnnounced?.(banId, list);
    }
  }

  /**
   * Compares every ban's routes with each neighbor's real Adj-RIB-Out and
   * repairs the difference. Returns what was fixed, or null when routes
   * changed while the Adj-RIB-Outs were being read (the next round checks
   * again).
   */
  async reconcile(): Promise<{ missing: number; changed: number; stale: number } | null> {
    const gen = this.generation;
    const peers = this.port.peers();
    const ribs = new Map<string, Route[]>();
    for (const peer of peers) {
      try {
        ribs.set(peer.id, await this.port.adjRibOut(peer.id));
      } catch (e) {
        this.counters.errors++;
        this.log?.error({ event: 'mitigation error', neighbor: peer.id, err: (e as Error).message }, 'cannot read Adj-RIB-Out');
      }
    }
    if (gen !== this.generation) return null;
    return this.repair(this.port.peers(), ribs);
  }

  private repair(peers: PeerInfo[], ribs: Map<string, Route[]>): { missing: number; changed: number; stale: number } {
    // Every ban's claim, recomputed (families may have changed with a session).
    const active = this.bans.active();
    const ids = new Set(active.map((b) => b.id));
    for (const id of [...this.claims.keys()]) if (!ids.has(id)) { this.claims.delete(id); this.forget(id); }
    for (const b of active) {
      const want = this.live ? this.wantFor(b, peers) : null;
      if (want && want.size) this.claims.set(b.id, want);
      else this.claims.delete(b.id);
    }
    const fixed = { missing: 0, changed: 0, stale: 0 };
    for (const peer of peers) {
      const nb = peer.id;
      const rib = ribs.get(nb);
      if (!rib) continue;
      const set: RouteSet = new Map();
      for (const c of this.claims.values()) for (const [k, r] of c.get(nb) ?? []) if (!set.has(k)) set.set(k, r);
      const have = new Map(rib.map((r) => [routeKey(r), r]));
      const add: Route[] = [];
      const del: Route[] = [];
      const keys: string[] = [];
      let m = 0, c = 0;
      for (const [k, r] of set) {
        const h = have.get(k);
        if (!h) { add.push(r); m++; keys.push(`+${k}`); }
        else if (attrsKey(normalizeAttrs(h.attrs)) !== attrsKey(normalizeAttrs(r.attrs))) { add.push(r); c++; keys.push(`~${k}`); }
      }
      for (const [k, r] of have) if (!set.has(k)) { del.push(r); keys.push(`-${k}`); }
      // Routes handed to the speaker that no ban claims any more (e.g. a failed withdraw) go too.
      for (const [k, r] of this.port.applied(nb)) if (!set.has(k) && !have.has(k)) del.push(r);
      if (add.length || del.length) {
        if (m || c || keys.length) {
          this.log?.warn(
            { event: 'mitigation drift repaired', neighbor: nb, missing: m, changed: c, stale: keys.filter((x) => x[0] === '-').length, routes: keys.slice(0, 20) },
            'Adj-RIB-Out differed from the active bans; repaired',
          );
        }
        this.send('withdraw', del, nb);
        this.announceLeased(add, nb);
      }
      fixed.missing += m;
      fixed.changed += c;
      fixed.stale += keys.filter((x) => x[0] === '-').length;
    }
    this.counters.missing += fixed.missing;
    this.counters.changed += fixed.changed;
    this.counters.stale += fixed.stale;
    for (const b of active) this.updateAnnounced(b.id, true);
    return fixed;
  }

  stats(): MitigationStats {
    const real = new Set<string>();
    const realFs = new Set<string>();
    for (const peer of this.port.peers()) for (const [k, r] of this.port.applied(peer.id)) {
      real.add(k);
      if (isFlowspecRoute(r)) realFs.add(k);
    }
    let dry = 0, dryFs = 0;
    if (!this.live) {
      const keys = new Set<string>();
      for (const b of this.bans.active()) {
        try {
          for (const r of this.routesForBan(b).routes) {
            const k = routeKey(r);
            if (keys.has(k)) continue;
            keys.add(k);
            dry++;
            if (isFlowspecRoute(r)) dryFs++;
          }
        } catch {
          /* counted when applied */
        }
      }
    }
    let held = 0;
    for (const n of this.held.values()) held += n;
    return {
      announced_routes: { real: real.size, dry_run: dry },
      flowspec_rules: { real: realFs.size, dry_run: dryFs },
      fallbacks: this.counters.fallbacks,
      held,
      repairs: { missing: this.counters.missing, changed: this.counters.changed, stale: this.counters.stale },
      gate_blocked: this.counters.gate_blocked,
      errors: this.counters.errors,
      lint_refused: this.counters.lint_refused,
      lint_refused_by_code: { ...this.lintByCode },
    };
  }
}
