/**
 * Feeds the API's in-memory rate ring (api/traffic-ring.ts): every step, the
 * busiest hosts and every host under attack, both directions. Bounded by the
 * ring itself; this only chooses whom to record.
 */
import type { RateSample, TrafficRing } from '../api/traffic-ring.ts';
import type { EnginePort } from './ports.ts';

/** Hosts recorded per step besides the ones under attack. */
export const TRAFFIC_TOP_HOSTS = 200;

export function sampleTraffic(ring: TrafficRing, engine: EnginePort, attackTargets: Iterable<string>, now: number): number {
  const out = new Map<string, RateSample>();
  const add = (h: { ip: string; direction: 'incoming' | 'outgoing'; pps: number; mbps: number; fps: number }) => {
    out.set(`${h.ip}|${h.direction}`, { ip: h.ip, direction: h.direction, pps: h.pps, bps: Math.round(h.mbps * 1e6), fps: h.fps });
  };
  for (const h of engine.hosts({ limit: TRAFFIC_TOP_HOSTS })) add(h);
  for (const t of attackTargets) {
    if (t.includes('/')) continue;
    for (const h of engine.host(t) ?? []) add(h);
  }
  ring.record(now, out.values());
  return out.size;
}
