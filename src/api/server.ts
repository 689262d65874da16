/**
 * The REST API (koa + @koa/router). It reads and changes the daemon only
 * through ApiBackend (a narrow query interface), so it can be tested against
 * a fake one. Who may call what, what a tenant-scoped token sees and which
 * parameters and bodies are valid is one table (ROUTES in routes.ts), checked
 * before any handler runs; the same table is the OpenAPI document.
 *
 * Without any token configured (loopback, or api.insecure_no_auth) every
 * route is open. Errors are JSON: {"error": "...", "code": "...", ...details}.
 * A query parameter given twice or as an array (`limit[]=1`) is a 400.
 * Lists answer {"<name>": [...], total, limit, offset, next_cursor}.
 */
import { createServer, type Server } from 'node:http';
import { timingSafeEqual, createHash } from 'node:crypto';
import Koa from 'koa';
import { Router } from '@koa/router';
import * as v from 'valibot';
import type { Logger } from '../core/log.ts';
import { ApiError, BreakwaterError, httpStatus, type ApiErrorCode, type PathIssue } from '../core/errors.ts';
import { parseIP } from '../core/ip.ts';
import type { HistoryReader } from '../history/reader.ts';
import { VERSION } from '../version.ts';
import { registerHistoryRoutes } from './history-routes.ts';
import { pathIssues, readJson, sendResult } from './body.ts';

export { readJson };
import { registerSignalRoutes, type SignalBackend } from './signal-routes.ts';
import { registerCommandRoutes, type CommandsPort } from './command-routes.ts';
import { registerMitigationRoutes, type MitigationBackend } from './mitigation-routes.ts';
import { registerTrafficRoutes, type TrafficSource } from './traffic-routes.ts';
import { decodeCursor, encodeCursor, type Keyset } from './cursor.ts';
import { buildOpenApi } from './openapi.ts';
import { BanBody, DEFAULT_LIMIT, MAX_LIMIT, ROUTES, type Access, type Method, type Role, type RoutePath, type RouteSpec } from './routes.ts';

export { BanBody, DEFAULT_LIMIT, MAX_LIMIT, ROUTES, type Access, type Role };
import { registerConsoleRoutes, type ConsoleRoutes } from './console-routes.ts';
import type { Scope } from './tenant.ts';

export interface PageQuery {
  limit: number;
  offset: number;
  active?: boolean;
  /** Start after this keyset position (from a cursor); offset is then 0. */
  cursor?: Keyset;
  /** Only what this tenant owns (a scoped token). */
  tenant?: string;
}

export interface PageResult<T = unknown> {
  total: number;
  items: T[];
  /** Keyset position of the last item when more follow (becomes next_cursor). */
  next?: Keyset;
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

export type HostSort = 'pps' | 'bps' | 'flows';

export interface ApiBackend {
  ready(): boolean;
  /** The status; for a scoped token only its tenant's totals. */
  status(tenant?: string): Record<string, unknown>;
  attacks(q: PageQuery): PageResult;
  bans(q: PageQuery): PageResult;
  hosts(q: PageQuery & { direction?: 'incoming' | 'outgoing'; sort?: HostSort }): PageResult;
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
  /** Manual FlowSpec mitigations (absent: those routes answer 404). */
  readonly mitigations?: MitigationBackend;
  /** Flow exporters (absent: an empty list). */
  exporters?(q: PageQuery): PageResult;
  /** BGP neighbors (absent: an empty list). */
  neighbors?(q: PageQuery): PageResult;
  /** Whether a tenant owns an address or prefix (absent: a scoped token owns nothing). */
  inTenant?(target: string, tenant: string): boolean;
  /** The in-memory rate ring of the last minutes (absent: only ClickHouse answers). */
  traffic?(): TrafficSource | undefined;
}

const RANK: Record<Role, number> = { viewer: 1, operator: 2, admin: 3 };

export interface ApiToken {
  name: string;
  token: string;
  role: Role;
  /** Scope: only the hosts of this tenant's hostgroups. */
  tenant?: string;
}

/** Who is calling: the token's name (the audit actor), role and tenant scope. */
export interface Caller {
  actor: string;
  role: Role | undefined;
  tenant?: string;
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
  /** Signals from other detectors (signals/hub.ts), once the daemon runs. */
  signals?: () => SignalBackend | undefined;
  /** Command lines (POST /api/v1/commands); undefined while the daemon takes no changes. */
  commands?: () => CommandsPort | undefined;
  /** Serve the console at / (api.dashboard); read on every request so a reload applies. */
  dashboard?: () => boolean;
  /** Period of the stream's status event and change checks (tests shorten it). */
  streamIntervalMs?: number;
  /** The daemon's clock: rings and history are stamped with it, so "now" and "-15m" in a query read it too. */
  now?: () => number;
}

/** Largest body of the signal routes (signal-routes.ts). */
export const SIGNAL_MAX_BODY = 1024 * 1024;

export type Handler = (ctx: Koa.Context, caller: Caller) => unknown;
/** How a routes file registers the handler of one of its ROUTES rows (the server checks the row first). */
export type RouteRegistrar = (method: Method, path: RoutePath, fn: Handler) => void;

/** A query parameter given twice or as an array (`limit[]=1`) is a 400, not silently the first value. */
function checkQuery(querystring: string): void {
  const seen = new Set<string>();
  for (const [k] of new URLSearchParams(querystring)) {
    if (k.includes('[') || k.includes(']')) throw new ApiError('bad_request', `query parameter "${k}" is an array; give it once, as ${k.replace(/\[.*$/, '')}=VALUE`);
    if (seen.has(k)) throw new ApiError('bad_request', `query parameter "${k}" is given more than once`);
    seen.add(k);
  }
}

/** The query checked against the route's schema (messages name the parameter). */
function validateQuery(spec: RouteSpec, query: Record<string, unknown>): void {
  if (!spec.query) return;
  const r = v.safeParse(spec.query, query);
  if (!r.success) {
    const issues = pathIssues(r.issues);
    throw new ApiError('bad_request', issues.map((i) => (i.message.includes(i.path) ? i.message : `${i.path}: ${i.message}`)).join('; '), { issues });
  }
}

function parseIntParam(raw: unknown, name: string, def: number, min: number, max: number): number {
  if (raw === undefined || raw === '') return def;
  if (typeof raw !== 'string' || !/^[0-9]+$/.test(raw)) throw new ApiError('bad_request', `${name} must be a non-negative integer`);
  const n = Number(raw);
  if (n < min || n > max) throw new ApiError('bad_request', `${name} must be between ${min} and ${max}`);
  return n;
}

/** limit, offset, active and (for `list`) cursor of a list request; keys only when given. */
function parsePage(q: Record<string, unknown>, list?: string, tenant?: string): PageQuery {
  const limit = parseIntParam(q.limit, 'limit', DEFAULT_LIMIT, 1, MAX_LIMIT);
  const offset = parseIntParam(q.offset, 'offset', 0, 0, Number.MAX_SAFE_INTEGER);
  let active: boolean | undefined;
  if (q.active !== undefined) {
    if (q.active === 'true' || q.active === '1') active = true;
    else if (q.active === 'false' || q.active === '0') active = false;
    else throw new ApiError('bad_request', 'active must be true or false');
  }
  const out: PageQuery = { limit, offset, active };
  if (active === undefined) delete out.active;
  if (list && typeof q.cursor === 'string' && q.cursor !== '') {
    out.cursor = decodeCursor(list, q.cursor);
    out.offset = 0;
  }
  if (tenant !== undefined) out.tenant = tenant;
  return out;
}

/** The list answer of the contract: items under their name, total, limit, offset and next_cursor. */
function listBody(name: string, q: PageQuery, res: PageResult): Record<string, unknown> {
  return { [name]: res.items, total: res.total, limit: q.limit, offset: q.offset, next_cursor: res.next ? encodeCursor(name, res.next) : null };
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

export class ApiServer {
  private readonly backend: ApiBackend;
  private readonly opts: ApiServerOptions;
  private readonly log?: Logger;
  private tokens: Array<{ name: string; hash: Buffer; role: Role; tenant?: string }> = [];
  private metricsTokenRequired = false;
  private server?: Server;
  private openapi?: Record<string, unknown>;
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
    this.tokens = tokens.filter((t) => t.token !== '').map((t) => ({ name: t.name, hash: digest(t.token), role: t.role, ...(t.tenant ? { tenant: t.tenant } : {}) }));
  }

  /** Tokens and the /metrics rule (config reload). */
  setAuth(a: { tokens: ApiToken[]; metricsTokenRequired: boolean }): void {
    this.setTokens(a.tokens);
    this.metricsTokenRequired = a.metricsTokenRequired;
  }

  get authRequired(): boolean {
    return this.tokens.length > 0;
  }

  /** The caller of a request to a route, or an ApiError (401/403). */
  private authorize(header: string | undefined, spec: RouteSpec): Caller {
    if (!this.authRequired) return { actor: 'api', role: undefined };
    const access: Access = spec.access;
    if (access === 'open' || (access === 'metrics' && !this.metricsTokenRequired)) return { actor: 'anonymous', role: undefined };
    const need: Role = access === 'metrics' ? 'viewer' : access;
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
    if (!m) {
      this.stats.unauthorized++;
      throw new ApiError('unauthorized', 'a bearer token is required');
    }
    const h = digest(m[1]);
    let tok: (typeof this.tokens)[number] | undefined;
    // Compare with every token (no early exit), so timing says nothing about which matched.
    for (const t of this.tokens) if (timingSafeEqual(t.hash, h)) tok ??= t;
    if (!tok) {
      this.stats.unauthorized++;
      throw new ApiError('unauthorized', 'unknown token');
    }
    if (RANK[tok.role] < RANK[need]) {
      this.stats.unauthorized++;
      throw new ApiError('forbidden', `token "${tok.name}" has role ${tok.role}; ${need}${need === 'admin' ? '' : ' or above'} is needed`);
    }
    if (tok.tenant !== undefined && spec.tenant === 'global') {
      this.stats.unauthorized++;
      throw new ApiError('forbidden', `token "${tok.name}" is scoped to a tenant; this route covers every tenant`);
    }
    return { actor: tok.name, role: tok.role, ...(tok.tenant !== undefined ? { tenant: tok.tenant } : {}) };
  }

  /** Whether a scoped caller owns the target (unscoped callers own everything). */
  private owns(c: Caller, target: string): boolean {
    if (c.tenant === undefined) return true;
    return this.backend.inTenant?.(target, c.tenant) ?? false;
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
        if (e instanceof ApiError || (e instanceof BreakwaterError && e.status < 500)) {
          ctx.status = e.status;
          ctx.body = { error: e.message, code: e.answer, ...(e.answer !== e.code ? { reason: e.code } : {}), ...(e.details ?? {}) };
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

    const registered = new Set<string>();
    const route: RouteRegistrar = (method, path, fn) => {
      const spec: RouteSpec | undefined = ROUTES.find((x) => x.method === method && x.path === path);
      if (!spec) throw new Error(`${method} ${path} is not in ROUTES`);
      registered.add(`${method} ${path}`);
      // A route with its own token header (the RTBH webhook's X-Auth-Token) answers 403 to a bad token, as its senders expect.
      const own = spec.tokenHeader;
      const h = async (ctx: Koa.Context) => {
        // EventSource cannot set headers: the stream also takes ?token= (never logged).
        const qtoken = spec.path === '/api/v1/stream' ? (ctx.query as Record<string, unknown>).token : undefined;
        const header = ctx.get('authorization') || (typeof qtoken === 'string' && qtoken !== '' ? `Bearer ${qtoken}` : undefined) || (own && ctx.get(own) ? `Bearer ${ctx.get(own)}` : undefined);
        let caller: Caller;
        try {
          caller = this.authorize(header, spec);
        } catch (e) {
          if (own && e instanceof ApiError && e.code === 'unauthorized') throw new ApiError('forbidden', e.message);
          throw e;
        }
        validateQuery(spec, ctx.query as Record<string, unknown>);
        await fn(ctx, caller);
      };
      if (method === 'GET') r.get(path, h);
      else if (method === 'POST') r.post(path, h);
      else r.delete(path, h);
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

    route('GET', '/api/v1/openapi.json', (ctx) => {
      ctx.body = this.openapi ??= buildOpenApi(ROUTES, VERSION);
    });

    route('GET', '/api/v1/status', (ctx, c) => {
      ctx.body = c.tenant === undefined ? b.status() : b.status(c.tenant);
    });

    const list = (name: 'attacks' | 'bans') => (ctx: Koa.Context, c: Caller) => {
      const q = parsePage(ctx.query as Record<string, unknown>, name, c.tenant);
      ctx.body = listBody(name, q, b[name](q));
    };
    route('GET', '/api/v1/attacks', list('attacks'));
    route('GET', '/api/v1/bans', list('bans'));

    route('GET', '/api/v1/hosts', (ctx, c) => {
      const query = ctx.query as Record<string, unknown>;
      if (query.ip !== undefined) {
        const ip = String(query.ip).trim();
        if (!parseIP(ip)) throw new ApiError('bad_request', `ip "${ip}" is not an IPv4 or IPv6 address`);
        // Another tenant's host answers exactly like an untracked one.
        const h = this.owns(c, ip) ? b.host(ip) : undefined;
        if (!h) throw new ApiError('not_found', `host ${ip} is not tracked (no recent traffic, or outside networks)`);
        ctx.body = h;
        return;
      }
      const q = parsePage(query, 'hosts', c.tenant);
      let direction: 'incoming' | 'outgoing' | undefined;
      if (query.direction !== undefined) {
        if (query.direction !== 'incoming' && query.direction !== 'outgoing') throw new ApiError('bad_request', 'direction must be incoming or outgoing');
        direction = query.direction;
      }
      const sort = query.sort as HostSort | undefined;
      const hq = { ...q, ...(direction ? { direction } : {}), ...(sort ? { sort } : {}) };
      ctx.body = listBody('hosts', q, b.hosts(hq));
    });

    route('GET', '/api/v1/exporters', (ctx) => {
      const q = parsePage(ctx.query as Record<string, unknown>, 'exporters');
      ctx.body = listBody('exporters', q, b.exporters?.(q) ?? { total: 0, items: [] });
    });

    route('GET', '/api/v1/neighbors', (ctx) => {
      const q = parsePage(ctx.query as Record<string, unknown>, 'neighbors');
      ctx.body = listBody('neighbors', q, b.neighbors?.(q) ?? { total: 0, items: [] });
    });

    route('GET', '/api/v1/audit', (ctx, c) => {
      const query = ctx.query as Record<string, unknown>;
      const q = parsePage(query, 'audit', c.tenant);
      const action = query.action === undefined ? undefined : String(query.action);
      ctx.body = listBody('audit', q, b.audit({ ...q, action }));
    });

    const mutation =
      (what: 'ban' | 'unban', fn: (req: BanRequest, actor: string) => MutationResult | Promise<MutationResult>): Handler =>
      async (ctx, c) => {
        const body = await readJson(ctx.req, maxBody);
        const parsed = v.safeParse(BanBody, body);
        if (!parsed.success) throw new ApiError('bad_request', 'invalid request body', { issues: pathIssues(parsed.issues) });
        // Outside the caller's tenant: the answer for a target with nothing there (no hint that it exists).
        if (!this.owns(c, parsed.output.ip)) {
          ctx.status = 404;
          ctx.body = what === 'ban' ? { error: `ban refused: ${parsed.output.ip} is not a host of this token's tenant`, code: 'not_found', reason: 'outside_tenant' } : { error: `unban refused: ${parsed.output.ip} is not banned`, code: 'not_found', reason: 'not_banned' };
          return;
        }
        sendResult(ctx, await fn(parsed.output, c.actor));
      };
    route('POST', '/api/v1/ban', mutation('ban', (req, actor) => b.ban(req, actor)));
    route('POST', '/api/v1/unban', mutation('unban', (req, actor) => b.unban(req, actor)));

    route('POST', '/api/v1/config/reload', async (ctx, c) => {
      const f = (ctx.query as Record<string, unknown>).force;
      await readJson(ctx.req, maxBody); // drain; the body is ignored
      const res = await b.reload(c.actor, { force: f === 'true' });
      if (res.ok) {
        ctx.body = { status: 'reloaded', changed: res.changed, mode: res.mode, ...(res.plan ? { plan: res.plan } : {}), ...(res.applied ? { applied: res.applied } : {}), ...(res.details ?? {}) };
      } else if ('refused' in res) {
        ctx.status = httpStatus('dangerous_change');
        ctx.body = { error: res.error, code: 'dangerous_change', dangers: res.dangers, plan: res.plan, changed: res.changed };
      } else {
        ctx.status = httpStatus('invalid_config');
        ctx.body = { error: res.error, code: 'invalid_config', issues: res.issues };
      }
    });

    route('GET', '/api/v1/config', (ctx) => {
      ctx.body = b.config();
    });

    const now = this.opts.now ?? Date.now;
    registerTrafficRoutes(route, { history: () => this.opts.history?.(), ring: () => b.traffic?.(), owns: (c, ip) => this.owns(c, ip), now });
    registerHistoryRoutes((path, fn) => route('GET', path, (ctx) => fn(ctx)), () => this.opts.history?.(), now);
    // Detectors send more than a ban request (FastNetMon's packet dump, Alertmanager's grouped alerts): up to 1 MiB.
    // Routes that act on targets see the caller's scope (tenant.ts Scope): a scoped token acts on its tenant's hosts only.
    const scope = (c: Caller): Scope => ({ actor: c.actor, ...(c.tenant !== undefined ? { tenant: c.tenant } : {}), owns: (t) => this.owns(c, t) });
    registerSignalRoutes((path, fn) => route('POST', path, (ctx, c) => fn(ctx, scope(c))), () => this.opts.signals?.(), (ctx) => readJson(ctx.req, Math.max(maxBody, SIGNAL_MAX_BODY)));
    registerCommandRoutes((path, fn) => route('POST', path, (ctx, c) => fn(ctx, scope(c), !this.authRequired || c.role === 'admin')), { commands: () => this.opts.commands?.(), maxBodyBytes: maxBody });
    registerMitigationRoutes((method, path, fn) => route(method, path, (ctx, c) => fn(ctx, scope(c))), () => b.mitigations, (ctx) => readJson(ctx.req, maxBody));
    // The console's routes see the caller's role and tenant: without tokens every caller may do everything.
    this.console = registerConsoleRoutes((path, fn) => route('GET', path, (ctx, c) => fn(ctx, c.actor, c.role ?? (this.authRequired ? 'viewer' : 'admin'), c.tenant)), {
      backend: b,
      dashboard: () => this.opts.dashboard?.() ?? false,
      intervalMs: this.opts.streamIntervalMs ?? 1000,
    });
    // Every row has a handler and every handler a row: the table is the whole API.
    const missing = ROUTES.filter((x) => !registered.has(`${x.method} ${x.path}`)).map((x) => `${x.method} ${x.path}`);
    if (missing.length) throw new Error(`ROUTES rows without a handler: ${missing.join(', ')}`);
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
