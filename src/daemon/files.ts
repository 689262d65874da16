/**
 * Files the daemon keeps in storage.data_dir that the command line also
 * touches (`-s reload|stop` finds the pid; `-s reload -force` leaves the
 * marker). Here so the CLI can name them without loading the daemon.
 */
export const PID_FILE = 'breakwater.pid';

/** `-s reload -force` writes this before SIGHUP; the daemon's SIGHUP handler removes it and forces the reload. */
export const FORCE_MARKER = 'breakwater.reload-force';

/** A marker older than this is stale (a CLI that died between writing it and signalling) and ignored. */
export const FORCE_MARKER_MAX_AGE_MS = 60_000;
