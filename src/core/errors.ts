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
