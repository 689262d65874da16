/**
 * Manual FlowSpec mitigations, on the API listener:
 *
 *   GET    /api/v1/mitigations/methods   viewer    flowspec_methods and platforms
 *   GET    /api/v1/mitigations/preview   viewer    ?target=IP[/len]&method=NAME | &match=JSON [&action=JSON&platforms=a,b&window=SECONDS]
 *                                                  the route, its lint per neighbor and the collateral preview
 *   POST   /api/v1/mitigations           operator  {target, method?, match?, action?, ttl_seconds?, platforms?, reason?}
 *   DELETE /api/v1/mitigations/{id}      operator  ends it
 *   GET    /api/v1/attacks/{id}/infer    viewer    a match proposed from the attack's sample, for approval
 *
 * A mitigation is a ban: it goes through the ban module's guards (networks,
 * whitelist, caps, rate, TTL; dry-run never reaches a router) and shows in
 * /api/v1/bans and /api/v1/audit. Refusals are the guard's coded error.
 *
 * A tenant-scoped token previews, starts and ends mitigations of its
 * tenant's hosts only, and infers from its tenant's attacks only; anything
 * else answers as a target, mitigation or attack that is not there (404),
 * before the backend and its guards are asked.
 */
import type Koa from 'koa';
import * as v from 'valibot';
import { ApiError, type PathIssue } from '../core/errors.ts';
import { parseIP, parsePrefix } from '../core/ip.ts';
import { FlowspecActionSchema, FlowspecMatchSchema, type FlowspecActionConfig, type FlowspecMatch } from '../config/schema.ts';
import type { MutationResult } from './server.ts';
import { pathIssues, sendResult } from './body.ts';
import { outsideTenant, type Scope } from './tenant.ts';

export type MitigationPath = '/api/v1/mitigations/methods' | '/api/v1/mitigations/preview' | '/api/v1/mitigations' | '/api/v1/mitigations/:id' | '/api/v1/attacks/:id/infer';

export interface MitigationRequest {
  target: string;
  method?: string;
  match?: FlowspecMatch;
  action?: FlowspecActionConfig;
  ttl_seconds?: number;
  platforms?: string[];
  reason?: string;
}

export interface PreviewQuery {
  target: string;
  method?: string;
  match?: FlowspecMatch;
  action?: FlowspecActionConfig;
  platforms?: string[];
  window_seconds: number;
}

/** What the routes need from the daemon (daemon/mitigations.ts). */
export interface MitigationBackend {
  methods(): Record<string, unknown>;
  preview(q: PreviewQuery): Record<string, unknown>;
  mitigate(req: MitigationRequest, actor: string): MutationResult;
  /** `owns`: a scoped caller's check on the ban's target; a ban it does not own is answered as one that does not exist. */
  end(id: string, actor: string, owns?: (target: string) => boolean): MutationResult;
  /** undefined: no such attack. */
  infer(attackId: string): Record<string, unknown> | undefined;
}

const MAX_TTL = 30 * 86_400;
export const DEFAULT_PREVIEW_WINDOW_SECONDS = 300;

const Target = v.pipe(
  v.string(),
  v.trim(),
  v.check((s) => parseIP(s) !== null || (s.includes('/') && typeof parsePrefix(s) !== 'string'), 'target must be an IPv4 or IPv6 address (or a prefix)'),
);
const Name = v.pipe(v.string(), v.minLength(1), v.maxLength(64));

export const MitigationBody = v.strictObject({
  target: Target,
  method: v.optional(Name),
  match: v.optional(FlowspecMatchSchema),
  action: v.optional(FlowspecActionSchema),
  ttl_seconds: v.optional(v.pipe(v.number('ttl_seconds must be a number'), v.integer('ttl_seconds must be an integer'), v.minValue(1), v.maxValue(MAX_TTL))),
  platforms: v.optional(v.array(Name)),
  reason: v.optional(v.pipe(v.string(), v.maxLength(200))),
});

function one(q: Record<string, unknown>, name: string): string | undefined {
  const x = q[name];
  if (x === undefined || x === '') return undefined;
  return String(x);
}

function jsonParam<T>(q: Record<string, unknown>, name: string, schema: v.GenericSchema<unknown, T>): T | undefined {
  const raw = one(q, name);
  if (raw === undefined) return undefined;
  let val: unknown;
  try {
    val = JSON.parse(raw);
  } catch (e) {
    throw new ApiError('bad_request', `${name} is not JSON: ${(e as Error).message}`);
  }
  const r = v.safeParse(schema, val);
  if (!r.success) throw new ApiError('bad_request', `invalid ${name}`, { issues: pathIssues(r.issues).map((i) => ({ ...i, path: i.path ? `${name}.${i.path}` : name })) });
  return r.output;
}

export function parsePreviewQuery(q: Record<string, unknown>): PreviewQuery {
  const target = one(q, 'target');
  if (target === undefined) throw new ApiError('bad_request', 'target is required (an address or a prefix inside networks)');
  const t = v.safeParse(Target, target);
  if (!t.success) throw new ApiError('bad_request', t.issues[0].message);
  const method = one(q, 'method');
  const w = one(q, 'window');
  if (w !== undefined && (!/^[0-9]+$/.test(w) || Number(w) < 10 || Number(w) > 3600)) throw new ApiError('bad_request', 'window must be seconds between 10 and 3600');
  const platforms = one(q, 'platforms')?.split(',').map((s) => s.trim()).filter(Boolean);
  return {
    target: t.output,
    ...(method !== undefined ? { method } : {}),
    ...(() => {
      const match = jsonParam(q, 'match', FlowspecMatchSchema);
      return match ? { match } : {};
    })(),
    ...(() => {
      const action = jsonParam(q, 'action', FlowspecActionSchema);
      return action ? { action } : {};
    })(),
    ...(platforms?.length ? { platforms } : {}),
    window_seconds: w === undefined ? DEFAULT_PREVIEW_WINDOW_SECONDS : Number(w),
  };
}

async function body(ctx: Koa.Context, read: (ctx: Koa.Context) => Promise<unknown>): Promise<MitigationRequest> {
  const raw = await read(ctx);
  const parsed = v.safeParse(MitigationBody, raw);
  if (!parsed.success) throw new ApiError('bad_request', 'invalid request body', { issues: pathIssues(parsed.issues) });
  return parsed.output;
}

type Route = (method: 'GET' | 'POST' | 'DELETE', path: MitigationPath, fn: (ctx: Koa.Context, who: Scope) => Promise<void> | void) => void;

/** Registers the routes through the server's `route` (which checks each route's role from ROUTES). */
export function registerMitigationRoutes(route: Route, backend: () => MitigationBackend | undefined, readJson: (ctx: Koa.Context) => Promise<unknown>): void {
  const need = (): MitigationBackend => {
    const b = backend();
    if (!b) throw new ApiError('not_found', 'manual mitigations are not available here');
    return b;
  };
  route('GET', '/api/v1/mitigations/methods', (ctx) => {
    ctx.body = need().methods();
  });
  route('GET', '/api/v1/mitigations/preview', (ctx, who) => {
    const b = need();
    const q = parsePreviewQuery(ctx.query as Record<string, unknown>);
    if (!who.owns(q.target)) throw outsideTenant('preview', q.target);
    ctx.body = b.preview(q);
  });
  route('POST', '/api/v1/mitigations', async (ctx, who) => {
    const b = need();
    const req = await body(ctx, readJson);
    if (!who.owns(req.target)) throw outsideTenant('mitigation', req.target);
    sendResult(ctx, b.mitigate(req, who.actor));
  });
  route('DELETE', '/api/v1/mitigations/:id', (ctx, who) => {
    const id = String(ctx.params.id);
    if (!/^[A-Za-z0-9_.:-]{1,100}$/.test(id)) throw new ApiError('bad_request', 'id is not a ban id');
    sendResult(ctx, need().end(id, who.actor, who.tenant === undefined ? undefined : (t) => who.owns(t)));
  });
  route('GET', '/api/v1/attacks/:id/infer', (ctx, who) => {
    const id = String(ctx.params.id);
    const r = need().infer(id);
    // Another tenant's attack answers like an attack that does not exist.
    if (!r || !who.owns(String(r.target))) throw new ApiError('not_found', `no attack ${id}`);
    ctx.body = r;
  });
}
