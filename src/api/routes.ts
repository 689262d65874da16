/**
 * Every API route as one row: method, path, who may call it, how a
 * tenant-scoped token is treated, and the valibot schemas of its query,
 * body and answer. The server checks access and validates the query and the
 * body with these schemas before any handler runs; openapi.ts turns the same
 * rows into GET /api/v1/openapi.json. Adding a route is adding a row (and its
 * handler): it is then enforced, documented and walked by the role tests.
 */
import * as v from 'valibot';
import { parseIP, parsePrefix } from '../core/ip.ts';
import { AlertmanagerBody, EventBody, FastNetMonBody, RtbhBody } from '../signals/adapters.ts';
import { MitigationBody } from './mitigation-routes.ts';

export type Role = 'viewer' | 'operator' | 'admin';
/** Who may call a route: anyone, the metrics rule (open unless metrics_token_required), or a role and above. */
export type Access = 'open' | 'metrics' | Role;
/**
 * A tenant-scoped token on this route: `scoped` sees only its tenant's hosts
 * (lists filtered, anything else 404); `global` is refused (403: reload,
 * config, ClickHouse-wide history); `any` is the same for every token.
 */
export type TenantRule = 'scoped' | 'global' | 'any';
export type Method = 'GET' | 'POST' | 'DELETE';

export interface RouteSpec {
  method: Method;
  /** koa-style path (`/api/v1/hosts/:ip/traffic`). */
  path: string;
  access: Access;
  tenant: TenantRule;
  summary: string;
  tag: string;
  /** Query parameters (every value a string). */
  query?: v.ObjectSchema<v.ObjectEntries, undefined>;
  body?: v.GenericSchema;
  /** The answer on success. */
  response: v.GenericSchema;
  /** Status on success (200 unless said). */
  status?: number;
  /** Not JSON (text/plain for /metrics). */
  contentType?: string;
  /** Answers this route documents besides 2xx and the auth ones (e.g. 404 without ClickHouse). */
  errors?: number[];
  /** A header that may carry the token instead of Authorization (the RTBH webhook's X-Auth-Token); a bad token is then 403. */
  tokenHeader?: string;
}

export const MAX_LIMIT = 1000;
export const DEFAULT_LIMIT = 100;
export const MAX_TTL = 30 * 86_400;

// ---- query parameter schemas (strings in, checked; server.ts converts) ----

const intQ = (name: string, min: number, max: number, text: string) =>
  v.optional(
    v.pipe(
      v.string(),
      v.regex(/^[0-9]+$/, `${name} must be a non-negative integer`),
      v.check((s) => Number(s) >= min && Number(s) <= max, `${name} must be between ${min} and ${max}`),
      v.description(text),
    ),
  );
const boolQ = (name: string, text: string) => v.optional(v.pipe(v.picklist(['true', 'false', '1', '0'], `${name} must be true or false`), v.description(text)));
const strQ = (text: string) => v.optional(v.pipe(v.string(), v.description(text)));
const timeQ = (text: string) => v.optional(v.pipe(v.string(), v.description(`${text} ISO 8601, Unix seconds or ms, \`now\`, or relative (\`-6h\`).`)));

const PAGE = {
  limit: intQ('limit', 1, MAX_LIMIT, `Items per page (1..${MAX_LIMIT}, default ${DEFAULT_LIMIT}).`),
  offset: intQ('offset', 0, Number.MAX_SAFE_INTEGER, 'Items to skip (kept for compatibility; prefer cursor).'),
  cursor: strQ('Opaque position from a previous page\'s `next_cursor`: the page starts right after it, stable under inserts. Wins over offset.'),
};
const direction = v.optional(v.pipe(v.picklist(['incoming', 'outgoing'], 'direction must be incoming or outgoing'), v.description('Traffic direction.')));

// ---- body schemas ----

export const Target = v.pipe(
  v.string(),
  v.trim(),
  v.check((s) => parseIP(s) !== null || (s.includes('/') && typeof parsePrefix(s) !== 'string'), 'ip must be an IPv4 or IPv6 address (or a prefix)'),
  v.description('An IPv4 or IPv6 address, or a prefix, inside `networks`.'),
);

export const BanBody = v.strictObject({
  ip: Target,
  ttl_seconds: v.optional(v.pipe(v.number('ttl_seconds must be a number'), v.integer('ttl_seconds must be an integer'), v.minValue(1), v.maxValue(MAX_TTL), v.description('Lifetime of the ban; default `ban.ttl_seconds`.'))),
  reason: v.optional(v.pipe(v.string(), v.maxLength(200), v.description('Free text kept with the ban and in the audit log.'))),
});

export const UnbanBody = v.strictObject({
  ip: Target,
  ttl_seconds: v.optional(v.pipe(v.number('ttl_seconds must be a number'), v.integer(), v.minValue(1), v.maxValue(MAX_TTL), v.description('Ignored.'))),
  reason: v.optional(v.pipe(v.string(), v.maxLength(200), v.description('Free text for the audit log.'))),
});

// ---- answer schemas (the fields clients rely on; objects may carry more) ----

export const ErrorBody = v.looseObject({
  error: v.pipe(v.string(), v.description('What went wrong, for people.')),
  code: v.optional(v.pipe(v.string(), v.description('Stable code to match on (see docs/api.md).'))),
  reason: v.optional(v.string()),
  issues: v.optional(v.array(v.object({ path: v.string(), message: v.string() }))),
});

const iso = v.pipe(v.string(), v.description('ISO 8601 time.'));
const ms = v.pipe(v.number(), v.description('Milliseconds since the Unix epoch.'));
const nextCursor = v.pipe(v.nullable(v.string()), v.description('Cursor of the next page; null on the last page.'));
const list = <K extends string>(name: K, item: v.GenericSchema) =>
  v.looseObject({
    [name]: v.array(item),
    total: v.pipe(v.number(), v.description('Items in the whole list (for this token).')),
    limit: v.number(),
    offset: v.number(),
    next_cursor: nextCursor,
  } as Record<K | 'total' | 'limit' | 'offset' | 'next_cursor', v.GenericSchema>);

export const AttackItem = v.looseObject({
  id: v.string(),
  target: v.string(),
  direction: v.picklist(['incoming', 'outgoing']),
  vector: v.string(),
  hostgroup: v.optional(v.string()),
  triggers: v.array(v.string()),
  peak_pps: v.number(),
  peak_mbps: v.number(),
  start: ms,
  end: v.optional(ms),
  active: v.boolean(),
  mode: v.picklist(['dry_run', 'live']),
  ban: v.nullable(v.looseObject({ id: v.string(), target: v.string(), announced_to: v.array(v.string()), expires: ms })),
});

export const BanItem = v.looseObject({
  id: v.string(),
  target: v.string(),
  source: v.pipe(v.string(), v.description('`auto` for detected attacks, else the token name that banned.')),
  reason: v.string(),
  action: v.picklist(['blackhole', 'flowspec']),
  created: ms,
  expires: ms,
  ttl_seconds: v.number(),
  ended: v.optional(ms),
  active: v.boolean(),
  ttl_left_seconds: v.number(),
  announced_to: v.array(v.string()),
  mode: v.picklist(['dry_run', 'live']),
});

export const HostItem = v.looseObject({
  ip: v.string(),
  direction: v.picklist(['incoming', 'outgoing']),
  pps: v.number(),
  mbps: v.number(),
  fps: v.number(),
  hostgroup: v.optional(v.string()),
  under_attack: v.optional(v.boolean()),
});

export const AuditItem = v.looseObject({
  id: v.number(),
  time: iso,
  actor: v.pipe(v.string(), v.description('Who: a token name, `api` without tokens, `auto`, `config`, `system`.')),
  action: v.pipe(v.string(), v.description('What: ban, unban, ban_refused, reload, reload_failed, mode, ...')),
  target: v.optional(v.string()),
  result: v.pipe(v.picklist(['ok', 'refused', 'failed']), v.description('How it ended.')),
  detail: v.optional(v.unknown()),
});

export const ExporterItem = v.looseObject({
  address: v.string(),
  protocol: v.pipe(v.string(), v.description('Main protocol seen (netflow5, netflow9, ipfix, sflow5).')),
  datagrams_per_second: v.number(),
  records_per_second: v.number(),
  sampling_rate: v.nullable(v.number()),
  last_seen: v.nullable(iso),
  errors: v.number(),
  dropped: v.record(v.string(), v.number()),
  flagged: v.pipe(v.boolean(), v.description('Errors or drops seen, or silent for a minute.')),
});

export const NeighborItem = v.looseObject({
  address: v.string(),
  asn: v.number(),
  state: v.string(),
  families: v.array(v.string()),
  routes_sent: v.number(),
  last_error: v.string(),
  uptime_seconds: v.number(),
  profile: v.nullable(v.string()),
});

export const TrafficPointItem = v.object({
  t: ms,
  in_pps: v.number(),
  in_bps: v.number(),
  in_fps: v.number(),
  out_pps: v.number(),
  out_bps: v.number(),
  out_fps: v.number(),
});

const anyObject = v.looseObject({});
const Status = v.looseObject({
  mode: v.picklist(['dry_run', 'live']),
  dry_run: v.boolean(),
  version: v.string(),
  active_attacks: v.number(),
  active_bans: v.number(),
  cluster: v.optional(
    v.looseObject({
      node_id: v.string(),
      role: v.picklist(['leader', 'follower']),
      partitioned: v.boolean(),
      partition_policy: v.picklist(['hold', 'local']),
      nodes: v.array(v.looseObject({ node_id: v.string(), role: v.picklist(['leader', 'follower']), last_seen: v.string(), config_checksum: v.string() })),
    }),
  ),
});

const HISTORY_FILTERS = {
  from: timeQ('Start of the range.'),
  to: timeQ('End of the range (default now).'),
  target: strQ('Only this target.'),
  vector: strQ('Only this vector.'),
  hostgroup: strQ('Only this hostgroup.'),
  direction,
  limit: PAGE.limit,
  offset: intQ('offset', 0, 1_000_000, 'Items to skip (kept for compatibility; prefer cursor).'),
  cursor: strQ('Opaque position from a previous page\'s `next_cursor` (send the same filters with it): the page starts right after it, newest first, stable under inserts. Wins over offset.'),
};

/** Every route with its access rule and schemas: the server checks them, openapi.ts documents them, tests walk them. */
export const ROUTES = [
  { method: 'GET', path: '/healthz', access: 'open', tenant: 'any', tag: 'system', summary: 'Liveness: 200 when ready, 503 while starting or stopping.', response: v.object({ status: v.picklist(['ok', 'starting']) }), errors: [503] },
  { method: 'GET', path: '/metrics', access: 'metrics', tenant: 'any', tag: 'system', summary: 'Prometheus metrics (open unless api.metrics_token_required).', response: v.string(), contentType: 'text/plain' },
  { method: 'GET', path: '/api/v1/openapi.json', access: 'open', tenant: 'any', tag: 'system', summary: 'This document (OpenAPI 3.1), generated from the schemas that validate requests.', response: anyObject },
  { method: 'GET', path: '/api/v1/status', access: 'viewer', tenant: 'scoped', tag: 'status', summary: 'Mode, totals, neighbors and ingest (a scoped token gets its tenant\'s totals only).', response: Status, errors: [503] },
  { method: 'GET', path: '/api/v1/attacks', access: 'viewer', tenant: 'scoped', tag: 'attacks', summary: 'Active and recent attacks, newest first, each with its would-be route.', query: v.object({ active: boolQ('active', 'true: only active; false: only ended.'), ...PAGE }), response: list('attacks', AttackItem), errors: [503] },
  { method: 'GET', path: '/api/v1/bans', access: 'viewer', tenant: 'scoped', tag: 'bans', summary: 'Active and historical bans, newest first.', query: v.object({ active: boolQ('active', 'true: only active; false: only ended.'), ...PAGE }), response: list('bans', BanItem), errors: [503] },
  {
    method: 'GET',
    path: '/api/v1/hosts',
    access: 'viewer',
    tenant: 'scoped',
    tag: 'traffic',
    summary: 'Current rates per host (top talkers), or one host with ?ip=.',
    query: v.object({
      ip: strQ('One host: its rates in both directions (404 when not tracked).'),
      sort: v.optional(v.pipe(v.picklist(['pps', 'bps', 'flows'], 'sort must be pps, bps or flows'), v.description('Rank by packets/s (default), bits/s or flows/s.'))),
      direction,
      ...PAGE,
    }),
    response: v.union([list('hosts', HostItem), v.looseObject({ ip: v.string(), directions: v.array(HostItem) })]),
    errors: [404, 503],
  },
  {
    method: 'GET',
    path: '/api/v1/hosts/:ip/traffic',
    access: 'viewer',
    tenant: 'scoped',
    tag: 'traffic',
    summary: 'A host\'s rates over time: the last 15 minutes from memory, older from ClickHouse when configured.',
    query: v.object({ from: timeQ('Start (default 15 minutes ago).'), to: timeQ('End (default now).'), step: strQ('Seconds per point (10, 10s, 5m); from memory the ring\'s step.'), direction }),
    response: v.looseObject({ ip: v.string(), step: v.pipe(v.number(), v.description('Seconds per point.')), source: v.picklist(['memory', 'clickhouse']), points: v.array(TrafficPointItem) }),
    errors: [404, 503],
  },
  { method: 'GET', path: '/api/v1/exporters', access: 'viewer', tenant: 'global', tag: 'status', summary: 'Flow exporters: rates, sampling, errors and drops.', query: v.object(PAGE), response: list('exporters', ExporterItem), errors: [503] },
  { method: 'GET', path: '/api/v1/neighbors', access: 'viewer', tenant: 'global', tag: 'status', summary: 'BGP neighbors: state, families, routes sent, last error.', query: v.object(PAGE), response: list('neighbors', NeighborItem), errors: [503] },
  { method: 'GET', path: '/api/v1/audit', access: 'viewer', tenant: 'scoped', tag: 'audit', summary: 'The audit log, newest first: who did what, when, and the result.', query: v.object({ action: strQ('Only this action (ban, unban, reload, ...).'), ...PAGE }), response: list('audit', AuditItem) },
  { method: 'POST', path: '/api/v1/ban', access: 'operator', tenant: 'scoped', tag: 'bans', summary: 'Ban an address or prefix now (through the ban guards).', body: BanBody, response: v.looseObject({ ban: BanItem }), status: 201, errors: [400, 404, 409, 503] },
  { method: 'POST', path: '/api/v1/unban', access: 'operator', tenant: 'scoped', tag: 'bans', summary: 'Lift the active ban of an address or prefix.', body: UnbanBody, response: v.looseObject({ unbanned: v.string(), ban: anyObject }), errors: [400, 404, 503] },
  {
    method: 'POST',
    path: '/api/v1/config/reload',
    access: 'admin',
    tenant: 'global',
    tag: 'config',
    summary: 'Reload the config file (as SIGHUP); ?force=true applies a dangerous change.',
    query: v.object({ force: v.optional(v.pipe(v.picklist(['true', 'false'], 'force must be true or false'), v.description('Apply a dangerous change (bans lifted, auth off, a listener widened).'))) }),
    response: v.looseObject({ status: v.literal('reloaded'), changed: v.array(v.string()), mode: v.picklist(['dry_run', 'live']) }),
    errors: [400, 409, 503],
  },
  { method: 'GET', path: '/api/v1/config', access: 'admin', tenant: 'global', tag: 'config', summary: 'The running config, secrets hidden.', response: anyObject },
  // ClickHouse history (404 without storage.clickhouse)
  { method: 'GET', path: '/api/v1/history/attacks', access: 'viewer', tenant: 'global', tag: 'history', summary: 'Attacks from ClickHouse history, newest first (default the last 7 days).', query: v.object({ ...HISTORY_FILTERS, id: strQ('Only this attack.') }), response: list('attacks', anyObject), errors: [400, 404, 503] },
  { method: 'GET', path: '/api/v1/history/attacks/:id/samples', access: 'viewer', tenant: 'global', tag: 'history', summary: 'Flow samples of one attack from ClickHouse.', response: v.looseObject({ attack_id: v.string(), samples: v.array(anyObject) }), errors: [404, 503] },
  { method: 'GET', path: '/api/v1/history/bans', access: 'viewer', tenant: 'global', tag: 'history', summary: 'Ban lifecycle events from ClickHouse history, newest first (default the last 7 days).', query: v.object({ ...HISTORY_FILTERS, event: strQ('Only this event (created, announced, escalated, refused, ended, restored).'), ban_id: strQ('Only this ban.'), attack_id: strQ('Only the ban events of this attack.') }), response: list('bans', anyObject), errors: [400, 404, 503] },
  { method: 'GET', path: '/api/v1/history/report', access: 'viewer', tenant: 'global', tag: 'history', summary: 'The incident summary of `breakwater report`.', query: v.object({ from: HISTORY_FILTERS.from, to: HISTORY_FILTERS.to }), response: anyObject, errors: [404, 503] },
  // Signals from other detectors (signal-routes.ts): a scoped token signals about its tenant's hosts only
  { method: 'POST', path: '/api/v1/events', access: 'operator', tenant: 'scoped', tag: 'signals', summary: 'An attack reported by another detector; a ban through the same guards.', body: EventBody, response: anyObject, status: 201, errors: [202, 400, 409, 503] },
  { method: 'POST', path: '/api/v1/signals/fastnetmon', access: 'operator', tenant: 'scoped', tag: 'signals', summary: 'FastNetMon\'s JSON notify document (ban, unban, attack_details).', body: FastNetMonBody, response: anyObject, status: 201, errors: [200, 202, 400, 409, 503] },
  { method: 'POST', path: '/api/v1/signals/alertmanager', access: 'operator', tenant: 'scoped', tag: 'signals', summary: 'Alertmanager\'s webhook: firing alerts ask for bans, resolved ones end their signals.', body: AlertmanagerBody, response: anyObject, errors: [400, 503] },
  { method: 'POST', path: '/api/v1/signals/rtbh', access: 'operator', tenant: 'scoped', tag: 'signals', summary: 'The RTBH webhook (announce / withdraw); the token may come in X-Auth-Token.', body: RtbhBody, response: anyObject, status: 201, errors: [200, 202, 400, 403, 429, 503], tokenHeader: 'x-auth-token' },
  // ExaBGP-style command lines (command-routes.ts); withdraw-all needs admin; a scoped token's lines act on its tenant's hosts only
  { method: 'POST', path: '/api/v1/commands', access: 'operator', tenant: 'scoped', tag: 'commands', summary: 'ExaBGP-style command lines (text/plain), each a manual ban or unban through the guards.', body: v.pipe(v.string(), v.description('One command per line.')), response: anyObject, errors: [400, 403, 413, 503] },
  // Manual FlowSpec mitigations (mitigation-routes.ts); a scoped token previews, starts and ends its tenant's only
  { method: 'GET', path: '/api/v1/mitigations/methods', access: 'viewer', tenant: 'any', tag: 'mitigations', summary: 'The configured FlowSpec methods and platforms.', response: v.looseObject({ methods: v.array(anyObject), platforms: v.array(anyObject) }) },
  { method: 'GET', path: '/api/v1/mitigations/preview', access: 'viewer', tenant: 'scoped', tag: 'mitigations', summary: 'What a mitigation would send (routes, lint per neighbor) and drop (collateral); nothing is sent.', query: v.object({ target: strQ('Address or prefix.'), method: strQ('A flowspec_methods name.'), match: strQ('An inline match, as JSON.'), action: strQ('An action, as JSON.'), platforms: strQ('Comma-separated platform names.'), window: strQ('Seconds of traffic to judge by.') }), response: v.looseObject({ target: v.string(), kind: v.picklist(['flowspec', 'blackhole']), routes: v.array(anyObject), lint: v.array(anyObject), collateral: anyObject }), errors: [400, 404] },
  { method: 'POST', path: '/api/v1/mitigations', access: 'operator', tenant: 'scoped', tag: 'mitigations', summary: 'Start a manual FlowSpec mitigation through the ban guards.', body: MitigationBody, response: v.looseObject({ id: v.string(), ban: anyObject }), status: 201, errors: [400, 404, 409, 503] },
  { method: 'DELETE', path: '/api/v1/mitigations/:id', access: 'operator', tenant: 'scoped', tag: 'mitigations', summary: 'End a manual mitigation.', response: v.looseObject({ id: v.string(), ended: v.boolean() }), errors: [404, 503] },
  { method: 'GET', path: '/api/v1/attacks/:id/infer', access: 'viewer', tenant: 'scoped', tag: 'mitigations', summary: 'A FlowSpec match proposed from an attack\'s sample, for approval.', response: anyObject, errors: [404] },
  // The console (console-routes.ts); the page and assets answer 404 without api.dashboard
  { method: 'GET', path: '/api/v1/whoami', access: 'viewer', tenant: 'any', tag: 'console', summary: 'The calling token\'s name and role (and tenant, when scoped).', response: v.looseObject({ name: v.string(), role: v.picklist(['viewer', 'operator', 'admin']), tenant: v.optional(v.pipe(v.string(), v.description('The tenant of a scoped token (absent for an unscoped one).'))) }) },
  { method: 'GET', path: '/api/v1/stream', access: 'viewer', tenant: 'scoped', tag: 'console', summary: 'Server-sent events: `status` every second, `attack` and `ban` on change (a scoped token: its tenant\'s only); the token may come as ?token= (EventSource sends no headers).', query: v.object({ token: strQ('The bearer token, for EventSource.') }), response: v.string(), contentType: 'text/event-stream' },
  { method: 'GET', path: '/', access: 'open', tenant: 'any', tag: 'console', summary: 'The console page (api.dashboard).', response: v.string(), contentType: 'text/html', errors: [404] },
  { method: 'GET', path: '/assets/:name', access: 'open', tenant: 'any', tag: 'console', summary: 'The console\'s script and style sheet.', response: v.string(), contentType: 'application/javascript', errors: [404] },
] as const satisfies readonly RouteSpec[];

export type RoutePath = (typeof ROUTES)[number]['path'];
