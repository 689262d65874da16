/** Telegram Bot API: sendMessage with plain text (no parse mode, nothing to escape). */
import type { Message } from '../event.ts';
import { plainText } from '../format.ts';
import { post, secret, type Channel } from './channel.ts';

export const TELEGRAM_API = 'https://api.telegram.org';

export class TelegramChannel implements Channel {
  readonly name = 'telegram' as const;
  private readonly cfg: { token_env: string; chat_id: string | number; api_url?: string };

  constructor(cfg: { token_env: string; chat_id: string | number; api_url?: string }) {
    this.cfg = cfg;
  }

  async send(m: Message, timeoutMs: number): Promise<void> {
    const token = secret(this.cfg.token_env)!;
    const base = (this.cfg.api_url || TELEGRAM_API).replace(/\/+$/, '');
    const body = JSON.stringify({ chat_id: this.cfg.chat_id, text: plainText(m, 4096), disable_web_page_preview: true });
    const text = await post(`${base}/bot${token}/sendMessage`, body, { 'content-type': 'application/json' }, timeoutMs).catch((e: Error) => {
      // The token is part of the URL: keep it out of errors and logs.
      throw new Error(e.message.split(token).join('<token>'));
    });
    let ok = false;
    try {
      ok = (JSON.parse(text) as { ok?: boolean }).ok === true;
    } catch {
      // not JSON
    }
    if (!ok) throw new Error(`Bot API answered without ok: ${text.slice(0, 200)}`);
  }
}
