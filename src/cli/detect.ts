/**
 * `breakwater detect -config FILE [-updates] [-drain=false] [-stats] CAPTURE...`
 *
 * Runs the real engine (and its BanManager) over the flow-export datagrams of
 * pcap/pcapng captures, with the capture timestamps as the clock, and prints
 * the events as JSON lines on stdout:
 *
 *   {"event":"attack_start","time":"2024-...Z","target":"198.51.100.7","direction":"incoming",
 *    "vector":"syn_flood","pps":...,"mbps":...,"fps":...,"route":{...},"attack_id":"...",...}
 *
 * Datagrams of all captures are merged in capture-time order (stable for equal
 * times), so the output depends only on the input. The engine and the bans
 * advance through every tick boundary that matters between datagrams (see
 * detectCaptures), so an unban is stamped at its due time even inside a gap of
 * the capture. After the input the clock keeps running (without traffic)
 * until every attack and every ban has ended, unless -drain=false (or the
 * older -no-drain). -updates also prints attack_update events; -stats prints
 * engine and decoder counters on stderr. escalate and unban lines carry rates
 * too (eventJson, banRates).
 */
import { loadConfig } from '../config/load.ts';
import { ManualClock } from '../core/clock.ts';
import { Engine } from '../engine/engine.ts';
import type { Attack } from '../engine/events.ts';
import { BanManager } from '../ban/bans.ts';
import type { AttackView, Ban, DetectionEvent } from '../ban/types.ts';
import { routeBuilder, routeForAttack } from '../mitigation/route.ts';
import { NetworkSet } from '../engine/hostgroups.ts';
import { parseIP } from '../core/ip.ts';
import { FlowDecoder, detectFlowProto } from '../flow/decode.ts';
import { plausibilityLimits } from '../flow/plausible.ts';
import { newCaptureStats, readCapture, type UdpPacket } from '../flow/pcap.ts';
import { parseFlags, UsageError } from './flags.ts';
import type { Config } from '../config/schema.ts';

const USAGE = 'usage: breakwater detect -config FILE [-updates] [-drain=false] [-stats] CAPTURE...\n';

function iso(ms: number): string {
  return new Date(Math.round(ms)).toISOString();
}

function attackFields(a: AttackView): Record<string, unknown> {
  const o: Record<string, unknown> = {
    target: a.target,
    direction: a.direction,
    vector: a.vector,
    pps: a.pps,
    mbps: a.mbps,
    fps: a.fps,
  };
  if (a.route) o.route = a.route;
  o.attack_id = a.id;
  if (a.kind) o.kind = a.kind;
  if (a.hostgroup) o.hostgroup = a.hostgroup;
  o.triggers = a.triggers;
  if (a.thresholds) o.thresholds = a.thresholds;
  o.peak_pps = a.peak_pps;
  o.peak_mbps = a.peak_mbps;
  o.peak_fps = a.peak_fps;
  o.start = iso(a.start);
  if (a.end !== undefined) {
    o.end = iso(a.end);
    o.duration_s = Math.round(a.end - a.start) / 1000;
  }
  if (a.end_reason) o.reason = a.end_reason;
  if (a.hosts !== undefined) o.hosts = a.hosts;
  if (a.prefixes) o.prefixes = a.prefixes;
  const s = a.summary;
  o.top_sources = s.top_sources.slice(0, 5);
  o.top_source_ports = s.top_source_ports.slice(0, 5);
  o.top_destination_ports = s.top_destination_ports.slice(0, 5);
  o.protocols = s.protocols;
  if (s.tcp_flags.length) o.tcp_flags = s.tcp_flags.slice(0, 5);
  o.avg_packet_size = s.avg_packet_size;
  return o;
}

/**
 * The JSON object printed for one event. escalate and unban lines carry the
 * `rates` detectCaptures computed for them (pps/mbps/fps and peaks, see
 * banRates) when given.
 */
export function eventJson(e: DetectionEvent, rates?: EventRates): Record<string, unknown> {
  const base: Record<string, unknown> = { event: e.event, time: iso(e.time) };
  switch (e.event) {
    case 'attack_start':
    case 'attack_update':
    case 'attack_end':
      return { ...base, ...attackFields(e.attack) };
    case 'ban': {
      const b = e.ban;
      const a = e.attack;
      return {
        ...base, target: b.target, direction: b.direction ?? a?.direction, vector: b.vector ?? a?.vector,
        pps: a?.pps, mbps: a?.mbps, fps: a?.fps, route: b.route, reason: b.reason,
        ban_id: b.id, attack_id: b.attack_id ?? a?.id, action: b.action, level: b.level, ttl_seconds: b.ttl_seconds,
        expires: iso(b.expires), hostgroup: b.hostgroup,
      };
    }
    case 'ban_refused': {
      const a: AttackView | undefined = e.attack;
      return {
        ...base, target: e.target, direction: a?.direction, vector: a?.vector, pps: a?.pps, mbps: a?.mbps, fps: a?.fps,
        route: a?.route, reason: e.reason, attack_id: a?.id,
      };
    }
    case 'escalate': {
      const b = e.ban;
      return { ...base, target: b.target, direction: b.direction, vector: b.vector, ...rates, route: b.route, from: e.from, to: e.to, ban_id: b.id, attack_id: b.attack_id };
    }
    case 'unban': {
      const b = e.ban;
      return {
        ...base, target: b.target, direction: b.direction, vector: b.vector, ...rates, route: b.route, reason: e.reason, ban_id: b.id, attack_id: b.attack_id,
        created: iso(b.created), expires: iso(b.expires), ttl_seconds: b.ttl_seconds,
      };
    }
  }
}

export interface DetectOptions {
  updates?: boolean;
  /** Keep the clock running after the last datagram until every attack and ban has ended (default true). */
  drain?: boolean;
}

/** Rates printed on escalate and unban lines (see eventJson). */
export interface EventRates {
  pps?: number;
  mbps?: number;
  fps?: number;
  peak_pps?: number;
  peak_mbps?: number;
  peak_fps?: number;
}

export interface DetectResult {
  /** Attack events (their attack with its route) and ban events, in order. */
  events: DetectionEvent[];
  /** Rates for escalate and unban events (they carry a ban, not an attack). */
  rates: Map<DetectionEvent, EventRates>;
  engine: Engine;
  bans: BanManager;
  datagrams: number;
  other: number;
  records: number;
  /** Replay time of the last tick (ms since the epoch). */
  end: number;
}

/**
 * The longest time after the last datagram the drain may need: rates fall
 * below every limit at most 1.5 windows after traffic stops (window.ts), the
 * attack ends attack_hysteresis later, its ban at most the longest TTL or
 * unban hysteresis after that. Used as a bound, not as a schedule.
 */
export function drainBoundMs(config: Readonly<Config>, windowMs: number, tickMs: number): number {
  let ttl = config.ban.ttl_seconds, hyst = config.ban.unban_hysteresis_seconds;
  for (const g of config.hostgroups) {
    if (g.ban?.ttl_seconds !== undefined) ttl = Math.max(ttl, g.ban.ttl_seconds);
    if (g.ban?.unban_hysteresis_seconds !== undefined) hyst = Math.max(hyst, g.ban.unban_hysteresis_seconds);
  }
  const attackHyst = config.detection.attack_hysteresis_seconds ?? 30;
  return 2 * windowMs + (attackHyst + ttl + hyst) * 1000 + 10 * tickMs;
}

/**
 * Replays captures through a fresh engine; calls onEvent for every event
 * (attack_update only with `updates`).
 *
 * Time. The engine and its BanManager act at tick boundaries (k × tick_ms):
 * closing tick k-1 at time k × tick_ms evaluates the rows, ends attacks and
 * ticks the bans at that time. Between two datagrams the replay advances
 * through every boundary that matters, in order, before the later datagram is
 * counted:
 *   - while an attack is active (or a ban is in state `active`), every
 *     boundary (attack hysteresis, TTL extension, escalation and refused-ban
 *     retries are decided there);
 *   - otherwise only the boundaries where a ban is due: the first boundary at
 *     or after its `expires` = max(created + TTL, attack end + unban
 *     hysteresis). Without traffic nothing else can happen in between (no
 *     attack can start in a tick without records), so the gap is crossed in
 *     a few steps whatever its length.
 * So an unban is stamped ceil(expires / tick_ms) × tick_ms, whether it falls
 * inside the capture, in a gap between datagrams or after the last one. With
 * `drain` (the default) the clock keeps running after the last datagram, the
 * same way, until no attack and no ban is left (bounded by drainBoundMs).
 */
const ATTACKS_KEPT = 10_000;

export function detectCaptures(
  config: Readonly<Config>,
  paths: readonly string[],
  opts: DetectOptions = {},
  onEvent?: (e: DetectionEvent, rates?: EventRates) => void,
): DetectResult {
  const packets: UdpPacket[] = [];
  for (const p of paths) for (const pk of readCapture(p, newCaptureStats())) packets.push(pk);
  // stable sort by capture time (Array.prototype.sort is stable)
  packets.sort((a, b) => a.time - b.time);
  const sources = config.flow_sources.length ? new NetworkSet(config.flow_sources) : null;
  const clock = new ManualClock(packets.length ? Math.floor(packets[0].time) : 0);
  const bm = new BanManager(config, { clock, routes: routeBuilder(config) });
  const engine = new Engine(config, { clock, onTick: (time) => bm.tick(time) });
  const step = engine.window.tickMs;
  const events: DetectionEvent[] = [];
  const rates = new Map<DetectionEvent, EventRates>();
  /** Latest view of every attack (updates included), for the rates of ban lines. */
  const attacks = new Map<string, Attack>();
  /** An attack as printed: with its ban's route, or the route its ban would get (asked before the ban module sees the event). */
  const withRoute = (a: Attack): AttackView => {
    try {
      return { ...a, route: routeForAttack(a, config, bm) };
    } catch {
      return a;
    }
  };
  engine.on((e) => {
    handle({ ...e, attack: withRoute(e.attack) });
    bm.onAttackEvent(e);
  });
  bm.on((e) => handle(e.event === 'ban_refused' && e.attack ? { ...e, attack: withRoute(e.attack) } : e));
  function handle(e: DetectionEvent): void {
    if (e.event === 'attack_start' || e.event === 'attack_update' || e.event === 'attack_end') attacks.set(e.attack.id, e.attack);
    if (e.event === 'attack_update' && !opts.updates) return;
    let r: EventRates | undefined;
    if (e.event === 'escalate' || e.event === 'unban') {
      r = banRates(engine, e.ban, attacks, e.event === 'escalate');
      rates.set(e, r);
    }
    if (e.event === 'attack_end' && attacks.size > ATTACKS_KEPT) {
      // bounded: forget the oldest ended attacks (their bans' lines then lack peaks)
      for (const [id, a] of attacks) {
        if (attacks.size <= ATTACKS_KEPT * 0.8) break;
        if (a.end !== undefined) attacks.delete(id);
      }
    }
    events.push(e);
    onEvent?.(e, r);
  }
  const dec = new FlowDecoder(engine, { defaultSamplingRate: config.sampling.default_rate, plausibility: plausibilityLimits(config) });

  /** The engine's current tick: the clock only moves through tickTo. */
  let cur = Math.floor(clock.now() / step);
  const tickTo = (ms: number) => {
    clock.set(ms);
    engine.tick(clock.now());
    cur = Math.max(cur, Math.floor(clock.now() / step));
  };
  /** True when every boundary matters: an attack is active or a ban is kept by one. */
  const busy = () => engine.stats().attacks_active > 0 || bm.active().some((b) => b.state === 'active');
  /** The first boundary (tick index) at which a ban is due, or Infinity. */
  const dueTick = () => {
    let due = Infinity;
    for (const b of bm.active()) due = Math.min(due, Math.ceil(b.expires / step));
    return Math.max(due, cur + 1);
  };
  const MAX_STEPS = 10_000_000;
  let steps = 0;
  /** Advances through the boundaries that matter up to tick `until` (its start included). */
  const advance = (until: number, stopWhenIdle: boolean) => {
    while (cur < until && steps < MAX_STEPS) {
      steps++;
      if (busy()) { tickTo((cur + 1) * step); continue; }
      const k = dueTick();
      if (k === Infinity) { if (stopWhenIdle) return; break; }
      if (k > until) break;
      // close tick k-1 at k × tick_ms: the engine evaluates it, then the bans tick at that time
      if (k - 1 > cur) tickTo((k - 1) * step);
      tickTo(k * step);
    }
  };

  let datagrams = 0, other = 0;
  for (const pk of packets) {
    if (detectFlowProto(pk.payload) === null) { other++; continue; }
    if (sources) {
      const ip = parseIP(pk.src);
      if (!ip || (ip.family === 4 ? !sources.has4(((ip.bytes[0] << 24) >>> 0) + (ip.bytes[1] << 16) + (ip.bytes[2] << 8) + ip.bytes[3]) : !sources.hasV6(ip.bytes))) { other++; continue; }
    }
    const t = Math.floor(pk.time);
    advance(Math.floor(t / step), false);
    tickTo(t);
    dec.datagram(pk.payload, pk.src, pk.time);
    datagrams++;
  }
  if (opts.drain !== false && packets.length) {
    // close the last tick (its records may open an attack), then run until nothing is left
    tickTo((cur + 1) * step);
    const limit = Math.ceil((clock.now() + drainBoundMs(config, engine.window.windowMs, step)) / step);
    advance(limit, true);
  }
  let records = 0;
  for (const s of dec.stats.values()) records += s.records;
  return { events, rates, engine, bans: bm, datagrams, other, records, end: clock.now() };
}

/**
 * Rates for a ban line. escalate: the current rates of the attack keeping the
 * ban (its latest linked attack, as the engine sees it now) and its peaks.
 * unban: the peaks over the ban's linked attacks, and for a host target its
 * current rates in the ban's direction (0 once it has no traffic), which
 * shows what the target looked like when the ban ended; a prefix target has
 * no per-host rate, so only the peaks.
 */
function banRates(engine: Engine, b: Ban, attacks: Map<string, Attack>, escalate: boolean): EventRates {
  const ids = b.attack_ids?.length ? b.attack_ids : b.attack_id ? [b.attack_id] : [];
  const linked = ids.map((id) => attacks.get(id)).filter((a): a is Attack => a !== undefined);
  const out: EventRates = {};
  if (escalate) {
    const last = linked[linked.length - 1];
    const now = last ? engine.activeAttack(last.target, last.direction) ?? last : undefined;
    if (now) {
      out.pps = now.pps; out.mbps = now.mbps; out.fps = now.fps;
      out.peak_pps = now.peak_pps; out.peak_mbps = now.peak_mbps; out.peak_fps = now.peak_fps;
    }
    return out;
  }
  if (!b.target.includes('/')) {
    const dir = b.direction ?? 'incoming';
    const h = engine.hosts({ ip: b.target }).find((x) => x.direction === dir);
    out.pps = h?.pps ?? 0; out.mbps = h?.mbps ?? 0; out.fps = h?.fps ?? 0;
  }
  if (linked.length) {
    out.peak_pps = Math.max(...linked.map((a) => a.peak_pps));
    out.peak_mbps = Math.max(...linked.map((a) => a.peak_mbps));
    out.peak_fps = Math.max(...linked.map((a) => a.peak_fps));
  }
  return out;
}

export async function run(argv: string[]): Promise<number> {
  let flags;
  try {
    flags = parseFlags(argv, { string: ['config'], boolean: ['updates', 'drain', 'no-drain', 'stats', 'h', 'help'] });
  } catch (e) {
    if (e instanceof UsageError) { process.stderr.write(`breakwater detect: ${e.message}\n${USAGE}`); return 2; }
    throw e;
  }
  if (flags.flags.has('h') || flags.flags.has('help')) { process.stdout.write(USAGE); return 0; }
  const file = flags.values.config;
  if (!file || flags.positional.length === 0) { process.stderr.write(USAGE); return 2; }
  // -drain is on by default: -drain=false (or -no-drain) turns it off
  const drain = !flags.flags.has('no-drain') && !argv.some((a) => /^--?drain=(false|0)$/.test(a));
  let config: Readonly<Config>;
  try {
    config = loadConfig(file);
  } catch (e) {
    process.stderr.write(`breakwater detect: ${(e as Error).message}\n`);
    return 1;
  }
  const out: string[] = [];
  const flush = () => { if (out.length) { process.stdout.write(out.join('')); out.length = 0; } };
  let res: DetectResult;
  try {
    res = detectCaptures(config, flags.positional, { updates: flags.flags.has('updates'), drain }, (e, rates) => {
      out.push(JSON.stringify(eventJson(e, rates)) + '\n');
      if (out.length >= 256) flush();
    });
  } catch (e) {
    flush();
    process.stderr.write(`breakwater detect: ${(e as Error).message}\n`);
    return 1;
  }
  flush();
  if (flags.flags.has('stats')) {
    const st = res.engine.stats();
    process.stderr.write(JSON.stringify({ datagrams: res.datagrams, other_datagrams: res.other, records: res.records, engine: st, bans: res.bans.stats() }) + '\n');
  }
  return 0;
}
