/**
 * `breakwater notify-test -config FILE [channel]`: sends one test message to
 * each configured notification channel (or the one named) and prints each
 * result; exit 1 when any failed, 2 when none is configured.
 */
import { loadConfig } from '../config/load.ts';
import { CHANNELS } from '../notify/channels/index.ts';
import { sendTest } from '../notify/test-send.ts';
import { parseFlags, UsageError } from './flags.ts';

export async function run(argv: string[]): Promise<number> {
  const f = parseFlags(argv, { string: ['config', 'c'], boolean: ['json'], alias: { c: 'config' } });
  const file = f.values.config;
  if (!file) throw new UsageError('notify-test needs -config FILE');
  const only = f.positional[0];
  if (only && !(CHANNELS as readonly string[]).includes(only)) throw new UsageError(`unknown channel ${only} (one of ${CHANNELS.join(', ')})`);
  const cfg = loadConfig(file);
  const results = await sendTest(cfg.notify, cfg.dry_run ? 'dry_run' : 'live', only);
  if (results.length === 0) {
    process.stderr.write('no notification channel is configured (notify.telegram, slack, email, webhook, exec)\n');
    return 2;
  }
  for (const r of results) {
    if (f.flags.has('json')) process.stdout.write(JSON.stringify(r) + '\n');
    else process.stdout.write(`${r.channel.padEnd(9)} ${r.ok ? 'ok    ' : 'FAILED'} ${String(r.ms).padStart(6)} ms${r.error ? `  ${r.error}` : ''}\n`);
  }
  return results.every((r) => r.ok) ? 0 : 1;
}
