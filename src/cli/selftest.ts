/**
 * `breakwater selftest`: checks that the runtime pieces a deployment needs are
 * present (Node version, node:sqlite, worker threads from this build).
 */
import { spawnWorker } from '../core/worker.ts';

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
