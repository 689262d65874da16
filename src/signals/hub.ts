/**
 * SignalHub: attacks reported by other detectors (adapters.ts) become
 * attacks like the engine's own — recorded, listed, notified, stored — and
 * reach the ban module through the same door as detected ones, so every
 * guard (networks, whitelist, caps, rate, TTL) and dry-run apply unchanged.
 * The hub never creates a ban itself.
 *
 * One open signal per (sender, target): a repeat is an attack_update and
 * pushes its expiry on; `end` (FastNetMon unban, Alertmanager resolved, RTBH
 * withdraw) or the expiry ends the attack. A signal with `lift` also lifts
 * the ban it caused at once when it ends (only a ban whose source is that
 * signal and that no other attack keeps alive).
 *
 * Corroboration (`signals.require_corroboration: N`): until N distinct
 * sources (signal names, and `flow` for an attack Breakwater detected on the
 * same target) reported the target within the window, the attack is
 * recorded but not handed to the ban module. A target already banned, or
 * whitelisted / outside networks (so the guard's refusal is what the sender
 * hears), is handed over at once.
 *
 * Memory is bounded by `signals.max_tracked_targets`: open signals and
 * corroboration memory each keep at most that many entries, oldest dropped.
 */
import type { Config } from '../config/schema.ts';
import type { Clock } from '../core/clock.ts';
import type { Logger } from '../core/log.ts';
import { parsePrefix } from '../core/ip.ts';
import type { Attack, AttackSummary, EngineEvent } from '../engine/events.ts';
import type { Ban, DetectionEvent } from '../ban/types.ts';
import { Guards } from '../ban/guards.ts';
import { PolicyResolver } from '../ban/policy.ts';
import type { Signal } from './adapters.ts';
import { Corroboration } from './corroboration.ts';

/** What the hub needs from the daemon (the engine adapter provides it). */
export interface SignalPort {
  /** `record`: to the daemon's listeners like an engine event; `ban`: to the ban module. */
  signalEvent(e: EngineEvent, to: { record: boolean; ban: boolean }): void;
  /** Every attack and ban event (the engine's and the hub's own). */
  onEvent(fn: (e: DetectionEvent) => void): void;
  activeBans(): Ban[];
  /** A manual unban through the ban module (for `lift`). */
  unban(target: string, actor: string): { ok: boolean };
}

export type SignalOutcome =
  | { status: 'banned'; created: boolean; ban: Ban; attack_id: string }
  | { status: 'refused'; reason: string; detail: string; attack_id?: string }
  | { status: 'pending_corroboration'; attack_id: string; sources: string[]; needed: number; window_seconds: number; detail: string }
  | { status: 'recorded'; attack_id: string; detail: string }
  | { status: 'ended'; attack_id?: string; lifted?: string }
  | { status: 'not_found'; detail: string };

/** The answer to an end for a target with no open signal of that sender. */
export function noOpenSignal(sig: Pick<Signal, 'name' | 'target'>): SignalOutcome {
  return { status: 'not_found', detail: `no open signal:${sig.name} for ${sig.target}` };
}

export interface SignalStats {
  open: number;
  corroboration_targets: number;
  received: Record<string, number>;
  outcomes: Record<string, number>;
  evicted: number;
}

interface Open {
  key: string;
  sig: Signal;
  attack: Attack;
  expires: number;
  /** Handed to the ban module. */
  fed: boolean;
  /** The last refusal the ban module reported for it (it reports each reason once). */
  refusal?: { reason: string; detail: string };
}

const EMPTY_SUMMARY: AttackSummary = { top_sources: [], top_source_ports: [], top_destination_ports: [], protocols: [], tcp_flags: [], avg_packet_size: 0, sample: [] };
const FLOW_SOURCE = 'flow';

export interface SignalHubOptions {
  port: SignalPort;
  config: () => Readonly<Config>;
  clock: Clock;
  log?: Logger;
}

export class SignalHub {
  private readonly port: SignalPort;
  private readonly config: () => Readonly<Config>;
  private readonly clock: Clock;
  private readonly log?: Logger;
  /** Open signals by `${name}|${target}`, oldest first. */
  private readonly open = new Map<string, Open>();
  /** target → keys of its open signals. */
  private readonly byTarget = new Map<string, Set<string>>();
  private readonly corr: Corroboration;
  private guardsFor?: { cfg: Readonly<Config>; guards: Guards };
  private seq = 0;
  private timer?: NodeJS.Timeout;
  /** Ban events for the attack being handed over, caught while signalEvent runs. */
  private capture?: { attackId: string; ban?: Ban; refusal?: { reason: string; detail: string } };
  private readonly counters = { received: {} as Record<string, number>, outcomes: {} as Record<string, number>, evicted: 0 };

  constructor(o: SignalHubOptions) {
    this.port = o.port;
    this.config = o.config;
    this.clock = o.clock;
    this.log = o.log;
    this.corr = new Corroboration(o.config().signals.max_tracked_targets);
    o.port.onEvent((e) => this.onEvent(e));
  }

  /** Expires signals every second (the daemon starts it; tests call tick()). */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      try {
        this.tick(this.clock.now());
      } catch (e) {
        this.log?.error({ event: 'signal error', err: (e as Error).message }, 'signal expiry failed');
      }
    }, 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  stats(): SignalStats {
    return { open: this.open.size, corroboration_targets: this.corr.size, received: { ...this.counters.received }, outcomes: { ...this.counters.outcomes }, evicted: this.counters.evicted + this.corr.evicted };
  }

  /** Open signals (for tests and the status). */
  openSignals(): Array<{ source: string; target: string; attack_id: string; expires: number; fed: boolean }> {
    return [...this.open.values()].map((o) => ({ source: o.attack.source!, target: o.sig.target, attack_id: o.attack.id, expires: o.expires, fed: o.fed }));
  }

  /** Handles one signal; `actor` is the API token that sent it. */
  handle(sig: Signal, actor: string): SignalOutcome {
    const now = this.clock.now();
    this.counters.received[sig.name] = (this.counters.received[sig.name] ?? 0) + 1;
    const out = sig.action === 'end' ? this.end(sig, now, actor, 'ended by its source') : this.startOrUpdate(sig, now);
    this.counters.outcomes[out.status] = (this.counters.outcomes[out.status] ?? 0) + 1;
    this.log?.info(
      { event: 'signal', source: `signal:${sig.name}`, target: sig.target, action: sig.action, vector: sig.vector, pps: sig.pps, bps: sig.bps, actor, outcome: out.status, ...('reason' in out ? { reason: out.reason } : {}) },
      `signal:${sig.name} ${sig.action} ${sig.target}: ${out.status}`,
    );
    return out;
  }

  /** Ends expired signals and forgets old corroboration reports. */
  tick(now: number): void {
    for (const o of [...this.open.values()]) if (o.expires <= now && this.open.has(o.key)) this.close(o, now, 'expired', 'signal');
    this.corr.setMaxTargets(this.config().signals.max_tracked_targets);
    this.corr.prune(now, this.windowMs());
  }

  // ---------------------------------------------------------------- internals

  private windowMs(): number {
    return this.config().signals.corroboration_window_seconds * 1000;
  }

  private guards(): Guards {
    const cfg = this.config();
    if (this.guardsFor?.cfg !== cfg) this.guardsFor = { cfg, guards: new Guards(cfg, new PolicyResolver(cfg)) };
    return this.guardsFor.guards;
  }

  private startOrUpdate(sig: Signal, now: number): SignalOutcome {
    const cfg = this.config();
    const p = parsePrefix(sig.target);
    if (typeof p === 'string') return { status: 'refused', reason: 'invalid_target', detail: p };
    // Outside networks: no attack is recorded (the engine tracks nothing there either).
    const fixed = this.guards().checkStatic(p);
    if (fixed?.reason === 'outside_networks') return { status: 'refused', reason: fixed.reason, detail: fixed.detail };
    const source = `signal:${sig.name}`;
    this.corr.see(sig.target, source, now);
    const key = `${sig.name}|${sig.target}`;
    const ttl = sig.ttlSeconds ?? cfg.ban.ttl_seconds;
    let o = this.open.get(key);
    let ev: 'attack_start' | 'attack_update';
    if (o) {
      ev = 'attack_update';
      const a = o.attack;
      o.sig = sig;
      o.attack = { ...a, vector: sig.vector === 'mixed' ? a.vector : sig.vector, pps: sig.pps, mbps: sig.bps / 1e6, peak_pps: Math.max(a.peak_pps, sig.pps), peak_mbps: Math.max(a.peak_mbps, sig.bps / 1e6), ttl_seconds: sig.ttlSeconds ?? a.ttl_seconds };
      o.expires = Math.max(o.expires, now + ttl * 1000);
      // Most recently reported last: the bound drops the quietest first.
      this.open.delete(key);
      this.open.set(key, o);
    } else {
      ev = 'attack_start';
      this.makeRoom(now);
      const attack: Attack = {
        id: `sig-${now.toString(36)}-${(++this.seq).toString(36)}`,
        target: sig.target,
        family: p.family,
        direction: sig.direction,
        vector: sig.vector,
        triggers: [source],
        pps: sig.pps,
        mbps: sig.bps / 1e6,
        fps: 0,
        peak_pps: sig.pps,
        peak_mbps: sig.bps / 1e6,
        peak_fps: 0,
        start: now,
        summary: EMPTY_SUMMARY,
        kind: p.len === (p.family === 4 ? 32 : 128) ? 'host' : undefined,
        source,
        ...(sig.ttlSeconds !== undefined ? { ttl_seconds: sig.ttlSeconds } : {}),
      };
      o = { key, sig, attack, expires: now + ttl * 1000, fed: false };
      this.open.set(key, o);
      let ks = this.byTarget.get(sig.target);
      if (!ks) this.byTarget.set(sig.target, (ks = new Set()));
      ks.add(key);
    }
    if (!sig.ban) {
      this.port.signalEvent({ event: ev, time: now, attack: o.attack }, { record: true, ban: o.fed });
      return { status: 'recorded', attack_id: o.attack.id, detail: `signal:${sig.name} reported ${sig.target} without asking for a ban: attack recorded` };
    }
    const sources = this.corr.sources(sig.target, now, this.windowMs());
    const needed = cfg.signals.require_corroboration;
    const banned = this.port.activeBans().some((b) => b.target === sig.target);
    const feed = o.fed || sources.length >= needed || banned || fixed !== null;
    const r = this.send(o, ev, now, feed);
    if (feed) this.feedTarget(sig.target, now, o.key);
    if (!feed) {
      const detail = `waiting for corroboration: ${sources.length} of ${needed} distinct sources reported ${sig.target} within ${cfg.signals.corroboration_window_seconds} s (${sources.join(', ')}); attack recorded, no ban yet`;
      return { status: 'pending_corroboration', attack_id: o.attack.id, sources, needed, window_seconds: cfg.signals.corroboration_window_seconds, detail };
    }
    if (r.ban) return { status: 'banned', created: r.created, ban: r.ban, attack_id: o.attack.id };
    const refusal = r.refusal ?? o.refusal ?? { reason: 'refused', detail: 'the ban module did not ban it' };
    if (sig.oneShot) this.close(o, now, `refused: ${refusal.reason}`, 'signal');
    return { status: 'refused', reason: refusal.reason, detail: refusal.detail, attack_id: o.attack.id };
  }

  /** Sends one attack event of an open signal; when it goes to the ban module, says what the ban module did. */
  private send(o: Open, ev: 'attack_start' | 'attack_update', now: number, ban: boolean): { ban?: Ban; created: boolean; refusal?: { reason: string; detail: string } } {
    const cap = (this.capture = { attackId: o.attack.id } as NonNullable<SignalHub['capture']>);
    try {
      if (ban && !o.fed) {
        // First time to the ban module: record the event, then hand it over as a start.
        this.port.signalEvent({ event: ev, time: now, attack: o.attack }, { record: true, ban: false });
        o.fed = true;
        this.port.signalEvent({ event: 'attack_start', time: now, attack: o.attack }, { record: false, ban: true });
      } else {
        this.port.signalEvent({ event: ev, time: now, attack: o.attack }, { record: true, ban: o.fed });
      }
    } finally {
      this.capture = undefined;
    }
    if (cap.refusal) o.refusal = cap.refusal;
    if (cap.ban) {
      o.refusal = undefined;
      return { ban: cap.ban, created: true };
    }
    if (!o.fed) return { created: false };
    const linked = this.port.activeBans().find((b) => b.attack_id === o.attack.id || b.attack_ids?.includes(o.attack.id));
    if (linked) {
      o.refusal = undefined;
      return { ban: linked, created: false };
    }
    return { created: false, refusal: cap.refusal };
  }

  /** Hands the target's other open signals that want a ban to the ban module. */
  private feedTarget(target: string, now: number, except?: string): void {
    const keys = this.byTarget.get(target);
    if (!keys) return;
    for (const k of [...keys]) {
      const o = this.open.get(k);
      if (!o || o.fed || !o.sig.ban || k === except) continue;
      this.send(o, 'attack_update', now, true);
    }
  }

  private end(sig: Signal, now: number, actor: string, reason: string): SignalOutcome {
    const key = `${sig.name}|${sig.target}`;
    const o = this.open.get(key);
    if (o) {
      const lifted = this.close(o, now, reason, actor);
      return { status: 'ended', attack_id: o.attack.id, ...(lifted ? { lifted } : {}) };
    }
    // Nothing open (a restart came in between): a lifting sender still lifts its own ban.
    if (sig.lift) {
      const lifted = this.lift(sig.target, `signal:${sig.name}`, actor);
      if (lifted) return { status: 'ended', lifted };
    }
    return noOpenSignal(sig);
  }

  /** Ends an open signal's attack; lifts its ban when the signal says so. Returns the lifted ban's id. */
  private close(o: Open, now: number, reason: string, actor: string): string | undefined {
    this.open.delete(o.key);
    const ks = this.byTarget.get(o.sig.target);
    ks?.delete(o.key);
    if (ks && ks.size === 0) this.byTarget.delete(o.sig.target);
    const attack: Attack = { ...o.attack, end: now, end_reason: reason };
    this.port.signalEvent({ event: 'attack_end', time: now, attack }, { record: true, ban: o.fed });
    if (!o.sig.lift || !o.fed) return undefined;
    return this.lift(o.sig.target, o.attack.source!, actor);
  }

  /** Lifts the ban of `target` when `source` made it and no attack keeps it alive. */
  private lift(target: string, source: string, actor: string): string | undefined {
    const b = this.port.activeBans().find((x) => x.target === target && x.source === source && x.state !== 'active');
    if (!b) return undefined;
    return this.port.unban(target, actor).ok ? b.id : undefined;
  }

  /** Keeps open signals under the bound: the least recently reported one ends. */
  private makeRoom(now: number): void {
    const max = this.config().signals.max_tracked_targets;
    while (this.open.size >= max) {
      const first = this.open.values().next().value;
      if (!first) break;
      this.counters.evicted++;
      this.close(first, now, 'dropped: signals.max_tracked_targets reached', 'signal');
    }
  }

  private onEvent(e: DetectionEvent): void {
    const cap = this.capture;
    if (cap) {
      if (e.event === 'ban' && e.attack?.id === cap.attackId) cap.ban = e.ban;
      else if (e.event === 'ban_refused' && e.attack?.id === cap.attackId) cap.refusal = { reason: e.reason, detail: e.detail ?? e.reason };
    }
    if ((e.event === 'attack_start' || e.event === 'attack_update') && e.attack.source === undefined) {
      // Breakwater's own detection corroborates the signals on the same target.
      const target = e.attack.target;
      this.corr.see(target, FLOW_SOURCE, e.time);
      const keys = this.byTarget.get(target);
      if (!keys || keys.size === 0 || this.corr.sources(target, e.time, this.windowMs()).length < this.config().signals.require_corroboration) return;
      // After the ban module has seen the detected attack: it makes the ban, the signals link to it.
      const time = e.time;
      queueMicrotask(() => {
        try {
          this.feedTarget(target, time);
        } catch (err) {
          this.log?.error({ event: 'signal error', err: (err as Error).message }, 'corroborated signal failed');
        }
      });
    }
  }
}
