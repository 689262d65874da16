/**
 * Builds Breakwater's native addons the way operators and CI do
 * (`npm run build:native` -> dist/*.node) once per test process. The build
 * exits 0 with "skipped" when there is no C compiler or no headers; then the
 * tests of that addon skip with the reason. Outputs are renamed into place,
 * so test processes building at the same time do not see half-written files.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../..');
let output: string | undefined;

function build(): string {
  if (output !== undefined) return output;
  try {
    output = execFileSync('npm', ['run', '--silent', 'build:native'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120000 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    output = execFileSync(process.execPath, [join(root, 'scripts/build-native.ts')], { cwd: root, encoding: 'utf8', timeout: 120000 });
  }
  return output;
}

/** Builds the addons if needed; returns why dist/<file> is missing, or false when it is there. */
export function nativeAddon(file: 'tcp_md5.node' | 'udp_recv.node'): string | false {
  if (process.platform !== 'linux') return 'the native addons are Linux only';
  const path = join(root, 'dist', file);
  const out = build();
  if (existsSync(path)) return false;
  return /skipped/.test(out) ? `${file} not built: ${out.trim()}` : `npm run build:native left no ${path}`;
}
