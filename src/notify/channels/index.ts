/** The channels a config switches on: a block with an empty url / webhook_url / smtp_host / command is off. */
import type { NotifyConfig, NotifyEventName } from '../../config/schema.ts';
import { type Channel, type ChannelName } from './channel.ts';
import { TelegramChannel } from './telegram.ts';
import { SlackChannel } from './slack.ts';
import { EmailChannel } from './email.ts';
import { WebhookChannel } from './webhook.ts';
import { ExecChannel } from './exec.ts';

export { CHANNELS, type Channel, type ChannelName } from './channel.ts';

export interface ConfiguredChannel {
  channel: Channel;
  /** undefined: every event. */
  events?: ReadonlySet<NotifyEventName>;
}

const filter = (events: readonly NotifyEventName[] | undefined) => (events ? new Set(events) : undefined);

export function buildChannels(n: Readonly<NotifyConfig>): Map<ChannelName, ConfiguredChannel> {
  const out = new Map<ChannelName, ConfiguredChannel>();
  if (n.telegram && n.telegram.token_env && String(n.telegram.chat_id) !== '') out.set('telegram', { channel: new TelegramChannel(n.telegram), events: filter(n.telegram.events) });
  if (n.slack?.webhook_url) out.set('slack', { channel: new SlackChannel(n.slack), events: filter(n.slack.events) });
  if (n.email?.smtp_host) out.set('email', { channel: new EmailChannel(n.email), events: filter(n.email.events) });
  if (n.webhook?.url) out.set('webhook', { channel: new WebhookChannel(n.webhook), events: filter(n.webhook.events) });
  const cmd = n.exec?.command;
  if (n.exec && (Array.isArray(cmd) ? cmd.length > 0 : (cmd as string).trim() !== '')) out.set('exec', { channel: new ExecChannel(n.exec), events: filter(n.exec.events) });
  return out;
}
