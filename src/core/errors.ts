/**
 * The one catalogue of coded errors that reach users: ban refusals, API
 * answers, start-up failures and CLI input errors. Each code has the HTTP
 * status the API answers with, a default message, and for ban refusals the
 * API code they are reported under (`answer`; the refusal itself goes in the
 * body's `reason`). Callers match on `code`, never on message text.
 */
export { DecodeError } from './reader.ts';

/** A config or request problem, with the dotted path of the offending key. */
export interface PathIssue {
  path: string;
  message: string;
  /** A suggestion shown after the message ("did you mean ..."). */
  hint?: string;
}

export class ConfigError extends Error {
  readonly issues: PathIssue[];
  readonly code = 'invalid_config';
  constructor(issues: PathIssue[], file?: string) {
    super(`${file ? file + ': ' : ''}invalid config:\n` + issues.map((i) => `  ${i.path || '(root)'}: ${i.message}${i.hint ? ` (${i.hint})` : ''}`).join('\n'));
    this.issues = issues;
  }
}

interface ErrorSpec {
  status: number;
  message: string;
  /** The API code this one is answered under (default: itself). */
  answer?: string;
}

export const ERRORS = {
  // API answers: the `code` of an error body (docs/api.md#errors)
  bad_request: { status: 400, message: 'bad request' },
  invalid_config: { status: 400, message: 'the config is invalid or cannot run a daemon' },
  unauthorized: { status: 401, message: 'no bearer token, or an unknown one' },
  forbidden: { status: 403, message: 'the token\'s role is too low' },
  not_found: { status: 404, message: 'not found' },
  method_not_allowed: { status: 405, message: 'method not allowed' },
  conflict: { status: 409, message: 'refused' },
  dangerous_change: { status: 409, message: 'the reload is dangerous' },
  payload_too_large: { status: 413, message: 'the body is too large' },
  too_many_requests: { status: 429, message: 'too many requests' },
  internal: { status: 500, message: 'internal error' },
  not_ready: { status: 503, message: 'Breakwater is starting or stopping' },
  unavailable: { status: 503, message: 'a dependency is unavailable' },
  // ban refusals (POST /api/v1/ban, /unban, commands): answered as `answer`, with `reason`
  invalid_target: { status: 400, message: 'the target is not an address or prefix', answer: 'bad_request' },
  invalid_ttl: { status: 400, message: 'the TTL is out of range', answer: 'bad_request' },
  outside_networks: { status: 409, message: 'the target is not inside `networks`', answer: 'conflict' },
  whitelisted: { status: 409, message: 'the target overlaps `protected_whitelist`', answer: 'conflict' },
  already_banned: { status: 409, message: 'an active ban already covers the target', answer: 'conflict' },
  max_active_bans: { status: 409, message: '`ban.max_active_bans` is reached', answer: 'conflict' },
  max_banned_fraction: { status: 409, message: '`ban.max_banned_fraction` would be exceeded', answer: 'conflict' },
  rate_limited: { status: 409, message: '`ban.max_bans_per_window` is reached for the window', answer: 'conflict' },
  manually_unbanned: { status: 409, message: 'an operator lifted this attack\'s ban', answer: 'conflict' },
  not_banned: { status: 404, message: 'the target is not banned', answer: 'not_found' },
  // a tenant-scoped API token and a target outside its tenant: answered like a target where nothing is
  outside_tenant: { status: 404, message: 'the target is not a host of this token\'s tenant', answer: 'not_found' },
  cluster_partitioned: { status: 503, message: 'this cluster node cannot reach etcd and creates no new ban (`cluster.partition_policy: hold`)', answer: 'unavailable' },
  // mitigation
  invalid_route: { status: 500, message: 'a route could not be built', answer: 'internal' },
  invalid_community: { status: 400, message: 'not a community', answer: 'bad_request' },
  unknown_neighbor: { status: 404, message: 'no such BGP neighbor', answer: 'not_found' },
  // state
  store_schema: { status: 500, message: 'the database was written by a newer build', answer: 'internal' },
  // start-up (the daemon names the config key; never answered over HTTP)
  address_in_use: { status: 500, message: 'address already in use', answer: 'internal' },
  address_unavailable: { status: 500, message: 'address not available on this host', answer: 'internal' },
  permission_denied: { status: 500, message: 'permission denied (ports below 1024 need privileges)', answer: 'internal' },
  data_dir_busy: { status: 500, message: 'another Breakwater uses the data directory', answer: 'internal' },
  feature_unavailable: { status: 500, message: 'a configured feature is not available on this host', answer: 'internal' },
  // command-line input
  invalid_argument: { status: 400, message: 'a command-line argument is invalid', answer: 'bad_request' },
  invalid_capture: { status: 400, message: 'not a readable pcap/pcapng capture', answer: 'bad_request' },
  selftest_failed: { status: 500, message: 'the self-test failed', answer: 'internal' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;
/** The codes an API error body carries (entries without `answer`). */
export type ApiErrorCode = { [K in ErrorCode]: (typeof ERRORS)[K] extends { answer: string } ? never : K }[ErrorCode];
/** Codes of start-up failures (the daemon names the config key). */
export type StartErrorCode = 'address_in_use' | 'address_unavailable' | 'permission_denied' | 'data_dir_busy' | 'feature_unavailable' | 'invalid_config';

export function isErrorCode(s: string): s is ErrorCode {
  return Object.hasOwn(ERRORS, s);
}

/** The HTTP status for a code (500 for a code not in the catalogue). */
export function httpStatus(code: string): number {
  return isErrorCode(code) ? ERRORS[code].status : 500;
}

/** The API code a code is answered under ('internal' for a code not in the catalogue). */
export function apiCode(code: string): ApiErrorCode {
  if (!isErrorCode(code)) return 'internal';
  const spec: ErrorSpec = ERRORS[code];
  return (spec.answer ?? code) as ApiErrorCode;
}

/**
 * An error with a catalogue code; `message` is the detail for people (the
 * catalogue's message when none is given), `details` go into an API error
 * body, `key` names the config key of a start-up failure.
 */
export class BreakwaterError extends Error {
  readonly code: ErrorCode;
  readonly details?: Record<string, unknown>;
  readonly key?: string;
  constructor(code: ErrorCode, detail?: string, extra: { details?: Record<string, unknown>; key?: string } = {}) {
    super(detail ?? ERRORS[code].message);
    this.name = 'BreakwaterError';
    this.code = code;
    if (extra.details) this.details = extra.details;
    if (extra.key !== undefined) this.key = extra.key;
  }

  get status(): number {
    return ERRORS[this.code].status;
  }

  /** The API code this error is answered under. */
  get answer(): ApiErrorCode {
    return apiCode(this.code);
  }
}

/** An API answer: `{error: message, code, ...details}` with the code's status. */
export class ApiError extends BreakwaterError {
  constructor(code: ApiErrorCode, message: string, details?: Record<string, unknown>) {
    super(code, message, { details });
    this.name = 'ApiError';
  }
}

/** Why the daemon could not start, with the config key to look at (no stack trace for the operator). */
export class StartError extends BreakwaterError {
  constructor(code: StartErrorCode, message: string, key?: string) {
    super(code, message, { key });
    this.name = 'StartError';
  }
}

/** A listen error (EADDRINUSE ...) as a StartError naming the config key, or the error unchanged. */
export function listenError(e: unknown, key: string, address: string): unknown {
  // Errors from worker threads arrive as messages ("bind EADDRINUSE 0.0.0.0:6343", "bind: Address already in use"): read them too.
  const msg = String((e as Error)?.message);
  const code = (e as NodeJS.ErrnoException)?.code ?? /\b(EADDRINUSE|EADDRNOTAVAIL|EACCES)\b/.exec(msg)?.[1];
  const map: Record<string, StartErrorCode> = { EADDRINUSE: 'address_in_use', EADDRNOTAVAIL: 'address_unavailable', EACCES: 'permission_denied' };
  const byText: Array<[RegExp, StartErrorCode]> = [
    [/address already in use/i, 'address_in_use'],
    [/cannot assign requested address/i, 'address_unavailable'],
    [/permission denied/i, 'permission_denied'],
  ];
  const c = (code ? map[code] : undefined) ?? byText.find(([re]) => re.test(msg))?.[1];
  if (!c) return e;
  return new StartError(c, `${key} "${address}": ${ERRORS[c].message}`, key);
}
