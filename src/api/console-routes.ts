/**
 * The console on the API listener: its page and its two assets (built by
 * `npm run build:console` into dist/console/, carried by the single
 * executable as SEA assets), who the caller is, and the live stream.
 *
 *   GET /                 the page (api.dashboard; 404 otherwise)
 *   GET /assets/{name}    console.js, console.css
 *   GET /api/v1/whoami    {name, role} of the token, and its tenant when it is scoped
 *                         (the console shows what the role may do, and the tenant)
 *   GET /api/v1/stream    Server-Sent Events: `status` every interval (the /status body),
 *                         `attack` and `ban` when one appears, changes or ends (a view of it);
 *                         a scoped token's stream holds its tenant's only, as its lists do
 *
 * The stream polls the same backend the REST routes read, once per interval
 * for all clients (and not at all without one), so scripts and the console
 * see the same thing. The console's source (console/) is never imported here:
 * only its built files are read.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type Koa from 'koa';
import { ApiError } from '../core/errors.ts';
import { inBundle } from '../core/addon.ts';
import type { ApiBackend, Role } from './server.ts';

export type ConsolePath = '/' | '/assets/:name' | '/api/v1/whoami' | '/api/v1/stream';

export const CONSOLE_ASSETS = { 'console.js': 'text/javascript; charset=utf-8', 'console.css': 'text/css; charset=utf-8' } as const;
type AssetName = keyof typeof CONSOLE_ASSETS;

/** The page: everything it runs comes from /assets (no CDN; works offline). */
const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Breakwater</title>
<link rel="stylesheet" href="/assets/console.css">
</head>
<body>
<div id="app"><noscript>The Breakwater console needs JavaScript.</noscript></div>
<script type="module" src="/assets/console.js"></script>
</body>
</html>
`;

const SECURITY_HEADERS = {
  // uPlot sizes its canvas with inline styles; nothing else inline is allowed.
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
} as const;

let cached: Map<AssetName, Buffer> | undefined;

/** The built assets: embedded in the single executable, beside a plain bundle, or dist/console/ from source. */
export function loadConsoleAssets(): Map<AssetName, Buffer> | string {
  if (cached) return cached;
  const out = new Map<AssetName, Buffer>();
  try {
    const sea = createRequire(process.execPath)('node:sea') as { isSea(): boolean; getAsset(k: string): ArrayBuffer };
    if (sea.isSea()) {
      for (const name of Object.keys(CONSOLE_ASSETS) as AssetName[]) out.set(name, Buffer.from(sea.getAsset(name)));
      cached = out;
      return out;
    }
  } catch (e) {
    if (!(e as { code?: string }).code?.startsWith('ERR_UNKNOWN_BUILTIN')) return `the console assets are missing from this executable: ${(e as Error).message}`;
  }
  const dir = inBundle() ? new URL('./console/', import.meta.url) : new URL('../../dist/console/', import.meta.url);
  try {
    for (const name of Object.keys(CONSOLE_ASSETS) as AssetName[]) out.set(name, readFileSync(new URL(name, dir)));
  } catch (e) {
    return `the console is not built (${(e as Error).message}): run npm run build:console`;
  }
  // From source the files may be rebuilt while the daemon runs: read them again next time.
  if (inBundle()) cached = out;
  return out;
}

export interface ConsoleOptions {
  backend: ApiBackend;
  dashboard: () => boolean;
  intervalMs: number;
}

export interface ConsoleRoutes {
  /** Ends every stream and stops polling. */
  close(): void;
  readonly stats: { clients: number; events: number; dropped_slow: number };
}

type Get = (path: ConsolePath, fn: (ctx: Koa.Context, actor: string, role: Role, tenant: string | undefined) => unknown) => void;

/** Registers the console's routes through the server's `get` (which checks each route's role from ROUTES). */
export function registerConsoleRoutes(get: Get, o: ConsoleOptions): ConsoleRoutes {
  const stream = new LiveStream(o.backend, o.intervalMs);
  const need = () => {
    if (!o.dashboard()) throw new ApiError('not_found', 'the console is off (api.dashboard: false)');
  };
  const send = (ctx: Koa.Context, type: string, body: Buffer | string) => {
    ctx.set(SECURITY_HEADERS);
    ctx.set('cache-control', 'no-cache');
    ctx.type = type;
    ctx.body = body;
  };
  get('/', (ctx) => {
    need();
    send(ctx, 'text/html; charset=utf-8', PAGE);
  });
  get('/assets/:name', (ctx) => {
    need();
    const name = String(ctx.params.name);
    if (!Object.hasOwn(CONSOLE_ASSETS, name)) throw new ApiError('not_found', `no console asset ${name}`);
    const assets = loadConsoleAssets();
    if (typeof assets === 'string') throw new ApiError('unavailable', assets);
    send(ctx, CONSOLE_ASSETS[name as AssetName], assets.get(name as AssetName)!);
  });
  get('/api/v1/whoami', (ctx, actor, role, tenant) => {
    ctx.body = { name: actor, role, ...(tenant !== undefined ? { tenant } : {}) };
  });
  get('/api/v1/stream', (ctx, _actor, _role, tenant) => {
    // Written by hand (ctx.respond = false): koa's stream piping would report every closed tab as an error.
    ctx.req.socket.setTimeout(0);
    ctx.req.socket.setNoDelay(true);
    ctx.status = 200;
    ctx.respond = false;
    ctx.res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-accel-buffering': 'no', connection: 'keep-alive' });
    stream.add(ctx.req, ctx.res, tenant);
  });
  return { close: () => stream.close(), stats: stream.stats };
}

interface Snapshot {
  attacks: Map<string, string>;
  bans: Map<string, string>;
}

/**
 * Output a stream client may leave unread before it is dropped: a status
 * frame a second, plus every change, is under 1 MiB for minutes even with
 * hundreds of active bans, and EventSource reconnects by itself.
 */
export const STREAM_BUFFER_BYTES = 1 << 20;

/** The clients of one scope (every tenant, or one tenant) and what they were last told. */
interface Group {
  tenant: string | undefined;
  clients: Set<ServerResponse>;
  last?: Snapshot;
}

/**
 * One poller for every connected client; events are written as they are
 * found. A tenant-scoped token's stream carries what its lists and status
 * carry: its tenant's attacks, bans and totals only (clients are grouped by
 * tenant, each group polled once per interval).
 * A client that does not read is dropped once its unsent output passes
 * maxBufferBytes, so a stalled tab cannot grow the daemon's memory.
 */
export class LiveStream {
  private readonly backend: ApiBackend;
  private readonly intervalMs: number;
  private readonly maxBufferBytes: number;
  private readonly groups = new Map<string, Group>();
  private timer?: NodeJS.Timeout;
  readonly stats = { clients: 0, events: 0, dropped_slow: 0 };

  constructor(backend: ApiBackend, intervalMs: number, maxBufferBytes = STREAM_BUFFER_BYTES) {
    this.backend = backend;
    this.intervalMs = intervalMs;
    this.maxBufferBytes = maxBufferBytes;
  }

  private count(): number {
    let n = 0;
    for (const g of this.groups.values()) n += g.clients.size;
    return n;
  }

  add(req: IncomingMessage, out: ServerResponse, tenant?: string): void {
    // Tenant names are not empty: '' is the unscoped group.
    const key = tenant ?? '';
    let g = this.groups.get(key);
    const fresh = !g;
    if (!g) this.groups.set(key, (g = { tenant, clients: new Set() }));
    const group = g;
    group.clients.add(out);
    this.stats.clients = this.count();
    const drop = () => {
      if (!group.clients.has(out)) return;
      group.clients.delete(out);
      if (group.clients.size === 0 && this.groups.get(key) === group) this.groups.delete(key);
      this.stats.clients = this.count();
      out.end();
      if (this.stats.clients === 0) this.stop();
    };
    req.on('close', drop);
    out.on('close', drop);
    out.on('error', drop);
    out.write(`retry: 2000\n\n`);
    // The newcomer gets the state at once: status plus every active attack and ban.
    const status = this.safe(() => this.status(tenant));
    if (status) out.write(frame('status', status));
    const snap = this.snapshot(tenant);
    if (snap) {
      for (const a of snap.attacks.values()) out.write(`event: attack\ndata: ${a}\n\n`);
      for (const b of snap.bans.values()) out.write(`event: ban\ndata: ${b}\n\n`);
    }
    if (fresh) group.last = snap;
    if (!this.timer) {
      this.timer = setInterval(() => this.tick(), this.intervalMs);
      this.timer.unref();
    }
  }

  private status(tenant: string | undefined): Record<string, unknown> {
    return tenant === undefined ? this.backend.status() : this.backend.status(tenant);
  }

  private safe<T>(fn: () => T): T | undefined {
    try {
      return fn();
    } catch {
      return undefined; // not ready yet: the next tick tries again
    }
  }

  /** Active attacks and bans of the scope, each as the JSON its list route gives. */
  private snapshot(tenant: string | undefined): Snapshot | undefined {
    const scope = tenant === undefined ? {} : { tenant };
    return this.safe(() => {
      const attacks = new Map<string, string>();
      const bans = new Map<string, string>();
      for (const a of this.backend.attacks({ limit: 1000, offset: 0, active: true, ...scope }).items as Array<{ id: string }>) attacks.set(a.id, JSON.stringify(stable(a)));
      for (const b of this.backend.bans({ limit: 1000, offset: 0, active: true, ...scope }).items as Array<{ id: string }>) bans.set(b.id, JSON.stringify(stable(b)));
      return { attacks, bans };
    });
  }

  private broadcast(g: Group, text: string): void {
    this.stats.events++;
    for (const c of g.clients) {
      c.write(text);
      if (c.writableLength > this.maxBufferBytes) {
        this.stats.dropped_slow++;
        c.destroy(); // its 'close' removes it from its group
      }
    }
  }

  tick(): void {
    for (const g of this.groups.values()) {
      const status = this.safe(() => this.status(g.tenant));
      if (status) this.broadcast(g, frame('status', status));
      const now = this.snapshot(g.tenant);
      if (!now) continue;
      const before = g.last ?? { attacks: new Map(), bans: new Map() };
      this.diff(g, 'attack', before.attacks, now.attacks, (id) => this.ended(g.tenant, 'attacks', id));
      this.diff(g, 'ban', before.bans, now.bans, (id) => this.ended(g.tenant, 'bans', id));
      g.last = now;
    }
  }

  private diff(g: Group, event: 'attack' | 'ban', before: Map<string, string>, now: Map<string, string>, gone: (id: string) => unknown): void {
    for (const [id, json] of now) if (before.get(id) !== json) this.broadcast(g, `event: ${event}\ndata: ${json}\n\n`);
    for (const id of before.keys()) if (!now.has(id)) this.broadcast(g, frame(event, gone(id) ?? { id, active: false }));
  }

  /** The ended attack or ban as its list gives it (recent first), when it is still on the first page. */
  private ended(tenant: string | undefined, name: 'attacks' | 'bans', id: string): unknown {
    const scope = tenant === undefined ? {} : { tenant };
    return this.safe(() => (this.backend[name]({ limit: 100, offset: 0, active: false, ...scope }).items as Array<{ id: string }>).find((x) => x.id === id));
  }

  private stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  close(): void {
    this.stop();
    for (const g of this.groups.values()) for (const c of g.clients) c.end();
    this.groups.clear();
    this.stats.clients = 0;
  }
}

/** Fields that change every second (ttl_left_seconds) do not make a ban "changed". */
function stable(x: Record<string, unknown>): Record<string, unknown> {
  const { ttl_left_seconds: _ttl, uptime_seconds: _up, ...rest } = x;
  return rest;
}

function frame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}
