/**
 * FRR bgpd as a real BGP peer for interop tests: runs without zebra (-Z),
 * listens on a loopback address and port of the test's choosing, with its
 * config, pid file and vty socket in a temp dir; queried with vtysh JSON.
 */
import { execFile } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { removeDir, startDaemon, stopDaemon, tempDir, waitFor, type Daemon } from './netns.ts';

const run = promisify(execFile);

export const BGPD = '/usr/lib/frr/bgpd';
export const VTYSH = '/usr/bin/vtysh';

export function frrAvailable(): boolean {
  return existsSync(BGPD) && existsSync(VTYSH) && process.getuid?.() === 0;
}

export interface FrrPeerOptions {
  routerId: string;
  listenAddress: string;
  listenPort: number;
  localAsn: number;
  peerAddress: string;
  peerPort: number;
  peerAsn: number;
  holdTime?: number;
}

export function frrConfig(o: FrrPeerOptions): string {
  const n = o.peerAddress;
  const hold = o.holdTime ?? 90;
  const af = (name: string) => ` address-family ${name}\n  neighbor ${n} activate\n exit-address-family\n`;
  return `frr defaults traditional
hostname bwtest
log stdout informational
router bgp ${o.localAsn}
 bgp router-id ${o.routerId}
 no bgp ebgp-requires-policy
 no bgp network import-check
 bgp log-neighbor-changes
 bgp graceful-restart
 neighbor ${n} remote-as ${o.peerAsn}
 neighbor ${n} port ${o.peerPort}
 neighbor ${n} update-source ${o.listenAddress}
 neighbor ${n} ebgp-multihop 2
 neighbor ${n} timers ${Math.max(1, Math.floor(hold / 3))} ${hold}
 neighbor ${n} timers connect 1
${af('ipv4 unicast')}${af('ipv6 unicast')}${af('ipv4 flowspec')}${af('ipv6 flowspec')}`;
}

export class Frr {
  readonly dir: string;
  readonly conf: string;
  daemon: Daemon | undefined;
  private readonly listenAddress: string;
  private readonly listenPort: number;

  constructor(config: string, listenAddress: string, listenPort: number) {
    this.dir = tempDir('bw-frr-');
    this.conf = join(this.dir, 'bgpd.conf');
    writeFileSync(this.conf, config);
    this.listenAddress = listenAddress;
    this.listenPort = listenPort;
  }

  get pid(): number {
    return this.daemon?.pid ?? -1;
  }

  async start(): Promise<void> {
    this.daemon = startDaemon(BGPD, [
      '-Z',
      '-S',
      '-n',
      '-p',
      String(this.listenPort),
      '-l',
      this.listenAddress,
      '-f',
      this.conf,
      '-i',
      join(this.dir, 'bgpd.pid'),
      '--vty_socket',
      this.dir,
      '-u',
      'root',
      '-g',
      'root',
    ]);
    await waitFor('bgpd vty', async () => (await this.vtysh('show bgp summary json')).includes('{'), 10000);
  }

  /** What bgpd wrote to stdout/stderr (its log: `log stdout informational`). */
  output(): string {
    return this.daemon?.output() ?? '';
  }

  async vtysh(cmd: string): Promise<string> {
    const { stdout } = await run(VTYSH, ['--vty_socket', this.dir, '-d', 'bgpd', '-c', cmd], { timeout: 10000, maxBuffer: 64 << 20 });
    return stdout;
  }

  async json<T = any>(cmd: string): Promise<T> {
    return JSON.parse(await this.vtysh(cmd)) as T;
  }

  /** The neighbor's state ("Established", "Active", ...). */
  async peerState(addr: string): Promise<string> {
    const j = await this.json(`show bgp neighbors ${addr} json`);
    return j[addr]?.bgpState ?? 'unknown';
  }

  async stop(): Promise<void> {
    if (this.daemon) await stopDaemon(this.daemon);
  }

  async dispose(): Promise<void> {
    await this.stop();
    removeDir(this.dir);
  }
}
