/**
 * `breakwater notify-test`: one test message straight to each configured
 * channel (no outbox, no retry), with each result, so an operator can check
 * an integration before an attack does.
 */
import type { NotifyConfig } from '../config/schema.ts';
import { buildChannels, type ChannelName } from './channels/index.ts';
import type { Message } from './event.ts';

export interface TestResult {
  channel: ChannelName;
  ok: boolean;
  error?: string;
  ms: number;
}

export function testMessage(channel: string, mode: 'dry_run' | 'live', now = Date.now()): Message {
  return {
    id: `${channel}-test-${now}`,
    channel,
    event: 'test',
    events: [{ event: 'test', time: now, mode, target: '192.0.2.1', direction: 'incoming', text: 'Breakwater test message: this channel works.' }],
  };
}

/** Sends to every configured channel (or only `only`); unknown or switched-off `only` → an error result. */
export async function sendTest(cfg: Readonly<NotifyConfig>, mode: 'dry_run' | 'live', only?: string): Promise<TestResult[]> {
  const channels = buildChannels(cfg);
  const names = [...channels.keys()].filter((n) => !only || n === only);
  if (only && names.length === 0) return [{ channel: only as ChannelName, ok: false, error: `channel ${only} is not configured (or is off: empty url)`, ms: 0 }];
  return Promise.all(
    names.map(async (name) => {
      const t0 = performance.now();
      try {
        await channels.get(name)!.channel.send(testMessage(name, mode), cfg.timeout_seconds * 1000);
        return { channel: name, ok: true, ms: Math.round(performance.now() - t0) };
      } catch (e) {
        return { channel: name, ok: false, error: (e as Error).message, ms: Math.round(performance.now() - t0) };
      }
    }),
  );
}
