/**
 * Engine events and traffic readings → ClickHouse rows (JSONEachRow
 * objects), one builder per table. Pure: the same input gives the same row,
 * and every row carries the key that makes a retried insert collapse into
 * the first (see schema.ts).
 */
import { randomUUID } from 'node:crypto';
import type { AttackView as Attack, Ban, DetectionEvent as EngineEvent } from '../ban/types.ts';
import { dayOf } from './sql.ts';
import type { HistoryTable } from './schema.ts';

export type Row = Record<string, unknown>;
export interface TableRows {
  table: HistoryTable;
  row: Row;
}

const sec = (ms: number) => Math.floor(ms / 1000);
const json = (v: unknown) => (v === undefined ? '' : JSON.stringify(v));

export function attackRow(a: Attack, now: number): Row {
  return {
    day: dayOf(a.start),
    start: sec(a.start),
    start_ms: a.start,
    end_ms: a.end ?? 0,
    id: a.id,
    target: a.target,
    family: a.family,
    direction: a.direction,
    vector: a.vector,
    kind: a.kind ?? 'host',
    hostgroup: a.hostgroup ?? '',
    tenant: (a as { tenant?: string }).tenant ?? '',
    source: (a as { source?: string }).source ?? 'engine',
    triggers: a.triggers,
    pps: a.pps,
    mbps: a.mbps,
    fps: a.fps,
    peak_pps: a.peak_pps,
    peak_mbps: a.peak_mbps,
    peak_fps: a.peak_fps,
    route: json(a.route),
    thresholds: json(a.thresholds),
    summary: json(a.summary ? { ...a.summary, sample: undefined } : undefined),
    end_reason: a.end_reason ?? '',
    updated_ms: now,
  };
}

export function sampleRows(a: Attack, now: number): Row[] {
  const out: Row[] = [];
  const sample = a.summary?.sample ?? [];
  for (let i = 0; i < sample.length; i++) {
    const f = sample[i];
    out.push({
      day: dayOf(a.start),
      attack_start: sec(a.start),
      attack_id: a.id,
      seq: i,
      target: a.target,
      time_ms: f.time,
      src: f.src,
      dst: f.dst,
      src_port: f.src_port,
      dst_port: f.dst_port,
      ip_proto: f.ip_proto,
      tcp_flags: f.tcp_flags,
      packets: f.packets,
      bytes: f.bytes,
      packet_size: f.packets > 0 ? Math.round(f.bytes / f.packets) : 0,
      sampling_rate: f.sampling_rate,
      exporter: f.exporter,
      written_ms: now,
    });
  }
  return out;
}

export type BanEventName = 'created' | 'announced' | 'escalated' | 'refused' | 'ended' | 'restored';

export interface BanRowExtra {
  event: BanEventName;
  time: number;
  mode: 'dry_run' | 'live';
  neighbors?: string[];
  guard?: string;
  detail?: unknown;
  reason?: string;
  attackStart?: number;
  source?: string;
  attackId?: string;
}

export function banRow(b: Ban | undefined, x: BanRowExtra & { target?: string }): Row {
  return {
    day: dayOf(x.time),
    time: sec(x.time),
    time_ms: x.time,
    event_id: randomUUID(),
    event: x.event,
    ban_id: b?.id ?? '',
    target: b?.target ?? x.target ?? '',
    family: b?.family ?? ((x.target ?? '').includes(':') ? 6 : 4),
    source: b?.source ?? x.source ?? '',
    reason: x.reason ?? b?.reason ?? '',
    action: b?.action ?? '',
    level: b?.level ?? '',
    escalation_step: b?.escalation_step ?? -1,
    ttl_seconds: b?.ttl_seconds ?? 0,
    created_ms: b?.created ?? 0,
    expires_ms: b?.expires ?? 0,
    attack_id: b?.attack_id ?? x.attackId ?? '',
    attack_start_ms: x.attackStart ?? 0,
    hostgroup: b?.hostgroup ?? '',
    direction: b?.direction ?? '',
    vector: b?.vector ?? '',
    neighbors: x.neighbors ?? [],
    guard: x.guard ?? '',
    end_reason: x.event === 'ended' ? (b?.end_reason ?? x.reason ?? '') : '',
    route: json(b?.route),
    detail: x.detail === undefined ? '' : typeof x.detail === 'string' ? x.detail : JSON.stringify(x.detail),
    mode: x.mode,
  };
}

/**
 * The rows an engine event writes. Attack updates are written at most every
 * `updateEveryMs` per attack (the caller keeps `lastWrite`).
 */
export function eventRows(e: EngineEvent, mode: 'dry_run' | 'live', now: number, lastWrite: Map<string, number>, updateEveryMs: number, attackStarts: Map<string, number>): TableRows[] {
  const out: TableRows[] = [];
  switch (e.event) {
    case 'attack_start':
      lastWrite.set(e.attack.id, now);
      attackStarts.set(e.attack.id, e.attack.start);
      out.push({ table: 'attacks', row: attackRow(e.attack, now) });
      for (const r of sampleRows(e.attack, now)) out.push({ table: 'attack_samples', row: r });
      break;
    case 'attack_update': {
      const last = lastWrite.get(e.attack.id) ?? 0;
      if (now - last >= updateEveryMs) {
        lastWrite.set(e.attack.id, now);
        out.push({ table: 'attacks', row: attackRow(e.attack, now) });
      }
      break;
    }
    case 'attack_end': {
      lastWrite.delete(e.attack.id);
      const a = { ...e.attack, end: e.attack.end ?? e.time };
      out.push({ table: 'attacks', row: attackRow(a, now) });
      for (const r of sampleRows(a, now)) out.push({ table: 'attack_samples', row: r });
      // Kept a while for the bans that reference it (mitigation latency).
      if (attackStarts.size > 10_000) attackStarts.delete(attackStarts.keys().next().value as string);
      break;
    }
    case 'ban':
      out.push({ table: 'bans', row: banRow(e.ban, { event: 'created', time: e.time, mode, attackStart: e.attack?.start ?? (e.ban.attack_id ? attackStarts.get(e.ban.attack_id) : undefined) }) });
      break;
    case 'escalate':
      out.push({ table: 'bans', row: banRow(e.ban, { event: 'escalated', time: e.time, mode, detail: { from: e.from, to: e.to } }) });
      break;
    case 'unban':
      out.push({ table: 'bans', row: banRow({ ...e.ban, end_reason: e.ban.end_reason ?? e.reason }, { event: 'ended', time: e.time, mode, reason: e.reason }) });
      break;
    case 'ban_refused':
      out.push({ table: 'bans', row: banRow(undefined, { event: 'refused', time: e.time, mode, target: e.target, guard: e.reason, reason: e.reason, detail: e.detail ?? '', source: e.source ?? 'auto', attackId: e.attack?.id }) });
      break;
  }
  return out;
}
