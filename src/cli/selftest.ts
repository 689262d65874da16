/**
 * `breakwater selftest`: checks that the runtime pieces a deployment needs are
 * present (Node version, node:sqlite, worker threads from this build) and that
 * the flow collector receives: a collector worker on a loopback port decodes a
 * NetFlow v5 datagram sent to it, and the line says which receiver read it
 * (batched: the recvmmsg addon; dgram: node:dgram, and why).
 */
import { spawnWorker } from '../core/spawn-worker.ts';
import { Collector } from '../flow/collector.ts';
import { UdpSender } from '../flow/listener.ts';
import { BreakwaterError } from '../core/errors.ts';

/** One NetFlow v5 datagram with one record (192.0.2.1 -> 198.51.100.7, UDP). */
function v5Datagram(): Buffer {
  const b = Buffer.alloc(24 + 48);
  b.writeUInt16BE(5, 0);
  b.writeUInt16BE(1, 2);
  b.writeUInt32BE(Math.floor(Date.now() / 1000), 8);
  b.writeUInt32BE(0xc0000201, 24);
  b.writeUInt32BE(0xc6336407, 28);
  b.writeUInt32BE(1, 40);
  b.writeUInt32BE(100, 44);
  b.writeUInt16BE(53, 56);
  b.writeUInt16BE(40000, 58);
  b[62] = 17;
  return b;
}

async function collectorCheck(): Promise<string> {
  let records = 0;
  const quiet = { info() {}, warn() {}, error() {} };
  const col = new Collector({ netflow: '127.0.0.1:0', sflow: '', workers: 1, receiveBufferBytes: 1 << 20, defaultSamplingRate: 1, flowSources: [], boundary: [], flushMs: 1 }, { record: () => void records++ }, quiet);
  const sender = new UdpSender(4);
  try {
    await col.start();
    const t0 = Date.now();
    while (records === 0 && Date.now() - t0 < 10_000) {
      await sender.send(v5Datagram(), col.ports.netflow!, '127.0.0.1');
      await new Promise((r) => setTimeout(r, 50));
    }
    if (records === 0) throw new BreakwaterError('selftest_failed', 'a datagram sent to the collector was not decoded within 10 s');
    return `receiver ${col.receiver}${col.receiverNote ? ` (${col.receiverNote})` : ''}`;
  } finally {
    await sender.close();
    await col.stop();
  }
}

export async function run(_argv: string[]): Promise<number> {
  const checks: Array<[string, () => Promise<string>]> = [
    ['node', async () => process.version],
    [
      'sqlite',
      async () => {
        const { DatabaseSync } = await import('node:sqlite');
        const db = new DatabaseSync(':memory:');
        const row = db.prepare('select sqlite_version() as v').get() as { v: string };
        db.close();
        return row.v;
      },
    ],
    [
      'worker',
      () =>
        new Promise<string>((resolve, reject) => {
          const w = spawnWorker('selftest', 'ping');
          const t = setTimeout(() => { void w.terminate(); reject(new Error('worker did not answer in 10 s')); }, 10_000);
          w.once('message', (m: { echo: unknown }) => {
            clearTimeout(t);
            void w.terminate();
            resolve(String(m.echo));
          });
          w.once('error', (e) => { clearTimeout(t); reject(e); });
        }),
    ],
    ['collector', collectorCheck],
  ];
  let failed = 0;
  for (const [name, fn] of checks) {
    try {
      process.stdout.write(`${name}: ok ${await fn()}\n`);
    } catch (e) {
      failed++;
      process.stdout.write(`${name}: FAIL ${(e as Error).message}\n`);
    }
  }
  return failed ? 1 : 0;
}
