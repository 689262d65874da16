/**
 * Adj-RIB-Out of one neighbor: the routes Breakwater wants the peer to hold
 * (`desired`), what the peer was last sent (`sent`), and the keys whose two
 * sides differ (`dirty`). Routes are identified by routeKey() (family + NLRI)
 * and compared by attrsKey(), so announcing the same route twice sends
 * nothing and changing its attributes replaces it (implicit withdraw).
 *
 * Routes whose family the session did not negotiate are held: kept, counted,
 * never sent. Routes refused for this neighbor (a next hop that is the peer's
 * own address) are held the same way with the reason.
 *
 * Also the route checks done before anything is queued (validateRoute):
 * martian next hops and IPv4/IPv6 mismatches are refused with a clear error.
 */
import { parseIP, parsePrefix, formatPrefix } from '../core/ip.ts';
import { RouteError } from './errors.ts';
import { validateFlowspecRule } from './flowspec.ts';
import { encodeUpdates } from './update.ts';
import { attrsKey, isFlowspecRoute, routeKey, type CodecContext, type FamilyName, type PathAttributes, type Route } from './types.ts';

export { encodeEndOfRib } from './update.ts';

export interface RibEntry {
  route: Route;
  key: string;
  attrs: string;
  /** Lease end (ms since epoch), 0 = no lease. */
  expiresAt: number;
}

export interface RibChanges {
  announce: Route[];
  withdraw: Route[];
  /** routeKey() of each, in the same order. */
  announceKeys: string[];
  withdrawKeys: string[];
  /** Stopped at the limit: more changes may be pending. */
  more?: boolean;
}

/**
 * attrsKey() per attribute object. Routes are treated as immutable once
 * announced, and batches usually share one attrs object, so 10,000 routes
 * cost one key computation.
 */
const attrKeys = new WeakMap<object, string>();
export function cachedAttrsKey(a: PathAttributes): string {
  let k = attrKeys.get(a);
  if (k === undefined) {
    k = attrsKey(a);
    attrKeys.set(a, k);
  }
  return k;
}

export class AdjRibOut {
  readonly desired = new Map<string, RibEntry>();
  /** key → attrs key of what the peer holds. */
  readonly sent = new Map<string, { route: Route; attrs: string }>();
  private readonly dirty = new Set<string>();
  /** Dirty keys to send again although the peer holds them unchanged (route refresh). */
  private readonly force = new Set<string>();
  /** key → reason, routes this neighbor must not get. */
  readonly refused = new Map<string, string>();

  /** Adds or replaces a route. Returns false when nothing changed. */
  announce(route: Route, expiresAt = 0): boolean {
    const key = routeKey(route);
    const attrs = cachedAttrsKey(route.attrs);
    const cur = this.desired.get(key);
    if (cur && cur.attrs === attrs) {
      cur.expiresAt = expiresAt;
      return false;
    }
    this.desired.set(key, { route, key, attrs, expiresAt });
    this.dirty.add(key);
    return true;
  }

  /** Removes a route by route or key. Returns false when it was not there. */
  withdraw(routeOrKey: Route | string): boolean {
    const key = typeof routeOrKey === 'string' ? routeOrKey : routeKey(routeOrKey);
    if (!this.desired.delete(key)) return false;
    this.refused.delete(key);
    this.dirty.add(key);
    return true;
  }

  clear(): number {
    const n = this.desired.size;
    for (const k of this.desired.keys()) this.dirty.add(k);
    this.desired.clear();
    this.refused.clear();
    return n;
  }

  /** The peer holds nothing (session down) or must get everything again (refresh). */
  resetSent(family?: FamilyName): void {
    if (family === undefined) {
      this.sent.clear();
      this.force.clear();
      for (const k of this.desired.keys()) this.dirty.add(k);
      return;
    }
    // The peer keeps what it holds until it is sent again: the entries of `sent`
    // stay (no 10,000 objects rebuilt per refresh), the routes are marked to re-send.
    for (const [k, e] of this.desired) {
      if (e.route.family !== family) continue;
      this.dirty.add(k);
      this.force.add(k);
    }
  }

  get hasChanges(): boolean {
    return this.dirty.size > 0;
  }

  /**
   * Takes the pending changes for the families the session negotiated and
   * marks them sent. `refuse(route)` returns a reason to hold a route back.
   * At most `limit` per call, counting `cost(route)` for each route taken
   * (default 1: a number of routes); the rest stays pending for the next.
   */
  takeChanges(families: ReadonlySet<FamilyName>, refuse?: (r: Route) => string | null, limit = Infinity, cost?: (r: Route) => number): RibChanges {
    const out: RibChanges = { announce: [], withdraw: [], announceKeys: [], withdrawKeys: [] };
    let spent = 0;
    for (const key of this.dirty) {
      if (spent >= limit) {
        out.more = true;
        break;
      }
      const want = this.desired.get(key);
      const had = this.sent.get(key);
      if (!want && !had) {
        this.dirty.delete(key); // announced and withdrawn before it was ever sent
        continue;
      }
      const fam = (want ?? had)!.route.family;
      if (!families.has(fam)) continue; // held; stays dirty until negotiated
      this.dirty.delete(key);
      const forced = this.force.delete(key);
      if (want) {
        const why = refuse?.(want.route) ?? null;
        if (why) {
          this.refused.set(key, why);
          if (had) {
            out.withdraw.push(had.route);
            out.withdrawKeys.push(key);
            this.sent.delete(key);
            spent += cost ? cost(had.route) : 1;
          }
          continue;
        }
        this.refused.delete(key);
        if (had && had.attrs === want.attrs && !forced) continue;
        out.announce.push(want.route);
        out.announceKeys.push(key);
        spent += cost ? cost(want.route) : 1;
        if (had) {
          had.route = want.route;
          had.attrs = want.attrs;
        } else this.sent.set(key, { route: want.route, attrs: want.attrs });
      } else if (had) {
        out.withdraw.push(had.route);
        out.withdrawKeys.push(key);
        this.sent.delete(key);
        spent += cost ? cost(had.route) : 1;
      }
    }
    return out;
  }

  /** Routes held because their family is not negotiated. */
  held(families: ReadonlySet<FamilyName>): RibEntry[] {
    const out: RibEntry[] = [];
    for (const e of this.desired.values()) if (!families.has(e.route.family)) out.push(e);
    return out;
  }

  sentCount(): number {
    return this.sent.size;
  }

  routes(): Route[] {
    return [...this.desired.values()].map((e) => e.route);
  }
}

// ---------------------------------------------------------------- route checks

function v4(s: string): number {
  const p = parseIP(s);
  if (!p || p.family !== 4) return -1;
  const b = p.bytes;
  return ((b[0] << 24) >>> 0) + (b[1] << 16) + (b[2] << 8) + b[3];
}

/** Why an IPv4 next hop is unusable, or null. */
export function badNextHop4(nh: string): string | null {
  const n = v4(nh);
  if (n < 0) return `next hop ${nh} is not an IPv4 address`;
  const a = n >>> 24;
  if (a === 0) return `next hop ${nh} is in 0.0.0.0/8 (martian)`;
  if (a === 127) return `next hop ${nh} is a loopback address (127.0.0.0/8): routers reject it as martian`;
  if (a >= 224 && a <= 239) return `next hop ${nh} is a multicast address`;
  if (a >= 240) return `next hop ${nh} is reserved or broadcast (240.0.0.0/4)`;
  return null;
}

/** Why an IPv6 next hop is unusable, or null. */
export function badNextHop6(nh: string): string | null {
  const p = parseIP(nh);
  if (!p || p.family !== 6) return `next hop ${nh} is not an IPv6 address`;
  const b = p.bytes;
  if (b.every((x) => x === 0)) return `next hop ${nh} is the unspecified address`;
  if (b.slice(0, 15).every((x) => x === 0) && b[15] === 1) return `next hop ${nh} is the loopback address ::1`;
  if (b[0] === 0xff) return `next hop ${nh} is a multicast address`;
  if (b.slice(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) return `next hop ${nh} is an IPv4-mapped address`;
  if (b[0] === 0xfe && (b[1] & 0xc0) === 0x80) return `next hop ${nh} is link-local; give a global IPv6 next hop`;
  return null;
}

/**
 * Checks a route before it is queued for any neighbor. Throws RouteError with
 * the reason: prefix of the wrong family or with host bits, missing or
 * martian next hop, an IPv6 route with an IPv4 next hop (or the reverse), an
 * unsafe FlowSpec rule.
 */
export function validateRoute(r: Route): void {
  if (isFlowspecRoute(r)) {
    const why = validateFlowspecRule(r.family, r.rule);
    if (why) throw new RouteError(`flow route refused: ${why}`);
    return;
  }
  const p = parsePrefix(r.prefix);
  if (typeof p === 'string') throw new RouteError(`bad prefix ${r.prefix}: ${p}`);
  const fam = r.family === 'ipv4_unicast' ? 4 : 6;
  if (p.family !== fam) throw new RouteError(`prefix ${r.prefix} does not belong to ${r.family}`);
  if (formatPrefix(p) !== r.prefix) throw new RouteError(`prefix ${r.prefix} is not canonical (expected ${formatPrefix(p)})`);
  if (checkedNextHops.has(r.attrs)) return;
  checkNextHop(r, fam);
  checkedNextHops.add(r.attrs);
}

/** Attribute objects whose next hops passed (routes are immutable once announced). */
const checkedNextHops = new WeakSet<object>();

function checkNextHop(r: Route & { prefix: string }, fam: 4 | 6): void {
  if (fam === 4) {
    if (!r.attrs.nextHop) throw new RouteError(`route ${r.prefix} needs an IPv4 next hop`);
    const why = badNextHop4(r.attrs.nextHop);
    if (why) throw new RouteError(`route ${r.prefix} refused: ${why}`);
  } else {
    if (!r.attrs.nextHop6) {
      throw new RouteError(
        r.attrs.nextHop ? `route ${r.prefix} is IPv6 and needs an IPv6 next hop (got ${r.attrs.nextHop})` : `route ${r.prefix} needs an IPv6 next hop`,
      );
    }
    const why = badNextHop6(r.attrs.nextHop6);
    if (why) throw new RouteError(`route ${r.prefix} refused: ${why}`);
  }
}

/**
 * Per-session check: a next hop equal to the peer's own address is martian
 * to it; `self` must resolve to a usable local address of the right family.
 */
export function refuseForSession(r: Route, peerAddress: string, localAddress?: string): string | null {
  if (isFlowspecRoute(r)) return null;
  let nh = r.family === 'ipv4_unicast' ? r.attrs.nextHop : r.attrs.nextHop6;
  if (!nh) return 'no next hop';
  if (nh === 'self') {
    if (!localAddress) return 'next hop self: the session has no local address yet';
    nh = localAddress;
    const why = r.family === 'ipv4_unicast' ? badNextHop4(nh) : badNextHop6(nh);
    if (why) return `next hop self (${nh}): ${why}`;
  }
  const a = parseIP(nh), b = parseIP(peerAddress);
  if (a && b && a.family === b.family && a.bytes.every((x, i) => x === b.bytes[i])) {
    return `next hop ${nh} is the neighbor's own address`;
  }
  return null;
}

// ---------------------------------------------------------------- to the wire

export interface EncodeOptions {
  ctx: CodecContext;
  localAsn: number;
  ibgp: boolean;
  /** LOCAL_PREF for iBGP when the route has none. */
  localPref: number;
  /** Resolves `next hop self`. */
  localAddress?: string;
}

/** Attributes as this session sends them: ORIGIN, our AS on eBGP, LOCAL_PREF on iBGP only. */
export function outgoingAttrs(a: PathAttributes, o: EncodeOptions): PathAttributes {
  const out: PathAttributes = { ...a };
  if (out.origin === undefined) out.origin = 0;
  if (o.ibgp) {
    out.asPath = a.asPath ?? [];
    if (out.localPref === undefined) out.localPref = o.localPref;
  } else {
    const path = a.asPath ?? [];
    const first = path[0];
    out.asPath = first && first.type === 2 ? [{ type: 2, asns: [o.localAsn, ...first.asns] }, ...path.slice(1)] : [{ type: 2, asns: [o.localAsn] }, ...path];
    delete out.localPref;
  }
  if (out.nextHop === 'self') out.nextHop = o.localAddress;
  if (out.nextHop6 === 'self') out.nextHop6 = o.localAddress;
  return out;
}

/**
 * Encodes Adj-RIB-Out changes into UPDATE messages (the codec packs routes
 * that share attributes into one message). Attributes are rewritten once per
 * distinct attribute set, so 10,000 RTBH routes cost one rewrite.
 */
export function encodeRouteChanges(announce: readonly Route[], withdraw: readonly Route[], o: EncodeOptions): Buffer[] {
  const cache = new Map<PathAttributes, PathAttributes>();
  const ann = announce.map((r) => {
    let a = cache.get(r.attrs);
    if (!a) {
      a = outgoingAttrs(r.attrs, o);
      cache.set(r.attrs, a);
    }
    return { ...r, attrs: a } as Route;
  });
  return encodeUpdates({ announce: ann, withdraw }, o.ctx);
}
