/**
 * Files the daemon keeps in storage.data_dir that the command line also
 * touches (`-s reload|stop` finds the pid; `-s reload -force` leaves the
 * marker). Here so the CLI can name them without loading the daemon.
 */
import { readFileSync } from 'node:fs';

export const PID_FILE = 'breakwater.pid';

/** `-s reload -force` writes this before SIGHUP; the daemon's SIGHUP handler removes it and forces the reload. */
export const FORCE_MARKER = 'breakwater.reload-force';

/** A marker older than this is stale (a CLI that died between writing it and signalling) and ignored. */
export const FORCE_MARKER_MAX_AGE_MS = 60_000;

/** Is `pid` a running Breakwater (the pid file of another daemon on the same data directory)? */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return /breakwater|main\.ts/.test(cmd);
  } catch {
    return true;
  }
}
