import { ERROR_NAMES } from './constants.ts';

/**
 * A protocol error that ends the session: the session catches it at the
 * message boundary and sends NOTIFICATION(code, subcode, data).
 */
export class BgpError extends Error {
  readonly code: number;
  readonly subcode: number;
  readonly data: Buffer;

  constructor(code: number, subcode: number, data: Uint8Array = Buffer.alloc(0), message?: string) {
    super(message ?? errorName(code, subcode));
    this.name = 'BgpError';
    this.code = code;
    this.subcode = subcode;
    this.data = Buffer.from(data);
  }
}

/** "UPDATE Message Error / Malformed AS_PATH" style name of a code/subcode pair. */
export function errorName(code: number, subcode: number): string {
  const c = ERROR_NAMES[code];
  if (!c) return `error code ${code} subcode ${subcode}`;
  if (subcode === 0) return c.name;
  return `${c.name} / ${c.sub[subcode] ?? `subcode ${subcode}`}`;
}

/** A route or rule that must not be sent (validation before encoding). */
export class RouteError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RouteError';
  }
}
