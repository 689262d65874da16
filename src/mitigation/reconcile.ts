/**
 * The Mitigator: active bans → the routes each neighbor should hold, the
 * dry-run gate, and the reconciliation of that desired state with each
 * neighbor's Adj-RIB-Out.
 *
 * - desired(nb) = the routes of every active ban, translated for nb
 *   (blackhole.ts / flowspec.ts with nb's overrides), limited to the families
 *   nb has (negotiated once Established, configured before). A FlowSpec ban
 *   for a neighbor without that FlowSpec family becomes a blackhole route when
 *   `ban.fallback: blackhole` (counted once per ban and neighbor), and is
 *   otherwise held (counted, not sent).
 * - Dry-run gate: while dry-run, desired(nb) is empty for every neighbor and
 *   the one place that calls speaker.announce refuses to run. Sessions are
 *   untouched. Going live = desired becomes the bans' routes → announced at
 *   once; back to dry-run = desired empty → everything withdrawn at once.
 * - sync() applies the difference between desired and what was last applied
 *   (fast path on every ban change). reconcile() compares desired with the
 *   speaker's real Adj-RIB-Out and repairs drift: missing or changed routes
 *   re-sent, stale ones withdrawn, each repair logged and counted.
 */
import type { Config } from '../config/schema.ts';
import type { Logger } from '../core/log.ts';
import type { Ban } from '../engine/events.ts';
import { attrsKey, isFlowspecRoute, routeKey, type FamilyName, type Route } from '../bgp/types.ts';
import { blackholeRoute, fallbackIntent } from './blackhole.ts';
import { flowspecRoutes } from './flowspec.ts';
import { globalPolicy, neighborPolicy, TargetPolicies, type GlobalPolicy, type NeighborPolicy } from './policy.ts';

export interface PeerInfo {
  /** Neighbor id (its address), as the speaker names it. */
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
  /** The routes currently in a neighbor's Adj-RIB-Out. */
  adjRibOut(neighbor: string): Route[] | Promise<Route[]>;
}

export interface MitigatorOptions {
  port: SpeakerPort;
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

interface Entry {
  route: Route;
  attrs: string;
  bans: Set<string>;
}

type RouteSet = Map<string, Entry>;

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
  private readonly log?: Logger;
  private readonly onAnnounced?: (banId: string, neighbors: string[]) => void;
  private cfg!: Readonly<Config>;
  private global!: GlobalPolicy;
  private targets!: TargetPolicies;
  private nbPolicies = new Map<string, NeighborPolicy>();
  private live: boolean;
  private readonly bans = new Map<string, Ban>();
  /** What we last told the speaker, per neighbor. */
  private readonly applied = new Map<string, RouteSet>();
  private readonly announcedTo = new Map<string, string>();
  private readonly fallbackCounted = new Set<string>();
  private heldNow = 0;
  /** Bumped on every call to the speaker: a reconcile that saw an older state does nothing. */
  private generation = 0;
  readonly counters = { fallbacks: 0, missing: 0, changed: 0, stale: 0, gate_blocked: 0, errors: 0 };

  constructor(o: MitigatorOptions) {
    this.port = o.port;
    this.log = o.log;
    this.onAnnounced = o.onAnnounced;
    this.live = !o.dryRun;
    this.setConfig(o.config);
  }

  private setConfig(cfg: Readonly<Config>): void {
    this.cfg = cfg;
    this.global = globalPolicy(cfg);
    this.targets = new TargetPolicies(cfg);
    this.nbPolicies = new Map(cfg.bgp.neighbors.filter((n) => n.enabled).map((n) => [neighborPolicy(cfg, n).id, neighborPolicy(cfg, n)]));
  }

  get dryRun(): boolean {
    return !this.live;
  }

  /** New config (overrides, fallback, flowspec limits, neighbors): recompute and apply. */
  reconfigure(cfg: Readonly<Config>): void {
    this.setConfig(cfg);
    this.sync();
  }

  /** Switches mode. Live: announce every active ban now. Dry-run: withdraw every route now. */
  setDryRun(dryRun: boolean): void {
    if (this.live === !dryRun) return;
    this.live = !dryRun;
    this.log?.warn({ event: 'mitigation mode', mode: dryRun ? 'dry_run' : 'live', bans: this.bans.size }, dryRun ? 'dry-run: withdrawing every route' : 'live: announcing active bans');
    this.sync();
  }

  /** Adds or updates (escalation, new TTL) a ban, and applies it. */
  upsert(ban: Ban): void {
    this.bans.set(ban.id, ban);
    this.sync();
  }

  /** Adds several bans (restore after restart) with one sync. */
  upsertMany(bans: Ban[]): void {
    for (const b of bans) this.bans.set(b.id, b);
    this.sync();
  }

  remove(banId: string): void {
    if (!this.bans.delete(banId)) return;
    for (const k of [...this.fallbackCounted]) if (k.startsWith(banId + '|')) this.fallbackCounted.delete(k);
    this.announcedTo.delete(banId);
    this.sync();
  }

  activeBans(): Ban[] {
    return [...this.bans.values()];
  }

  /** Neighbors a ban is announced to (empty in dry-run). */
  announcedNeighbors(banId: string): string[] {
    const s = this.announcedTo.get(banId);
    return s ? s.split(',').filter(Boolean) : [];
  }

  /** The routes of a ban for one neighbor (or for no particular neighbor when nb is undefined). */
  routesForBan(ban: Ban, nb?: NeighborPolicy, families?: readonly FamilyName[]): { routes: Route[]; held: number; fallback: boolean } {
    const fam = familyOfTarget(ban.target);
    const has = (f: FamilyName) => !families || families.includes(f);
    const maxRules = this.cfg.flowspec.max_rules_per_ban;
    if (ban.route.type === 'blackhole') {
      const r = blackholeRoute(ban.route, this.global, nb);
      return has(r.family) ? { routes: [r], held: 0, fallback: false } : { routes: [], held: 1, fallback: false };
    }
    const fs = flowspecRoutes(ban.route, maxRules);
    if (has(FLOWSPEC_FAMILY[fam])) return { routes: fs, held: 0, fallback: false };
    if (this.targets.fallback(ban.target) === 'blackhole' && has(UNICAST_FAMILY[fam])) {
      const r = blackholeRoute(fallbackIntent(ban.target, this.global, this.targets.communities(ban.target)), this.global, nb);
      return { routes: [r], held: 0, fallback: true };
    }
    return { routes: [], held: fs.length, fallback: false };
  }

  /** What each neighbor should hold now (empty sets in dry-run). */
  desired(): Map<string, RouteSet> {
    const out = new Map<string, RouteSet>();
    let held = 0;
    for (const peer of this.port.peers()) {
      const set: RouteSet = new Map();
      out.set(peer.id, set);
      if (!this.live) continue;
      const nb = this.nbPolicies.get(peer.id);
      for (const ban of this.bans.values()) {
        let res;
        try {
          res = this.routesForBan(ban, nb, peer.families);
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
        for (const r of res.routes) {
          const key = routeKey(r);
          const e = set.get(key);
          if (e) e.bans.add(ban.id);
          else set.set(key, { route: r, attrs: attrsKey(r.attrs), bans: new Set([ban.id]) });
        }
      }
    }
    this.heldNow = held;
    return out;
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

  /** Applies the difference between desired and what was last applied. */
  sync(): void {
    const want = this.desired();
    for (const [nb, set] of want) {
      const had = this.applied.get(nb) ?? new Map<string, Entry>();
      const add: Route[] = [];
      const del: Route[] = [];
      for (const [k, e] of set) {
        const h = had.get(k);
        if (!h || h.attrs !== e.attrs) add.push(e.route);
      }
      for (const [k, h] of had) if (!set.has(k)) del.push(h.route);
      this.send('withdraw', del, nb);
      this.send('announce', add, nb);
      this.applied.set(nb, set);
    }
    for (const nb of [...this.applied.keys()]) if (!want.has(nb)) this.applied.delete(nb);
    this.updateAnnounced();
  }

  private updateAnnounced(): void {
    const per = new Map<string, string[]>();
    for (const [nb, set] of this.applied) for (const e of set.values()) for (const b of e.bans) {
      const l = per.get(b) ?? [];
      if (!l.includes(nb)) l.push(nb);
      per.set(b, l);
    }
    for (const id of this.bans.keys()) {
      const list = (per.get(id) ?? []).sort();
      const s = list.join(',');
      if ((this.announcedTo.get(id) ?? '') !== s || !this.announcedTo.has(id)) {
        this.announcedTo.set(id, s);
        this.onAnnounced?.(id, list);
      }
    }
  }

  /**
   * Compares desired routes with each neighbor's real Adj-RIB-Out and repairs
   * the difference. Returns what was fixed, or null when routes changed while
   * the Adj-RIB-Outs were being read (the next round checks again).
   */
  async reconcile(): Promise<{ missing: number; changed: number; stale: number } | null> {
    const gen = this.generation;
    const ribs = new Map<string, Route[]>();
    for (const peer of this.port.peers()) {
      try {
        ribs.set(peer.id, await this.port.adjRibOut(peer.id));
      } catch (e) {
        this.counters.errors++;
        this.log?.error({ event: 'mitigation error', neighbor: peer.id, err: (e as Error).message }, 'cannot read Adj-RIB-Out');
      }
    }
    if (gen !== this.generation) return null;
    return this.repair(ribs);
  }

  private repair(ribs: Map<string, Route[]>): { missing: number; changed: number; stale: number } {
    const want = this.desired();
    const fixed = { missing: 0, changed: 0, stale: 0 };
    for (const [nb, set] of want) {
      const rib = ribs.get(nb);
      if (!rib) continue;
      const have = new Map(rib.map((r) => [routeKey(r), r]));
      const add: Route[] = [];
      const del: Route[] = [];
      const keys: string[] = [];
      let m = 0, c = 0;
      for (const [k, e] of set) {
        const h = have.get(k);
        if (!h) { add.push(e.route); m++; keys.push(`+${k}`); }
        else if (attrsKey(normalizeAttrs(h.attrs)) !== attrsKey(normalizeAttrs(e.route.attrs))) { add.push(e.route); c++; keys.push(`~${k}`); }
      }
      for (const [k, r] of have) if (!set.has(k)) { del.push(r); keys.push(`-${k}`); }
      if (add.length || del.length) {
        this.log?.warn(
          { event: 'mitigation drift repaired', neighbor: nb, missing: m, changed: c, stale: del.length, routes: keys.slice(0, 20) },
          'Adj-RIB-Out differed from the active bans; repaired',
        );
        this.send('withdraw', del, nb);
        this.send('announce', add, nb);
      }
      fixed.missing += m;
      fixed.changed += c;
      fixed.stale += del.length;
      this.applied.set(nb, set);
    }
    this.counters.missing += fixed.missing;
    this.counters.changed += fixed.changed;
    this.counters.stale += fixed.stale;
    this.updateAnnounced();
    return fixed;
  }

  stats(): MitigationStats {
    const real = new Set<string>();
    const realFs = new Set<string>();
    for (const set of this.applied.values()) for (const [k, e] of set) {
      real.add(k);
      if (isFlowspecRoute(e.route)) realFs.add(k);
    }
    let dry = 0, dryFs = 0;
    if (!this.live) {
      const keys = new Set<string>();
      for (const b of this.bans.values()) {
        try {
          for (const r of this.routesForBan(b).routes) {
            const k = routeKey(r);
            if (keys.has(k)) continue;
            keys.add(k);
            dry++;
            if (isFlowspecRoute(r)) dryFs++;
          }
        } catch {
          /* counted in desired() */
        }
      }
    }
    return {
      announced_routes: { real: real.size, dry_run: dry },
      flowspec_rules: { real: realFs.size, dry_run: dryFs },
      fallbacks: this.counters.fallbacks,
      held: this.heldNow,
      repairs: { missing: this.counters.missing, changed: this.counters.changed, stale: this.counters.stale },
      gate_blocked: this.counters.gate_blocked,
      errors: this.counters.errors,
    };
  }
}
