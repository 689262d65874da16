/**
 * breakwater_thread_heap_bytes: the V8 heap of every thread (main, flow
 * receivers, BGP speaker), read at scrape time. The process-wide nodejs_*
 * metrics cover the main thread only; with one isolate per worker, telling
 * heap V8 reserved (total) from live objects (used) per thread is what says
 * whether a growing RSS is slack or a leak.
 */
import { Gauge, type Registry } from 'prom-client';
import { threadHeaps, type ThreadHeap } from '../core/spawn-worker.ts';

const KINDS = ['used', 'total', 'external', 'malloced'] as const satisfies ReadonlyArray<keyof ThreadHeap>;

export function registerThreadMetrics(reg: Registry, read: () => Promise<ThreadHeap[]> = threadHeaps): void {
  new Gauge({
    name: 'breakwater_thread_heap_bytes',
    help: 'V8 heap per thread (main, collector-N, bgp-N): used (live objects), total (reserved by V8), external (buffers), malloced (V8\'s own allocations).',
    labelNames: ['thread', 'kind'],
    registers: [reg],
    async collect() {
      this.reset();
      for (const h of await read()) for (const kind of KINDS) this.set({ thread: h.thread, kind }, h[kind]);
    },
  });
}
