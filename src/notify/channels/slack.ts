/** Slack incoming webhook: a header block, the event lines as a section, the mode as context; `text` is the fallback. */
import type { Message } from '../event.ts';
import { bodyLines, plainText, title } from '../format.ts';
import { post, type Channel } from './channel.ts';

export function slackBody(m: Message): Record<string, unknown> {
  const lines = bodyLines(m);
  const context = lines.pop()!;
  return {
    text: plainText(m, 3000),
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: title(m).slice(0, 150) } },
      { type: 'section', text: { type: 'mrkdwn', text: lines.join('\n').slice(0, 2900) } },
      { type: 'context', elements: [{ type: 'mrkdwn', text: context }] },
    ],
  };
}

export class SlackChannel implements Channel {
  readonly name = 'slack' as const;
  private readonly url: string;

  constructor(cfg: { webhook_url: string }) {
    this.url = cfg.webhook_url;
  }

  async send(m: Message, timeoutMs: number): Promise<void> {
    await post(this.url, JSON.stringify(slackBody(m)), { 'content-type': 'application/json' }, timeoutMs);
  }
}
