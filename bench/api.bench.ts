/**
 * API latency with many tracked hosts:
 *   api.p99_ms_status_1m        GET /api/v1/status
 *   api.p99_ms_hosts_top_1m     GET /api/v1/hosts?limit=100 (top talkers by pps)
 *   api.p99_ms_hosts_bps_1m     GET /api/v1/hosts?sort=bps&limit=100
 *   api.p99_ms_host_1m          GET /api/v1/hosts?ip=ADDR
 *   api.p99_ms_bans_1m          GET /api/v1/bans?limit=100 (1 000 bans in SQLite)
 *   api.p99_ms_traffic_1m       GET /api/v1/hosts/ADDR/traffic?from=-15m (the ring, full)
 *
 * The real ApiServer, DaemonBackend, EngineAdapter (engine + ban module),
 * SQLite store and traffic ring in this process; the engine holds 1 M hosts
 * (0.1 M with --quick), every one with traffic inside the current window (the
 * worst case for a ranking: all of them are candidates). Requests are sent
 * one after another over HTTP on loopback with keep-alive; p50 and p99 of
 * the wall time per request, after a warm-up.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchContext, BenchRow } from './harness.ts';
import { validateConfig } from '../src/config/load.ts';
import { ManualClock } from '../src/core/clock.ts';
import { parseIPv4, formatIPv4 } from '../src/core/ip.ts';
import { F, newFlowRecord } from '../src/flow/record.ts';
import { Store } from '../src/store/sqlite.ts';
import { EngineAdapter } from '../src/daemon/engine-adapter.ts';
import { DaemonBackend, type DaemonView } from '../src/daemon/backend.ts';
import type { Running } from '../src/daemon/ports.ts';
import { ApiServer } from '../src/api/server.ts';
import { TrafficRing } from '../src/api/traffic-ring.ts';

export const prefix = 'api';

const NET = parseIPv4('10.0.0.0');
const hostAddr = (i: number) => (NET + ((Math.imul(i, 2654435761) >>> 0) & 0xffffff)) >>> 0;

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

export default async function bench(ctx: BenchContext): Promise<BenchRow[]> {
  const hosts = Math.round(1_000_000 * Math.min(1, ctx.scale));
  const dir = mkdtempSync(join(tmpdir(), 'bw-api-bench-'));
  const cfg = validateConfig({ networks: ['10.0.0.0/8'], thresholds: { pps: 1e12 }, detection: { max_hosts: hosts * 2, idle_seconds: 3600 }, storage: { data_dir: dir } });
  const clock = new ManualClock(Date.now());
  const adapter = new EngineAdapter(cfg, clock);
  const r = newFlowRecord();
  r.exporter = '192.0.2.250';
  r.proto = 'sflow5';
  r.family = 4;
  r.src4 = parseIPv4('192.0.2.7');
  r.ipProto = 6;
  r.packets = 1;
  r.bytes = 1200;
  r.samplingRate = 1000;
  r.fields = F.SRC_ADDR | F.DST_ADDR | F.IP_PROTO | F.PACKETS | F.BYTES;
  const t0 = performance.now();
  for (let i = 0; i < hosts; i++) {
    r.dst4 = hostAddr(i);
    r.packets = 1 + (i % 97);
    r.bytes = r.packets * (64 + (i % 1437));
    r.received = clock.now();
    adapter.engine.record(r);
  }
  clock.advance(100);
  adapter.tick(clock.now());
  ctx.log(`api: ${hosts} hosts loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s; tracked ${JSON.stringify(adapter.stats().engine.tracked_hosts)}`);

  const store = new Store(join(dir, 'bench.db'));
  const now = clock.now();
  for (let i = 0; i < 1000; i++) {
    const target = formatIPv4(hostAddr(i));
    store.saveBan({ id: `b${String(i).padStart(6, '0')}`, target, family: 4, source: 'auto', reason: 'bench', action: 'blackhole', escalation_step: 0, route: { type: 'blackhole', prefix: `${target}/32` } as never, created: now - i * 1000, expires: now - i * 1000 + 60_000, ttl_seconds: 60, ended: now - i * 500, end_reason: 'expired' });
  }
  const ring = new TrafficRing();
  const running = {
    engine: adapter,
    collector: { stats: () => ({ exporters: [], dropped: {} }), addresses: () => ({}) },
    bgp: { neighbors: () => [] },
    mitigator: { activeBans: () => [], announcedNeighbors: () => [], stats: () => ({ announced_routes: { real: 0, dry_run: 0 }, flowspec_rules: { real: 0, dry_run: 0 } }) },
  } as unknown as Running;
  const view: DaemonView = {
    clock,
    startedAt: Date.now(),
    store,
    metrics: undefined as never,
    config: () => cfg,
    phase: () => 'running',
    running: () => running,
    attacks: () => new Map(),
    rates: () => ({}),
    reload: async () => ({ ok: true, changed: [], mode: 'dry_run' }),
    notifyStatus: () => undefined,
    historyStatus: () => undefined,
    traffic: () => ring,
  };
  const top = adapter.hosts({ limit: 200 });
  for (let s = 0; s < ring.slots; s++) ring.record(Date.now() - (ring.slots - 1 - s) * ring.stepMs, top.map((h) => ({ ip: h.ip, direction: h.direction, pps: h.pps, bps: h.mbps * 1e6, fps: h.fps })));
  const api = new ApiServer(new DaemonBackend(view), { host: '127.0.0.1', port: 0 });
  const { port } = await api.start();
  const base = `http://127.0.0.1:${port}`;
  const one = formatIPv4(hostAddr(12345 % hosts));
  const busy = top[0].ip;
  const cases: Array<[string, string, number]> = [
    ['status', '/api/v1/status', 200],
    ['hosts_top', '/api/v1/hosts?limit=100', 30],
    ['hosts_bps', '/api/v1/hosts?sort=bps&limit=100', 30],
    ['host', `/api/v1/hosts?ip=${one}`, 30],
    ['bans', '/api/v1/bans?limit=100', 200],
    ['traffic', `/api/v1/hosts/${busy}/traffic?from=-15m`, 200],
  ];
  const rows: BenchRow[] = [];
  const tag = hosts >= 1_000_000 ? '1m' : `${Math.round(hosts / 1000)}k`;
  try {
    for (const [name, path, n] of cases) {
      const times: number[] = [];
      for (let i = 0; i < n + 3; i++) {
        const s = performance.now();
        const res = await fetch(base + path);
        await res.arrayBuffer();
        if (res.status !== 200) throw new Error(`${path}: ${res.status}`);
        if (i >= 3) times.push(performance.now() - s);
      }
      const p50 = pct(times, 50);
      const p99 = pct(times, 99);
      ctx.log(`api: ${path}: p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms over ${times.length} requests`);
      rows.push({ figure: `api.p99_ms_${name}_${tag}`, value: Math.round(p99 * 100) / 100, unit: 'ms', note: `p50 ${p50.toFixed(2)} ms; ${times.length} sequential requests; ${hosts} tracked hosts` });
    }
  } finally {
    await api.stop();
    store.close?.();
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}
