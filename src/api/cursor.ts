/**
 * Opaque list cursors. A cursor is the keyset position of the last item a
 * page returned — (time, id) for attacks, bans and audit entries, (value, id)
 * for rankings — so the next page starts strictly after it whatever was
 * inserted meanwhile: nothing is skipped or shown twice, unlike an offset.
 * The list's name is inside, so a cursor of one list is refused by another.
 */
import { ApiError } from '../core/errors.ts';

export interface Keyset {
  /** Sort value: a time in ms, or a rate for rankings. Pages go from high to low. */
  t: number;
  /** Tie-break, compared as a string (numeric ids are zero-padded by their list). */
  id: string;
}

export function encodeCursor(list: string, k: Keyset): string {
  return Buffer.from(JSON.stringify([list, k.t, k.id]), 'utf8').toString('base64url');
}

export function decodeCursor(list: string, raw: string): Keyset {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
  } catch {
    v = undefined;
  }
  if (!Array.isArray(v) || v.length !== 3 || typeof v[1] !== 'number' || !Number.isFinite(v[1]) || typeof v[2] !== 'string') throw new ApiError('bad_request', 'cursor is not valid (use the next_cursor of a previous page as it is)');
  if (v[0] !== list) throw new ApiError('bad_request', `cursor belongs to another list (${String(v[0])}), not ${list}`);
  return { t: v[1], id: v[2] };
}

/** Whether an item at (t, id) comes after the cursor position in a high-to-low order. */
export function after(k: Keyset, t: number, id: string): boolean {
  return t < k.t || (t === k.t && id < k.id);
}

/** High-to-low order on (t, id). */
export function byKeyDesc(a: Keyset, b: Keyset): number {
  return b.t - a.t || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}
