/**
 * `breakwater -config FILE [-log-format text|json] [-check-config] [-s reload]`
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { ConfigError } from '../core/errors.ts';
import { loadConfig } from '../config/load.ts';
import { compatLine, compatNotes } from '../config/kapkan.ts';
import { parseFlags, UsageError } from './flags.ts';

export const DAEMON_FLAGS = {
  string: ['config', 'log-format', 's', 'log-level'],
  boolean: ['check-config'],
  alias: { c: 'config' },
} as const;

export async function run(argv: string[]): Promise<number> {
  const f = parseFlags(argv, DAEMON_FLAGS);
  if (f.positional.length) throw new UsageError(`unexpected argument ${f.positional[0]}`);
  const file = f.values.config;
  if (!file) throw new UsageError('-config FILE is required');
  const logFormat = f.values['log-format'];
  if (logFormat !== undefined && logFormat !== 'text' && logFormat !== 'json') throw new UsageError('-log-format must be text or json');

  if (f.flags.has('check-config')) {
    try {
      const cfg = loadConfig(file);
      // Keys of a Kapkan config that Breakwater replaces or does not do: said once, on stderr.
      for (const n of compatNotes(cfg)) process.stderr.write(`${n.kind === 'unsupported' ? 'warning' : 'note'}: ${compatLine(n)}\n`);
      process.stdout.write(stringify(cfg));
      return 0;
    } catch (e) {
      if (e instanceof ConfigError) {
        process.stderr.write(e.message + '\n');
        return 1;
      }
      throw e;
    }
  }

  if (f.values.s !== undefined) {
    if (f.values.s !== 'reload' && f.values.s !== 'stop') throw new UsageError('-s takes reload or stop');
    const cfg = loadConfig(file);
    const pidFile = join(cfg.storage.data_dir, 'breakwater.pid');
    let pid: number;
    try {
      pid = Number(readFileSync(pidFile, 'utf8').trim());
    } catch {
      process.stderr.write(`no running daemon: cannot read ${pidFile}\n`);
      return 1;
    }
    process.kill(pid, f.values.s === 'reload' ? 'SIGHUP' : 'SIGTERM');
    process.stdout.write(`sent ${f.values.s === 'reload' ? 'SIGHUP' : 'SIGTERM'} to ${pid}\n`);
    return 0;
  }

  const { runDaemon } = await import('../daemon/daemon.ts');
  return runDaemon({ configFile: file, logFormat: logFormat as 'text' | 'json' | undefined, logLevel: f.values['log-level'] });
}
