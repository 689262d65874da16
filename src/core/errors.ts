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
  constructor(issues: PathIssue[], file?: string) {
    super(`${file ? file + ': ' : ''}invalid config:\n` + issues.map((i) => `  ${i.path || '(root)'}: ${i.message}${i.hint ? ` (${i.hint})` : ''}`).join('\n'));
    this.issues = issues;
  }
}

/**
 * The catalogue of coded errors that reach users: each code has the HTTP
 * status the API answers with and a short meaning. Callers match on `code`,
 * never on message text. Ban refusals (ban/guards.ts) are the first users;
 * other modules add their codes here.
 */
export const ERRORS = {
  // ban refusals (POST /api/v1/ban, /unban; signals and commands later)
  invalid_target: { status: 400, message: 'the target is not an address or prefix' },
  invalid_ttl: { status: 400, message: 'the TTL is out of range' },
  outside_networks: { status: 409, message: 'the target is not inside `networks`' },
  whitelisted: { status: 409, message: 'the target overlaps `protected_whitelist`' },
  already_banned: { status: 409, message: 'an active ban already covers the target' },
  max_active_bans: { status: 409, message: '`ban.max_active_bans` is reached' },
  max_banned_fraction: { status: 409, message: '`ban.max_banned_fraction` would be exceeded' },
  rate_limited: { status: 409, message: '`ban.max_bans_per_window` is reached for the window' },
  manually_unbanned: { status: 409, message: 'an operator lifted this attack\'s ban' },
  not_banned: { status: 404, message: 'the target is not banned' },
  // mitigation
  invalid_route: { status: 500, message: 'a route could not be built' },
  invalid_community: { status: 400, message: 'not a community' },
  unknown_neighbor: { status: 404, message: 'no such BGP neighbor' },
  // state
  store_schema: { status: 500, message: 'the database was written by a newer build' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

export function isErrorCode(s: string): s is ErrorCode {
  return Object.hasOwn(ERRORS, s);
}

/** The HTTP status for a code (500 for a code not in the catalogue). */
export function httpStatus(code: string): number {
  return isErrorCode(code) ? ERRORS[code].status : 500;
}

/** An error with a catalogue code; `message` is the detail for people. */
export class BreakwaterError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, detail?: string) {
    super(detail ?? ERRORS[code].message);
    this.name = 'BreakwaterError';
    this.code = code;
  }

  get status(): number {
    return ERRORS[this.code].status;
  }
}

/**
 * API error codes and the HTTP status each one answers with. Handlers throw
 * ApiError with a code; the server turns it into `{error, code, ...details}`.
 */
export const API_ERRORS = {
  bad_request: 400,
  invalid_config: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  dangerous_change: 409,
  payload_too_large: 413,
  too_many_requests: 429,
  internal: 500,
  not_ready: 503,
  unavailable: 503,
} as const;
export type ApiErrorCode = keyof typeof API_ERRORS;

export class ApiError extends Error {
  readonly code: ApiErrorCode;
  readonly status: number;
  readonly details?: Record<string, unknown>;
  constructor(code: ApiErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.code = code;
    this.status = API_ERRORS[code];
    this.details = details;
  }
}

/** Why the daemon could not start, with the config key to look at (no stack trace for the operator). */
export const START_ERRORS = {
  address_in_use: 'address already in use',
  address_unavailable: 'address not available on this host',
  permission_denied: 'permission denied (ports below 1024 need privileges)',
  data_dir_busy: 'another Breakwater uses the data directory',
  invalid_config: 'the config cannot run a daemon',
} as const;
export type StartErrorCode = keyof typeof START_ERRORS;

export class StartError extends Error {
  readonly code: StartErrorCode;
  readonly key?: string;
  constructor(code: StartErrorCode, message: string, key?: string) {
    super(message);
    this.code = code;
    this.key = key;
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
  return new StartError(c, `${key} "${address}": ${START_ERRORS[c]}`, key);
}
