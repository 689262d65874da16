/**
 * Batched UDP receive through the optional addon src/flow/udp_recv.c
 * (recvmmsg into one ArrayBuffer, one call into JavaScript per batch; see the
 * comment there). Same contract as listener.ts's listenUdp: the handler gets
 * (datagram, exporter name, source port) per datagram, synchronously.
 *
 * The datagram handed to the handler is a view of the receive buffer: it is
 * valid only until the handler returns (the next batch overwrites it). The
 * decoders copy whatever they keep (held data sets, template bytes).
 */
import { loadAddon, type AddonInfo } from '../core/addon.ts';
import { formatIPv4, formatIPv6 } from '../core/ip.ts';
import { listenUdp, type ListenSpec, type OnDatagram, type UdpListener, type UdpOptions } from './listener.ts';
import { BreakwaterError } from '../core/errors.ts';

/** The addon's exports (src/flow/udp_recv.c). */
export interface UdpRecvAddon {
  udpOpen(host: string, port: number, reusePort: boolean, receiveBufferBytes: number): { fd: number; port: number; family: 4 | 6; dualStack: boolean; receiveBufferBytes: number };
  udpStart(fd: number, data: ArrayBuffer, meta: ArrayBuffer, slots: number, slotBytes: number, onBatch: (n: number) => void): object;
  udpStop(handle: object): void;
  udpClose(fd: number): void;
}

export const UDP_RECV_ASSET = 'udp_recv.node';
export const UDP_RECV_ENV = 'BREAKWATER_UDP_RECV_ADDON';

/** The addon and where it came from (looked up once per thread and value of $BREAKWATER_UDP_RECV_ADDON). */
export function udpRecvInfo(): AddonInfo<UdpRecvAddon> {
  return loadAddon<UdpRecvAddon>({
    asset: UDP_RECV_ASSET,
    env: UDP_RECV_ENV,
    what: 'batched UDP receive addon',
    exports: ['udpOpen', 'udpStart', 'udpStop', 'udpClose'],
    fromSource: () => new URL('../../dist/udp_recv.node', import.meta.url),
    beside: () => new URL('./udp_recv.node', import.meta.url),
    build: 'npm run build:native',
  });
}

/** Datagrams per recvmmsg(2). */
export const BATCH_SLOTS = 64;
/**
 * Bytes per slot: the largest UDP payload over IPv4 or IPv6 (65 507 / 65 527)
 * fits, so nothing is truncated. Only the pages a datagram touches become
 * resident. The extra 192 bytes keep slot starts off the same cache sets.
 */
export const SLOT_STRIDE = 65536 + 192;

const META_WORDS = 8;

export interface BatchedListener extends UdpListener {
  /** Datagrams the kernel dropped on this socket because its receive buffer was full (SO_MEMINFO / SO_RXQ_OVFL; cumulative). */
  readonly kernelDrops: number;
  /** Datagrams longer than a slot (cannot happen with the default slot size). */
  readonly truncated: number;
}

/** Names by source address: the last one, then a bounded map (same policy as listener.ts AddressNames). */
class SourceNames {
  private lastFam = 0;
  private l0 = 0;
  private l1 = 0;
  private l2 = 0;
  private l3 = 0;
  private lastName = '';
  private readonly v4 = new Map<number, string>();
  private readonly v6 = new Map<string, string>();
  private readonly bytes = new Uint8Array(16);
  private readonly words = new Uint32Array(this.bytes.buffer);

  name(meta: Uint32Array, w: number): string {
    const fam = meta[w + 2];
    const a0 = meta[w + 4], a1 = meta[w + 5], a2 = meta[w + 6], a3 = meta[w + 7];
    if (fam === this.lastFam && a0 === this.l0 && a1 === this.l1 && a2 === this.l2 && a3 === this.l3) return this.lastName;
    let n: string | undefined;
    // The words hold the address in network order as the host (little endian) reads it.
    if (fam === 4 || (a0 === 0 && a1 === 0 && a2 === 0xffff0000)) {
      const v4 = fam === 4 ? a0 : a3;
      n = this.v4.get(v4);
      if (n === undefined) {
        n = formatIPv4((((v4 & 0xff) << 24) | (((v4 >>> 8) & 0xff) << 16) | (((v4 >>> 16) & 0xff) << 8) | (v4 >>> 24)) >>> 0);
        if (this.v4.size >= 8192) this.v4.clear();
        this.v4.set(v4, n);
      }
    } else {
      const key = `${a0},${a1},${a2},${a3}`;
      n = this.v6.get(key);
      if (n === undefined) {
        const w4 = this.words;
        w4[0] = a0;
        w4[1] = a1;
        w4[2] = a2;
        w4[3] = a3;
        n = formatIPv6(this.bytes);
        if (this.v6.size >= 8192) this.v6.clear();
        this.v6.set(key, n);
      }
    }
    this.lastFam = fam;
    this.l0 = a0;
    this.l1 = a1;
    this.l2 = a2;
    this.l3 = a3;
    this.lastName = n;
    return n;
  }
}

/**
 * Binds spec through the addon and calls onMessage for every datagram. Throws
 * (like listenUdp) when the address cannot be bound; errors carry `code`.
 */
export function listenUdpBatched(addon: UdpRecvAddon, spec: ListenSpec, opts: UdpOptions, onMessage: OnDatagram): BatchedListener {
  const host = spec.host === 'localhost' ? '127.0.0.1' : spec.host;
  const s = addon.udpOpen(host, spec.port, opts.reusePort === true, opts.receiveBufferBytes ?? 0);
  const data = new ArrayBuffer(BATCH_SLOTS * SLOT_STRIDE);
  const metaBuf = new ArrayBuffer((BATCH_SLOTS + 1) * META_WORDS * 4);
  const meta = new Uint32Array(metaBuf);
  const names = new SourceNames();
  let kernelDrops = 0, truncated = 0;
  let closed = false;
  const onBatch = (n: number) => {
    if (meta[2] === 1) kernelDrops = meta[1];
    // closed: close() was called by the handler, mid-batch; the rest is not delivered.
    for (let i = 0; i < n && !closed; i++) {
      const w = META_WORDS * (i + 1);
      if (meta[w + 1] !== 0) truncated++;
      // One Buffer object per datagram over the shared receive buffer: a view, no copy.
      const msg = Buffer.from(data, i * SLOT_STRIDE, meta[w]);
      try {
        onMessage(msg, names.name(meta, w), meta[w + 3]);
      } catch {
        // the handler never throws (IngestPipeline); a throw here must not stop the socket
      }
    }
  };
  let handle: object;
  try {
    handle = addon.udpStart(s.fd, data, metaBuf, BATCH_SLOTS, SLOT_STRIDE, onBatch);
  } catch (e) {
    addon.udpClose(s.fd);
    throw e;
  }
  return {
    address: host === '' ? (s.family === 6 ? '::' : '0.0.0.0') : host,
    port: s.port,
    receiveBufferBytes: s.receiveBufferBytes,
    dualStack: s.dualStack,
    get kernelDrops() {
      return kernelDrops;
    },
    get truncated() {
      return truncated;
    },
    close: async () => {
      if (closed) return;
      closed = true;
      addon.udpStop(handle);
    },
  };
}

/** listen.receiver */
export type ReceiverMode = 'auto' | 'batched' | 'dgram';
/** What a collector thread actually reads with. */
export type Receiver = 'batched' | 'dgram';

export interface ReceiverChoice {
  receiver: Receiver;
  addon: UdpRecvAddon | null;
  /** Why 'auto' fell back to node:dgram ('' otherwise). */
  note: string;
}

/**
 * The receiver for listen.receiver in this thread. 'batched' without the addon
 * (or off Linux) throws, naming why; 'auto' falls back to node:dgram and says why.
 */
export function chooseReceiver(mode: ReceiverMode): ReceiverChoice {
  if (mode === 'dgram') return { receiver: 'dgram', addon: null, note: '' };
  const info = process.platform === 'linux' ? udpRecvInfo() : { addon: null, source: '', error: `batched receive is Linux only (platform ${process.platform})` };
  if (info.addon) return { receiver: 'batched', addon: info.addon, note: '' };
  if (mode === 'batched') throw new BreakwaterError('feature_unavailable', `listen.receiver is "batched" but ${info.error}`, { key: 'listen.receiver' });
  return { receiver: 'dgram', addon: null, note: info.error };
}

/** Opens spec with the chosen receiver. */
export async function openUdp(how: ReceiverChoice, spec: ListenSpec, opts: UdpOptions, onMessage: OnDatagram): Promise<UdpListener> {
  return how.addon ? listenUdpBatched(how.addon, spec, opts, onMessage) : listenUdp(spec, opts, onMessage);
}

/** Kernel drops seen on these listeners together (node:dgram listeners add 0: they cannot see them). */
export function kernelDrops(listeners: readonly UdpListener[]): number {
  let n = 0;
  for (const l of listeners) if ('kernelDrops' in l) n += (l as BatchedListener).kernelDrops;
  return n;
}
