/**
 * `breakwater bgp -config FILE [-log-format text|json] [-log-level L] [-no-graceful]`
 *
 * Runs only the BGP speaker from the config's `bgp` section and reads
 * ExaBGP-style commands on stdin, one per line (src/bgp/command.ts). Each line
 * is answered on stdout with `done` or `error <reason>`; `show ...` commands
 * print their lines first, then `done`. Logs go to stderr.
 *
 * EOF on stdin, SIGTERM or SIGINT stop the speaker gracefully: the TCP
 * sessions are closed without a NOTIFICATION, so routers that negotiated
 * graceful restart keep the routes for `bgp.graceful_restart.restart_seconds`
 * (a new run announces them again, then End-of-RIB). `-no-graceful` sends
 * Cease / Administrative Shutdown instead, and routers drop the routes at once.
 */
import { createInterface } from 'node:readline';
import { ConfigError } from '../core/errors.ts';
import { loadConfig } from '../config/load.ts';
import { createLogger } from '../core/log.ts';
import { parseFlags, UsageError } from './flags.ts';
import { BgpSpeaker, type AdjRibOutEntry, type NeighborStatus, type PeerStateEvent } from '../bgp/index.ts';
import { parseCommand, type Command } from '../bgp/command.ts';
import { formatCommunity, formatExtCommunity, formatLargeCommunity } from '../bgp/community.ts';
import { formatFlowspecRule, isFlowspecRoute, type ExtCommunity, type Route } from '../bgp/types.ts';
import { ORIGIN_NAMES } from '../bgp/constants.ts';

const FLAGS = {
  string: ['config', 'log-format', 'log-level'],
  boolean: ['no-graceful'],
  alias: { c: 'config' },
} as const;

function fmtDuration(s: number): string {
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  return `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}`;
}

/** One line per neighbor. */
export function formatNeighbor(n: NeighborStatus): string {
  const parts = [
    `neighbor ${n.address}`,
    `as ${n.asn}`,
    `state ${n.state}`,
    `${n.state === 'Established' ? 'up' : 'down'} ${fmtDuration(n.state === 'Established' ? n.uptimeSeconds : n.stateSeconds)}`,
    `families ${n.familiesNegotiated.length ? n.familiesNegotiated.join(',') : '-'}`,
    `messages-in ${n.messagesIn}`,
    `messages-out ${n.messagesOut}`,
    `routes ${n.prefixesDesired}`,
    `sent ${n.prefixesSent}`,
    `held ${n.heldRoutes}`,
    `refused ${n.refusedRoutes}`,
  ];
  if (n.lastError) parts.push(`last-error ${JSON.stringify(n.lastError)}`);
  return parts.join(' ');
}

/** A FlowSpec action in the `then { }` syntax. */
function flowAction(e: ExtCommunity): string {
  switch (e.type) {
    case 'traffic-rate':
      return e.rate === 0 ? 'discard' : `rate-limit ${e.rate}`;
    case 'traffic-rate-packets':
      return `rate-limit-packets ${e.rate}`;
    case 'traffic-action':
      return `action ${e.sample && e.terminal ? 'sample-terminal' : e.sample ? 'sample' : 'terminal'}`;
    case 'redirect':
      return `redirect ${e.asn}:${e.value}`;
    case 'redirect-ip':
      return `redirect ${e.ip}:${e.value}`;
    case 'traffic-marking':
      return `mark ${e.dscp}`;
    default:
      return `extended-community [${formatExtCommunity(e)}]`;
  }
}

/** A route in the command language (what `announce` would take). */
export function formatRoute(r: Route): string {
  const a = r.attrs;
  const extra: string[] = [];
  if (a.communities?.length) extra.push(`community [${a.communities.map(formatCommunity).join(' ')}]`);
  if (a.largeCommunities?.length) extra.push(`large-community [${a.largeCommunities.map(formatLargeCommunity).join(' ')}]`);
  if (a.localPref !== undefined) extra.push(`local-preference ${a.localPref}`);
  if (a.med !== undefined) extra.push(`med ${a.med}`);
  if (a.origin !== undefined) extra.push(`origin ${ORIGIN_NAMES[a.origin]}`);
  if (a.asPath?.length) extra.push(`as-path [${a.asPath.flatMap((s) => s.asns).join(' ')}]`);
  if (isFlowspecRoute(r)) {
    const then = (a.extCommunities ?? []).map((e) => flowAction(e) + ';').join(' ');
    const comm = extra.filter((e) => e.startsWith('community') || e.startsWith('large-community')).map((e) => e + ';').join(' ');
    return `flow route { match { ${formatFlowspecRule(r.rule)} } then { ${then}${comm ? ' ' + comm : ''} } }`;
  }
  if (a.extCommunities?.length) extra.push(`extended-community [${a.extCommunities.map(formatExtCommunity).join(' ')}]`);
  const nh = r.family === 'ipv4_unicast' ? a.nextHop : a.nextHop6;
  return [`route ${r.prefix}`, `next-hop ${nh}`, ...extra].join(' ');
}

export function formatRibEntry(e: AdjRibOutEntry): string {
  let s = `neighbor ${e.neighbor} ${formatRoute(e.route)} status ${e.status}`;
  if (e.reason) s += ` reason ${JSON.stringify(e.reason)}`;
  if (e.expiresAt) s += ` ttl ${Math.max(0, Math.ceil((e.expiresAt - Date.now()) / 1000))}`;
  return s;
}

/** Applies one parsed command; returns the output lines (the caller adds `done`). */
export async function execute(speaker: BgpSpeaker, cmd: Command): Promise<string[]> {
  switch (cmd.kind) {
    case 'announce':
    case 'withdraw': {
      let route = cmd.route;
      if (cmd.nextHopSelf && !isFlowspecRoute(route)) {
        route = { ...route, attrs: { ...route.attrs, ...(route.family === 'ipv4_unicast' ? { nextHop: 'self' } : { nextHop6: 'self' }) } };
      }
      if (cmd.kind === 'announce') speaker.announce(route, { neighbors: cmd.neighbors, ttlSeconds: cmd.ttl });
      else speaker.withdraw(route, { neighbors: cmd.neighbors });
      return [];
    }
    case 'show-neighbor-summary': {
      const all = await speaker.neighborsNow();
      const want = cmd.neighbors?.map((n) => n.toLowerCase());
      return all.filter((n) => !want || want.includes(n.address)).map(formatNeighbor);
    }
    case 'show-adj-rib-out': {
      const lists = cmd.neighbors ? await Promise.all(cmd.neighbors.map((n) => speaker.adjRibOut(n))) : [await speaker.adjRibOut()];
      return lists.flat().map(formatRibEntry);
    }
    case 'flush-adj-rib-out':
      if (cmd.neighbors) for (const n of cmd.neighbors) speaker.flush(n);
      else speaker.flush();
      return [];
  }
}

export async function run(argv: string[]): Promise<number> {
  const f = parseFlags(argv, FLAGS);
  if (f.positional.length) throw new UsageError(`unexpected argument ${f.positional[0]}`);
  const file = f.values.config;
  if (!file) throw new UsageError('-config FILE is required');
  const fmt = f.values['log-format'] ?? 'text';
  if (fmt !== 'text' && fmt !== 'json') throw new UsageError('-log-format must be text or json');
  let cfg;
  try {
    cfg = loadConfig(file);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(e.message + '\n');
      return 1;
    }
    throw e;
  }
  // stdout carries the command answers here: the log goes to stderr.
  const log = createLogger({ format: fmt, level: f.values['log-level'] ?? 'info', destination: process.stderr });
  if (cfg.bgp.neighbors.length === 0) log.warn('bgp: no neighbors configured');
  const speaker = new BgpSpeaker(cfg.bgp, log);
  speaker.on('peer-state', (_e: PeerStateEvent) => {
    /* logged by the speaker */
  });
  await speaker.start();
  const graceful = !f.flags.has('no-graceful');
  const out = (s: string) => process.stdout.write(s + '\n');

  let stopping: Promise<void> | undefined;
  const stop = (why: string) => {
    if (!stopping) {
      log.info({ reason: why, graceful }, 'bgp speaker stopping');
      stopping = speaker.stop({ graceful });
    }
    return stopping;
  };
  const onSignal = (sig: string) => () => void stop(sig).then(() => process.exit(0));
  process.once('SIGTERM', onSignal('SIGTERM'));
  process.once('SIGINT', onSignal('SIGINT'));

  const rl = createInterface({ input: process.stdin, crlfDelay: Infinity, terminal: false });
  for await (const raw of rl) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const p = parseCommand(line);
    if (!p.ok) {
      out(`error ${p.error}`);
      continue;
    }
    try {
      for (const l of await execute(speaker, p.command)) out(l);
      out('done');
    } catch (e) {
      out(`error ${(e as Error).message.replace(/\n/g, ' ')}`);
    }
  }
  await stop('end of input');
  return 0;
}
