/**
 * Runs the node:test suites: test/**\/*.test.ts. Extra arguments are passed to
 * `node --test` (e.g. --test-name-pattern). BREAKWATER_TEST_FILTER=substr
 * keeps only files whose path contains substr.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
function find(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) {
      if (name !== 'fixtures' && name !== 'node_modules') find(p, out);
    } else if (name.endsWith('.test.ts')) out.push(relative(root, p));
  }
  return out;
}
const filter = process.env.BREAKWATER_TEST_FILTER;
const files = find(join(root, 'test')).sort().filter((f) => !filter || f.includes(filter));
const extra = process.argv.slice(2);
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=2', '--test-timeout=600000', ...extra, ...files], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
