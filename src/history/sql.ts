/**
 * Values written into SQL text. ClickHouse 18.16 has no query parameters, so
 * every value a query carries goes through one of these (strings quoted and
 * escaped; numbers checked finite).
 */

export function str(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

export function num(n: number): string {
  if (!Number.isFinite(n)) throw new Error(`not a finite number: ${n}`);
  return String(n);
}

/** Seconds since the epoch as a DateTime expression. */
export function dateTime(ms: number): string {
  return `toDateTime(${num(Math.floor(ms / 1000))})`;
}

/** 'YYYY-MM-DD' (UTC) of a time in ms. */
export function dayOf(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}
