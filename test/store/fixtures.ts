/** Small builders of engine-shaped objects for the store, API and mitigation tests. */
import type { AttackView as Attack, Ban, RouteIntent } from '../../src/ban/types.ts';

let seq = 0;

export function blackholeIntent(target: string): RouteIntent {
  const v6 = target.includes(':');
  return {
    type: 'blackhole',
    prefix: target.includes('/') ? target : `${target}/${v6 ? 128 : 32}`,
    next_hop: v6 ? '100::1' : '192.0.2.1',
    communities: ['65535:666'],
    large_communities: [],
  };
}

export function makeBan(target: string, over: Partial<Ban> = {}): Ban {
  const now = over.created ?? Date.now();
  const ttl = over.ttl_seconds ?? 600;
  return {
    id: over.id ?? `ban-${++seq}-${target}`,
    target,
    family: target.includes(':') ? 6 : 4,
    source: 'auto',
    reason: 'pps',
    action: 'blackhole',
    escalation_step: -1,
    route: blackholeIntent(target),
    created: now,
    expires: now + ttl * 1000,
    ttl_seconds: ttl,
    ...over,
  };
}

export function makeAttack(target: string, over: Partial<Attack> = {}): Attack {
  const now = over.start ?? Date.now();
  return {
    id: over.id ?? `att-${++seq}-${target}`,
    target,
    family: target.includes(':') ? 6 : 4,
    direction: 'incoming',
    vector: 'udp_flood',
    triggers: ['pps'],
    pps: 50_000,
    mbps: 400,
    fps: 100,
    peak_pps: 60_000,
    peak_mbps: 480,
    peak_fps: 120,
    start: now,
    summary: { top_sources: [], top_source_ports: [], top_destination_ports: [], protocols: [], tcp_flags: [], avg_packet_size: 1000, sample: [] },
    route: blackholeIntent(target),
    ...over,
  };
}
