/**
 * `breakwater -config FILE [-log-format text|json] [-log-level L] [-check-config] [-s reload [-force]|stop]`
 *
 * `-s reload -force` confirms a dangerous reload (bans lifted, auth off, a
 * listener widened): a signal carries no argument, so the CLI first writes a
 * one-shot marker file next to the pid file; the daemon's SIGHUP handler
 * removes it and reloads with force (a marker older than a minute is ignored).
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { ConfigError } from '../core/errors.ts';
import { daemonConfigIssues, loadConfig } from '../config/load.ts';
import { compatLine, compatNotes } from '../config/kapkan.ts';
import { parseFlags, UsageError } from './flags.ts';
import { FORCE_MARKER, PID_FILE } from '../daemon/files.ts';

/** The log levels -log-level and log.level take. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;

export const DAEMON_FLAGS = {
  string: ['config', 'log-format', 's', 'log-level'],
  boolean: ['check-config', 'force'],
  alias: { c: 'config' },
} as const;

export async function run(argv: string[]): Promise<number> {
  const f = parseFlags(argv, DAEMON_FLAGS);
  if (f.positional.length) throw new UsageError(`unexpected argument ${f.positional[0]}`);
  const file = f.values.config;
  if (!file) throw new UsageError('-config FILE is required');
  const logFormat = f.values['log-format'];
  if (logFormat !== undefined && logFormat !== 'text' && logFormat !== 'json') throw new UsageError('-log-format must be text or json');
  const logLevel = f.values['log-level'];
  if (logLevel !== undefined && !(LOG_LEVELS as readonly string[]).includes(logLevel)) throw new UsageError(`-log-level must be one of ${LOG_LEVELS.join(', ')} (got "${logLevel}")`);
  if (f.flags.has('force') && f.values.s !== 'reload') throw new UsageError('-force only goes with -s reload');

  if (f.flags.has('check-config')) {
    try {
      const cfg = loadConfig(file);
      // Keys of a Kapkan config that Breakwater replaces or does not do: said once, on stderr.
      for (const n of compatNotes(cfg)) process.stderr.write(`${n.kind === 'unsupported' ? 'warning' : 'note'}: ${compatLine(n)}\n`);
      const issues = daemonConfigIssues(cfg);
      if (issues.length) throw new ConfigError(issues, file);
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
    const pidFile = join(cfg.storage.data_dir, PID_FILE);
    let pid: number;
    try {
      pid = Number(readFileSync(pidFile, 'utf8').trim());
    } catch {
      process.stderr.write(`no running daemon: cannot read ${pidFile}\n`);
      return 1;
    }
    const marker = join(cfg.storage.data_dir, FORCE_MARKER);
    if (f.flags.has('force')) writeFileSync(marker, `${process.pid}\n`);
    try {
      process.kill(pid, f.values.s === 'reload' ? 'SIGHUP' : 'SIGTERM');
    } catch (e) {
      if (f.flags.has('force')) rmSync(marker, { force: true });
      process.stderr.write(`no running daemon with pid ${pid} (${pidFile}): ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}\n`);
      return 1;
    }
    process.stdout.write(`sent ${f.values.s === 'reload' ? 'SIGHUP' : 'SIGTERM'}${f.flags.has('force') ? ' (forced reload)' : ''} to ${pid}\n`);
    return 0;
  }

  const { runDaemon } = await import('../daemon/run.ts');
  return runDaemon({ configFile: file, logFormat: logFormat as 'text' | 'json' | undefined, logLevel });
}
