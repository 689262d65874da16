/**
 * UDP sockets for flow ingest: the only node:dgram user in src/ (the
 * benchmark's bare receive loop and its sender use these helpers too).
 *
 * Per datagram node:dgram hands over a fresh address string; AddressNames maps
 * it to ONE string per exporter (IPv4-mapped turned into dotted form once), so
 * the per-exporter lookups downstream hit a string whose hash is already known
 * and compare by reference, and no string is built per datagram.
 *
 * ":2055" binds "::" with IPV6_V6ONLY off, so one socket takes IPv4 and IPv6
 * exporters (falls back to 0.0.0.0 where IPv6 is unavailable). IPv4 senders on
 * a dual-stack socket show up as ::ffff:a.b.c.d; remoteAddress() turns them
 * back into a.b.c.d so exporters are named the same either way.
 *
 * With reusePort (SO_REUSEPORT, Linux), several sockets - one per collector
 * worker thread - bind the same address and port, and the kernel spreads
 * datagrams over them by a hash of the 4-tuple (source address and port,
 * destination address and port). An exporter sends from one source port, so
 * all its datagrams reach the same socket and thus the same decoder and
 * template cache. When a socket joins or leaves the group the hash may move an
 * exporter to another worker, which then waits for its next template refresh.
 */
import dgram from 'node:dgram';
import { parseListen } from '../config/schema.ts';
import { BreakwaterError } from '../core/errors.ts';

export interface ListenSpec {
  host: string;
  port: number;
}

/** "host:port" / ":port" / "[v6]:port" -> spec; "" -> null (listener disabled). Throws on garbage. */
export function parseListenSpec(s: string): ListenSpec | null {
  if (s === '') return null;
  const p = parseListen(s);
  if (!p) throw new BreakwaterError('invalid_config', `"${s}" is not a listen address`);
  return p;
}

export interface UdpOptions {
  reusePort?: boolean;
  /** SO_RCVBUF request; the kernel caps it at net.core.rmem_max. */
  receiveBufferBytes?: number;
}

export interface UdpListener {
  readonly address: string;
  readonly port: number;
  /** Receive buffer the kernel actually granted (Linux reports twice the usable size). */
  readonly receiveBufferBytes: number;
  readonly dualStack: boolean;
  close(): Promise<void>;
}

export type OnDatagram = (msg: Buffer, address: string, port: number) => void;
/** node:dgram's own 'message' handler, untouched (the benchmark's bare loop). */
export type OnRawDatagram = (msg: Buffer, rinfo: dgram.RemoteInfo) => void;

/** ::ffff:192.0.2.1 -> 192.0.2.1 */
export function remoteAddress(a: string): string {
  return a.length > 7 && a.charCodeAt(0) === 58 && a.startsWith('::ffff:') && a.indexOf('.') !== -1 ? a.slice(7) : a;
}

const MAX_NAMES = 8192;

/** rinfo.address -> the one canonical string for that exporter (bounded: cleared when full). */
export class AddressNames {
  private lastRaw = '';
  private lastName = '';
  private readonly names = new Map<string, string>();

  name(raw: string): string {
    if (raw === this.lastRaw) return this.lastName;
    let n = this.names.get(raw);
    if (n === undefined) {
      n = remoteAddress(raw);
      if (this.names.size >= MAX_NAMES) this.names.clear();
      this.names.set(raw, n);
    }
    this.lastRaw = raw;
    this.lastName = n;
    return n;
  }
}

function bind(type: 'udp4' | 'udp6', host: string, port: number, opts: UdpOptions, ipv6Only: boolean, onMessage: OnDatagram | OnRawDatagram, raw: boolean): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket({ type, reuseAddr: false, reusePort: opts.reusePort === true, ipv6Only });
    const onError = (err: Error) => {
      sock.removeListener('listening', onListening);
      try {
        sock.close();
      } catch {
        // already closed
      }
      reject(err);
    };
    const onListening = () => {
      sock.removeListener('error', onError);
      resolve(sock);
    };
    sock.once('error', onError);
    sock.once('listening', onListening);
    if (raw) sock.on('message', onMessage as OnRawDatagram);
    else {
      const names = new AddressNames();
      const on = onMessage as OnDatagram;
      sock.on('message', (msg, rinfo) => on(msg, names.name(rinfo.address), rinfo.port));
    }
    sock.bind({ address: host, port, exclusive: true });
  });
}

export function listenUdp(spec: ListenSpec, opts: UdpOptions, onMessage: OnDatagram): Promise<UdpListener> {
  return open(spec, opts, onMessage, false);
}

/** A listener whose handler gets node:dgram's (msg, rinfo) as they come: the benchmark's bare loop. */
export function listenUdpRaw(spec: ListenSpec, opts: UdpOptions, onMessage: OnRawDatagram): Promise<UdpListener> {
  return open(spec, opts, onMessage, true);
}

async function open(spec: ListenSpec, opts: UdpOptions, onMessage: OnDatagram | OnRawDatagram, raw: boolean): Promise<UdpListener> {
  let sock: dgram.Socket;
  let dualStack = false;
  const host = spec.host === 'localhost' ? '127.0.0.1' : spec.host;
  if (host === '' || host === '::') {
    try {
      sock = await bind('udp6', '::', spec.port, opts, false, onMessage, raw);
      dualStack = true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (host === '::' || (code !== 'EAFNOSUPPORT' && code !== 'EADDRNOTAVAIL' && code !== 'EINVAL')) throw err;
      sock = await bind('udp4', '0.0.0.0', spec.port, opts, false, onMessage, raw);
    }
  } else {
    sock = await bind(host.includes(':') ? 'udp6' : 'udp4', host, spec.port, opts, host.includes(':'), onMessage, raw);
  }
  let granted = 0;
  if (opts.receiveBufferBytes && opts.receiveBufferBytes > 0) {
    try {
      sock.setRecvBufferSize(opts.receiveBufferBytes);
    } catch {
      // capped or refused: report what we have
    }
  }
  try {
    granted = sock.getRecvBufferSize();
  } catch {
    granted = 0;
  }
  sock.on('error', () => {
    // Receive errors (e.g. ICMP port unreachable echoes) must not kill the collector.
  });
  const addr = sock.address();
  let closed = false;
  return {
    address: addr.address,
    port: addr.port,
    receiveBufferBytes: granted,
    dualStack,
    close: () =>
      new Promise<void>((resolve) => {
        if (closed) return resolve();
        closed = true;
        sock.close(() => resolve());
      }),
  };
}

/** A plain UDP sender (tests, benchmarks, replay). */
export class UdpSender {
  private readonly sock: dgram.Socket;
  private readonly ready: Promise<void>;

  constructor(family: 4 | 6 = 4, localPort = 0) {
    this.sock = dgram.createSocket(family === 6 ? 'udp6' : 'udp4');
    this.sock.on('error', () => {});
    this.ready = new Promise((resolve) => this.sock.bind(localPort, family === 6 ? '::1' : '127.0.0.1', () => resolve()));
  }

  async port(): Promise<number> {
    await this.ready;
    return this.sock.address().port;
  }

  async send(buf: Uint8Array, port: number, host: string): Promise<void> {
    await this.ready;
    return new Promise((resolve, reject) => this.sock.send(buf, port, host, (err) => (err ? reject(err) : resolve())));
  }

  /** Fire-and-forget send (counts on the callback-less path being cheap). */
  sendNow(buf: Uint8Array, port: number, host: string, cb?: (err: Error | null) => void): void {
    this.sock.send(buf, port, host, cb);
  }

  async close(): Promise<void> {
    await this.ready;
    return new Promise((resolve) => this.sock.close(() => resolve()));
  }
}
