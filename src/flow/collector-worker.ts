/**
 * Collector worker thread ('collector' role): binds the flow ports with
 * SO_REUSEPORT, decodes, and posts record batches to the main thread over a
 * core/channel.ts Channel (protocol: CollectorMainSends/CollectorWorkerSends
 * in collector.ts).
 */
import { parentPort } from 'node:worker_threads';
import { Channel, type PortLike } from '../core/channel.ts';
import { BatchWriter, SLOT_BYTES } from './record_batch.ts';
import { IngestPipeline, type CollectorMainSends, type CollectorWorkerSends, type WorkerConfig } from './collector.ts';
import type { UdpListener } from './listener.ts';
import { chooseReceiver, kernelDrops, openUdp, type ReceiverChoice } from './udp_batch.ts';

export async function runWorker(data: unknown): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error('collector worker needs a parent port');
  const cfg = data as WorkerConfig;
  const ch = new Channel<CollectorWorkerSends, CollectorMainSends>(port as PortLike);

  const free: ArrayBuffer[] = [];
  let inFlight = 0;
  const alloc = (): ArrayBuffer | null => {
    const b = free.pop();
    if (b !== undefined) return b;
    if (inFlight + 1 >= cfg.maxInFlightBatches) return null;
    return new ArrayBuffer(cfg.batchRecords * SLOT_BYTES);
  };
  const writer = new BatchWriter(cfg.batchRecords, alloc);
  // A partial batch leaves flushMs after its first record at the latest; a
  // full one at once. No timer runs while no records come.
  let timer: NodeJS.Timeout | null = null;
  const flush = () => {
    if (timer !== null) {
      clearTimeout(timer);
      timer = null;
    }
    const b = writer.take();
    if (b === null) return;
    inFlight++;
    ch.post('batch', b, [b.buf]);
  };
  const onTimer = () => {
    timer = null;
    flush();
  };
  writer.onFull = flush;
  writer.onFirst = () => {
    if (timer === null) timer = setTimeout(onTimer, cfg.flushMs);
  };
  const pipeline = new IngestPipeline(writer, cfg);
  // Batches may go out (and come back) while the sockets are still being opened.
  ch.on('free', (buf) => {
    inFlight--;
    if (buf.byteLength === cfg.batchRecords * SLOT_BYTES) free.push(buf);
  }).on('configure', (opts) => pipeline.configure(opts));

  const listeners: UdpListener[] = [];
  const on = (msg: Buffer, address: string) => {
    pipeline.datagram(msg, address, Date.now());
  };
  let ports: { netflow: number | null; sflow: number | null } = { netflow: null, sflow: null };
  let how: ReceiverChoice;
  try {
    how = chooseReceiver(cfg.receiver);
    for (const name of ['netflow', 'sflow'] as const) {
      const spec = cfg[name];
      if (!spec) continue;
      const l = await openUdp(how, spec, { reusePort: true, receiveBufferBytes: cfg.receiveBufferBytes }, on);
      listeners.push(l);
      ports = { ...ports, [name]: l.port };
    }
  } catch (err) {
    for (const l of listeners) await l.close();
    ch.post('fail', `worker ${cfg.index}: ${(err as Error).message}`);
    ch.close();
    port.close();
    return;
  }

  const snapshot = () => pipeline.snapshot(writer.dropped, kernelDrops(listeners));
  const statsTimer = setInterval(() => ch.post('stats', snapshot()), cfg.statsIntervalMs);

  ch.handle('stats', () => {
      // Flush first, so the batches counted in these stats reach the main thread before them.
      flush();
      return snapshot();
    })
    .handle('stop', async () => {
      clearInterval(statsTimer);
      for (const l of listeners) await l.close();
      flush();
      setImmediate(() => {
        ch.close();
        port.close();
      });
      return snapshot();
    });

  ch.post('ready', { netflow: ports.netflow, sflow: ports.sflow, receiveBufferBytes: listeners[0]?.receiveBufferBytes ?? 0, dualStack: listeners[0]?.dualStack ?? false, receiver: how.receiver, receiverNote: how.note });
}
