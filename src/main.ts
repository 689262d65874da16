/**
 * Composition root and command line. `breakwater -config FILE` runs the
 * daemon; subcommands run the tools (decode, replay, detect, bgp).
 */
import { isMainThread, workerData } from 'node:worker_threads';
import { NAME, VERSION } from './version.ts';
import { UsageError } from './cli/flags.ts';
import { workerRoles } from './worker-roles.ts';
import type { WorkerPayload } from './core/spawn-worker.ts';

const USAGE = `usage:
  ${NAME} -config FILE [-log-format text|json] [-log-level trace|debug|info|warn|error|fatal]
                                            run the daemon
  ${NAME} -config FILE -check-config        validate, print the normalised config (exit 0/1)
  ${NAME} -config FILE -s reload|stop       signal a running daemon (SIGHUP / SIGTERM)
  ${NAME} -config FILE -s reload -force     reload even a dangerous change (bans lifted, auth off, a listener widened)
  ${NAME} -version
  ${NAME} selftest                          check node:sqlite and worker threads in this build
  ${NAME} decode [-default-sampling-rate N] FILE...
                                            print the flow records of a pcap/pcapng as JSON lines
  ${NAME} replay FILE --to HOST:PORT [--pps N | --speed X] [--loop N] [--from ADDRESS]
  ${NAME} detect -config FILE [-updates] [-drain=false] [-stats] CAPTURE...
                                            replay captures through the detection engine
  ${NAME} bgp -config FILE [-log-format text|json] [-no-graceful]
                                            the BGP speaker alone, ExaBGP-style commands on stdin
  ${NAME} notify-test -config FILE [-json] [telegram|slack|email|webhook|exec]
                                            send a test message to each notification channel
  ${NAME} report -config FILE [--from TIME] [--to TIME] [--format md|json]
                                            incident summary from ClickHouse history
  ${NAME} ctl [-url URL] [-token TOKEN] [-json] status|attacks|bans|hosts|ban|unban|mitigate|audit|reload|exporters|neighbors
                                            the REST API from a shell (BREAKWATER_URL, BREAKWATER_TOKEN)
  ${NAME} -print-schema                     the config's JSON Schema
Flags take one or two dashes, as -flag value or -flag=value.
`;

const SUBCOMMANDS: Record<string, () => Promise<{ run(argv: string[]): Promise<number> }>> = {
  decode: () => import('./cli/decode.ts'),
  replay: () => import('./cli/replay.ts'),
  detect: () => import('./cli/detect.ts'),
  bgp: () => import('./cli/bgp.ts'),
  selftest: () => import('./cli/selftest.ts'),
  'notify-test': () => import('./cli/notify-test.ts'),
  report: () => import('./cli/report.ts'),
  ctl: () => import('./cli/ctl.ts'),
};

export async function cli(argv: string[]): Promise<number> {
  const first = argv[0];
  if (first === undefined || first === '-h' || first === '--help' || first === '-help' || first === 'help') {
    process.stdout.write(USAGE);
    return first === undefined ? 2 : 0;
  }
  if (first === '-version' || first === '--version' || first === 'version') {
    process.stdout.write(`${NAME} ${VERSION} (node ${process.version})\n`);
    return 0;
  }
  if (first === '-print-schema' || first === '--print-schema') {
    const { configJsonSchema } = await import('./config/json-schema.ts');
    process.stdout.write(JSON.stringify(configJsonSchema(), null, 2) + '\n');
    return 0;
  }
  const sub = SUBCOMMANDS[first];
  if (sub) return (await sub()).run(argv.slice(1));
  return (await import('./cli/daemon.ts')).run(argv);
}

async function workerMain(payload: WorkerPayload): Promise<void> {
  const load = workerRoles[payload.role];
  if (!load) throw new Error(`unknown worker role ${payload.role}`);
  await (await load()).runWorker(payload.data);
}

async function start(): Promise<void> {
  const payload = workerData as WorkerPayload | undefined;
  if (!isMainThread && payload && typeof payload.role === 'string') {
    await workerMain(payload);
    return;
  }
  if (!isMainThread) return;
  // `breakwater decode x.pcap | head` closes the pipe early: that is not an error.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
  try {
    const code = await cli(process.argv.slice(2));
    if (code !== 0) process.exitCode = code;
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`${NAME}: ${e.message}\n${USAGE}`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`${NAME}: ${(e as Error).stack ?? e}\n`);
      process.exitCode = 1;
    }
  }
}

void start();
