/**
 * `breakwater detect -config FILE [-updates] [-no-drain] [-stats] CAPTURE...`
 *
 * Runs the real engine (and its BanManager) over the flow-export datagrams of
 * pcap/pcapng captures, with the capture timestamps as the clock, and prints
 * the events as JSON lines on stdout:
 *
 *   {"event":"attack_start","time":"2024-...Z","target":"198.51.100.7","direction":"incoming",
 *    "vector":"syn_flood","pps":...,"mbps":...,"fps":...,"route":{...},"attack_id":"...",...}
 *
 * Datagrams of all captures are merged in capture-time order (stable for equal
 * times), so the output depends only on the input. The engine ticks at every
 * tick boundary the capture time crosses. At the end of the input the clock
 * keeps running (without traffic) until every attack has ended, unless
 * -no-drain. -updates also prints attack_update events; -stats prints engine
 * and decoder counters on stderr.
 */
import { loadConfig } from '../config/load.ts';
import { ManualClock } from '../core/clock.ts';
import { Engine } from '../engine/engine.ts';
import type { Attack, EngineEvent } from '../engine/events.ts';
import { NetworkSet } from '../engine/hostgroups.ts';
import { parseIP } from '../core/ip.ts';
import { FlowDecoder, detectFlowProto } from '../flow/decode.ts';
import { newCaptureStats, readCapture, type UdpPacket } from '../flow/pcap.ts';
import { parseFlags, UsageError } from './flags.ts';
import type { Config } from '../config/schema.ts';

const USAGE = 'usage: breakwater detect -config FILE [-updates] [-no-drain] [-stats] CAPTURE...\n';

function iso(ms: number): string {
  return new Date(Math.round(ms)).toISOString();
}

function attackFields(a: Attack): Record<string, unknown> {
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

/** The JSON object printed for one event. */
export function eventJson(e: EngineEvent): Record<string, unknown> {
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
      const a = e.attack;
      return {
        ...base, target: e.target, direction: a?.direction, vector: a?.vector, pps: a?.pps, mbps: a?.mbps, fps: a?.fps,
        route: a?.route, reason: e.reason, attack_id: a?.id,
      };
    }
    case 'escalate': {
      const b = e.ban;
      return { ...base, target: b.target, direction: b.direction, vector: b.vector, route: b.route, from: e.from, to: e.to, ban_id: b.id, attack_id: b.attack_id };
    }
    case 'unban': {
      const b = e.ban;
      return { ...base, target: b.target, direction: b.direction, vector: b.vector, route: b.route, reason: e.reason, ban_id: b.id, attack_id: b.attack_id, created: iso(b.created) };
    }
  }
}

export interface DetectOptions {
  updates?: boolean;
  drain?: boolean;
}

export interface DetectResult {
  events: EngineEvent[];
  engine: Engine;
  datagrams: number;
  other: number;
  records: number;
}

/** Replays captures through a fresh engine; calls onEvent for every event (attack_update only with updates). */
export function detectCaptures(config: Readonly<Config>, paths: readonly string[], opts: DetectOptions = {}, onEvent?: (e: EngineEvent) => void): DetectResult {
  const packets: UdpPacket[] = [];
  for (const p of paths) for (const pk of readCapture(p, newCaptureStats())) packets.push(pk);
  // stable sort by capture time (Array.prototype.sort is stable)
  packets.sort((a, b) => a.time - b.time);
  const sources = config.flow_sources.length ? new NetworkSet(config.flow_sources) : null;
  const clock = new ManualClock(packets.length ? Math.floor(packets[0].time) : 0);
  const engine = new Engine(config, { clock });
  const events: EngineEvent[] = [];
  engine.on((e) => {
    if (e.event === 'attack_update' && !opts.updates) return;
    events.push(e);
    onEvent?.(e);
  });
  const dec = new FlowDecoder(engine, { defaultSamplingRate: config.sampling.default_rate });
  let datagrams = 0, other = 0;
  for (const pk of packets) {
    if (detectFlowProto(pk.payload) === null) { other++; continue; }
    if (sources) {
      const ip = parseIP(pk.src);
      if (!ip || (ip.family === 4 ? !sources.has4(((ip.bytes[0] << 24) >>> 0) + (ip.bytes[1] << 16) + (ip.bytes[2] << 8) + ip.bytes[3]) : !sources.hasV6(ip.bytes))) { other++; continue; }
    }
    clock.set(Math.floor(pk.time));
    engine.tick(clock.now());
    dec.datagram(pk.payload, pk.src, pk.time);
    datagrams++;
  }
  if (opts.drain !== false && packets.length) {
    // let the window drain and every attack end (bounded)
    const step = engine.window.tickMs;
    const limit = clock.now() + engine.window.windowMs + (config.detection.attack_hysteresis_seconds ?? 30) * 1000 + 10 * step;
    while (clock.now() < limit && engine.stats().attacks_active > 0) {
      clock.advance(step);
      engine.tick(clock.now());
    }
    if (engine.stats().attacks_active === 0) {
      clock.advance(step);
      engine.tick(clock.now());
    }
  }
  let records = 0;
  for (const s of dec.stats.values()) records += s.records;
  return { events, engine, datagrams, other, records };
}

export async function run(argv: string[]): Promise<number> {
  let flags;
  try {
    flags = parseFlags(argv, { string: ['config'], boolean: ['updates', 'no-drain', 'stats', 'h', 'help'] });
  } catch (e) {
    if (e instanceof UsageError) { process.stderr.write(`breakwater detect: ${e.message}\n${USAGE}`); return 2; }
    throw e;
  }
  if (flags.flags.has('h') || flags.flags.has('help')) { process.stdout.write(USAGE); return 0; }
  const file = flags.values.config;
  if (!file || flags.positional.length === 0) { process.stderr.write(USAGE); return 2; }
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
    res = detectCaptures(config, flags.positional, { updates: flags.flags.has('updates'), drain: !flags.flags.has('no-drain') }, (e) => {
      out.push(JSON.stringify(eventJson(e)) + '\n');
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
    process.stderr.write(JSON.stringify({ datagrams: res.datagrams, other_datagrams: res.other, records: res.records, engine: st, bans: res.engine.bans?.stats() }) + '\n');
  }
  return 0;
}
