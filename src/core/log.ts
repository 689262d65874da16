/**
 * The daemon's log. Lines go to stdout (as journald and Go daemons expect), so
 * `breakwater -config F -log-format text | grep "bgp peer state"` works;
 * stderr is kept for fatal start-up errors. Every line has an `event` (the
 * call site's, or its message when it names none), `level` as a name and
 * `time` as RFC 3339, in JSON and in text alike.
 */
import pino from 'pino';
import type { Logger } from 'pino';

export type { Logger };
export type LogFormat = 'json' | 'text';

function fmtValue(v: unknown): string {
  if (typeof v === 'string') return /[\s="]/.test(v) || v === '' ? JSON.stringify(v) : v;
  if (v === null || typeof v !== 'object') return String(v);
  return JSON.stringify(v);
}

/** Renders one JSON log line as `time LEVEL msg key=value ...`. */
export function jsonLineToText(line: string): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line);
  } catch {
    return line + '\n';
  }
  const { time, level, msg, pid: _pid, hostname: _h, ...rest } = o;
  const t = typeof time === 'number' ? new Date(time).toISOString() : String(time ?? '');
  const kv = Object.entries(rest).map(([k, v]) => `${k}=${fmtValue(v)}`).join(' ');
  return `${t} ${String(level ?? '').toUpperCase()} ${msg ?? ''}${kv ? ' ' + kv : ''}\n`;
}

class TextStream {
  private readonly out: { write(s: string): unknown };
  constructor(out: { write(s: string): unknown }) {
    this.out = out;
  }
  write(chunk: string): void {
    for (const line of chunk.split('\n')) if (line) this.out.write(jsonLineToText(line));
  }
}

export interface LogOptions {
  format?: LogFormat;
  level?: string;
  /** Where lines go; stdout by default. */
  destination?: { write(s: string): unknown };
}

/**
 * Gives a line without an `event` the message as its event, so that every
 * line can be selected by event (`jq 'select(.event == "...")'`).
 */
function withEvent(this: Logger, args: unknown[], method: (...a: unknown[]) => void): void {
  const first = args[0];
  if (typeof first === 'string') {
    method.apply(this, [{ event: first }, ...args]);
    return;
  }
  if (first !== null && typeof first === 'object' && !(first instanceof Error) && !('event' in first) && typeof args[1] === 'string') {
    args[0] = { event: args[1], ...first };
  } else if (first instanceof Error) {
    args[0] = { event: typeof args[1] === 'string' ? args[1] : 'error', err: first };
  }
  method.apply(this, args);
}

export function createLogger(opts: LogOptions = {}): Logger {
  const dest = opts.destination ?? pino.destination({ fd: 1, sync: true });
  const stream = opts.format === 'text' ? new TextStream(dest) : dest;
  return pino(
    {
      level: opts.level ?? 'info',
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      hooks: { logMethod: withEvent as (this: Logger, args: Parameters<pino.LogFn>, method: pino.LogFn) => void },
    },
    stream as pino.DestinationStream,
  );
}

/** A logger that drops everything (tests, tools). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
