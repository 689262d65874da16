/**
 * `breakwater replay FILE --to HOST:PORT [--pps N | --speed X] [--loop N] [--from ADDRESS]`
 *
 * Sends the UDP payloads of a pcap/pcapng capture (any port, capture order)
 * to a collector at the capture's pace scaled by X (default 1; 0 = as fast as
 * possible) or at N datagrams per second, then prints a summary.
 */
import { existsSync } from 'node:fs';
import { parseFlags, UsageError } from './flags.ts';
import { readCapture, newCaptureStats } from '../flow/pcap.ts';
import { parseHostPort, replayPackets } from '../flow/replay.ts';
import type { UdpPacket } from '../flow/pcap.ts';

const HELP = `usage: breakwater replay FILE --to HOST:PORT [--pps N | --speed X] [--loop N] [--from ADDRESS]
  --to HOST:PORT   collector address (IPv4, IPv6 as [addr]:port)
  --speed X        capture pace scaled by X (default 1; 0 = as fast as possible)
  --pps N          fixed rate of N datagrams per second instead of the capture's pace
  --loop N         replay the capture N times (default 1)
  --from ADDRESS   local source address to send from (collectors identify exporters by it)
`;

function num(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new UsageError(`flag -${name}: not a number: ${v}`);
  return n;
}

export async function run(argv: string[]): Promise<number> {
  const f = parseFlags(argv, { string: ['to', 'pps', 'speed', 'loop', 'from'], boolean: ['help', 'h'] });
  if (f.flags.has('help') || f.flags.has('h')) {
    process.stdout.write(HELP);
    return 0;
  }
  if (f.positional.length !== 1) throw new UsageError('replay needs exactly one capture FILE');
  if (f.values.to === undefined) throw new UsageError('replay needs --to HOST:PORT');
  if (f.values.pps !== undefined && f.values.speed !== undefined) throw new UsageError('--pps and --speed exclude each other');
  let to;
  try {
    to = parseHostPort(f.values.to);
  } catch (e) {
    throw new UsageError(`--to: ${(e as Error).message}`);
  }
  const speed = num('speed', f.values.speed);
  const pps = num('pps', f.values.pps);
  const loop = num('loop', f.values.loop);
  if (speed !== undefined && speed < 0) throw new UsageError('--speed must be >= 0');
  if (pps !== undefined && pps <= 0) throw new UsageError('--pps must be > 0');
  if (loop !== undefined && (!Number.isInteger(loop) || loop < 1)) throw new UsageError('--loop must be an integer >= 1');

  const file = f.positional[0];
  if (!existsSync(file)) {
    process.stderr.write(`breakwater replay: ${file}: no such file\n`);
    return 1;
  }
  const stats = newCaptureStats();
  let packets: UdpPacket[];
  try {
    packets = Array.from(readCapture(file, stats));
  } catch (e) {
    process.stderr.write(`breakwater replay: ${file}: ${(e as Error).message}\n`);
    return 1;
  }
  if (packets.length === 0) {
    process.stderr.write(`breakwater replay: ${file}: no UDP datagrams in the capture\n`);
    return 1;
  }

  const ac = new AbortController();
  const stop = () => ac.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const s = await replayPackets(packets, { to, from: f.values.from, speed, pps, loop, signal: ac.signal });
    const secs = s.durationMs / 1000;
    const rate = secs > 0 ? (s.datagrams / secs).toFixed(1) : 'inf';
    const dest = to.host.includes(':') ? `[${to.host}]:${to.port}` : `${to.host}:${to.port}`;
    process.stdout.write(
      `replayed ${s.datagrams} datagrams, ${s.bytes} bytes in ${secs.toFixed(3)} s (${rate} datagrams/s) to ${dest}` +
        `${s.errors ? `, ${s.errors} send errors` : ''}${ac.signal.aborted ? ' (interrupted)' : ''}\n`,
    );
    return s.errors > 0 && s.datagrams === 0 ? 1 : 0;
  } catch (e) {
    process.stderr.write(`breakwater replay: ${(e as Error).message}\n`);
    return 1;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}
