/**
 * Replays the UDP datagrams of a capture to a collector, in capture order,
 * at the capture's pace scaled by `speed` (0 = as fast as possible) or at a
 * fixed number of datagrams per second. Used by `breakwater replay`.
 *
 * Pacing: datagram i of loop k is due at start + (t_i - t_0 + k * period) / speed
 * (or start + (k * n + i) / pps); whatever is due is sent at once, then the
 * sender sleeps until the next due time. Late datagrams are sent immediately,
 * so a slow moment does not stretch the whole replay.
 */
import dgram from 'node:dgram';
import { isIP } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { UdpPacket } from './pcap.ts';
import { BreakwaterError } from '../core/errors.ts';

export interface ReplayTarget {
  host: string;
  port: number;
}

export interface ReplayOptions {
  to: ReplayTarget;
  /** Local source address to bind (exporters are identified by source address). */
  from?: string;
  /** Capture-time scale: 1 = original pace, 2 = twice as fast, 0 = as fast as possible. Default 1. */
  speed?: number;
  /** Fixed datagrams per second instead of the capture's pace. */
  pps?: number;
  /** Number of passes over the capture. Default 1. */
  loop?: number;
  /** Stops the replay early (the summary covers what was sent). */
  signal?: AbortSignal;
  /** Monotonic clock in ms (tests). */
  now?: () => number;
}

export interface ReplaySummary {
  datagrams: number;
  bytes: number;
  /** Wall-clock duration of the replay in ms. */
  durationMs: number;
  /** Datagrams the socket refused to send. */
  errors: number;
}

/** Parses HOST:PORT, [IPv6]:PORT or IPv6 with a trailing :PORT. Throws with a message on error. */
export function parseHostPort(s: string): ReplayTarget {
  let host: string;
  let portText: string;
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(s);
  if (m) {
    host = m[1];
    portText = m[2];
  } else {
    const i = s.lastIndexOf(':');
    if (i <= 0) throw new BreakwaterError('invalid_argument', `expected HOST:PORT, got "${s}"`);
    host = s.slice(0, i);
    portText = s.slice(i + 1);
  }
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port < 1 || port > 65535) throw new BreakwaterError('invalid_argument', `bad port in "${s}"`);
  if (host === 'localhost') host = '127.0.0.1';
  if (!isIP(host)) throw new BreakwaterError('invalid_argument', `expected an IP address in "${s}"`);
  return { host, port };
}

/** Sends `packets` (already read from a capture) to opts.to. */
export async function replayPackets(packets: readonly UdpPacket[], opts: ReplayOptions): Promise<ReplaySummary> {
  const speed = opts.speed ?? 1;
  const pps = opts.pps;
  const loops = opts.loop ?? 1;
  if (!(speed >= 0) || !Number.isFinite(speed)) throw new BreakwaterError('invalid_argument', 'speed must be a number >= 0');
  if (pps !== undefined && (!(pps > 0) || !Number.isFinite(pps))) throw new BreakwaterError('invalid_argument', 'pps must be a number > 0');
  if (!Number.isInteger(loops) || loops < 1) throw new BreakwaterError('invalid_argument', 'loop must be an integer >= 1');
  const family = isIP(opts.to.host);
  if (family === 0) throw new BreakwaterError('invalid_argument', `not an IP address: ${opts.to.host}`);
  if (opts.from !== undefined && isIP(opts.from) !== family) throw new BreakwaterError('invalid_argument', `--from ${opts.from} is not of the same address family as ${opts.to.host}`);
  const now = opts.now ?? (() => performance.now());

  const sock = dgram.createSocket({ type: family === 6 ? 'udp6' : 'udp4' });
  const summary: ReplaySummary = { datagrams: 0, bytes: 0, durationMs: 0, errors: 0 };
  try {
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind({ address: opts.from ?? (family === 6 ? '::' : '0.0.0.0'), port: 0 }, () => {
        sock.off('error', reject);
        resolve();
      });
    });
    try {
      sock.setSendBufferSize(4 << 20);
    } catch {
      // keep the system default
    }
    const send = (buf: Buffer) =>
      new Promise<void>((resolve) => {
        sock.send(buf, opts.to.port, opts.to.host, (err) => {
          if (err) summary.errors++;
          else {
            summary.datagrams++;
            summary.bytes += buf.length;
          }
          resolve();
        });
      });

    const n = packets.length;
    const t0 = n > 0 ? packets[0].time : 0;
    const span = n > 1 ? packets[n - 1].time - t0 : 0;
    // One loop lasts the capture's span plus one mean inter-datagram gap.
    const period = n > 1 ? span + span / (n - 1) : 0;
    const start = now();
    outer: for (let k = 0; k < loops; k++) {
      for (let i = 0; i < n; i++) {
        if (opts.signal?.aborted) break outer;
        let due: number;
        if (pps !== undefined) due = start + ((k * n + i) * 1000) / pps;
        else if (speed === 0) due = start;
        else due = start + (Math.max(0, packets[i].time - t0) + k * period) / speed;
        const wait = due - now();
        if (wait >= 1) {
          await sleep(Math.floor(wait), undefined, { signal: opts.signal }).catch(() => undefined);
          if (opts.signal?.aborted) break outer;
        }
        await send(packets[i].payload);
      }
    }
    summary.durationMs = now() - start;
  } finally {
    await new Promise<void>((resolve) => sock.close(() => resolve()));
  }
  return summary;
}
