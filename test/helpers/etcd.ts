/**
 * etcd (Debian's /usr/bin/etcd) for cluster tests: one member or a
 * three-member cluster on loopback, each with a private data dir, stopped by
 * PID in t.after even when the test fails. A member can be stopped and
 * started again with the same data dir (partition and member-loss tests).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { removeDir, startDaemon, stopDaemon, tempDir, waitFor, randomPort, type Daemon } from './netns.ts';

export const ETCD = '/usr/bin/etcd';

export function etcdAvailable(): boolean {
  return existsSync(ETCD);
}

interface Member {
  name: string;
  clientUrl: string;
  peerUrl: string;
  dir: string;
  proc?: Daemon;
}

export class EtcdCluster {
  readonly members: Member[];
  readonly root: string;
  private readonly token: string;

  private constructor(members: Member[], root: string) {
    this.members = members;
    this.root = root;
    this.token = `bw-test-${process.pid}-${Math.floor(Math.random() * 1e9)}`;
  }

  /** Client URLs of every member (what `cluster.etcd.endpoints` lists). */
  get endpoints(): string[] {
    return this.members.map((m) => m.clientUrl);
  }

  /** Starts `size` members on 127.0.0.1 with random ports; resolves once every member answers /health. */
  static async start(size = 1, host = '127.0.0.1'): Promise<EtcdCluster> {
    const root = tempDir('bw-etcd-');
    const members: Member[] = [];
    for (let i = 0; i < size; i++) {
      const cp = randomPort();
      const pp = cp + 1;
      members.push({ name: `m${i}`, clientUrl: `http://${host}:${cp}`, peerUrl: `http://${host}:${pp}`, dir: join(root, `m${i}`) });
    }
    const c = new EtcdCluster(members, root);
    for (let i = 0; i < size; i++) c.spawn(i, 'new');
    try {
      await c.waitHealthy();
    } catch (e) {
      await c.stop();
      throw e;
    }
    return c;
  }

  private spawn(i: number, state: 'new' | 'existing'): void {
    const m = this.members[i];
    const initial = this.members.map((x) => `${x.name}=${x.peerUrl}`).join(',');
    m.proc = startDaemon(ETCD, [
      '--name', m.name,
      '--data-dir', m.dir,
      '--listen-client-urls', m.clientUrl,
      '--advertise-client-urls', m.clientUrl,
      '--listen-peer-urls', m.peerUrl,
      '--initial-advertise-peer-urls', m.peerUrl,
      '--initial-cluster', initial,
      '--initial-cluster-token', this.token,
      '--initial-cluster-state', state,
      '--heartbeat-interval', '100',
      '--election-timeout', '1000',
      '--log-level', 'warn',
      '--logger', 'zap',
    ]);
  }

  /** Every running member answers GET /health with health true. */
  async waitHealthy(timeoutMs = 20_000): Promise<void> {
    for (const m of this.members) {
      if (!m.proc) continue;
      await waitFor(`etcd ${m.name} healthy`, async () => {
        if (m.proc && m.proc.proc.exitCode !== null) throw new Error(`etcd ${m.name} exited: ${m.proc.output().slice(-2000)}`);
        const r = await fetch(`${m.clientUrl}/health`, { signal: AbortSignal.timeout(1000) });
        const j = (await r.json()) as { health?: string };
        return j.health === 'true';
      }, timeoutMs, 100);
    }
  }

  /** Stops member i (SIGTERM, then SIGKILL); its data dir stays. */
  async stopMember(i: number): Promise<void> {
    const m = this.members[i];
    if (m.proc) await stopDaemon(m.proc);
    m.proc = undefined;
  }

  /** Starts member i again on its data dir and waits until the running members are healthy. */
  async startMember(i: number): Promise<void> {
    if (this.members[i].proc) return;
    this.spawn(i, 'existing');
    await this.waitHealthy();
  }

  output(i = 0): string {
    return this.members[i].proc?.output() ?? '';
  }

  /** Stops every member and removes the data dirs. */
  async stop(): Promise<void> {
    for (let i = 0; i < this.members.length; i++) await this.stopMember(i);
    removeDir(this.root);
  }
}
