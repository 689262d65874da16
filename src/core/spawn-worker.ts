/**
 * Worker threads that work both from source (`node src/main.ts`) and inside
 * the single executable, where there is no module file to point a Worker at:
 * there the bundle is stored as an asset and started with eval. A worker runs
 * the normal entry point, which sees `workerData.role` and hands over to the
 * registered role instead of parsing the command line.
 * Live workers are kept by name (role and ordinal) so that memory can be
 * reported per thread: a thread's V8 heap reserved (total) against live (used).
 *
 * Each worker's young generation is capped (YOUNG_GENERATION_MB): V8's
 * default lets every isolate grow its new space to 64 MB, reserved for good
 * once reached, so four threads kept ~250 MB of RSS for short-lived objects
 * the receive and BGP threads hardly make (their hot paths reuse buffers).
 */
import { Worker, type WorkerOptions } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { getHeapStatistics } from 'node:v8';

declare const BREAKWATER_BUNDLE: boolean | undefined;

export interface WorkerPayload {
  role: string;
  data: unknown;
}

function inBundle(): boolean {
  return typeof BREAKWATER_BUNDLE !== 'undefined' && BREAKWATER_BUNDLE === true;
}

let bundleSource: string | undefined;

/** Young generation per worker thread, MB (two 8 MB semi-spaces). */
export const YOUNG_GENERATION_MB = 16;

/** Live workers by thread name ("collector-1", "bgp-1"); a worker leaves on exit. */
const live = new Map<string, Worker>();
const spawned = new Map<string, number>();

/** One thread's V8 heap: used is live objects, total is what V8 reserved for them. */
export interface ThreadHeap {
  thread: string;
  used: number;
  total: number;
  external: number;
  malloced: number;
}

function heapOf(thread: string, h: { used_heap_size: number; total_heap_size: number; external_memory?: number; malloced_memory: number }): ThreadHeap {
  return { thread, used: h.used_heap_size, total: h.total_heap_size, external: h.external_memory ?? 0, malloced: h.malloced_memory };
}

/** The heap of every thread: "main" and each live worker (a worker that exits meanwhile is left out). */
export async function threadHeaps(): Promise<ThreadHeap[]> {
  const out: ThreadHeap[] = [heapOf('main', getHeapStatistics())];
  const workers = [...live];
  const stats = await Promise.all(workers.map(([, w]) => w.getHeapStatistics().catch(() => undefined)));
  for (const [i, [name]] of workers.entries()) {
    const h = stats[i];
    if (h) out.push(heapOf(name, h));
  }
  return out;
}

export function spawnWorker(role: string, data: unknown, opts: Omit<WorkerOptions, 'workerData' | 'eval'> = {}): Worker {
  const workerData: WorkerPayload = { role, data };
  const n = (spawned.get(role) ?? 0) + 1;
  spawned.set(role, n);
  const name = `${role}-${n}`;
  const resourceLimits = { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB, ...opts.resourceLimits };
  return trackThread(name, start({ ...opts, name, resourceLimits }, workerData));
}

/** Reports a worker's heap under `name` in threadHeaps() until it exits. */
export function trackThread(name: string, w: Worker): Worker {
  live.set(name, w);
  w.once('exit', () => {
    if (live.get(name) === w) live.delete(name);
  });
  return w;
}

function start(opts: Omit<WorkerOptions, 'workerData' | 'eval'>, workerData: WorkerPayload): Worker {
  if (inBundle()) {
    if (bundleSource === undefined) {
      const require = createRequire(process.execPath);
      const sea = require('node:sea') as { isSea(): boolean; getAsset(k: string, enc: string): string };
      bundleSource = sea.isSea() ? sea.getAsset('breakwater.cjs', 'utf8') : require('node:fs').readFileSync(process.argv[1], 'utf8');
    }
    return new Worker(bundleSource!, { ...opts, eval: true, workerData });
  }
  return new Worker(new URL('../main.ts', import.meta.url), { ...opts, workerData });
}
