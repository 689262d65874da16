/**
 * The passive BGP listener (`bgp.listen`): accepted connections go to the
 * session of the neighbor they come from; unknown sources are refused with
 * Cease/Connection Rejected. With TCP MD5 the listening socket carries one
 * key per MD5 neighbor (md5.ts).
 */
import * as net from 'node:net';
import type { Logger } from 'pino';
import { canonicalAddress } from '../core/ip.ts';
import { ERR, CEASE_SUB } from './constants.ts';
import type { ListenMd5, TcpMd5Addon } from './md5.ts';
import { encodeNotification } from './notification.ts';
import { Session } from './session.ts';

/** What the listener does with a connection: the session, a refusal reason, or unknown (undefined). */
export type ListenRoute = Session | { refuse: string } | undefined;

/**
 * Accepts passive connections (`bgp.listen`) and hands each to the session
 * whose neighbor address matches; unknown sources are refused with
 * Cease/Connection Rejected. With TCP MD5 the socket is created by the addon
 * with a key per MD5 peer (the kernel drops their unsigned or wrongly signed
 * SYNs, and accepted sockets inherit the key); setKey() changes keys on the
 * live socket.
 */
export class BgpListener {
  private server: net.Server | undefined;
  private readonly log: Logger;
  private readonly route: (remote: string) => ListenRoute;
  private md5: { addon: TcpMd5Addon; fd: number; keys: Map<string, string> } | undefined;
  refused = 0;

  constructor(log: Logger, route: (remote: string) => ListenRoute) {
    this.log = log;
    this.route = route;
  }

  /** true when this listener was created with TCP MD5 support. */
  get signing(): boolean {
    return this.md5 !== undefined;
  }

  /** true when incoming connections from `peer` (canonical address) must carry its TCP MD5 signature. */
  keyed(peer: string): boolean {
    return this.md5?.keys.has(peer) ?? false;
  }

  listen(host: string, port: number, md5?: ListenMd5): Promise<{ address: string; port: number }> {
    return new Promise((resolve, reject) => {
      const srv = net.createServer((sock) => this.onConnection(sock));
      const failed = (e: Error) => {
        this.md5 = undefined;
        reject(e);
      };
      srv.once('error', failed);
      const ready = () => {
        srv.off('error', failed);
        srv.on('error', (e) => this.log.warn({ err: e.message }, 'bgp listener error'));
        this.server = srv;
        const a = srv.address() as net.AddressInfo;
        this.log.info({ address: a.address, port: a.port, md5_peers: this.md5?.keys.size }, 'bgp listening');
        resolve({ address: a.address, port: a.port });
      };
      if (!md5) {
        srv.listen({ host: host || '::', port, ipv6Only: false }, ready);
        return;
      }
      if (!md5.addon.md5Listen || !md5.addon.md5SetKey) {
        reject(new Error('the TCP MD5 addon is too old for passive sessions (no md5Listen): rebuild it from src/bgp/tcp_md5.c'));
        return;
      }
      let fd: number;
      try {
        fd = md5.addon.md5Listen(host === '::' ? '' : host, port, [...md5.keys]);
      } catch (e) {
        reject(new Error(`bgp listen ${host || '::'} port ${port} with TCP MD5: ${(e as Error).message}`));
        return;
      }
      this.md5 = { addon: md5.addon, fd, keys: new Map(md5.keys) };
      srv.listen({ fd }, ready);
    });
  }

  /** Adds, replaces (key) or removes (null) a peer's TCP MD5 key on the listening socket. */
  setKey(peer: string, key: string | null): void {
    const m = this.md5;
    if (!m || !this.server) throw new Error('the listener was not created with TCP MD5');
    if (key === null) {
      if (!m.keys.has(peer)) return;
      m.addon.md5SetKey!(m.fd, peer, '');
      m.keys.delete(peer);
      return;
    }
    if (m.keys.get(peer) === key) return;
    m.addon.md5SetKey!(m.fd, peer, key);
    m.keys.set(peer, key);
  }

  /** Peers whose key is installed. */
  keyedPeers(): string[] {
    return [...(this.md5?.keys.keys() ?? [])];
  }

  private onConnection(sock: net.Socket): void {
    const remote = normalizeAddress(sock.remoteAddress ?? '');
    const s = this.route(remote);
    if (!(s instanceof Session)) {
      this.refused++;
      if (s) this.log.warn({ remote, reason: s.refuse }, 'bgp incoming connection refused');
      else this.log.warn({ remote }, 'bgp connection from an unknown address refused');
      sock.on('error', () => {});
      sock.end(encodeNotification(ERR.CEASE, CEASE_SUB.CONNECTION_REJECTED));
      setTimeout(() => sock.destroy(), 1000).unref();
      return;
    }
    s.acceptIncoming(sock);
  }

  close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    this.md5 = undefined;
    if (!s) return Promise.resolve();
    // close() waits for accepted connections; the sessions close those, bounded here
    return new Promise((resolve) => {
      const t = setTimeout(resolve, 3000);
      t.unref();
      s.close(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}

/** A neighbor's identity: core/ip.ts canonicalAddress (the one normalisation of config, mitigation and the speaker). */
export function normalizeAddress(a: string): string {
  return canonicalAddress(a);
}
