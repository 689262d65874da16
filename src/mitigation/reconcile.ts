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
 * - reconcile() (periodic, and when a session comes up) compares every ban's
 *   routes with the speaker's real Adj-RIB-Out and repairs drift: missing or
 *   changed routes re-sent, stale ones withdrawn, each repair logged and
 *   counted.
 */
import type { Config } from '../config/schema.ts';
import type { Logger } from '../core/log.ts';
import type { Ban } from '../ban/types.ts';
import { attrsKey, isFlowspecRoute, routeKey, type AppliedRoutes, type FamilyName, type Route } from '../bgp/index.ts';
import { blackholeIntent, blackholeRoute } from './blackhole.ts';
import { flowspecRoutes } from './flowspec.ts';
import { compilePolicy, type MitigationPolicy, type NeighborPolicy } from './policy.ts';

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
  announce(routes: Route[], neighbors: string[]): void;
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
}

export interface MitigatorOptions {
  port: SpeakerPort;
  bans: BanSource;
  config: Readonly<Config>;
  dryRun: boolean;
  log?: Logger;
  /** Called when the set of neighbors a ban is really announced to changes. */
  onAnnounced?: (banId: string, neighbors: string[]) => void;
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
}

/** Routes by routeKey. */
type RouteSet = Map<string, Route>;
/** Per neighbor. */
type Claim = Map<string, RouteSet>;

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
  private policy: MitigationPolicy;
  private live: boolean;
  /** The routes each ban claims on each neighbor (empty in dry-run). */
  private readonly claims = new Map<string, Claim>();
  /** FlowSpec routes held back per ban (neighbor without FlowSpec, no fallback). */
  private readonly held = new Map<string, number>();
  /** Per ban: the neighbors listed in announced_to (and the list as text, to see a change). */
  private readonly announcedTo = new Map<string, { text: string; set: Set<string> }>();
  private readonly fallbackCounted = new Set<string>();
  /** Bumped on every call to the speaker: a reconcile that saw an older state does nothing. */
  private generation = 0;
  readonly counters = { fallbacks: 0, missing: 0, changed: 0, stale: 0, gate_blocked: 0, errors: 0 };

  constructor(o: MitigatorOptions) {
    this.port = o.port;
    this.bans = o.bans;
    this.log = o.log;
    this.onAnnounced = o.onAnnounced;
    this.live = !o.dryRun;
    this.policy = compilePolicy(o.config);
    this.port.onSent((e) => this.onSent(e));
  }

  get dryRun(): boolean {
    return !this.live;
  }

  /** New config (overrides, fallback, flowspec limits, neighbors): every ban re-applied. */
  reconfigure(cfg: Readonly<Config>): void {
    this.policy = compilePolicy(cfg);
    this.applyAll();
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

  /** What one ban should have on each neighbor now; counts held routes and fallbacks. */
  private wantFor(ban: Ban, peers: PeerInfo[]): Claim {
    const out: Claim = new Map();
    let held = 0;
    for (const peer of peers) {
      let res;
      try {
        res = this.routesForBan(ban, this.policy.neighbors.get(peer.id), peer.families);
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
    for (const peer of peers) {
      const nb = peer.id;
      const before = had?.get(nb);
      const after = want?.get(nb);
      if (!before && !after) continue;
      const applied = this.port.applied(nb);
      const add: Route[] = [];
      const del: Route[] = [];
      if (after) for (const [k, r] of after) {
        const a = applied.get(k);
        if (!a || attrsKey(a.attrs) !== attrsKey(r.attrs)) add.push(r);
      }
      if (before) for (const [k, r] of before) if (!after?.has(k) && applied.has(k) && !this.claimedByOther(banId, nb, k)) del.push(r);
      this.send('withdraw', del, nb);
      this.send('announce', add, nb);
    }
  }

  private claimedByOther(banId: string, nb: string, key: string): boolean {
    for (const [id, c] of this.claims) if (id !== banId && c.get(nb)?.has(key)) return true;
    return false;
  }

  private forget(banId: string): void {
    for (const k of [...this.fallbackCounted]) if (k.startsWith(banId + '|')) this.fallbackCounted.delete(k);
    this.held.delete(banId);
  }

  /** The single place routes are handed to the speaker: the dry-run gate. */
  private send(kind: 'announce' | 'withdraw', routes: Route[], nb: string): void {
    if (routes.length === 0) return;
    if (kind === 'announce' && !this.live) {
      this.counters.gate_blocked++;
      this.log?.error({ event: 'mitigation gate', neighbor: nb, routes: routes.length }, 'BUG: announcement attempted in dry-run; blocked');
      return;
    }
    this.generation++;
    try {
      if (kind === 'announce') this.port.announce(routes, [nb]);
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
        this.send('announce', add, nb);
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
    };
  }
}
