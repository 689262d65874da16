/**
 * Engine events → notification events. attack_update is let through only for
 * a new peak, at most once a minute per attack, so a long attack does not
 * flood a chat.
 */
import type { AttackView as Attack, DetectionEvent as EngineEvent } from '../ban/types.ts';
import type { NotifyEvent } from './event.ts';

export const UPDATE_MIN_INTERVAL_MS = 60_000;

function attackFields(a: Attack): Partial<NotifyEvent> {
  return {
    attack_id: a.id,
    target: a.target,
    direction: a.direction,
    vector: a.vector,
    rates: { pps: a.pps, mbps: a.mbps, fps: a.fps, peak_pps: a.peak_pps, peak_mbps: a.peak_mbps, peak_fps: a.peak_fps },
    ...(a.route ? { route: a.route } : {}),
    // An attack another detector reported: who is its signal ("signal:fastnetmon").
    ...(a.source ? { who: a.source } : {}),
  };
}

export class EngineEventMapper {
  /** attack id → last notified time and peak. */
  private readonly updates = new Map<string, { t: number; peak: number }>();

  map(e: EngineEvent, mode: 'dry_run' | 'live', neighbors: () => string[]): NotifyEvent | undefined {
    switch (e.event) {
      case 'attack_start':
        this.updates.set(e.attack.id, { t: e.time, peak: e.attack.peak_pps });
        return { event: 'attack_start', time: e.time, mode, ...attackFields(e.attack) };
      case 'attack_update': {
        const last = this.updates.get(e.attack.id) ?? { t: 0, peak: 0 };
        if (e.attack.peak_pps <= last.peak || e.time - last.t < UPDATE_MIN_INTERVAL_MS) return undefined;
        this.updates.set(e.attack.id, { t: e.time, peak: e.attack.peak_pps });
        return { event: 'attack_update', time: e.time, mode, ...attackFields(e.attack) };
      }
      case 'attack_end':
        this.updates.delete(e.attack.id);
        return { event: 'attack_end', time: e.time, mode, ...attackFields(e.attack), reason: e.attack.end_reason };
      case 'ban': {
        const b = e.ban;
        return {
          event: 'ban',
          time: e.time,
          mode,
          ...(e.attack ? attackFields(e.attack) : {}),
          ban_id: b.id,
          attack_id: b.attack_id,
          target: b.target,
          direction: b.direction ?? e.attack?.direction,
          vector: b.vector ?? e.attack?.vector,
          route: b.route,
          neighbors: mode === 'live' ? neighbors() : [],
          ttl_seconds: b.ttl_seconds,
          reason: b.reason,
          who: b.source,
        };
      }
      case 'unban':
        return {
          event: 'unban',
          time: e.time,
          mode,
          ban_id: e.ban.id,
          attack_id: e.ban.attack_id,
          target: e.ban.target,
          direction: e.ban.direction,
          vector: e.ban.vector,
          route: e.ban.route,
          reason: e.reason,
          who: e.ban.ended_by ?? (e.reason === 'manual' ? 'api' : 'auto'),
        };
      case 'escalate':
        return { event: 'escalation', time: e.time, mode, ban_id: e.ban.id, attack_id: e.ban.attack_id, target: e.ban.target, vector: e.ban.vector, route: e.ban.route, from: e.from, to: e.to, who: 'auto' };
      case 'ban_refused':
        return {
          event: 'ban_refused',
          time: e.time,
          mode,
          ...(e.attack ? attackFields(e.attack) : {}),
          target: e.target,
          guard: e.reason,
          ...(e.detail ? { reason: e.detail } : {}),
          who: e.source ?? 'auto',
        };
    }
    return undefined;
  }
}
