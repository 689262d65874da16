/**
 * Signals from other detectors, on the API listener (operator role):
 *
 *   POST /api/v1/events                 generic {victim_ip, vector, pps, bps, source, confidence, ttl_seconds}
 *   POST /api/v1/signals/fastnetmon     FastNetMon's JSON notify document
 *   POST /api/v1/signals/alertmanager   Alertmanager webhook (version 4)
 *   POST /api/v1/signals/rtbh           {action, target_ip, withdraw_after}; X-Auth-Token or bearer
 *
 * Answers: 201 a ban was created, 200 the target's ban already holds it (or
 * the signal ended), 202 recorded without a ban (waiting for corroboration,
 * or a report that asks for none), 400 a bad body (with the issues), a
 * refusal with the guard's reason and the catalogue's status (core/errors.ts);
 * the RTBH webhook answers 403 for a whitelisted target (or one outside
 * networks) and 429 when the ban rate cap is reached, as the ExaBGP guide's
 * receiver does. Alertmanager's several alerts get one result each (200).
 *
 * A tenant-scoped token signals about its tenant's hosts only: a signal about
 * any other target never reaches the hub; a start is refused as
 * `outside_tenant` (404; 403 on the RTBH webhook, as for a target outside
 * networks) and an end answers as an end for a target with no open signal.
 */
import type Koa from 'koa';
import { ApiError, httpStatus, isErrorCode, type ApiErrorCode } from '../core/errors.ts';
import { ADAPTERS, type AdapterName, type Signal } from '../signals/adapters.ts';
import { noOpenSignal, type SignalOutcome } from '../signals/hub.ts';
import type { Scope } from './tenant.ts';

export type SignalPath = '/api/v1/events' | '/api/v1/signals/fastnetmon' | '/api/v1/signals/alertmanager' | '/api/v1/signals/rtbh';

/** What the routes need from the daemon. */
export interface SignalBackend {
  handle(sig: Signal, actor: string): SignalOutcome;
  mode(): 'dry_run' | 'live';
  /** For a 429's Retry-After: the ban rate window. */
  rateWindowSeconds(): number;
}

const PATHS: ReadonlyArray<readonly [SignalPath, AdapterName]> = [
  ['/api/v1/events', 'events'],
  ['/api/v1/signals/fastnetmon', 'fastnetmon'],
  ['/api/v1/signals/alertmanager', 'alertmanager'],
  ['/api/v1/signals/rtbh', 'rtbh'],
];

const CODE_BY_STATUS: Readonly<Record<number, ApiErrorCode>> = { 400: 'bad_request', 403: 'forbidden', 404: 'not_found', 409: 'conflict', 429: 'too_many_requests' };

interface Answer {
  status: number;
  body: Record<string, unknown>;
  retryAfter?: number;
}

/** One outcome as an HTTP answer. */
export function answerOf(adapter: AdapterName, sig: Signal, out: SignalOutcome, b: SignalBackend): Answer {
  const base = { source: `signal:${sig.name}`, target: sig.target, mode: b.mode() };
  switch (out.status) {
    case 'banned': {
      const ban = out.ban;
      return {
        status: out.created ? 201 : 200,
        body: { ...base, status: 'banned', attack_id: out.attack_id, ban: { id: ban.id, target: ban.target, source: ban.source, ttl_seconds: ban.ttl_seconds, expires: ban.expires, route: ban.route }, announced: base.mode === 'live' },
      };
    }
    case 'pending_corroboration':
      return { status: 202, body: { ...base, status: out.status, attack_id: out.attack_id, reason: 'corroboration', detail: out.detail, sources: out.sources, needed: out.needed, window_seconds: out.window_seconds } };
    case 'recorded':
      return { status: 202, body: { ...base, status: out.status, attack_id: out.attack_id, detail: out.detail } };
    case 'ended':
      return { status: 200, body: { ...base, status: 'ended', ...(out.attack_id ? { attack_id: out.attack_id } : {}), ...(out.lifted ? { lifted: out.lifted } : {}) } };
    case 'not_found':
      return { status: 404, body: { ...base, status: 'not_found', error: out.detail, code: 'not_found', reason: 'not_banned' } };
    case 'refused': {
      let status = isErrorCode(out.reason) ? httpStatus(out.reason) : 409;
      let retryAfter: number | undefined;
      if (adapter === 'rtbh' && (out.reason === 'whitelisted' || out.reason === 'outside_networks' || out.reason === 'outside_tenant')) status = 403;
      if (adapter === 'rtbh' && out.reason === 'rate_limited') {
        status = 429;
        retryAfter = b.rateWindowSeconds();
      }
      return { status, retryAfter, body: { ...base, status: 'refused', error: `ban refused: ${out.detail}`, code: CODE_BY_STATUS[status] ?? 'internal', reason: out.reason, detail: out.detail, ...(out.attack_id ? { attack_id: out.attack_id } : {}) } };
    }
  }
}

/** A signal about a target outside the caller's tenant, answered without the hub. */
function outside(sig: Signal): SignalOutcome {
  if (sig.action === 'end') return noOpenSignal(sig);
  return { status: 'refused', reason: 'outside_tenant', detail: `${sig.target} is not a host of this token's tenant` };
}

/** Registers the signal routes through the server's `post` (which checks each route's role from ROUTES). */
export function registerSignalRoutes(
  post: (path: SignalPath, fn: (ctx: Koa.Context, who: Scope) => Promise<void>) => void,
  backend: () => SignalBackend | undefined,
  readBody: (ctx: Koa.Context) => Promise<unknown>,
): void {
  for (const [path, adapter] of PATHS) {
    post(path, async (ctx, who) => {
      const body = await readBody(ctx);
      const b = backend();
      if (!b) throw new ApiError('not_ready', 'not ready: starting or stopping', { ready: false });
      const parsed = ADAPTERS[adapter](body);
      if (!parsed.ok) throw new ApiError('bad_request', `invalid ${adapter === 'events' ? 'event' : adapter + ' payload'}`, { issues: parsed.issues });
      const handle = (s: Signal): SignalOutcome => (who.owns(s.target) ? b.handle(s, who.actor) : outside(s));
      if (adapter === 'alertmanager') {
        const results = parsed.signals.map((s) => {
          const a = answerOf(adapter, s, handle(s), b);
          return { status_code: a.status, ...a.body };
        });
        ctx.status = 200;
        ctx.body = { status: 'ok', results, skipped: parsed.skipped };
        return;
      }
      const sig = parsed.signals[0];
      const a = answerOf(adapter, sig, handle(sig), b);
      ctx.status = a.status;
      if (a.retryAfter !== undefined) ctx.set('Retry-After', String(a.retryAfter));
      ctx.body = a.body;
    });
  }
}
