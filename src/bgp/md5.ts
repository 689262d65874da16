/**
 * TCP MD5 (RFC 2385) for BGP sessions: the optional native addon built from
 * src/bgp/tcp_md5.c, looked up once per thread. Sessions use it to sign
 * outgoing connections, the listener to key its socket per peer.
 */
import { loadAddon, type AddonInfo } from '../core/addon.ts';

/** The optional native addon built from src/bgp/tcp_md5.c (see the comment there). */
export interface TcpMd5Addon {
  /** An unconnected socket with the peer's key set, bound to `local` if given. */
  md5Socket(peer: string, key: string, local?: string): number;
  /** A listening socket on host:port ("" = dual stack) with the keys installed before listen(). */
  md5Listen?(host: string, port: number, keys?: Array<[peer: string, key: string]>, backlog?: number): number;
  /** Adds, replaces or (key "") removes a peer's key on a socket. */
  md5SetKey?(fd: number, peer: string, key: string): void;
}

export type TcpMd5Info = AddonInfo<TcpMd5Addon>;

/** Name of the addon inside the single executable (scripts/build-sea.ts). */
export const TCP_MD5_ASSET = 'tcp_md5.node';

/**
 * The optional TCP MD5 addon and where it came from, looked up once per
 * thread and value of $BREAKWATER_TCP_MD5_ADDON: that path if set; else,
 * inside the single executable, the embedded copy; else dist/tcp_md5.node
 * (source). See src/core/addon.ts.
 */
export function tcpMd5Info(): TcpMd5Info {
  return loadAddon<TcpMd5Addon>({
    asset: TCP_MD5_ASSET,
    env: 'BREAKWATER_TCP_MD5_ADDON',
    what: 'TCP MD5 addon',
    exports: ['md5Socket'],
    fromSource: () => new URL('../../dist/tcp_md5.node', import.meta.url),
    beside: () => new URL('./tcp_md5.node', import.meta.url),
    build: 'npm run build:native',
  });
}

/** The addon, or null (tcpMd5Info().error says why). */
export function tcpMd5Addon(): TcpMd5Addon | null {
  return tcpMd5Info().addon;
}

/** Keys for the listening socket: canonical peer address → password. */
export interface ListenMd5 {
  addon: TcpMd5Addon;
  keys: ReadonlyMap<string, string>;
}
