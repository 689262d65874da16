/**
 * GET /api/v1/hosts/{ip}/traffic ?from=&to=&step=&direction=
 *
 * A host's rates over time, one shape whatever the source:
 * {ip, step, source, from, to, points: [{t, in_pps, in_bps, in_fps, out_pps,
 * out_bps, out_fps}]}. A range inside the in-memory ring (the last 15
 * minutes, api/traffic-ring.ts) is answered from memory; an older one from
 * ClickHouse when storage.clickhouse is configured, else 404. Points also
 * carry `pps`, `mbps`, `fps` (both directions summed) and `time`, the fields
 * of the ClickHouse-only answer of earlier versions.
 */
import { parseIP } from '../core/ip.ts';
import { ApiError } from '../core/errors.ts';
import type { HistoryReader } from '../history/reader.ts';
import { parseDuration } from '../history/time.ts';
import { direction, MAX_POINTS, one, range } from './history-routes.ts';
import type { Caller, RouteRegistrar } from './server.ts';
import type { TrafficPoint } from './traffic-ring.ts';

/** What the route needs of the ring. */
export interface TrafficSource {
  readonly stepMs: number;
  readonly windowMs: number;
  horizon(now: number): number;
  points(ip: string, from: number, to: number): TrafficPoint[];
}

const r2 = (x: number) => Math.round(x * 100) / 100;

function withTotals(p: TrafficPoint): TrafficPoint & { time: number; pps: number; mbps: number; fps: number } {
  return { ...p, time: p.t, pps: r2(p.in_pps + p.out_pps), mbps: r2((p.in_bps + p.out_bps) / 1e6), fps: r2(p.in_fps + p.out_fps) };
}

/** Averages ring points into buckets of stepMs (a bucket without points is left out). */
function rebucket(points: TrafficPoint[], stepMs: number): TrafficPoint[] {
  const out: TrafficPoint[] = [];
  let cur: TrafficPoint | undefined;
  let n = 0;
  const flush = () => {
    if (!cur) return;
    out.push({ t: cur.t, in_pps: r2(cur.in_pps / n), in_bps: r2(cur.in_bps / n), in_fps: r2(cur.in_fps / n), out_pps: r2(cur.out_pps / n), out_bps: r2(cur.out_bps / n), out_fps: r2(cur.out_fps / n) });
  };
  for (const p of points) {
    const t = Math.floor(p.t / stepMs) * stepMs;
    if (!cur || cur.t !== t) {
      flush();
      cur = { t, in_pps: 0, in_bps: 0, in_fps: 0, out_pps: 0, out_bps: 0, out_fps: 0 };
      n = 0;
    }
    cur.in_pps += p.in_pps;
    cur.in_bps += p.in_bps;
    cur.in_fps += p.in_fps;
    cur.out_pps += p.out_pps;
    cur.out_bps += p.out_bps;
    cur.out_fps += p.out_fps;
    n++;
  }
  flush();
  return out;
}

export function registerTrafficRoutes(route: RouteRegistrar, src: { history: () => HistoryReader | undefined; ring: () => TrafficSource | undefined; owns: (c: Caller, ip: string) => boolean; now: () => number }): void {
  route('GET', '/api/v1/hosts/:ip/traffic', async (ctx, c) => {
    const ip = String(ctx.params.ip);
    if (!parseIP(ip)) throw new ApiError('bad_request', `ip "${ip}" is not an IPv4 or IPv6 address`);
    const q = ctx.query as Record<string, unknown>;
    const now = src.now();
    const rg = range(q, 3_600_000, now);
    const stepRaw = one(q, 'step');
    let stepMs = stepRaw === undefined ? undefined : parseDuration(stepRaw);
    if (stepRaw !== undefined && (stepMs === undefined || stepMs < 1000)) throw new ApiError('bad_request', 'step must be a duration of at least 1s (10, 10s, 5m, 1h)');
    if (stepMs !== undefined) stepMs = Math.round(stepMs / 1000) * 1000;
    const dir = direction(q);
    // Another tenant's host answers like a host without traffic.
    if (!src.owns(c, ip)) throw new ApiError('not_found', `no traffic recorded for ${ip}`);
    const ring = src.ring();
    const history = src.history();
    const body = (source: string, step: number, points: TrafficPoint[]) => ({ ip, step: step / 1000, step_seconds: step / 1000, source, from: new Date(rg.from).toISOString(), to: new Date(rg.to).toISOString(), points: points.map(withTotals) });
    if (ring && rg.from >= ring.horizon(now) - ring.stepMs) {
      const step = Math.max(ring.stepMs, stepMs ?? 0);
      let points = ring.points(ip, rg.from, rg.to);
      if (step > ring.stepMs) points = rebucket(points, step);
      if (dir === 'incoming') points = points.map((p) => ({ ...p, out_pps: 0, out_bps: 0, out_fps: 0 }));
      if (dir === 'outgoing') points = points.map((p) => ({ ...p, in_pps: 0, in_bps: 0, in_fps: 0 }));
      ctx.body = body('memory', step, points);
      return;
    }
    if (!history) throw new ApiError('not_found', `rates older than the last ${Math.round((ring?.windowMs ?? 0) / 60_000)} minutes need ClickHouse history (storage.clickhouse is not configured); ask for ?from=-${Math.round((ring?.windowMs ?? 0) / 60_000)}m`);
    const step = stepMs ?? Math.max(10_000, Math.ceil((rg.to - rg.from) / 300 / 10_000) * 10_000);
    if ((rg.to - rg.from) / step > MAX_POINTS) throw new ApiError('bad_request', `at most ${MAX_POINTS} points: use a larger step`);
    let rows;
    try {
      rows = await history.hostTraffic(ip, rg, step / 1000, dir);
    } catch (e) {
      throw new ApiError('unavailable', `ClickHouse: ${(e as Error).message.split('\n')[0].slice(0, 300)}`);
    }
    const byT = new Map<number, TrafficPoint>();
    for (const x of rows) {
      let p = byT.get(x.time);
      if (!p) byT.set(x.time, (p = { t: x.time, in_pps: 0, in_bps: 0, in_fps: 0, out_pps: 0, out_bps: 0, out_fps: 0 }));
      if (x.direction === 'outgoing') {
        p.out_pps = x.pps;
        p.out_bps = x.mbps * 1e6;
        p.out_fps = x.fps;
      } else {
        p.in_pps = x.pps;
        p.in_bps = x.mbps * 1e6;
        p.in_fps = x.fps;
      }
    }
    ctx.body = body('clickhouse', step, [...byT.values()].sort((a, b) => a.t - b.t));
  });
}
