/**
 * Webhook: the versioned JSON body (payload.ts) as a POST, with a bearer
 * token (token_env) and `X-Breakwater-Signature: sha256=<hex HMAC-SHA256 of
 * the exact body bytes>` when secret_env is set.
 */
import { createHmac } from 'node:crypto';
import type { Message } from '../event.ts';
import { buildPayload } from '../payload.ts';
import { post, secret, type Channel } from './channel.ts';

export function sign(body: string, key: string): string {
  return 'sha256=' + createHmac('sha256', key).update(body).digest('hex');
}

export class WebhookChannel implements Channel {
  readonly name = 'webhook' as const;
  private readonly cfg: { url: string; token_env?: string; secret_env?: string };

  constructor(cfg: { url: string; token_env?: string; secret_env?: string }) {
    this.cfg = cfg;
  }

  async send(m: Message, timeoutMs: number): Promise<void> {
    const body = JSON.stringify(buildPayload(m));
    const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'Breakwater', 'x-breakwater-event': m.event, 'x-breakwater-delivery': m.id };
    const token = secret(this.cfg.token_env);
    if (token) headers.authorization = `Bearer ${token}`;
    const key = secret(this.cfg.secret_env);
    if (key) headers['x-breakwater-signature'] = sign(body, key);
    await post(this.cfg.url, body, headers, timeoutMs);
  }
}
