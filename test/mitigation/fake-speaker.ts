/** An in-memory SpeakerPort (per-neighbor Adj-RIB-Out and a log of every call) and an in-memory BanSource. */
import { routeKey, type FamilyName, type Route } from '../../src/bgp/types.ts';
import type { Ban } from '../../src/ban/types.ts';
import { Mitigator, type BanSource, type MitigatorOptions, type PeerInfo, type SentNotice, type SpeakerPort } from '../../src/mitigation/reconcile.ts';

/** Bans kept in a map, standing in for the ban module. */
export class MemoryBans implements BanSource {
  readonly map = new Map<string, Ban>();
  /** The clock the bans' expiries are read on; tests may move it. */
  clock = { now: () => Date.now() };
  clockNow(): number {
    return this.clock.now();
  }
  put(b: Ban): void {
    this.map.set(b.id, b);
  }
  delete(id: string): void {
    this.map.delete(id);
  }
  active(): Ban[] {
    return [...this.map.values()];
  }
  get(id: string): Ban | undefined {
    return this.map.get(id);
  }
}

/** A Mitigator over MemoryBans: upsert/remove change a ban in the source, then tell the Mitigator (as ban events do). */
export function mitigator(o: Omit<MitigatorOptions, 'bans'>, now?: () => number): Mitigator & { source: MemoryBans; upsert(b: Ban): void; remove(id: string): void } {
  const bans = new MemoryBans();
  if (now) bans.clock.now = now;
  const m = new Mitigator({ ...o, bans });
  return Object.assign(m, {
    source: bans,
    upsert(b: Ban) {
      bans.put(b);
      m.changed(b.id);
    },
    remove(id: string) {
      bans.delete(id);
      m.changed(id);
    },
  });
}

/**
 * Like the real speaker, an Established neighbor is "sent" a route the moment
 * it is announced (reported to onSent); one that is not Established only has
 * it queued until setEstablished(nb, true) sends it its Adj-RIB-Out.
 */
export class FakeSpeaker implements SpeakerPort {
  readonly ribs = new Map<string, Map<string, Route>>();
  /** route key -> neighbors written its UPDATE */
  readonly sent = new Map<string, Set<string>>();
  private readonly sentListeners: Array<(e: SentNotice) => void> = [];
  readonly calls: Array<{ kind: 'announce' | 'withdraw'; neighbor: string; keys: string[]; expiresAt?: number }> = [];
  /** Lease end per neighbor and routeKey, as the speaker keeps it (on `now`'s clock). */
  readonly leases = new Map<string, Map<string, number>>();
  now: () => number = Date.now;
  peerList: PeerInfo[];

  constructor(peers: Array<{ id: string; families?: FamilyName[]; established?: boolean }>) {
    this.peerList = peers.map((p) => ({
      id: p.id,
      state: p.established === false ? 'Active' : 'Established',
      established: p.established !== false,
      families: p.families ?? ['ipv4_unicast', 'ipv6_unicast', 'ipv4_flowspec', 'ipv6_flowspec'],
    }));
    for (const p of peers) this.ribs.set(p.id, new Map());
  }

  peers(): PeerInfo[] {
    return this.peerList;
  }

  rib(nb: string): Map<string, Route> {
    let m = this.ribs.get(nb);
    if (!m) this.ribs.set(nb, (m = new Map()));
    return m;
  }

  announce(routes: Route[], neighbors: string[], leaseMs = 0): void {
    const expiresAt = leaseMs > 0 ? this.now() + leaseMs : 0;
    for (const nb of neighbors) {
      this.calls.push({ kind: 'announce', neighbor: nb, keys: routes.map(routeKey), expiresAt });
      let l = this.leases.get(nb);
      if (!l) this.leases.set(nb, (l = new Map()));
      for (const r of routes) {
        this.rib(nb).set(routeKey(r), r);
        if (expiresAt) l.set(routeKey(r), expiresAt);
        else l.delete(routeKey(r));
      }
      if (this.isUp(nb)) this.wrote(nb, routes.map(routeKey), []);
    }
  }

  withdraw(routes: Route[], neighbors: string[]): void {
    for (const nb of neighbors) {
      this.calls.push({ kind: 'withdraw', neighbor: nb, keys: routes.map(routeKey) });
      for (const r of routes) {
        this.rib(nb).delete(routeKey(r));
        this.leases.get(nb)?.delete(routeKey(r));
      }
      if (this.isUp(nb)) this.wrote(nb, [], routes.map(routeKey));
    }
  }

  sentTo(key: string): string[] {
    return [...(this.sent.get(key) ?? [])];
  }

  onSent(fn: (e: SentNotice) => void): void {
    this.sentListeners.push(fn);
  }

  /** Session up: its Adj-RIB-Out is written; down: it holds nothing. */
  setEstablished(nb: string, up: boolean): void {
    const p = this.peerList.find((x) => x.id === nb);
    if (p) {
      p.established = up;
      p.state = up ? 'Established' : 'Active';
    }
    if (up) this.wrote(nb, [...this.rib(nb).keys()], []);
    else {
      for (const [k, set] of this.sent) if (set.delete(nb) && set.size === 0) this.sent.delete(k);
      for (const fn of this.sentListeners) fn({ neighbor: nb, announced: [], withdrawn: [], reset: true });
    }
  }

  private isUp(nb: string): boolean {
    return this.peerList.find((x) => x.id === nb)?.established !== false;
  }

  private wrote(nb: string, announced: string[], withdrawn: string[]): void {
    for (const k of announced) {
      let set = this.sent.get(k);
      if (!set) this.sent.set(k, (set = new Set()));
      set.add(nb);
    }
    for (const k of withdrawn) {
      const set = this.sent.get(k);
      if (set?.delete(nb) && set.size === 0) this.sent.delete(k);
    }
    for (const fn of this.sentListeners) fn({ neighbor: nb, announced, withdrawn });
  }

  applied(neighbor: string): Map<string, Route> {
    return this.rib(neighbor);
  }

  adjRibOut(neighbor: string): Route[] {
    return [...this.rib(neighbor).values()];
  }

  announces(): number {
    return this.calls.filter((c) => c.kind === 'announce').length;
  }

  /** What the speaker's lease timer does at `now`: withdraws every route whose lease ended. Returns the keys. */
  expire(now: number): string[] {
    const gone: string[] = [];
    for (const [nb, l] of this.leases) {
      for (const [k, t] of l) {
        if (t > now) continue;
        l.delete(k);
        if (this.rib(nb).delete(k)) gone.push(`${nb} ${k}`);
      }
    }
    return gone;
  }

  total(): number {
    let n = 0;
    for (const m of this.ribs.values()) n += m.size;
    return n;
  }
}
