/**
 * History from ClickHouse (storage.clickhouse), on the API listener:
 *
 *   GET /api/v1/history/attacks         ?from=&to=&target=&vector=&hostgroup=&direction=&id=&limit=&cursor=
 *   GET /api/v1/history/attacks/{id}/samples
 *   GET /api/v1/history/bans            ?from=&to=&target=&vector=&hostgroup=&direction=&event=&ban_id=&attack_id=&limit=&cursor=
 *   GET /api/v1/history/report          ?from=&to=                     the `breakwater report` figures
 *
 * (GET /api/v1/hosts/{ip}/traffic, memory first, is in traffic-routes.ts.)
 * The two lists page like the others (cursor.ts): newest first on (start,
 * attack id) and (time, ban event id), `next_cursor` to send back as
 * `?cursor=`, which wins over `offset` (kept for compatibility). A cursor is
 * bound to its list, not to the filters: send the same filters with it.
 * Times: ISO 8601, Unix seconds or ms, `now`, `-6h`. Without
 * storage.clickhouse: 404; ClickHouse failing or slow: 503 (the rest of the
 * API never waits on it).
 */
import type Koa from 'koa';
import type { HistoryReader } from '../history/reader.ts';
import { parseTime } from '../history/time.ts';
import { ApiError } from '../core/errors.ts';
import { decodeCursor, encodeCursor, type Keyset } from './cursor.ts';
import { DEFAULT_LIMIT, MAX_LIMIT } from './routes.ts';

export type HistoryPath = '/api/v1/history/attacks' | '/api/v1/history/attacks/:id/samples' | '/api/v1/history/bans' | '/api/v1/history/report';

export const MAX_POINTS = 2000;

export function one(q: Record<string, unknown>, name: string): string | undefined {
  const v = q[name];
  if (v === undefined || v === '') return undefined;
  return String(Array.isArray(v) ? v[0] : v);
}

export function range(q: Record<string, unknown>, defaultSpanMs: number, now: number): { from: number; to: number } {
  const parse = (name: string, def: number) => {
    const s = one(q, name);
    if (s === undefined) return def;
    const t = parseTime(s, now);
    if (t === undefined) throw new ApiError('bad_request', `${name} must be a time (ISO 8601, Unix seconds or ms, now, -6h)`);
    return t;
  };
  const to = parse('to', now);
  const from = parse('from', to - defaultSpanMs);
  if (from >= to) throw new ApiError('bad_request', 'from must be before to');
  return { from, to };
}

/** The cursor names of the two lists (a cursor of one is refused by the other, and by the live lists). */
export const HISTORY_LISTS = { attacks: 'history_attacks', bans: 'history_bans' } as const;

function page(q: Record<string, unknown>, list: string): { limit: number; offset: number; after?: Keyset } {
  const int = (name: string, def: number, min: number, max: number) => {
    const s = one(q, name);
    if (s === undefined) return def;
    if (!/^\d+$/.test(s) || Number(s) < min || Number(s) > max) throw new ApiError('bad_request', `${name} must be an integer between ${min} and ${max}`);
    return Number(s);
  };
  const limit = int('limit', DEFAULT_LIMIT, 1, MAX_LIMIT);
  const cursor = one(q, 'cursor');
  if (cursor !== undefined) return { limit, offset: 0, after: decodeCursor(list, cursor) };
  return { limit, offset: int('offset', 0, 0, 1_000_000) };
}

export function direction(q: Record<string, unknown>): string | undefined {
  const d = one(q, 'direction');
  if (d !== undefined && d !== 'incoming' && d !== 'outgoing') throw new ApiError('bad_request', 'direction must be incoming or outgoing');
  return d;
}

/** Registers the history routes through the server's `get` (which checks each route's role from ROUTES). */
export function registerHistoryRoutes(get: (path: HistoryPath, fn: (ctx: Koa.Context) => Promise<void>) => void, reader: () => HistoryReader | undefined, now: () => number): void {
  const need = (): HistoryReader => {
    const h = reader();
    if (!h) throw new ApiError('not_found', 'history needs ClickHouse (storage.clickhouse is not configured)');
    return h;
  };
  const ask = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof ApiError) throw e;
      throw new ApiError('unavailable', `ClickHouse: ${(e as Error).message.split('\n')[0].slice(0, 300)}`);
    }
  };
  const filters = (q: Record<string, unknown>) => ({
    target: one(q, 'target'),
    vector: one(q, 'vector'),
    hostgroup: one(q, 'hostgroup'),
    direction: direction(q),
  });

  get('/api/v1/history/attacks', async (ctx) => {
    const q = ctx.query as Record<string, unknown>;
    const h = need();
    const f = { ...range(q, 7 * 86_400_000, now()), ...filters(q), ...page(q, HISTORY_LISTS.attacks), id: one(q, 'id') };
    const res = await ask(() => h.attacks(f));
    ctx.body = { attacks: res.items, total: res.total, limit: f.limit, offset: f.offset, next_cursor: res.next ? encodeCursor(HISTORY_LISTS.attacks, res.next) : null, from: new Date(f.from).toISOString(), to: new Date(f.to).toISOString() };
  });

  get('/api/v1/history/attacks/:id/samples', async (ctx) => {
    const h = need();
    const id = String(ctx.params.id);
    const samples = await ask(() => h.samples(id));
    ctx.body = { attack_id: id, samples };
  });

  get('/api/v1/history/bans', async (ctx) => {
    const q = ctx.query as Record<string, unknown>;
    const h = need();
    const f = { ...range(q, 7 * 86_400_000, now()), ...filters(q), ...page(q, HISTORY_LISTS.bans), event: one(q, 'event'), ban_id: one(q, 'ban_id'), attack_id: one(q, 'attack_id') };
    const res = await ask(() => h.bans(f));
    ctx.body = { bans: res.items, total: res.total, limit: f.limit, offset: f.offset, next_cursor: res.next ? encodeCursor(HISTORY_LISTS.bans, res.next) : null, from: new Date(f.from).toISOString(), to: new Date(f.to).toISOString() };
  });

  get('/api/v1/history/report', async (ctx) => {
    const q = ctx.query as Record<string, unknown>;
    const h = need();
    const rg = range(q, 86_400_000, now());
    ctx.body = await ask(() => h.report(rg));
  });
}
