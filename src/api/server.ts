/**
 * The REST API (koa + @koa/router). It reads and changes the daemon only
 * through ApiBackend (a narrow query interface), so it can be tested against
 * a fake one. Who may call what is one table (ROUTES), checked before any
 * handler runs.
 *
 *   GET  /healthz                 open: 200 when ready, 503 while starting or stopping
 *   GET  /metrics                 open unless api.metrics_token_required
 *   GET  /api/v1/status           viewer
 *   GET  /api/v1/attacks          viewer   ?active=true|false&limit=&offset=
 *   GET  /api/v1/bans             viewer   ?active=true|false&limit=&offset=
 *   GET  /api/v1/hosts            viewer   ?ip=ADDR | ?direction=incoming|outgoing&limit=&offset=
 *   GET  /api/v1/audit            viewer   ?action=&limit=&offset=
 *   POST /api/v1/ban              operator {"ip", "ttl_seconds"?, "reason"?}
 *   POST /api/v1/unban            operator {"ip"}
 *   POST /api/v1/config/reload    admin    ?force=true applies a dangerous change
 *   GET  /api/v1/config           admin    the running config, secrets hidden
 *   GET  /api/v1/whoami           viewer   {name, role} of the calling token
 *   GET  /api/v1/stream           viewer   SSE: status every second, attack and ban on change
 *                                          (EventSource cannot send headers: ?token= works too)
 *   GET  /  and /assets/{name}    open     the console, with api.dashboard (console-routes.ts)
 *
 * Without any token configured (loopback, or api.insecure_no_auth) every
 * route is open. Errors are JSON: {"error": "...", "code": "...", ...details}.
 * A query parameter given twice or as an array (`limit[]=1`) is a 400.
 */
import { createServer, type Server } from 'node:http';
import { timingSafeEqual, createHash } from 'node:crypto';
import Koa from 'koa';
import { Router } from '@koa/router';
import * as v from 'valibot';
import type { Logger } from '../core/log.ts';
import { API_ERRORS, ApiError, type ApiErrorCode, type PathIssue } from '../core/errors.ts';
import { parseIP, parsePrefix } from '../core/ip.ts';
import type { HistoryReader } from '../history/reader.ts';
import { registerHistoryRoutes } from './history-routes.ts';
import { registerConsoleRoutes, type ConsoleRoutes } from './console-routes.ts';

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
  | { ok: false; status: number; error: string; reason?: string; code?: ApiErrorCode; details?: Record<string, unknown> };

/** What a module did with its slice of the reload plan. */
export interface ModuleAction {
  module: string;
  did: string[];
}

export type ReloadResult =
  | { ok: true; changed: string[]; mode: 'dry_run' | 'live'; plan?: string[]; applied?: ModuleAction[]; details?: Record<string, unknown> }
  | { ok: false; error: string; issues: PathIssue[] }
  /** A dangerous change (bans lifted, auth off, a listener widened) not confirmed with force. */
  | { ok: false; refused: true; error: string; dangers: Array<{ kind: string; detail: string }>; plan: string[]; changed: string[] };

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
  reload(actor: string, opts?: { force: boolean }): Promise<ReloadResult>;
  metrics(): Promise<{ contentType: string; body: string }>;
  /** The audit log, newest first. */
  audit(q: PageQuery & { action?: string }): PageResult;
  /** The running config with secrets hidden. */
  config(): Record<string, unknown>;
}

export type Role = 'viewer' | 'operator' | 'admin';
/** Who may call a route: anyone, the metrics rule (open unless metrics_token_required), or a role and above. */
export type Access = 'open' | 'metrics' | Role;
const RANK: Record<Role, number> = { viewer: 1, operator: 2, admin: 3 };

/** Every route with its access rule: the server checks it, tests walk it. */
export const ROUTES = [
  { method: 'GET', path: '/healthz', access: 'open' },
  { method: 'GET', path: '/metrics', access: 'metrics' },
  { method: 'GET', path: '/api/v1/status', access: 'viewer' },
  { method: 'GET', path: '/api/v1/attacks', access: 'viewer' },
  { method: 'GET', path: '/api/v1/bans', access: 'viewer' },
  { method: 'GET', path: '/api/v1/hosts', access: 'viewer' },
  { method: 'GET', path: '/api/v1/audit', access: 'viewer' },
  { method: 'POST', path: '/api/v1/ban', access: 'operator' },
  { method: 'POST', path: '/api/v1/unban', access: 'operator' },
  { method: 'POST', path: '/api/v1/config/reload', access: 'admin' },
  { method: 'GET', path: '/api/v1/config', access: 'admin' },
  // ClickHouse history (404 without storage.clickhouse)
  { method: 'GET', path: '/api/v1/hosts/:ip/traffic', access: 'viewer' },
  { method: 'GET', path: '/api/v1/history/attacks', access: 'viewer' },
  { method: 'GET', path: '/api/v1/history/attacks/:id/samples', access: 'viewer' },
  { method: 'GET', path: '/api/v1/history/bans', access: 'viewer' },
  { method: 'GET', path: '/api/v1/history/report', access: 'viewer' },
  // the console (console-routes.ts): 404 without api.dashboard
  { method: 'GET', path: '/api/v1/whoami', access: 'viewer' },
  { method: 'GET', path: '/api/v1/stream', access: 'viewer' },
  { method: 'GET', path: '/', access: 'open' },
  { method: 'GET', path: '/assets/:name', access: 'open' },
] as const satisfies ReadonlyArray<{ method: 'GET' | 'POST'; path: string; access: Access }>;
export interface ApiToken {
  name: string;
  token: string;
  role: Role;
}

export interface ApiServerOptions {
  host: string;
  port: number;
  tokens?: ApiToken[];
  /** /metrics needs a token too (api.metrics_token_required). */
  metricsTokenRequired?: boolean;
  log?: Logger;
  /** Largest accepted request body. */
  maxBodyBytes?: number;
  /** A client must send its headers within this time (slow clients are cut off). */
  headersTimeoutMs?: number;
  requestTimeoutMs?: number;
  /** ClickHouse history (storage.clickhouse), when configured. */
  history?: () => HistoryReader | undefined;
  /** Serve the console at / (api.dashboard); read on every request so a reload applies. */
  dashboard?: () => boolean;
  /** Period of the stream's status event and change checks (tests shorten it). */
  streamIntervalMs?: number;
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

/** A query parameter given twice or as an array (`limit[]=1`) is a 400, not silently the first value. */
function checkQuery(querystring: string): void {
  const seen = new Set<string>();
  for (const [k] of new URLSearchParams(querystring)) {
    if (k.includes('[') || k.includes(']')) throw new ApiError('bad_request', `query parameter "${k}" is an array; give it once, as ${k.replace(/\[.*$/, '')}=VALUE`);
    if (seen.has(k)) throw new ApiError('bad_request', `query parameter "${k}" is given more than once`);
    seen.add(k);
  }
}

function parseIntParam(raw: unknown, name: string, def: number, min: number, max: number): number {
  if (raw === undefined || raw === '') return def;
  if (typeof raw !== 'string' || !/^[0-9]+$/.test(raw)) throw new ApiError('bad_request', `${name} must be a non-negative integer`);
  const n = Number(raw);
  if (n < min || n > max) throw new ApiError('bad_request', `${name} must be between ${min} and ${max}`);
  return n;
}

function parsePage(q: Record<string, unknown>): PageQuery {
  const limit = parseIntParam(q.limit, 'limit', DEFAULT_LIMIT, 1, MAX_LIMIT);
  const offset = parseIntParam(q.offset, 'offset', 0, 0, Number.MAX_SAFE_INTEGER);
  let active: boolean | undefined;
  if (q.active !== undefined) {
    if (q.active === 'true' || q.active === '1') active = true;
    else if (q.active === 'false' || q.active === '0') active = false;
    else throw new ApiError('bad_request', 'active must be true or false');
  }
  return { limit, offset, active };
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

async function readJson(req: NodeJS.ReadableStream & { headers: Record<string, string | string[] | undefined> }, max: number): Promise<unknown> {
  const len = Number(req.headers['content-length'] ?? 0);
  if (len > max) throw new ApiError('payload_too_large', `request body larger than ${max} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > max) throw new ApiError('payload_too_large', `request body larger than ${max} bytes`);
    chunks.push(c);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return {};
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ApiError('bad_request', `invalid JSON: ${(e as Error).message}`);
  }
}

export class ApiServer {
  private readonly backend: ApiBackend;
  private readonly opts: ApiServerOptions;
  private readonly log?: Logger;
  private tokens: Array<{ name: string; hash: Buffer; role: Role }> = [];
  private metricsTokenRequired = false;
  private server?: Server;
  private console?: ConsoleRoutes;
  readonly app: Koa;
  readonly stats = { requests: 0, errors: 0, unauthorized: 0 };

  constructor(backend: ApiBackend, opts: ApiServerOptions) {
    this.backend = backend;
    this.opts = opts;
    this.log = opts.log;
    this.setAuth({ tokens: opts.tokens ?? [], metricsTokenRequired: opts.metricsTokenRequired ?? false });
    this.app = this.build();
  }

  /** Replaces the accepted tokens (config reload). */
  setTokens(tokens: ApiToken[]): void {
    this.tokens = tokens.filter((t) => t.token !== '').map((t) => ({ name: t.name, hash: digest(t.token), role: t.role }));
  }

  /** Tokens and the /metrics rule (config reload). */
  setAuth(a: { tokens: ApiToken[]; metricsTokenRequired: boolean }): void {
    this.setTokens(a.tokens);
    this.metricsTokenRequired = a.metricsTokenRequired;
  }

  get authRequired(): boolean {
    return this.tokens.length > 0;
  }

  /** The actor (and its role) for a request to a route with this access rule, or an ApiError (401/403). */
  private authorize(header: string | undefined, access: Access): { actor: string; role: Role } {
    if (!this.authRequired) return { actor: 'api', role: 'admin' };
    if (access === 'open' || (access === 'metrics' && !this.metricsTokenRequired)) return { actor: 'anonymous', role: 'viewer' };
    const need: Role = access === 'metrics' ? 'viewer' : access;
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
    if (!m) {
      this.stats.unauthorized++;
      throw new ApiError('unauthorized', 'a bearer token is required');
    }
    const h = digest(m[1]);
    const tok = this.tokens.find((t) => timingSafeEqual(t.hash, h));
    if (!tok) {
      this.stats.unauthorized++;
      throw new ApiError('unauthorized', 'unknown token');
    }
    if (RANK[tok.role] < RANK[need]) {
      this.stats.unauthorized++;
      throw new ApiError('forbidden', `token "${tok.name}" has role ${tok.role}; ${need}${need === 'admin' ? '' : ' or above'} is needed`);
    }
    return { actor: tok.name, role: tok.role };
  }

  private build(): Koa {
    const app = new Koa();
    const r = new Router();
    const b = this.backend;
    const maxBody = this.opts.maxBodyBytes ?? 64 * 1024;

    app.use(async (ctx, next) => {
      this.stats.requests++;
      try {
        checkQuery(ctx.querystring);
        await next();
        if (ctx.status === 404 && ctx.body === undefined) throw new ApiError('not_found', `no route for ${ctx.method} ${ctx.path}`);
        if (ctx.status === 405 && (ctx.body === undefined || typeof ctx.body === 'string')) {
          ctx.body = { error: `method ${ctx.method} not allowed on ${ctx.path}`, code: 'method_not_allowed' };
        }
      } catch (e) {
        this.stats.errors++;
        if (e instanceof ApiError) {
          ctx.status = e.status;
          ctx.body = { error: e.message, code: e.code, ...(e.details ?? {}) };
        } else {
          const status = (e as { status?: number }).status;
          if (typeof status === 'number' && status >= 400 && status < 500) {
            ctx.status = status;
            ctx.body = { error: (e as Error).message };
          } else {
            this.log?.error({ event: 'api error', err: (e as Error).message, path: ctx.path }, 'API handler failed');
            ctx.status = 500;
            ctx.body = { error: 'internal error', code: 'internal', message: (e as Error).message };
          }
        }
      }
    });

    type Handler = (ctx: Koa.Context, actor: string, role: Role) => unknown;
    const route = (method: 'GET' | 'POST', path: (typeof ROUTES)[number]['path'], fn: Handler) => {
      const spec = ROUTES.find((x) => x.method === method && x.path === path);
      if (!spec) throw new Error(`${method} ${path} is not in ROUTES`);
      const h = async (ctx: Koa.Context) => {
        // EventSource cannot set headers: the stream also takes ?token= (never logged).
        const qtoken = spec.path === '/api/v1/stream' ? (ctx.query as Record<string, unknown>).token : undefined;
        const header = ctx.get('authorization') || (typeof qtoken === 'string' && qtoken !== '' ? `Bearer ${qtoken}` : undefined);
        const who = this.authorize(header, spec.access);
        await fn(ctx, who.actor, who.role);
      };
      if (method === 'GET') r.get(path, h);
      else r.post(path, h);
    };

    route('GET', '/healthz', (ctx) => {
      const ready = b.ready();
      ctx.status = ready ? 200 : 503;
      ctx.body = { status: ready ? 'ok' : 'starting' };
    });

    route('GET', '/metrics', async (ctx) => {
      const m = await b.metrics();
      ctx.type = m.contentType;
      ctx.body = m.body;
    });

    route('GET', '/api/v1/status', (ctx) => {
      ctx.body = b.status();
    });

    const list = (name: 'attacks' | 'bans') => (ctx: Koa.Context) => {
      const q = parsePage(ctx.query as Record<string, unknown>);
      const res = b[name](q);
      ctx.body = { [name]: res.items, total: res.total, limit: q.limit, offset: q.offset };
    };
    route('GET', '/api/v1/attacks', list('attacks'));
    route('GET', '/api/v1/bans', list('bans'));

    route('GET', '/api/v1/hosts', (ctx) => {
      const query = ctx.query as Record<string, unknown>;
      if (query.ip !== undefined) {
        const ip = String(query.ip).trim();
        if (!parseIP(ip)) throw new ApiError('bad_request', `ip "${ip}" is not an IPv4 or IPv6 address`);
        const h = b.host(ip);
        if (!h) throw new ApiError('not_found', `host ${ip} is not tracked (no recent traffic, or outside networks)`);
        ctx.body = h;
        return;
      }
      const q = parsePage(query);
      let direction: 'incoming' | 'outgoing' | undefined;
      if (query.direction !== undefined) {
        if (query.direction !== 'incoming' && query.direction !== 'outgoing') throw new ApiError('bad_request', 'direction must be incoming or outgoing');
        direction = query.direction;
      }
      const res = b.hosts({ ...q, direction });
      ctx.body = { hosts: res.items, total: res.total, limit: q.limit, offset: q.offset };
    });

    route('GET', '/api/v1/audit', (ctx) => {
      const query = ctx.query as Record<string, unknown>;
      const q = parsePage(query);
      const action = query.action === undefined ? undefined : String(query.action);
      const res = b.audit({ ...q, action });
      ctx.body = { audit: res.items, total: res.total, limit: q.limit, offset: q.offset };
    });

    const mutation = (fn: (req: BanRequest, actor: string) => MutationResult | Promise<MutationResult>): Handler => async (ctx, actor) => {
      const body = await readJson(ctx.req, maxBody);
      const parsed = v.safeParse(BanBody, body);
      if (!parsed.success) throw new ApiError('bad_request', 'invalid request body', { issues: issuesOf(parsed.issues) });
      const res = await fn(parsed.output, actor);
      if (res.ok) {
        ctx.status = res.status ?? 200;
        ctx.body = res.body;
      } else {
        ctx.status = res.status;
        ctx.body = { error: res.error, ...(res.code !== undefined ? { code: res.code } : {}), ...(res.reason !== undefined ? { reason: res.reason } : {}), ...(res.details ?? {}) };
      }
    };
    route('POST', '/api/v1/ban', mutation((req, actor) => b.ban(req, actor)));
    route('POST', '/api/v1/unban', mutation((req, actor) => b.unban(req, actor)));

    route('POST', '/api/v1/config/reload', async (ctx, actor) => {
      const f = (ctx.query as Record<string, unknown>).force;
      if (f !== undefined && f !== 'true' && f !== 'false') throw new ApiError('bad_request', 'force must be true or false');
      await readJson(ctx.req, maxBody); // drain; the body is ignored
      const res = await b.reload(actor, { force: f === 'true' });
      if (res.ok) {
        ctx.body = { status: 'reloaded', changed: res.changed, mode: res.mode, ...(res.plan ? { plan: res.plan } : {}), ...(res.applied ? { applied: res.applied } : {}), ...(res.details ?? {}) };
      } else if ('refused' in res) {
        ctx.status = API_ERRORS.dangerous_change;
        ctx.body = { error: res.error, code: 'dangerous_change', dangers: res.dangers, plan: res.plan, changed: res.changed };
      } else {
        ctx.status = API_ERRORS.invalid_config;
        ctx.body = { error: res.error, code: 'invalid_config', issues: res.issues };
      }
    });

    route('GET', '/api/v1/config', (ctx) => {
      ctx.body = b.config();
    });

    registerHistoryRoutes((path, fn) => route('GET', path, (ctx) => fn(ctx)), () => this.opts.history?.());
    this.console = registerConsoleRoutes((path, fn) => route('GET', path, fn), {
      backend: b,
      dashboard: () => this.opts.dashboard?.() ?? false,
      intervalMs: this.opts.streamIntervalMs ?? 1000,
    });
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
    this.console?.close();
    const s = this.server;
    if (!s) return;
    this.server = undefined;
    await new Promise<void>((res) => {
      s.close(() => res());
      s.closeAllConnections();
    });
  }
}
