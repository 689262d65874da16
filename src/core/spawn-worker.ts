/**
 * Worker threads that work both from source (`node src/main.ts`) and inside
 * the single executable, where there is no module file to point a Worker at:
 * there the bundle is stored as an asset and started with eval. A worker runs
 * the normal entry point, which sees `workerData.role` and hands over to the
 * registered role instead of parsing the command line.
 */
import { Worker, type WorkerOptions } from 'node:worker_threads';
import { createRequire } from 'node:module';

declare const BREAKWATER_BUNDLE: boolean | undefined;

export interface WorkerPayload {
  role: string;
  data: unknown;
}

function inBundle(): boolean {
  return typeof BREAKWATER_BUNDLE !== 'undefined' && BREAKWATER_BUNDLE === true;
}

let bundleSource: string | undefined;

export function spawnWorker(role: string, data: unknown, opts: Omit<WorkerOptions, 'workerData' | 'eval'> = {}): Worker {
  const workerData: WorkerPayload = { role, data };
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
