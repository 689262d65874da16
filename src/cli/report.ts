/**
 * `breakwater report -config FILE [--from TIME] [--to TIME] [--format md|json]`
 *
 * The incident summary of a period from ClickHouse history
 * (storage.clickhouse): attacks by vector, top targets, ban durations,
 * mitigation latency. Times: ISO 8601, Unix seconds, `now`, `-7d`; default
 * the last 24 hours. `--url`/`--database` override the config's.
 */
import { loadConfig } from '../config/load.ts';
import { clickhouseClient, credentials } from '../history/client.ts';
import { HistoryReader } from '../history/reader.ts';
import { reportMarkdown } from '../history/report.ts';
import { parseTime } from '../history/time.ts';
import { parseFlags, UsageError } from './flags.ts';

const USAGE = 'usage: breakwater report -config FILE [--from TIME] [--to TIME] [--format md|json] [--url URL] [--database NAME]\n';

export async function run(argv: string[]): Promise<number> {
  const f = parseFlags(argv, { string: ['config', 'from', 'to', 'format', 'url', 'database'], boolean: ['help'], alias: { c: 'config', h: 'help' } });
  if (f.flags.has('help')) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (f.positional.length) throw new UsageError(`unexpected argument ${f.positional[0]}`);
  const format = f.values.format ?? 'md';
  if (format !== 'md' && format !== 'json') throw new UsageError('--format must be md or json');
  const ch = f.values.config ? loadConfig(f.values.config).storage.clickhouse : undefined;
  const url = f.values.url ?? ch?.url;
  if (!url) throw new UsageError('report needs ClickHouse: -config FILE with storage.clickhouse, or --url');
  const database = f.values.database ?? ch?.database ?? 'breakwater';
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(database)) throw new UsageError('--database must be letters, digits and _');
  const now = Date.now();
  const time = (name: 'from' | 'to', def: number) => {
    const s = f.values[name];
    if (s === undefined) return def;
    const t = parseTime(s, now);
    if (t === undefined) throw new UsageError(`--${name} must be a time (ISO 8601, Unix seconds, now, -7d)`);
    return t;
  };
  const to = time('to', now);
  const from = time('from', to - 86_400_000);
  if (from >= to) throw new UsageError('--from must be before --to');
  const client = clickhouseClient({ url, ...credentials(ch ?? {}), timeoutMs: (ch?.timeout_seconds ?? 30) * 1000 });
  try {
    const r = await new HistoryReader(client, database).report({ from, to });
    process.stdout.write(format === 'json' ? JSON.stringify(r, null, 2) + '\n' : reportMarkdown(r) + '\n');
    return 0;
  } catch (e) {
    process.stderr.write(`breakwater report: ClickHouse at ${url}: ${(e as Error).message.split('\n')[0]}\n`);
    return 1;
  } finally {
    await client.close().catch(() => undefined);
  }
}
