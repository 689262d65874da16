/**
 * Request bodies read with a size bound, their validation issues named by
 * path, and mutation results written back: shared by the server and the route
 * files (commands take text, the rest JSON).
 */
import type Koa from 'koa';
import { ApiError, type PathIssue } from '../core/errors.ts';
import type { MutationResult } from './server.ts';

/** The body as text; 413 past `max` bytes (by Content-Length or as it arrives). */
export async function readBody(req: NodeJS.ReadableStream & { headers: Record<string, string | string[] | undefined> }, max: number): Promise<string> {
  const len = Number(req.headers['content-length'] ?? 0);
  if (len > max) throw new ApiError('payload_too_large', `request body larger than ${max} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > max) throw new ApiError('payload_too_large', `request body larger than ${max} bytes`);
    chunks.push(c);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The body as JSON (an empty body is `{}`); 400 when it is not JSON. */
export async function readJson(req: NodeJS.ReadableStream & { headers: Record<string, string | string[] | undefined> }, max: number): Promise<unknown> {
  const text = (await readBody(req, max)).trim();
  if (text === '') return {};
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ApiError('bad_request', `invalid JSON: ${(e as Error).message}`);
  }
}

/** Writes a mutation's result: its body, or `{error, code, reason, ...details}` with its status. */
export function sendResult(ctx: Koa.Context, res: MutationResult): void {
  if (res.ok) {
    ctx.status = res.status ?? 200;
    ctx.body = res.body;
  } else {
    ctx.status = res.status;
    ctx.body = { error: res.error, ...(res.code !== undefined ? { code: res.code } : {}), ...(res.reason !== undefined ? { reason: res.reason } : {}), ...(res.details ?? {}) };
  }
}

/** Valibot issues as `{path, message}` (core/issues.ts, shared with the signal adapters). */
export { pathIssues } from '../core/issues.ts';
