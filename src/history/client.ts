/**
 * The one place that talks to ClickHouse (over its HTTP interface, through
 * @clickhouse/client). Every call has a deadline: a ClickHouse that accepts
 * the connection and never answers costs a timeout, never a stuck caller.
 * The client's own logging is off; failures are returned to the writer,
 * which counts and logs them once.
 */
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import type { Row } from './rows.ts';

export interface HistoryClient {
  command(sql: string): Promise<void>;
  insert(table: string, rows: Row[]): Promise<void>;
  query<T = Record<string, unknown>>(sql: string): Promise<T[]>;
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

export interface ClientOptions {
  url: string;
  username?: string;
  password?: string;
  timeoutMs: number;
}

/** Credentials from the environment variables the config names (never from the file). */
export function credentials(cfg: { username_env?: string; password_env?: string }, env: NodeJS.ProcessEnv = process.env): { username?: string; password?: string } {
  return {
    username: cfg.username_env ? env[cfg.username_env] || undefined : undefined,
    password: cfg.password_env ? env[cfg.password_env] ?? undefined : undefined,
  };
}

/** Runs fn with an AbortSignal that fires after ms (the client's timeout, doubled up as a backstop). */
async function withDeadline<T>(ms: number, what: string, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, rej) => {
    timer = setTimeout(() => {
      // Rejected before the abort, so the caller sees this reason rather than the client's abort error.
      rej(new Error(`ClickHouse ${what}: no answer within ${ms} ms`));
      ac.abort();
    }, ms);
    timer.unref();
  });
  try {
    return await Promise.race([fn(ac.signal), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

export function clickhouseClient(o: ClientOptions): HistoryClient {
  const c: ClickHouseClient = createClient({
    url: o.url,
    username: o.username,
    password: o.password,
    request_timeout: o.timeoutMs,
    max_open_connections: 4,
    application: 'breakwater',
    log: { level: 127 },
  });
  const t = o.timeoutMs;
  return {
    command: (sql) => withDeadline(t, 'command', (abort_signal) => c.command({ query: sql, abort_signal }).then(() => undefined)),
    insert: (table, rows) => withDeadline(t, 'insert', (abort_signal) => c.insert({ table, values: rows, format: 'JSONEachRow', abort_signal }).then(() => undefined)),
    query: <T,>(sql: string) => withDeadline(t, 'query', async (abort_signal) => (await (await c.query({ query: sql, format: 'JSONEachRow', abort_signal })).json()) as T[]),
    ping: () => withDeadline(t, 'ping', async () => (await c.ping()).success).catch(() => false),
    close: () => c.close(),
  };
}
