import pino from 'pino';
import type { Logger } from 'pino';

export type { Logger };
export type LogFormat = 'json' | 'text';

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

function fmtValue(v: unknown): string {
  if (typeof v === 'string') return /[\s="]/.test(v) || v === '' ? JSON.stringify(v) : v;
  if (v === null || typeof v !== 'object') return String(v);
  return JSON.stringify(v);
}

/** Renders one pino JSON line as `time LEVEL msg key=value ...`. */
export function jsonLineToText(line: string): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line);
  } catch {
    return line;
  }
  const { time, level, msg, pid: _pid, hostname: _h, ...rest } = o;
  const t = typeof time === 'number' ? new Date(time).toISOString() : String(time ?? '');
  const kv = Object.entries(rest).map(([k, v]) => `${k}=${fmtValue(v)}`).join(' ');
  return `${t} ${LEVELS[level as number] ?? level} ${msg ?? ''}${kv ? ' ' + kv : ''}\n`;
}

class TextStream {
  private readonly out: NodeJS.WritableStream | { write(s: string): unknown };
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
  /** Where lines go; stderr by default (stdout is kept for command output). */
  destination?: { write(s: string): unknown };
}

export function createLogger(opts: LogOptions = {}): Logger {
  const dest = opts.destination ?? pino.destination({ fd: 2, sync: true });
  const stream = opts.format === 'text' ? new TextStream(dest) : dest;
  return pino(
    {
      level: opts.level ?? 'info',
      base: undefined,
      timestamp: pino.stdTimeFunctions.epochTime,
      formatters: { level: (_label, number) => ({ level: number }) },
    },
    stream as pino.DestinationStream,
  );
}

/** A logger that drops everything (tests, tools). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
