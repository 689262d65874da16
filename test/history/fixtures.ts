/** An attack and a ban as the engine emits them, a data directory and writer options, for history tests. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AttackView as Attack, Ban } from '../../src/ban/types.ts';
import { silentLogger } from '../../src/core/log.ts';
import type { WriterOptions } from '../../src/history/writer.ts';

/** A temporary directory removed after the test. */
export function tmp(t: { after(fn: () => void): void }): string {
  const d = mkdtempSync(join(tmpdir(), 'bw-history-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

/** Writer options for tests: small batches, a 200 ms flush, fast retries. */
export function opts(dataDir: string, database: string, extra: Partial<WriterOptions> = {}): WriterOptions {
  return { database, dataDir, batchSize: 100, queueSize: 10_000, flushIntervalMs: 200, spoolMaxBytes: 10 * 1024 * 1024, ttlDays: 0, log: silentLogger(), retryMs: 100, retryMaxMs: 500, ...extra };
}

export function attack(id: string, target: string, start: number, extra: Partial<Attack> = {}): Attack {
  return {
    id, target, family: 4, direction: 'incoming', vector: 'ntp_amplification', triggers: ['pps'],
    pps: 50_000, mbps: 180, fps: 40, peak_pps: 60_000, peak_mbps: 200, peak_fps: 50, start,
    summary: {
      top_sources: [{ key: '203.0.113.9', packets: 1000, share: 0.5 }], top_source_ports: [], top_destination_ports: [], protocols: [], tcp_flags: [], avg_packet_size: 468,
      sample: [0, 1, 2].map((i) => ({ src: `203.0.113.${i + 1}`, dst: target, src_port: 123, dst_port: 40000 + i, ip_proto: 17, tcp_flags: 0, packets: 10, bytes: 4680, sampling_rate: 100, exporter: '192.0.2.200', time: start + i })),
    },
    ...extra,
  };
}

export function ban(id: string, target: string, created: number, attackId?: string): Ban {
  return {
    id, target, family: 4, attack_id: attackId, source: 'auto', reason: 'ntp_amplification', action: 'blackhole', escalation_step: -1,
    route: { type: 'blackhole', prefix: `${target}/32`, next_hop: '192.0.2.1', communities: ['65000:666'], large_communities: [] },
    created, expires: created + 600_000, ttl_seconds: 600, state: 'active', level: 'blackhole',
  };
}
