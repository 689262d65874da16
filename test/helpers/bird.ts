/**
 * BIRD 2 as a real BGP peer for interop tests: private config, control socket
 * and pid file in a temp dir; queried with birdc.
 */
import { execFile } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { removeDir, startDaemon, stopDaemon, tempDir, waitFor, type Daemon } from './netns.ts';

const run = promisify(execFile);

export const BIRD = '/usr/sbin/bird';
export const BIRDC = '/usr/sbin/birdc';

export function birdAvailable(): boolean {
  return existsSync(BIRD) && existsSync(BIRDC) && process.getuid?.() === 0;
}

export interface BirdPeerOptions {
  name?: string;
  routerId: string;
  localAddress: string;
  localPort: number;
  localAsn: number;
  /** Breakwater's address, port and AS. */
  peerAddress: string;
  peerPort: number;
  peerAsn: number;
  holdTime?: number;
  gracefulRestart?: boolean;
  /** Only accept the connection from Breakwater. */
  passive?: boolean;
  families?: Array<'ipv4' | 'ipv6' | 'flow4' | 'flow6'>;
  /** `enable extended messages on` (RFC 8654; BIRD's default is off). */
  extendedMessages?: boolean;
  /** `enable route refresh` (default on: BIRD then also advertises enhanced route refresh, RFC 7313). */
  routeRefresh?: boolean;
  /** Protocol trace options, e.g. `packets, events` (traces go to BIRD's stderr, Bird.output()). */
  debug?: string;
}

/**
 * A BIRD config with one BGP session toward Breakwater. Received next hops are
 * resolved recursively through static blackhole routes for the discard
 * prefixes 192.0.2.0/24 and 100::/64 (RFC 5737 / RFC 6666), so routes with a
 * real next hop are installed even though the session runs over loopback.
 */
export function birdConfig(o: BirdPeerOptions, extra = ''): string {
  const name = o.name ?? 'bw';
  const fams = o.families ?? ['ipv4', 'ipv6', 'flow4', 'flow6'];
  const ch: string[] = [];
  if (fams.includes('ipv4')) ch.push('  ipv4 { import all; export none; gateway recursive; };');
  if (fams.includes('ipv6')) ch.push('  ipv6 { import all; export none; gateway recursive; };');
  if (fams.includes('flow4')) ch.push('  flow4 { table flowtab4; import all; export none; validate off; };');
  if (fams.includes('flow6')) ch.push('  flow6 { table flowtab6; import all; export none; validate off; };');
  return `log stderr all;
router id ${o.routerId};
protocol device { scan time 60; }
flow4 table flowtab4;
flow6 table flowtab6;
protocol static s4 { ipv4; route 192.0.2.0/24 blackhole; route 198.51.100.0/24 blackhole; }
protocol static s6 { ipv6; route 100::/64 blackhole; route 2001:db8:ffff::/48 blackhole; }
protocol bgp ${name} {
  local ${o.localAddress} port ${o.localPort} as ${o.localAsn};
  neighbor ${o.peerAddress} port ${o.peerPort} as ${o.peerAsn};
  multihop;
  hold time ${o.holdTime ?? 90};
  keepalive time ${Math.max(1, Math.floor((o.holdTime ?? 90) / 3))};
  connect retry time 1;
  error wait time 1, 4;
  graceful restart ${o.gracefulRestart === false ? 'off' : 'on'};
  graceful restart time 60;
${o.passive ? '  passive on;\n' : ''}${o.extendedMessages ? '  enable extended messages on;\n' : ''}${o.routeRefresh === false ? '  enable route refresh off;\n' : ''}${o.debug ? `  debug { ${o.debug} };\n` : ''}${ch.join('\n')}
}
${extra}`;
}

export class Bird {
  readonly dir: string;
  readonly sock: string;
  readonly conf: string;
  daemon: Daemon | undefined;
  private readonly extraArgs: string[];

  constructor(config: string, extraArgs: string[] = []) {
    this.dir = tempDir('bw-bird-');
    this.sock = join(this.dir, 'bird.ctl');
    this.conf = join(this.dir, 'bird.conf');
    writeFileSync(this.conf, config);
    this.extraArgs = extraArgs;
  }

  get pid(): number {
    return this.daemon?.pid ?? -1;
  }

  async start(): Promise<void> {
    this.daemon = startDaemon(BIRD, ['-f', '-c', this.conf, '-s', this.sock, '-P', join(this.dir, 'bird.pid'), ...this.extraArgs]);
    await waitFor('birdc to answer', async () => (await this.birdc('show status')).includes('Daemon is up'), 10000);
  }

  /** What BIRD wrote to stdout/stderr (its log and protocol traces). */
  output(): string {
    return this.daemon?.output() ?? '';
  }

  async birdc(cmd: string): Promise<string> {
    const { stdout } = await run(BIRDC, ['-s', this.sock, cmd], { timeout: 10000, maxBuffer: 64 << 20 });
    return stdout;
  }

  /** `show protocols all NAME` parsed into a key → value map (first occurrence wins). */
  async protocol(name = 'bw'): Promise<Record<string, string>> {
    const out = await this.birdc(`show protocols all ${name}`);
    const m: Record<string, string> = {};
    for (const line of out.split('\n')) {
      const x = /^\s+([A-Za-z][A-Za-z0-9 _-]*?):\s+(.*)$/.exec(line);
      if (x && m[x[1]] === undefined) m[x[1]] = x[2].trim();
    }
    const head = out.split('\n').find((l) => l.startsWith(name + ' '));
    if (head) m.summary = head;
    return m;
  }

  async state(name = 'bw'): Promise<string> {
    return (await this.protocol(name))['BGP state'] ?? 'unknown';
  }

  /** Routes of a table with their attributes (`show route all table T`). */
  async routes(table: string): Promise<BirdRoute[]> {
    return parseBirdRoutes(await this.birdc(`show route all table ${table}`), table);
  }

  /** Number of routes in a table learned from protocol `proto`. */
  async count(table: string, proto = 'bw'): Promise<number> {
    const out = await this.birdc(`show route table ${table} protocol ${proto} count`);
    const m = /(\d+) of \d+ routes/.exec(out);
    return m ? Number(m[1]) : 0;
  }

  /** Routes learned from protocol `proto` in all tables (one birdc call). */
  async total(proto = 'bw'): Promise<number> {
    const out = await this.birdc(`show route table all protocol ${proto} count`);
    const m = /Total: (\d+) of/.exec(out);
    return m ? Number(m[1]) : 0;
  }

  async stop(): Promise<void> {
    if (this.daemon) await stopDaemon(this.daemon);
  }

  async dispose(): Promise<void> {
    await this.stop();
    removeDir(this.dir);
  }
}

export interface BirdRoute {
  table: string;
  /** Network text: "203.0.113.7/32" or "flow4 { dst 203.0.113.7/32; proto 17; }". */
  net: string;
  /** The route line after the network (dest, protocol, flags). */
  head: string;
  attrs: Record<string, string>;
}

/** Parses `show route all` output. */
export function parseBirdRoutes(out: string, table: string): BirdRoute[] {
  const routes: BirdRoute[] = [];
  let cur: BirdRoute | undefined;
  let lastNet = '';
  for (const line of out.split('\n')) {
    if (!line.trim() || line.startsWith('BIRD ') || line.startsWith('Table ')) continue;
    if (/^\S/.test(line)) {
      // "NET  head" — flow nets contain spaces inside braces
      let net: string, head: string;
      if (/^flow[46] \{/.test(line)) {
        const end = line.indexOf('}');
        net = line.slice(0, end + 1);
        head = line.slice(end + 1).trim();
      } else {
        const m = /^(\S+)\s+(.*)$/.exec(line)!;
        net = m[1];
        head = m[2];
      }
      lastNet = net;
      cur = { table, net, head, attrs: {} };
      routes.push(cur);
    } else if (/^\s{2,}\S/.test(line) && !line.startsWith('\t') && /\[/.test(line) && cur) {
      // another route for the same network
      cur = { table, net: lastNet, head: line.trim(), attrs: {} };
      routes.push(cur);
    } else if (cur) {
      const m = /^\s*([A-Za-z][\w.]*):\s*(.*)$/.exec(line);
      if (m) cur.attrs[m[1]] = m[2].trim();
    }
  }
  return routes;
}

export async function withBird<T>(config: string, fn: (b: Bird) => Promise<T>): Promise<T> {
  const b = new Bird(config);
  try {
    await b.start();
    return await fn(b);
  } finally {
    await b.dispose();
  }
}

/**
 * One BIRD as the router of a two-node cluster: session `bw1` with the node
 * at L(1), session `bw2` with the node at L(3), both on birdPort at L(2).
 */
export function clusterBird(L: (i: number) => string, birdPort: number, peerPort: number): Bird {
  const second = `
protocol bgp bw2 {
  local ${L(2)} port ${birdPort} as 65001;
  neighbor ${L(3)} as 65000;
  multihop;
  hold time 9;
  keepalive time 3;
  connect retry time 1;
  error wait time 1, 4;
  graceful restart on;
  passive on;
  ipv4 { import all; export none; gateway recursive; };
}`;
  return new Bird(birdConfig({ name: 'bw1', routerId: L(2), localAddress: L(2), localPort: birdPort, localAsn: 65001, peerAddress: L(1), peerPort, peerAsn: 65000, holdTime: 9, passive: true, families: ['ipv4'] }, second));
}
