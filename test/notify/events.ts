/** Notification events for the tests. */
import type { NotifyEvent } from '../../src/notify/event.ts';

export const T0 = Date.parse('2026-12-07T12:00:00Z');

export function banEvent(target: string, mode: 'dry_run' | 'live' = 'live', extra: Partial<NotifyEvent> = {}): NotifyEvent {
  return {
    event: 'ban',
    time: T0,
    mode,
    ban_id: `b-${target}`,
    attack_id: `a-${target}`,
    target,
    direction: 'incoming',
    vector: 'ntp_amplification',
    rates: { pps: 123456.7, mbps: 980.5, fps: 300, peak_pps: 150000, peak_mbps: 1000, peak_fps: 310 },
    route: { type: 'blackhole', prefix: `${target}/32`, next_hop: '192.0.2.1', communities: ['65535:666'], large_communities: [] },
    neighbors: mode === 'live' ? ['127.0.0.2'] : [],
    ttl_seconds: 3600,
    reason: 'pps 123457 > 1000',
    who: 'auto',
    ...extra,
  };
}

