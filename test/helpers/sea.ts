/**
 * The single executable for tests that run it: dist/breakwater as
 * `npm run build` makes it, built once when missing (so `npm test` never
 * skips a test because dist/ was not built). Test processes running at the
 * same time take a lock directory in dist/ and wait for each other; the
 * build renames its output into place, so nobody runs half a file.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../..');
export const seaPath = join(root, 'dist/breakwater');
const built = () => existsSync(seaPath) && existsSync(join(root, 'dist/sea-config.json'));

/** Builds dist/breakwater unless it is there; returns its path. */
export function singleExecutable(): string {
  if (built()) return seaPath;
  mkdirSync(join(root, 'dist'), { recursive: true });
  const lock = join(root, 'dist/.build-lock');
  const until = Date.now() + 15 * 60_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      // Another test process builds: wait; a lock older than 10 minutes is left over from a killed run.
      try {
        if (Date.now() - statSync(lock).mtimeMs > 10 * 60_000) rmdirSync(lock);
      } catch {
        /* gone meanwhile */
      }
      if (Date.now() > until) throw new Error('timed out waiting for another test process to build dist/breakwater');
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500);
    }
  }
  try {
    if (!built()) execFileSync(process.execPath, [join(root, 'scripts/build-sea.ts')], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'], timeout: 10 * 60_000 });
  } finally {
    rmdirSync(lock);
  }
  return seaPath;
}
