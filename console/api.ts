/**
 * The console's only door to the daemon: the REST API with the token from
 * sessionStorage (kept for the browser session, gone with the tab), and the
 * live stream (Server-Sent Events; EventSource cannot send headers, so the
 * token rides in the query of that one request).
 */
const KEY = 'breakwater.token';

export type Role = 'viewer' | 'operator' | 'admin';
export const RANK: Record<Role, number> = { viewer: 1, operator: 2, admin: 3 };

export function savedToken(): string {
  return sessionStorage.getItem(KEY) ?? '';
}
export function saveToken(t: string): void {
  if (t) sessionStorage.setItem(KEY, t);
  else sessionStorage.removeItem(KEY);
}

export interface ApiResult<T = any> {
  ok: boolean;
  status: number;
  body: T;
  /** The error message, for a failed call. */
  error: string;
}

export async function api<T = any>(method: string, path: string, body?: unknown): Promise<ApiResult<T>> {
  const headers: Record<string, string> = {};
  const token = savedToken();
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    return { ok: false, status: 0, body: undefined as T, error: `the daemon does not answer (${(e as Error).message})` };
  }
  let json: any;
  try {
    json = await res.json();
  } catch {
    json = undefined;
  }
  const error = res.ok ? '' : [json?.error ?? res.statusText, json?.reason && json.reason !== json?.error ? `(${json.reason})` : ''].filter(Boolean).join(' ');
  return { ok: res.ok, status: res.status, body: json, error };
}

/** "not available" for a route this daemon does not have (404) — the view degrades instead of breaking. */
export function unavailable(r: ApiResult): boolean {
  return r.status === 404 || r.status === 405 || r.status === 501;
}

export function streamUrl(): string {
  const t = savedToken();
  return t ? `/api/v1/stream?token=${encodeURIComponent(t)}` : '/api/v1/stream';
}
