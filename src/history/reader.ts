/**
 * Reading history back from ClickHouse: a host's traffic over time, attack
 * and ban history with filters, and the incident report. Every query reads
 * FINAL (a retried batch is collapsed there, see schema.ts) and carries its
 * values through sql.ts (18.16 has no query parameters).
 */
import type { HistoryClient } from './client.ts';
import { qualified } from './schema.ts';
import { dateTime, num, str } from './sql.ts';

export interface TimeRange {
  /** ms since the epoch */
  from: number;
  to: number;
}

export interface HistoryFilter extends TimeRange {
  target?: string;
  vector?: string;
  hostgroup?: string;
  direction?: string;
  limit: number;
  offset: number;
  /**
   * Keyset position of the last item of the previous page (t: start_ms or
   * time_ms, id: attack id or ban event id): the page starts strictly after
   * it, newest first, whatever was inserted meanwhile. Offset is then ignored.
   */
  after?: { t: number; id: string };
}

export interface AttackFilter extends HistoryFilter {
  /** One attack by its id. */
  id?: string;
}

export interface BanFilter extends HistoryFilter {
  event?: string;
  ban_id?: string;
  /** The ban events of one attack. */
  attack_id?: string;
}

/** A page of history: the items, how many match, and the keyset of the last item when more follow. */
export interface HistoryPage {
  total: number;
  items: Record<string, unknown>[];
  next?: { t: number; id: string };
}

export interface TrafficPoint {
  time: number;
  direction: string;
  pps: number;
  pps_max: number;
  mbps: number;
  mbps_max: number;
  fps: number;
}

const n = (x: unknown) => Number(x);

export class HistoryReader {
  private readonly c: HistoryClient;
  private readonly db: string;

  constructor(client: HistoryClient, database: string) {
    this.c = client;
    this.db = database;
  }

  private t(table: string): string {
    return `${qualified(this.db, table)} FINAL`;
  }

  /** Average and peak rates of one host per `stepSeconds` bucket. */
  async hostTraffic(ip: string, r: TimeRange, stepSeconds: number, direction?: string): Promise<TrafficPoint[]> {
    const rows = await this.c.query<Record<string, unknown>>(
      `SELECT intDiv(toUInt32(time), ${num(stepSeconds)}) * ${num(stepSeconds)} AS t, direction, avg(pps) AS a_pps, max(pps) AS m_pps, avg(mbps) AS a_mbps, max(mbps) AS m_mbps, avg(fps) AS a_fps
       FROM ${this.t('traffic')}
       WHERE kind = 'host' AND key = ${str(ip)} AND time >= ${dateTime(r.from)} AND time < ${dateTime(r.to)}${direction ? ` AND direction = ${str(direction)}` : ''}
       GROUP BY t, direction ORDER BY t, direction`,
    );
    return rows.map((x) => ({ time: n(x.t) * 1000, direction: String(x.direction), pps: round(n(x.a_pps)), pps_max: n(x.m_pps), mbps: round(n(x.a_mbps)), mbps_max: n(x.m_mbps), fps: round(n(x.a_fps)) }));
  }

  /** The filter as SQL: the range on the DateTime key column (seconds, for the index) and exactly on the ms column. */
  private where(col: string, msCol: string, f: HistoryFilter): string {
    const w = [`${col} >= ${dateTime(f.from)}`, `${col} <= ${dateTime(f.to)}`, `${msCol} >= ${num(Math.ceil(f.from))}`, `${msCol} < ${num(Math.ceil(f.to))}`];
    if (f.target) w.push(`target = ${str(f.target)}`);
    if (f.vector) w.push(`vector = ${str(f.vector)}`);
    if (f.hostgroup) w.push(`hostgroup = ${str(f.hostgroup)}`);
    if (f.direction) w.push(`direction = ${str(f.direction)}`);
    return w.join(' AND ');
  }

  /**
   * One page, newest first on (msCol, idCol). With `after`, the keyset
   * condition replaces the offset (and bounds the DateTime key column too, so
   * ClickHouse skips the newer parts); one row more than asked says whether
   * another page follows.
   */
  private async page(table: string, where: string, timeCol: string, msCol: string, idCol: string, f: HistoryFilter, out: (r: Record<string, unknown>) => Record<string, unknown>): Promise<HistoryPage> {
    let w = where;
    if (f.after) {
      const t = num(Math.floor(f.after.t));
      w += ` AND ${timeCol} <= ${dateTime(f.after.t)} AND (${msCol} < ${t} OR (${msCol} = ${t} AND ${idCol} < ${str(f.after.id)}))`;
    }
    const skip = f.after ? 0 : f.offset;
    const [cnt, rows] = await Promise.all([
      this.c.query<{ n: string }>(`SELECT count() AS n FROM ${this.t(table)} WHERE ${where}`),
      this.c.query<Record<string, unknown>>(`SELECT * FROM ${this.t(table)} WHERE ${w} ORDER BY ${msCol} DESC, ${idCol} DESC LIMIT ${num(skip)}, ${num(f.limit + 1)}`),
    ]);
    const more = rows.length > f.limit;
    const page = more ? rows.slice(0, f.limit) : rows;
    const last = page[page.length - 1];
    return { total: n(cnt[0]?.n ?? 0), items: page.map(out), next: more && last ? { t: n(last[msCol]), id: String(last[idCol]) } : undefined };
  }

  async attacks(f: AttackFilter): Promise<HistoryPage> {
    let where = this.where('start', 'start_ms', f);
    if (f.id) where += ` AND id = ${str(f.id)}`;
    return this.page('attacks', where, 'start', 'start_ms', 'id', f, attackOut);
  }

  async bans(f: BanFilter): Promise<HistoryPage> {
    let where = this.where('time', 'time_ms', f);
    if (f.event) where += ` AND event = ${str(f.event)}`;
    if (f.ban_id) where += ` AND ban_id = ${str(f.ban_id)}`;
    if (f.attack_id) where += ` AND attack_id = ${str(f.attack_id)}`;
    return this.page('bans', where, 'time', 'time_ms', 'event_id', f, (r) => ({ ...banOut(r), event_id: r.event_id }));
  }

  /** The sample flows of one attack. */
  async samples(attackId: string): Promise<Record<string, unknown>[]> {
    const rows = await this.c.query<Record<string, unknown>>(`SELECT * FROM ${this.t('attack_samples')} WHERE attack_id = ${str(attackId)} ORDER BY seq`);
    return rows.map((r) => ({ ...r, day: undefined, attack_start: undefined, written_ms: undefined, time_ms: n(r.time_ms), packets: n(r.packets), bytes: n(r.bytes) }));
  }

  /** Row counts per table (FINAL: what a reader sees). */
  async counts(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const t of ['attacks', 'bans', 'attack_samples', 'traffic']) {
      const r = await this.c.query<{ n: string }>(`SELECT count() AS n FROM ${this.t(t)}`);
      out[t] = n(r[0]?.n ?? 0);
    }
    return out;
  }

  /** The figures of `breakwater report`. */
  async report(r: TimeRange): Promise<Report> {
    const aw = `start >= ${dateTime(r.from)} AND start < ${dateTime(r.to)}`;
    const bw = `time >= ${dateTime(r.from)} AND time < ${dateTime(r.to)}`;
    const A = this.t('attacks');
    const B = this.t('bans');
    const [tot, byVector, targets, banTotals, durations, latency, refused] = await Promise.all([
      this.c.query<Record<string, unknown>>(`SELECT count() AS attacks, uniqExact(target) AS targets, max(peak_pps) AS peak_pps, max(peak_mbps) AS peak_mbps FROM ${A} WHERE ${aw}`),
      this.c.query<Record<string, unknown>>(`SELECT vector, count() AS attacks, uniqExact(target) AS targets, max(peak_pps) AS peak_pps, max(peak_mbps) AS peak_mbps, avg(if(end_ms > 0, (end_ms - start_ms) / 1000, 0)) AS avg_duration_s FROM ${A} WHERE ${aw} GROUP BY vector ORDER BY attacks DESC, vector`),
      this.c.query<Record<string, unknown>>(`SELECT target, count() AS attacks, groupUniqArray(vector) AS vectors, max(peak_pps) AS peak_pps, max(peak_mbps) AS peak_mbps, sum(if(end_ms > 0, (end_ms - start_ms) / 1000, 0)) AS duration_s FROM ${A} WHERE ${aw} GROUP BY target ORDER BY attacks DESC, peak_pps DESC, target LIMIT 10`),
      this.c.query<Record<string, unknown>>(`SELECT countIf(event = 'created') AS created, countIf(event = 'escalated') AS escalated, countIf(event = 'ended') AS ended, countIf(event = 'refused') AS refused FROM ${B} WHERE ${bw}`),
      this.c.query<Record<string, unknown>>(
        `SELECT count() AS bans, min(d) AS min_s, avg(d) AS avg_s, quantile(0.5)(d) AS p50_s, quantile(0.9)(d) AS p90_s, max(d) AS max_s FROM (
           SELECT ban_id, (maxIf(time_ms, event = 'ended') - minIf(time_ms, event = 'created')) / 1000 AS d
           FROM ${B} WHERE ${bw} GROUP BY ban_id HAVING countIf(event = 'created') > 0 AND countIf(event = 'ended') > 0)`,
      ),
      this.c.query<Record<string, unknown>>(
        `SELECT count() AS bans, min(l) AS min_ms, avg(l) AS avg_ms, quantile(0.5)(l) AS p50_ms, quantile(0.9)(l) AS p90_ms, max(l) AS max_ms FROM (
           SELECT ban_id, minIf(time_ms, event = 'created') - maxIf(attack_start_ms, event = 'created') AS l
           FROM ${B} WHERE ${bw} GROUP BY ban_id HAVING countIf(event = 'created') > 0 AND maxIf(attack_start_ms, event = 'created') > 0)`,
      ),
      this.c.query<Record<string, unknown>>(`SELECT guard, count() AS n FROM ${B} WHERE ${bw} AND event = 'refused' GROUP BY guard ORDER BY n DESC, guard`),
    ]);
    const t0 = tot[0] ?? {};
    const bt = banTotals[0] ?? {};
    const stat = (x: Record<string, unknown> | undefined, unit: string) => {
      const count = n(x?.bans ?? 0);
      if (!count) return { count: 0 };
      return { count, min: round(n(x![`min_${unit}`])), avg: round(n(x![`avg_${unit}`])), p50: round(n(x![`p50_${unit}`])), p90: round(n(x![`p90_${unit}`])), max: round(n(x![`max_${unit}`])) };
    };
    return {
      from: new Date(r.from).toISOString(),
      to: new Date(r.to).toISOString(),
      attacks: n(t0.attacks ?? 0),
      targets: n(t0.targets ?? 0),
      peak_pps: n(t0.peak_pps ?? 0),
      peak_mbps: n(t0.peak_mbps ?? 0),
      by_vector: byVector.map((x) => ({ vector: String(x.vector), attacks: n(x.attacks), targets: n(x.targets), peak_pps: n(x.peak_pps), peak_mbps: n(x.peak_mbps), avg_duration_s: round(n(x.avg_duration_s)) })),
      top_targets: targets.map((x) => ({ target: String(x.target), attacks: n(x.attacks), vectors: (x.vectors as string[]).slice().sort(), peak_pps: n(x.peak_pps), peak_mbps: n(x.peak_mbps), duration_s: round(n(x.duration_s)) })),
      bans: { created: n(bt.created ?? 0), escalated: n(bt.escalated ?? 0), ended: n(bt.ended ?? 0), refused: n(bt.refused ?? 0), refused_by_guard: Object.fromEntries(refused.map((x) => [String(x.guard), n(x.n)])) },
      ban_duration_s: stat(durations[0], 's'),
      mitigation_latency_ms: stat(latency[0], 'ms'),
    };
  }
}

export interface Stat {
  count: number;
  min?: number;
  avg?: number;
  p50?: number;
  p90?: number;
  max?: number;
}

export interface Report {
  from: string;
  to: string;
  attacks: number;
  targets: number;
  peak_pps: number;
  peak_mbps: number;
  by_vector: Array<{ vector: string; attacks: number; targets: number; peak_pps: number; peak_mbps: number; avg_duration_s: number }>;
  top_targets: Array<{ target: string; attacks: number; vectors: string[]; peak_pps: number; peak_mbps: number; duration_s: number }>;
  bans: { created: number; escalated: number; ended: number; refused: number; refused_by_guard: Record<string, number> };
  ban_duration_s: Stat;
  mitigation_latency_ms: Stat;
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

function parseJson(s: unknown): unknown {
  if (typeof s !== 'string' || s === '') return undefined;
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}

function attackOut(r: Record<string, unknown>): Record<string, unknown> {
  const end = n(r.end_ms);
  return {
    id: r.id, target: r.target, family: n(r.family), direction: r.direction, vector: r.vector, kind: r.kind,
    hostgroup: r.hostgroup || undefined, tenant: r.tenant || undefined, source: r.source, triggers: r.triggers,
    pps: n(r.pps), mbps: n(r.mbps), fps: n(r.fps), peak_pps: n(r.peak_pps), peak_mbps: n(r.peak_mbps), peak_fps: n(r.peak_fps),
    start: n(r.start_ms), end: end || undefined, active: end === 0,
    route: parseJson(r.route), thresholds: parseJson(r.thresholds), summary: parseJson(r.summary), end_reason: r.end_reason || undefined,
  };
}

function banOut(r: Record<string, unknown>): Record<string, unknown> {
  return {
    time: n(r.time_ms), event: r.event, ban_id: r.ban_id || undefined, target: r.target, family: n(r.family), source: r.source || undefined,
    reason: r.reason || undefined, action: r.action || undefined, level: r.level || undefined, escalation_step: n(r.escalation_step),
    ttl_seconds: n(r.ttl_seconds), created: n(r.created_ms) || undefined, expires: n(r.expires_ms) || undefined,
    attack_id: r.attack_id || undefined, hostgroup: r.hostgroup || undefined, direction: r.direction || undefined, vector: r.vector || undefined,
    neighbors: r.neighbors, guard: r.guard || undefined, end_reason: r.end_reason || undefined, route: parseJson(r.route), detail: parseJson(r.detail) ?? (r.detail || undefined), mode: r.mode,
  };
}
