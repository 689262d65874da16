/**
 * etcd (Debian's /usr/bin/etcd) for cluster tests: one member or a
 * three-member cluster on loopback, each with a private data dir, stopped by
 * PID in t.after even when the test fails. A member can be stopped and
 * started again with the same data dir (partition and member-loss tests).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { execFileSync } from 'node:child_process';
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

/** PEM files of a test CA and of the server and client certificates it signed (openssl, in a temp dir). */
export interface TestPki {
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

/**
 * Makes a CA, a server certificate for 127.0.0.1 and a client certificate
 * with openssl (EC P-256 keys: a few hundred milliseconds in all).
 */
export function makePki(dir: string): TestPki {
  const f = (n: string) => join(dir, n);
  const ossl = (...args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 15_000 });
  const key = (n: string) => ossl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', f(n));
  key('ca.key');
  ossl('req', '-x509', '-new', '-key', f('ca.key'), '-subj', '/CN=breakwater-test-ca', '-days', '2', '-out', f('ca.pem'));
  const leaf = (name: string, cn: string, ext: string) => {
    key(`${name}.key`);
    ossl('req', '-new', '-key', f(`${name}.key`), '-subj', `/CN=${cn}`, '-out', f(`${name}.csr`));
    writeFileSync(f(`${name}.ext`), ext);
    ossl('x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '2', '-extfile', f(`${name}.ext`), '-out', f(`${name}.pem`));
  };
  leaf('server', '127.0.0.1', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  leaf('client', 'breakwater', 'extendedKeyUsage=clientAuth\n');
  return { ca: f('ca.pem'), serverCert: f('server.pem'), serverKey: f('server.key'), clientCert: f('client.pem'), clientKey: f('client.key') };
}

export class EtcdCluster {
  readonly members: Member[];
  readonly root: string;
  private readonly token: string;
  /** Set when the members serve clients over TLS and require a client certificate. */
  tls: TestPki | undefined;

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
  static async start(size = 1, host = '127.0.0.1', opts: { tls?: boolean } = {}): Promise<EtcdCluster> {
    const root = tempDir('bw-etcd-');
    const members: Member[] = [];
    const scheme = opts.tls ? 'https' : 'http';
    for (let i = 0; i < size; i++) {
      const cp = randomPort();
      const pp = cp + 1;
      members.push({ name: `m${i}`, clientUrl: `${scheme}://${host}:${cp}`, peerUrl: `http://${host}:${pp}`, dir: join(root, `m${i}`) });
    }
    const c = new EtcdCluster(members, root);
    if (opts.tls) {
      try {
        c.tls = makePki(root);
      } catch (e) {
        removeDir(root);
        throw e;
      }
    }
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
      ...(this.tls ? ['--cert-file', this.tls.serverCert, '--key-file', this.tls.serverKey, '--client-cert-auth', '--trusted-ca-file', this.tls.ca] : []),
    ]);
  }

  /** Every running member answers GET /health with health true. */
  async waitHealthy(timeoutMs = 20_000): Promise<void> {
    for (const m of this.members) {
      if (!m.proc) continue;
      await waitFor(`etcd ${m.name} healthy`, async () => {
        if (m.proc && m.proc.proc.exitCode !== null) throw new Error(`etcd ${m.name} exited: ${m.proc.output().slice(-2000)}`);
        const j = JSON.parse(await this.get(`${m.clientUrl}/health`)) as { health?: string };
        return j.health === 'true';
      }, timeoutMs, 100);
    }
  }

  /** GET over http, or over https with the test CA and client certificate. */
  private async get(url: string): Promise<string> {
    const tls = this.tls;
    if (!tls) return (await fetch(url, { signal: AbortSignal.timeout(1000) })).text();
    return new Promise((resolve, reject) => {
      const req = request(url, { ca: readFileSync(tls.ca), cert: readFileSync(tls.clientCert), key: readFileSync(tls.clientKey), timeout: 1000 }, (res) => {
        let b = '';
        res.on('data', (c) => (b += c));
        res.on('end', () => resolve(b));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', reject);
      req.end();
    });
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
