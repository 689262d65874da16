/**
 * The REST API (koa + @koa/router). It reads and changes the daemon only
 * through ApiBackend, so it can be tested against a fake one.
 *
 *   GET  /healthz                 200 when ready, 503 while starting or stopping
 *   GET  /metrics                 Prometheus text
 *   GET  /api/v1/status
 *   GET  /api/v1/attacks          ?active=true|false&limit=&offset=
 *   GET  /api/v1/bans             ?active=true|false&limit=&offset=
 *   GET  /api/v1/hosts            ?ip=ADDR | ?direction=incoming|outgoing&limit=&offset=
 *   POST /api/v1/ban              {"ip", "ttl_seconds"?, "reason"?}      (token)
 *   POST /api/v1/unban            {"ip"}                                  (token)
 *   POST /api/v1/config/reload                                            (token)
 *
 * Errors are JSON: {"error": "...", ...details}. Mutating endpoints need
 * `Authorization: Bearer TOKEN` (role operator or admin) when tokens are configured.
 */
import { createServer, type Server } from 'node:http';
import { timingSafeEqual, createHash } from 'node:crypto';
import Koa from 'koa';
import { Router } from '@koa/router';
import * as v from 'valibot';
import type { Logger } from '../core/log.ts';
import type { PathIssue } from '../core/errors.ts';
import { parseIP, parsePrefix } from '../core/ip.ts';
import type { HistoryReader } from '../history/reader.ts';
import { registerHistoryRoutes } from './history-routes.ts';

export interface PageQuery {
  limit: number;
  offset: number;
  active?: boolean;
}

export interface PageResult<T = unknown> {
  total: number;
  items: T[];
}

export type MutationResult =
  | { ok: true; status?: number; body: Record<string, unknown> }
  | { ok: false; status: number; error: string; reason?: string; details?: Record<string, unknown> };

export type ReloadResult =
  | { ok: true; changed: string[]; mode: 'dry_run' | 'live'; details?: Record<string, unknown> }
  | { ok: false; error: string; issues: PathIssue[] };

export interface BanRequest {
  ip: string;
  ttl_seconds?: number;
  reason?: string;
}

export interface ApiBackend {
  ready(): boolean;
  status(): Record<string, unknown>;
  attacks(q: PageQuery): PageResult;
  bans(q: PageQuery): PageResult;
  hosts(q: PageQuery & { direction?: 'incoming' | 'outgoing' }): PageResult;
  /** One host's current rates, or undefined when it is not tracked. */
  host(ip: string): Record<string, unknown> | undefined;
  ban(req: BanRequest, actor: string): MutationResult | Promise<MutationResult>;
  unban(req: BanRequest, actor: string): MutationResult | Promise<MutationResult>;
  reload(actor: string): Promise<ReloadResult>;
  metrics(): Promise<{ contentType: string; body: string }>;
}

export type Role = 'viewer' | 'operator' | 'admin';
export interface ApiToken {
  name: string;
  token: string;
  role: Role;
}

export interface ApiServerOptions {
  host: string;
  port: number;
  tokens?: ApiToken[];
  log?: Logger;
  /** Largest accepted request body. */
  maxBodyBytes?: number;
  /** A client must send its headers within this time (slow clients are cut off). */
  headersTimeoutMs?: number;
  requestTimeoutMs?: number;
  /** ClickHouse history (storage.clickhouse), when configured. */
  history?: () => HistoryReader | undefined;
}

export const MAX_LIMIT = 1000;
export const DEFAULT_LIMIT = 100;

const MAX_TTL = 30 * 86_400;

const Target = v.pipe(
  v.string(),
  v.trim(),
  v.check((s) => parseIP(s) !== null || (s.includes('/') && typeof parsePrefix(s) !== 'string'), 'ip must be an IPv4 or IPv6 address (or a prefix)'),
);

export const BanBody = v.strictObject({
  ip: Target,
  ttl_seconds: v.optional(v.pipe(v.number('ttl_seconds must be a number'), v.integer('ttl_seconds must be an integer'), v.minValue(1), v.maxValue(MAX_TTL))),
  reason: v.optional(v.pipe(v.string(), v.maxLength(200))),
});

function issuesOf(issues: v.BaseIssue<unknown>[]): PathIssue[] {
  return issues.map((i) => ({ path: v.getDotPath(i) ?? '', message: /Expected never/.test(i.message) ? 'unknown key' : i.message }));
}

/** An error answered as JSON with its status (backends throw it, e.g. 503 while starting). */
export class HttpError extends Error {
  readonly status: number;
  readonly details?: Record<string, unknown>;
  constructor(status: number, message: string, details?: Record<string, unknown>) {
    super(message);
    this.status = status;
    this.details = details;
  }
}

function parseIntParam(raw: unknown, name: string, def: number, min: number, max: number): number {
  if (raw === undefined || raw === '') return def;
  const s = Array.isArray(raw) ? raw[0] : raw;
  if (typeof s !== 'string' || !/^[0-9]+$/.test(s)) throw new HttpError(400, `${name} must be a non-negative integer`);
  const n = Number(s);
  if (n < min || n > max) throw new HttpError(400, `${name} must be between ${min} and ${max}`);
  return n;
}

function parsePage(q: Record<string, unknown>): PageQuery {
  const limit = parseIntParam(q.limit, 'limit', DEFAULT_LIMIT, 1, MAX_LIMIT);
  const offset = parseIntParam(q.offset, 'offset', 0, 0, Number.MAX_SAFE_INTEGER);
  let active: boolean | undefined;
  if (q.active !== undefined) {
    if (q.active === 'true' || q.active === '1') active = true;
    else if (q.active === 'false' || q.active === '0') active = false;
    else throw new HttpError(400, 'active must be true or false');
  }
  return { limit, offset, active };
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

async function readJson(req: NodeJS.ReadableStream & { headers: Record<string, string | string[] | undefined> }, max: number): Promise<unknown> {
  const len = Number(req.headers['content-length'] ?? 0);
  if (len > max) throw new HttpError(413, `request body larger than ${max} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > max) throw new HttpError(413, `request body larger than ${max} bytes`);
    chunks.push(c);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return {};
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new HttpError(400, `invalid JSON: ${(e as Error).message}`);
  }
}

export class ApiServer {
  private readonly backend: ApiBackend;
  private readonly opts: ApiServerOptions;
  private readonly log?: Logger;
  private tokens: Array<{ name: string; hash: Buffer; role: Role }> = [];
  private server?: Server;
  readonly app: Koa;
  readonly stats = { requests: 0, errors: 0, unauthorized: 0 };

  constructor(backend: ApiBackend, opts: ApiServerOptions) {
    this.backend = backend;
    this.opts = opts;
    this.log = opts.log;
    this.setTokens(opts.tokens ?? []);
    this.app = this.build();
  }

  /** Replaces the accepted tokens (config reload). */
  setTokens(tokens: ApiToken[]): void {
    this.tokens = tokens.filter((t) => t.token !== '').map((t) => ({ name: t.name, hash: digest(t.token), role: t.role }));
  }

  get authRequired(): boolean {
    return this.tokens.length > 0;
  }

  /** The actor for a mutating request, or an HttpError. */
  private authorize(header: string | undefined): string {
    if (!this.authRequired) return 'api';
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
    if (!m) {
      this.stats.unauthorized++;
      throw new HttpError(401, 'a bearer token is required');
    }
    const h = digest(m[1]);
    const tok = this.tokens.find((t) => timingSafeEqual(t.hash, h));
    if (!tok) {
      this.stats.unauthorized++;
      throw new HttpError(401, 'unknown token');
    }
    if (tok.role === 'viewer') {
      this.stats.unauthorized++;
      throw new HttpError(403, `token "${tok.name}" has role viewer; operator or admin is needed`);
    }
    return tok.name;
  }

  private build(): Koa {
    const app = new Koa();
    const r = new Router();
    const b = this.backend;
    const maxBody = this.opts.maxBodyBytes ?? 64 * 1024;

    app.use(async (ctx, next) => {
      this.stats.requests++;
      try {
        await next();
        if (ctx.status === 404 && ctx.body === undefined) throw new HttpError(404, `no route for ${ctx.method} ${ctx.path}`);
        if (ctx.status === 405 && (ctx.body === undefined || typeof ctx.body === 'string')) {
          ctx.body = { error: `method ${ctx.method} not allowed on ${ctx.path}` };
        }
      } catch (e) {
        this.stats.errors++;
        if (e instanceof HttpError) {
          ctx.status = e.status;
          ctx.body = { error: e.message, ...(e.details ?? {}) };
        } else {
          const status = (e as { status?: number }).status;
          if (typeof status === 'number' && status >= 400 && status < 500) {
            ctx.status = status;
            ctx.body = { error: (e as Error).message };
          } else {
            this.log?.error({ event: 'api error', err: (e as Error).message, path: ctx.path }, 'API handler failed');
            ctx.status = 500;
            ctx.body = { error: 'internal error', message: (e as Error).message };
          }
        }
      }
    });

    r.get('/healthz', (ctx) => {
      const ready = b.ready();
      ctx.status = ready ? 200 : 503;
      ctx.body = { status: ready ? 'ok' : 'starting' };
    });

    r.get('/metrics', async (ctx) => {
      const m = await b.metrics();
      ctx.type = m.contentType;
      ctx.body = m.body;
    });

    r.get('/api/v1/status', (ctx) => {
      ctx.body = b.status();
    });

    const list = (name: 'attacks' | 'bans') => (ctx: Koa.Context) => {
      const q = parsePage(ctx.query as Record<string, unknown>);
      const res = b[name](q);
      ctx.body = { [name]: res.items, total: res.total, limit: q.limit, offset: q.offset };
    };
    r.get('/api/v1/attacks', list('attacks'));
    r.get('/api/v1/bans', list('bans'));

    r.get('/api/v1/hosts', (ctx) => {
      const query = ctx.query as Record<string, unknown>;
      if (query.ip !== undefined) {
        const ip = String(Array.isArray(query.ip) ? query.ip[0] : query.ip).trim();
        if (!parseIP(ip)) throw new HttpError(400, `ip "${ip}" is not an IPv4 or IPv6 address`);
        const h = b.host(ip);
        if (!h) throw new HttpError(404, `host ${ip} is not tracked (no recent traffic, or outside networks)`);
        ctx.body = h;
        return;
      }
      const q = parsePage(query);
      let direction: 'incoming' | 'outgoing' | undefined;
      if (query.direction !== undefined) {
        if (query.direction !== 'incoming' && query.direction !== 'outgoing') throw new HttpError(400, 'direction must be incoming or outgoing');
        direction = query.direction;
      }
      const res = b.hosts({ ...q, direction });
      ctx.body = { hosts: res.items, total: res.total, limit: q.limit, offset: q.offset };
    });

    const mutation = (fn: (req: BanRequest, actor: string) => MutationResult | Promise<MutationResult>) => async (ctx: Koa.Context) => {
      const actor = this.authorize(ctx.get('authorization') || undefined);
      const body = await readJson(ctx.req, maxBody);
      const parsed = v.safeParse(BanBody, body);
      if (!parsed.success) throw new HttpError(400, 'invalid request body', { issues: issuesOf(parsed.issues) });
      const res = await fn(parsed.output, actor);
      if (res.ok) {
        ctx.status = res.status ?? 200;
        ctx.body = res.body;
      } else {
        ctx.status = res.status;
        ctx.body = { error: res.error, ...(res.reason !== undefined ? { reason: res.reason } : {}), ...(res.details ?? {}) };
      }
    };
    r.post('/api/v1/ban', mutation((req, actor) => b.ban(req, actor)));
    r.post('/api/v1/unban', mutation((req, actor) => b.unban(req, actor)));

    r.post('/api/v1/config/reload', async (ctx) => {
      const actor = this.authorize(ctx.get('authorization') || undefined);
      await readJson(ctx.req, maxBody); // drain; the body is ignored
      const res = await b.reload(actor);
      if (res.ok) {
        ctx.body = { status: 'reloaded', changed: res.changed, mode: res.mode, ...(res.details ?? {}) };
      } else {
        ctx.status = 400;
        ctx.body = { error: res.error, issues: res.issues };
      }
    });

    registerHistoryRoutes(r, () => this.opts.history?.());
    app.use(r.routes());
    app.use(r.allowedMethods());
    return app;
  }

  /** Starts listening; resolves with the bound address (port 0 picks a free one). */
  async start(): Promise<{ host: string; port: number }> {
    const headersTimeout = this.opts.headersTimeoutMs ?? 10_000;
    const server = createServer(
      {
        headersTimeout,
        requestTimeout: Math.max(headersTimeout, this.opts.requestTimeoutMs ?? 30_000),
        keepAliveTimeout: 5_000,
        // How often slow clients are checked against the timeouts above.
        connectionsCheckingInterval: Math.min(1000, headersTimeout),
      },
      this.app.callback(),
    );
    server.maxHeadersCount = 100;
    this.server = server;
    await new Promise<void>((res, rej) => {
      server.once('error', rej);
      server.listen({ host: this.opts.host || undefined, port: this.opts.port }, () => {
        server.off('error', rej);
        res();
      });
    });
    server.on('error', (e) => this.log?.error({ event: 'api error', err: e.message }, 'API server error'));
    const a = server.address();
    const bound = typeof a === 'object' && a ? { host: a.address, port: a.port } : { host: this.opts.host, port: this.opts.port };
    this.log?.info({ event: 'api listening', host: bound.host, port: bound.port, auth: this.authRequired }, 'REST API listening');
    return bound;
  }

  async stop(): Promise<void> {
    const s = this.server;
    if (!s) return;
    this.server = undefined;
    await new Promise<void>((res) => {
      s.close(() => res());
      s.closeAllConnections();
    });
  }
}
