/** The daemon: ingest, engine, mitigation, API, store, wired together. */
export interface DaemonOptions {
  configFile: string;
  logFormat?: 'text' | 'json';
  logLevel?: string;
}

export async function runDaemon(_opts: DaemonOptions): Promise<number> {
  process.stderr.write('breakwater: the daemon is not assembled yet\n');
  return 1;
}
