/**
 * breakwater_thread_heap_bytes reports the heap of the main thread and of
 * every live worker (a real worker thread), and forgets a worker that exited.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { Metrics } from '../../src/api/metrics.ts';
import { spawnWorker, threadHeaps, trackThread, YOUNG_GENERATION_MB } from '../../src/core/spawn-worker.ts';

function sample(body: string, thread: string, kind: string): number | undefined {
  const m = new RegExp(`^breakwater_thread_heap_bytes\\{thread="${thread}",kind="${kind}"\\} (\\S+)$`, 'm').exec(body);
  return m ? Number(m[1]) : undefined;
}

test('thread heaps: main and a live worker, used within total; an exited worker is left out', async () => {
  const w = trackThread('probe-1', new Worker('globalThis.keep = new Array(1e5).fill(1); setInterval(() => {}, 1000);', { eval: true }));
  try {
    await once(w, 'online');
    const heaps = await threadHeaps();
    const main = heaps.find((h) => h.thread === 'main');
    const probe = heaps.find((h) => h.thread === 'probe-1');
    assert.ok(main && probe, JSON.stringify(heaps.map((h) => h.thread)));
    for (const h of [main, probe]) {
      assert.ok(h.used > 0 && h.used <= h.total, `${h.thread}: used ${h.used} total ${h.total}`);
      assert.ok(h.external >= 0 && h.malloced > 0);
    }
    const body = (await new Metrics({}).render()).body;
    for (const th of ['main', 'probe-1']) for (const kind of ['used', 'total', 'external', 'malloced']) assert.ok((sample(body, th, kind) ?? -1) >= 0, `${th} ${kind}`);
    assert.ok(sample(body, 'probe-1', 'used')! <= sample(body, 'probe-1', 'total')!);
  } finally {
    await w.terminate();
  }
  assert.equal((await threadHeaps()).some((h) => h.thread === 'probe-1'), false);
  const after = (await new Metrics({}).render()).body;
  assert.equal(sample(after, 'probe-1', 'used'), undefined);
});

test('workers get a capped young generation (YOUNG_GENERATION_MB) and a role-N name', async () => {
  const w = spawnWorker('selftest', 'ping');
  try {
    assert.equal(YOUNG_GENERATION_MB, 16);
    assert.equal(w.resourceLimits?.maxYoungGenerationSizeMb, YOUNG_GENERATION_MB);
    const names = (await threadHeaps()).map((h) => h.thread);
    assert.ok(names.length === 1 || names.some((n) => /^selftest-\d+$/.test(n)), names.join(','));
  } finally {
    await w.terminate();
  }
});
