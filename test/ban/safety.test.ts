/**
 * Property tests of the safety model: random configs (networks, whitelists,
 * caps, ladders, hostgroups) and random sequences of attacks (in and out of
 * networks, hosts and carpet prefixes, v4 and v6), updates, ends, ticks,
 * manual bans and unbans, reloads and restarts (snapshot → new manager →
 * restore). After every step the invariants are checked against an oracle
 * that is kept independently of the implementation.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ManualClock } from '../../src/core/clock.ts';
import { formatIPv4, formatIPv6, parsePrefix, prefixCovers, prefixesOverlap, prefixSize, type Prefix } from '../../src/core/ip.ts';
import { validateConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { routeBuilder } from '../../src/mitigation/route.ts';
import { BanManager, type BanEvent } from '../../src/ban/bans.ts';
import { LEVELS } from '../../src/ban/escalation.ts';
import type { Attack, Vector } from '../../src/engine/events.ts';
import type { Ban } from '../../src/ban/types.ts';
import { resolvePolicy } from '../../src/ban/policy.ts';
import { routeTargets } from '../../src/mitigation/route.ts';
import { T0 } from './helpers.ts';

const RUNS = Number(process.env.BREAKWATER_PROPERTY_RUNS ?? 300);
/** Replays a failure: BREAKWATER_PROPERTY_SEED=<seed> [BREAKWATER_PROPERTY_PATH=<path>]. */
const REPLAY: { seed?: number; path?: string } = process.env.BREAKWATER_PROPERTY_SEED
  ? { seed: Number(process.env.BREAKWATER_PROPERTY_SEED), path: process.env.BREAKWATER_PROPERTY_PATH }
  : {};

// ------------------------------------------------------------ generators

/** v4: offsets inside 10.0.0.0/21; v6: offsets inside 2001:db8::/116. */
const v4 = (off: number, len = 32) => {
  const a = ((10 << 24) >>> 0) + (off & 0x7ff);
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  const net = (a & mask) >>> 0;
  return len === 32 ? formatIPv4(net) : `${formatIPv4(net)}/${len}`;
};
const v6 = (off: number, len = 128) => {
  const b = new Uint8Array(16);
  b[0] = 0x20; b[1] = 0x01; b[2] = 0x0d; b[3] = 0xb8;
  const x = off & 0xfff;
  b[14] = x >> 8; b[15] = x & 0xff;
  const keep = 128 - len;
  for (let bit = 0; bit < keep; bit++) {
    const i = 15 - (bit >> 3);
    b[i] &= ~(1 << (bit & 7)) & 0xff;
  }
  return len === 128 ? formatIPv6(b) : `${formatIPv6(b)}/${len}`;
};

const prefixArb = (minV4: number, minV6: number) =>
  fc.oneof(
    { weight: 3, arbitrary: fc.tuple(fc.integer({ min: 0, max: 0x7ff }), fc.integer({ min: minV4, max: 32 })).map(([o, l]) => v4(o, l)) },
    { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 0, max: 0xfff }), fc.integer({ min: minV6, max: 128 })).map(([o, l]) => v6(o, l)) },
  );

/** Attack targets: mostly hosts, some carpet prefixes, some far outside; a dense corner makes them collide. */
const targetArb = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 0x7ff }).map((o) => v4(o)) },
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 0x3f }).map((o) => v4(o)) },
  { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 0, max: 0x7ff }), fc.integer({ min: 26, max: 31 })).map(([o, l]) => v4(o, l)) },
  { weight: 2, arbitrary: fc.tuple(fc.integer({ min: 0, max: 0x3f }), fc.integer({ min: 26, max: 31 })).map(([o, l]) => v4(o, l)) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 0xfff }).map((o) => v6(o)) },
  { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 0, max: 0xfff }), fc.integer({ min: 122, max: 127 })).map(([o, l]) => v6(o, l)) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 254 }).map((o) => `192.0.2.${o}`) },
);

const actionArb = fc.constantFrom('flowspec', 'flowspec_rate_limit', 'flowspec_discard', 'blackhole');
const ladderArb = fc.array(fc.record({ after_seconds: fc.integer({ min: 0, max: 200 }), action: actionArb }), { maxLength: 3 });

const banArb = fc.record({
  ttl_seconds: fc.integer({ min: 1, max: 240 }),
  unban_hysteresis_seconds: fc.integer({ min: 0, max: 90 }),
  max_active_bans: fc.integer({ min: 0, max: 12 }),
  max_banned_fraction: fc.constantFrom(0, 0.01, 0.05, 0.2, 1),
  max_bans_per_window: fc.integer({ min: 0, max: 8 }),
  ban_window_seconds: fc.integer({ min: 1, max: 120 }),
});

const rawConfigArb = fc
  .record({
    networks: fc
      .tuple(
        fc.oneof(fc.integer({ min: 21, max: 23 }).map((len) => v4(0, len)), fc.tuple(fc.integer({ min: 0, max: 0x7ff }), fc.integer({ min: 22, max: 25 })).map(([o, l]) => v4(o, l))),
        fc.array(fc.oneof(prefixArb(22, 116), fc.tuple(fc.integer({ min: 0, max: 0x3f }), fc.integer({ min: 27, max: 32 })).map(([o, l]) => v4(o, l))), { maxLength: 3 }),
      )
      .map(([first, more]) => [first, ...more]),
    protected_whitelist: fc.array(
      fc.oneof(prefixArb(24, 120), fc.tuple(fc.integer({ min: 0, max: 0x3f }), fc.integer({ min: 27, max: 32 })).map(([o, l]) => v4(o, l))),
      { maxLength: 3 },
    ),
    ban: banArb,
    mitigation: fc.constantFrom('blackhole', 'flowspec'),
    escalation: ladderArb,
    flowspec: fc.record({ action: fc.constantFrom('discard', 'rate_limit'), rate_mbps: fc.integer({ min: 0, max: 1000 }), max_rules_per_ban: fc.integer({ min: 1, max: 4 }) }),
    group: fc.option(
      fc.record({
        sub: fc.integer({ min: 0, max: 4 }),
        ban: fc.record({ ttl_seconds: fc.option(fc.integer({ min: 1, max: 60 }), { nil: undefined }), max_active_bans: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }), max_bans_per_window: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }) }),
        escalation: fc.option(ladderArb, { nil: undefined }),
        mitigation: fc.option(fc.constantFrom('blackhole', 'flowspec'), { nil: undefined }),
      }),
      { nil: undefined },
    ),
    dry_run: fc.boolean(),
  })
  .map((r) => {
    const out: Record<string, unknown> = { ...r, bgp: { communities: ['65000:1'] } };
    delete out.group;
    if (r.group) {
      // a hostgroup on a sub-prefix of the first network
      const n = parsePrefix(r.networks[0]) as Prefix;
      const max = n.family === 4 ? 32 : 128;
      const len = Math.min(max, n.len + r.group.sub);
      const s = n.family === 4 ? `${formatIPv4(((n.bytes[0] << 24) >>> 0) + (n.bytes[1] << 16) + (n.bytes[2] << 8) + n.bytes[3])}/${len}` : `${formatIPv6(n.bytes)}/${len}`;
      const ban = Object.fromEntries(Object.entries(r.group.ban).filter(([, v]) => v !== undefined));
      const g: Record<string, unknown> = { name: 'g1', networks: [s], ban };
      if (r.group.escalation) g.escalation = r.group.escalation;
      if (r.group.mitigation) g.mitigation = r.group.mitigation;
      out.hostgroups = [g];
    }
    return out;
  });

const configArb = rawConfigArb.map((raw) => validateConfig(raw));

const VECTORS: Vector[] = ['ntp_amplification', 'dns_amplification', 'udp_amplification', 'syn_flood', 'udp_flood', 'icmp_flood', 'fragment_flood', 'carpet_bomb', 'mixed', 'ack_flood'];

type Cmd =
  | { k: 'start'; target: string; vector: Vector; outgoing: boolean; dt: number }
  | { k: 'update'; i: number; dt: number }
  | { k: 'end'; i: number; dt: number }
  | { k: 'tick'; dt: number }
  | { k: 'mban'; target: string; same: number | undefined; ttl: number | undefined; dt: number }
  | { k: 'munban'; i: number; byId: boolean; dt: number }
  | { k: 'reload'; config: Readonly<Config>; dt: number }
  | { k: 'restart'; dt: number };

const dtArb = fc.integer({ min: 0, max: 5000 });
const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ k: fc.constant('start' as const), target: targetArb, vector: fc.constantFrom(...VECTORS), outgoing: fc.boolean(), dt: dtArb }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('update' as const), i: fc.nat(), dt: dtArb }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('end' as const), i: fc.nat(), dt: dtArb }) },
  { weight: 6, arbitrary: fc.record({ k: fc.constant('tick' as const), dt: fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 0, max: 10_000 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 200_000 }) }) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('mban' as const), target: targetArb, same: fc.option(fc.nat(), { nil: undefined }), ttl: fc.option(fc.integer({ min: 1, max: 300 }), { nil: undefined }), dt: dtArb }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('munban' as const), i: fc.nat(), byId: fc.boolean(), dt: dtArb }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('reload' as const), config: configArb, dt: dtArb }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('restart' as const), dt: dtArb }) },
);

// ------------------------------------------------------------ oracle and checks

const P = (s: string) => parsePrefix(s) as Prefix;
const key = (s: string) => {
  const p = P(s);
  return p.len === (p.family === 4 ? 32 : 128) ? s.replace(/\/(32|128)$/, '') : s;
};

function union(family: 4 | 6, ps: Prefix[]): number {
  const sorted = ps.filter((p) => p.family === family).sort((a, b) => a.len - b.len);
  const kept: Prefix[] = [];
  for (const p of sorted) if (!kept.some((k) => prefixCovers(k, p))) kept.push(p);
  return kept.reduce((n, p) => n + prefixSize(p), 0);
}

function summary(): Attack['summary'] {
  return {
    top_sources: [], top_destination_ports: [], tcp_flags: [], avg_packet_size: 800, sample: [],
    top_source_ports: [{ key: '3283', packets: 10, share: 0.8 }],
    protocols: [{ key: 'udp', packets: 10, share: 0.9 }],
  };
}

interface World {
  config: Readonly<Config>;
  now: number;
  m: BanManager;
  clock: ManualClock;
  events: BanEvent[];
  /** attack id → attack, for attacks the "engine" considers live. */
  live: Map<string, Attack>;
  /** attack id → [end time, hysteresis ms then]. */
  ended: Map<string, { at: number; hyst: number }>;
  banTimes: number[];
  maxRank: Map<string, number>;
  seq: number;
  /** max_active_bans of every config seen (a lowered cap never ends bans). */
  caps: number[];
  /** Live attacks whose ban an operator lifted (not banned again until they end). */
  suppressed: Set<string>;
  /** Ban id → its hostgroup now (a reload can move a live ban to another group). */
  banGroup: Map<string, string | undefined>;
  failure?: unknown;
}

function attach(w: World): void {
  // BanManager isolates listener exceptions, so failures are kept and rethrown after the step.
  w.m.on((e) => {
    w.events.push(e);
    try {
      check(w, e);
    } catch (err) {
      w.failure ??= err;
    }
  });
}

function networks(c: Readonly<Config>): Prefix[] {
  return c.networks.map(P);
}

/** Invariants that must hold at each event, when it is emitted. */
function check(w: World, e: BanEvent): void {
  const c = w.config;
  if (e.event === 'ban') {
    const active = w.m.active();
    // (4) hard cap and banned fraction, at the moment a ban is made
    assert.ok(active.length <= c.ban.max_active_bans, `(4) ${active.length} active > cap ${c.ban.max_active_bans}`);
    for (const f of [4, 6] as const) {
      const net = union(f, networks(c));
      const banned = union(f, active.map((b) => P(b.target)));
      if (banned > 0) assert.ok(banned / net <= c.ban.max_banned_fraction + 1e-12, `(4) fraction v${f} ${banned}/${net} > ${c.ban.max_banned_fraction}`);
    }
    // group caps
    const g = c.hostgroups[0];
    if (g && e.ban.hostgroup === g.name && g.ban?.max_active_bans !== undefined) {
      assert.ok(active.filter((b) => b.hostgroup === g.name).length <= g.ban.max_active_bans, '(4) group cap');
    }
    // (5) bans per window
    w.banGroup.set(e.ban.id, e.ban.hostgroup);
    w.banTimes.push(e.time);
    const from = e.time - c.ban.ban_window_seconds * 1000;
    const n = w.banTimes.filter((t) => t > from).length;
    assert.ok(n <= c.ban.max_bans_per_window, `(5) ${n} bans in window > ${c.ban.max_bans_per_window}`);
  }
  if (e.event === 'escalate') {
    // (6) never down
    assert.ok(LEVELS.indexOf(e.to as never) > LEVELS.indexOf(e.from as never), `(6) ${e.from} → ${e.to}`);
  }
  if (e.event === 'unban' && e.reason === 'expired') {
    const b = e.ban;
    // (3) only after the TTL ...
    assert.ok(e.time >= b.created + b.ttl_seconds * 1000, `(3) unbanned before its TTL`);
    // ... and after the hysteresis since its attacks ended, none of them still live
    for (const id of b.attack_ids ?? []) {
      assert.ok(!w.live.has(id), `(3) unbanned while attack ${id} is live`);
      const end = w.ended.get(id);
      if (end) assert.ok(e.time >= end.at + end.hyst, `(3) unbanned ${e.time - end.at} ms after the attack ended, hysteresis ${end.hyst}`);
    }
  }
}

/** Invariants over the whole state, after each step. */
function checkState(w: World, afterTick: boolean): void {
  if (w.failure) throw w.failure;
  assert.equal(w.m.stats().listener_errors, 0);
  const c = w.config;
  const nets = networks(c);
  const wl = c.protected_whitelist.map(P);
  const bans = w.m.active();
  const seen = new Set<string>();
  for (const b of bans) {
    const p = P(b.target);
    // one live ban per target
    assert.ok(!seen.has(b.target), 'duplicate target');
    seen.add(b.target);
    // (1) inside networks
    assert.ok(nets.some((n) => prefixCovers(n, p)), `(1) ${b.target} outside networks`);
    // (2) never overlapping the whitelist
    assert.ok(!wl.some((x) => prefixesOverlap(x, p)), `(2) ${b.target} overlaps the whitelist`);
    // (3) a finite TTL and expiry
    assert.ok(Number.isFinite(b.expires) && b.ttl_seconds >= 1 && Number.isFinite(b.ttl_seconds), '(3) finite TTL');
    // after a tick nothing live is past its expiry: expiring bans have ended, active ones were extended
    if (afterTick) assert.ok(w.now < b.expires || (b.state === 'active' && b.expires === w.now && resolvePolicy(c, b.target, b.hostgroup).ban.unban_hysteresis_seconds === 0), `(3) ${b.state} ban past its expiry`);
    const liveLinked = [...w.live.values()].some((a) => key(a.target) === b.target && (b.attack_ids ?? []).includes(a.id));
    if (b.state === 'active') assert.ok(liveLinked, `(3) ban ${b.target} active without a live attack`);
    else assert.ok(!liveLinked, `(3) ban ${b.target} expiring while a linked attack is live`);
    // (6) level never down over the ban's life (ids survive restarts)
    const rank = LEVELS.indexOf(b.level!);
    assert.ok(rank >= (w.maxRank.get(b.id) ?? -1), '(6) level went down');
    w.maxRank.set(b.id, rank);
    assert.equal(b.action, b.level === 'blackhole' ? 'blackhole' : 'flowspec');
    // (7) the route targets the ban target only, inside networks, off the whitelist
    assert.equal(b.route.type, b.action);
    const rts = routeTargets(b.route);
    assert.ok(rts.length >= 1);
    if (b.route.type === 'flowspec') {
      const pol = resolvePolicy(c, b.target, b.hostgroup);
      assert.ok(b.route.rules.length <= pol.flowspec.max_rules_per_ban, '(7) too many rules');
    }
    for (const r of rts) {
      const q = P(r);
      assert.ok(prefixCovers(p, q), `(7) route ${r} outside ban ${b.target}`);
      assert.ok(nets.some((n) => prefixCovers(n, q)), `(7) route ${r} outside networks`);
      assert.ok(!wl.some((x) => prefixesOverlap(x, q)), `(7) route ${r} whitelisted`);
    }
  }
  assert.ok(bans.length <= Math.max(...w.caps), '(4) cap');
  if (afterTick) checkLiveness(w, bans);
}

/**
 * Liveness, so the guards cannot pass the safety checks by refusing
 * everything: after a tick, every live attack without a ban must be refused by
 * a guard evaluated now (capacity only shrinks while a tick retries attacks).
 */
function checkLiveness(w: World, bans: Ban[]): void {
  const c = w.config;
  const nets = networks(c);
  const wl = c.protected_whitelist.map(P);
  const g = c.hostgroups[0];
  for (const a of w.live.values()) {
    if (w.suppressed.has(a.id)) continue;
    const p = P(a.target);
    const k = key(a.target);
    if (bans.some((b) => b.target === k)) continue;
    if (!nets.some((n) => prefixCovers(n, p))) continue;
    if (wl.some((x) => prefixesOverlap(x, p))) continue;
    if (bans.some((b) => prefixCovers(P(b.target), p))) continue;
    const capFull = (active: Ban[], times: number[], maxActive: number | undefined, maxFrac: number | undefined, maxWin: number | undefined, win: number, netSize: number) => {
      if (maxActive !== undefined && active.length >= maxActive) return true;
      if (maxFrac !== undefined && union(p.family, [...active.map((b) => P(b.target)), p]) / netSize > maxFrac) return true;
      if (maxWin !== undefined && times.filter((t) => t > w.now - win * 1000).length >= maxWin) return true;
      return false;
    };
    if (capFull(bans, w.banTimes, c.ban.max_active_bans, c.ban.max_banned_fraction, c.ban.max_bans_per_window, c.ban.ban_window_seconds, union(p.family, nets))) continue;
    const pol = resolvePolicy(c, a.target);
    if (g && pol.hostgroup?.name === g.name && pol.groupCaps) {
      const mine = bans.filter((b) => b.hostgroup === g.name);
      const times = w.events.filter((e) => e.event === 'ban' && w.banGroup.get(e.ban.id) === g.name).map((e) => e.time);
      if (capFull(mine, times, g.ban?.max_active_bans, g.ban?.max_banned_fraction, g.ban?.max_bans_per_window, pol.ban.ban_window_seconds, union(p.family, g.networks.map(P)))) continue;
    }
    assert.fail(`(liveness) attack ${a.id} on ${a.target} has no ban though every guard would pass`);
  }
}

function newWorld(config: Readonly<Config>): World {
  const clock = new ManualClock(T0);
  const w: World = {
    config, now: T0, clock, m: new BanManager(config, { clock, routes: routeBuilder(config) }), events: [], live: new Map(), ended: new Map(),
    banTimes: [], maxRank: new Map(), seq: 0, caps: [config.ban.max_active_bans], suppressed: new Set(), banGroup: new Map(),
  };
  attach(w);
  return w;
}

function run(config: Readonly<Config>, cmds: Cmd[]): World {
  const w = newWorld(config);
  const caps = w.caps;
  const liveList = () => [...w.live.values()];
  for (const cmd of cmds) {
    w.now += cmd.dt;
    w.clock.t = w.now;
    let ticked = false;
    switch (cmd.k) {
      case 'start': {
        const a: Attack = {
          id: `a${++w.seq}`, target: cmd.target, family: cmd.target.includes(':') ? 6 : 4, direction: cmd.outgoing ? 'outgoing' : 'incoming',
          vector: cmd.vector, triggers: ['pps'], pps: 1, mbps: 1, fps: 1, peak_pps: 1, peak_mbps: 1, peak_fps: 1, start: w.now, summary: summary(),
        };
        w.live.set(a.id, a);
        w.m.onAttackEvent({ event: 'attack_start', time: w.now, attack: a });
        break;
      }
      case 'update': {
        const l = liveList();
        if (l.length) w.m.onAttackEvent({ event: 'attack_update', time: w.now, attack: l[cmd.i % l.length] });
        break;
      }
      case 'end': {
        const l = liveList();
        if (!l.length) break;
        const a = l[cmd.i % l.length];
        w.live.delete(a.id);
        w.suppressed.delete(a.id);
        const hyst = resolvePolicy(w.config, a.target).ban.unban_hysteresis_seconds * 1000;
        w.ended.set(a.id, { at: w.now, hyst });
        w.m.onAttackEvent({ event: 'attack_end', time: w.now, attack: { ...a, end: w.now } });
        break;
      }
      case 'tick':
        w.m.tick(w.now);
        ticked = true;
        break;
      case 'mban': {
        const act = w.m.active();
        const target = cmd.same !== undefined && act.length ? act[cmd.same % act.length].target : cmd.target;
        const r = w.m.manualBan({ ip: target, ttlSeconds: cmd.ttl, actor: 'prop' });
        if (r.ok) {
          assert.equal(r.ban.source, 'prop');
          for (const a of w.live.values()) if (key(a.target) === r.ban.target) w.suppressed.delete(a.id);
        }
        break;
      }
      case 'munban': {
        const bans = w.m.active();
        if (!bans.length) break;
        const b = bans[cmd.i % bans.length];
        for (const id of b.attack_ids ?? []) if (w.live.has(id)) w.suppressed.add(id);
        const r = cmd.byId ? w.m.manualUnban({ id: b.id, actor: 'prop' }) : w.m.manualUnban({ ip: b.target, actor: 'prop' });
        assert.ok(r.ok);
        assert.ok(!w.m.active().some((x) => x.id === b.id), 'manual unban ends at once');
        break;
      }
      case 'reload': {
        w.config = cmd.config;
        caps.push(cmd.config.ban.max_active_bans);
        const before = w.m.active().length;
        const r = w.m.reconfigure(cmd.config, routeBuilder(cmd.config), w.now);
        assert.equal(w.m.active().length, before - r.unbanned.length);
        for (const b of w.m.active()) w.banGroup.set(b.id, b.hostgroup);
        break;
      }
      case 'restart': {
        // The whole process restarts: detection state is lost too.
        for (const [id, a] of w.live) {
          const hyst = resolvePolicy(w.config, a.target).ban.unban_hysteresis_seconds * 1000;
          w.ended.set(id, { at: w.now, hyst });
        }
        w.live.clear();
        w.suppressed.clear();
        const snap = JSON.parse(JSON.stringify([...w.m.snapshot(), ...w.m.history()])) as Ban[];
        w.m = new BanManager(w.config, { clock: w.clock, routes: routeBuilder(w.config) });
        attach(w);
        const r = w.m.restore(snap, w.now);
        for (const b of w.m.active()) w.banGroup.set(b.id, b.hostgroup);
        for (const b of r.expired) assert.ok(w.now >= b.expires);
        caps.push(w.config.ban.max_active_bans);
        // restored bans obey the current cap and fraction
        const act = w.m.active();
        assert.ok(act.length <= w.config.ban.max_active_bans);
        for (const f of [4, 6] as const) {
          const banned = union(f, act.map((b) => P(b.target)));
          if (banned > 0) assert.ok(banned / union(f, networks(w.config)) <= w.config.ban.max_banned_fraction + 1e-12);
        }
        break;
      }
    }
    checkState(w, ticked);
  }
  // Finally: every attack ends and time runs on — nothing stays banned.
  for (const a of [...w.live.values()]) {
    w.live.delete(a.id);
    const hyst = resolvePolicy(w.config, a.target).ban.unban_hysteresis_seconds * 1000;
    w.ended.set(a.id, { at: w.now, hyst });
    w.m.onAttackEvent({ event: 'attack_end', time: w.now, attack: a });
  }
  w.now += 400 * 86400_000;
  w.m.tick(w.now);
  checkState(w, true);
  assert.deepEqual(w.m.active(), [], '(3) every ban expires');
  return w;
}

test('safety properties (1)-(7) over random configs and event sequences', () => {
  fc.assert(
    fc.property(configArb, fc.array(cmdArb, { minLength: 5, maxLength: 80, size: 'max' }), (config, cmds) => {
      run(config, cmds);
    }),
    { numRuns: RUNS, ...REPLAY },
  );
});

test('dry_run changes no decision, and the same input gives the same events', () => {
  fc.assert(
    fc.property(rawConfigArb, fc.array(cmdArb.filter((c) => c.k !== 'reload'), { minLength: 1, maxLength: 40 }), (raw, cmds) => {
      const a = run(validateConfig({ ...raw, dry_run: true }), cmds).events;
      const b = run(validateConfig({ ...raw, dry_run: false }), cmds).events;
      const c = run(validateConfig({ ...raw, dry_run: true }), cmds).events;
      assert.deepEqual(b, a);
      assert.deepEqual(c, a);
    }),
    { numRuns: Math.max(20, Math.floor(RUNS / 3)) },
  );
});

test('the generators reach every guard and the interesting paths', () => {
  // Guards against a vacuous property: over a fixed seed, every refusal reason
  // and every kind of unban shows up.
  const reasons = new Set<string>();
  const unbans = new Set<string>();
  let escalations = 0;
  fc.assert(
    fc.property(configArb, fc.array(cmdArb, { minLength: 20, maxLength: 80, size: 'max' }), (config, cmds) => {
      const w = run(config, cmds);
      for (const e of w.events) {
        if (e.event === 'ban_refused') reasons.add(e.reason);
        if (e.event === 'unban') unbans.add(e.reason);
        if (e.event === 'escalate') escalations++;
      }
    }),
    { numRuns: 150, seed: 4242 },
  );
  for (const r of ['outside_networks', 'whitelisted', 'already_banned', 'max_active_bans', 'max_banned_fraction', 'rate_limited', 'manually_unbanned']) assert.ok(reasons.has(r), `never saw ${r}: ${[...reasons]}`);
  for (const r of ['expired', 'manual', 'whitelisted', 'outside_networks']) assert.ok(unbans.has(r), `never saw unban ${r}: ${[...unbans]}`);
  assert.ok(escalations > 0);
});
