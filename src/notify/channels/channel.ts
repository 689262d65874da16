/** What every channel implements: one async send with a time limit; errors are thrown as Error with a short message. */
import type { Message } from '../event.ts';
import { BreakwaterError } from '../../core/errors.ts';

export const CHANNELS = ['telegram', 'slack', 'email', 'webhook', 'exec'] as const;
export type ChannelName = (typeof CHANNELS)[number];

export interface Channel {
  readonly name: ChannelName;
  send(m: Message, timeoutMs: number): Promise<void>;
  close?(): void;
}

/** Reads a secret from the environment; a missing variable is an error of the delivery (retried, shown in the status). */
export function secret(envName: string | undefined): string | undefined {
  if (!envName) return undefined;
  const v = process.env[envName];
  if (!v) throw new BreakwaterError('invalid_config', `environment variable ${envName} is not set`);
  return v;
}

/** POST with a deadline (connect, headers and body); non-2xx is an error. */
export async function post(url: string, body: string, headers: Record<string, string>, timeoutMs: number): Promise<string> {
  let res: Response;
  try {
    res = await fetch(url, { method: 'POST', body, headers, signal: AbortSignal.timeout(timeoutMs), redirect: 'error' });
  } catch (e) {
    const err = e as Error & { cause?: { code?: string; message?: string } };
    if (err.name === 'TimeoutError' || err.name === 'AbortError') throw new Error(`timeout after ${timeoutMs} ms`);
    throw new Error(err.cause?.code ?? err.cause?.message ?? err.message);
  }
  let text: string;
  try {
    text = await res.text();
  } catch (e) {
    throw new Error(`reading the answer: ${(e as Error).name === 'TimeoutError' ? `timeout after ${timeoutMs} ms` : (e as Error).message}`);
  }
  if (res.status < 200 || res.status > 299) throw new Error(`HTTP ${res.status}: ${text.slice(0, 200)}`);
  return text;
}
