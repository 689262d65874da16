/**
 * `npm run build:console`: bundles the console (console/main.tsx: Preact,
 * uPlot and the styles) with esbuild into dist/console/console.js and
 * dist/console/console.css, the only two files the page loads (no CDN; works
 * offline). The daemon serves them from there when run from source; the
 * single executable carries them as SEA assets (scripts/build-sea.ts).
 * Run by `prepare`, `npm start`, `npm test` and `npm run build`.
 */
import { mkdirSync, renameSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
export const consoleDist = join(root, 'dist/console');

export async function buildConsole(opts: { quiet?: boolean } = {}): Promise<{ js: string; css: string }> {
  const { build } = await import('esbuild');
  mkdirSync(consoleDist, { recursive: true });
  // Built beside and renamed into place: a daemon serving dist/console never reads half a file.
  const tmp = join(root, 'dist', `console.partial-${process.pid}-${Date.now()}`);
  const res = await build({
    entryPoints: [join(root, 'console/main.tsx')],
    outfile: join(tmp, 'console.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['chrome110', 'firefox110', 'safari16'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    minify: true,
    sourcemap: false,
    legalComments: 'none',
    metafile: true,
    logLevel: 'warning',
  });
  for (const f of ['console.css', 'console.js']) renameSync(join(tmp, f), join(consoleDist, f));
  rmSync(tmp, { recursive: true, force: true });
  const out = Object.entries(res.metafile.outputs);
  const size = (ext: string) => out.filter(([k]) => k.endsWith(ext)).reduce((n, [, o]) => n + o.bytes, 0);
  if (!opts.quiet) console.log(`built dist/console: console.js ${(size('.js') / 1024).toFixed(0)} KiB, console.css ${(size('.css') / 1024).toFixed(0)} KiB`);
  return { js: join(consoleDist, 'console.js'), css: join(consoleDist, 'console.css') };
}

if (import.meta.main) {
  try {
    await buildConsole();
  } catch (e) {
    // `npm ci --omit=dev` runs prepare without esbuild: say so and let the install finish (the daemon answers 503 at / until built).
    if ((e as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND') throw e;
    console.log(`build:console: skipped, esbuild is not installed (${(e as Error).message.split('\n')[0]})`);
  }
}
