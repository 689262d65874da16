/**
 * `breakwater -config FILE`: the daemon run from the command line, and what
 * the operator reads when it cannot start (the config key to fix, no stack
 * trace for their mistakes).
 */
import { ConfigError, StartError } from '../core/errors.ts';
import { Daemon, type DaemonOptions } from './daemon.ts';

/** `breakwater -config FILE`: runs until SIGTERM/SIGINT. */
export async function runDaemon(opts: DaemonOptions): Promise<number> {
  // BREAKWATER_BENCH_ROUTE_LEASES=off: the leases bench's child daemon, the one way to turn leases off
  const leases = opts.routeLeases ?? process.env.BREAKWATER_BENCH_ROUTE_LEASES !== 'off';
  const d = new Daemon({ ...opts, signals: true, routeLeases: leases });
  try {
    await d.start();
    if (!leases) d.logger?.warn({ event: 'route leases off' }, 'route leases are off (BREAKWATER_BENCH_ROUTE_LEASES=off, for benchmarks only): a stalled main thread could keep routes past their TTL');
  } catch (e) {
    const log = d.logger;
    if (e instanceof ConfigError) {
      process.stderr.write(e.message + '\n');
    } else if (e instanceof StartError) {
      // The operator's mistake (a port in use, a busy data directory): the key to fix, no stack trace.
      if (log) log.fatal({ event: 'daemon failed', code: e.code, key: e.key }, `cannot start: ${e.message}`);
      process.stderr.write(`breakwater: cannot start: ${e.message}\n`);
    } else {
      const msg = (e as Error).message;
      if (log) log.fatal({ event: 'daemon failed', err: (e as Error).stack ?? msg }, `cannot start: ${msg}`);
      // Logs go to stdout; a failed start is also said on stderr, where a service manager shows it.
      process.stderr.write(`breakwater: cannot start: ${msg}\n`);
    }
    await d.stop('start failed').catch(() => undefined);
    return 1;
  }
  return d.stopped;
}
