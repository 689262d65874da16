export { DecodeError } from './reader.ts';

/** A config or request problem, with the dotted path of the offending key. */
export interface PathIssue {
  path: string;
  message: string;
}

export class ConfigError extends Error {
  readonly issues: PathIssue[];
  constructor(issues: PathIssue[], file?: string) {
    super(`${file ? file + ': ' : ''}invalid config:\n` + issues.map((i) => `  ${i.path || '(root)'}: ${i.message}`).join('\n'));
    this.issues = issues;
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
  internal: 500,
  not_ready: 503,
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
