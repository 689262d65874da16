/**
 * `npm run bench [-- --json] [-- --only PREFIX] [-- --quick]`
 * Runs every *.bench.ts under src/ and bench/, prints a table, or with --json
 * one object of all figures.
 */
import { readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { BenchFn, BenchRow } from './harness.ts';

const root = resolve(import.meta.dirname, '..');
const args = process.argv.slice(2);
const json = args.includes('--json');
const quick = args.includes('--quick');
const onlyIdx = args.indexOf('--only');
const only = onlyIdx >= 0 ? args[onlyIdx + 1] : undefined;

function find(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) find(p, out);
    else if (name.endsWith('.bench.ts')) out.push(p);
  }
  return out;
}

const files = [...find(join(root, 'src')), ...find(join(root, 'bench'))].sort();
const figures: Record<string, number> = {};
const rows: BenchRow[] = [];
const log = (m: string) => process.stderr.write(`# ${m}\n`);
for (const f of files) {
  const mod = (await import(pathToFileURL(f).href)) as { default: BenchFn; prefix?: string };
  if (only && mod.prefix && !mod.prefix.startsWith(only) && !only.startsWith(mod.prefix)) continue;
  log(`running ${relative(root, f)}`);
  const out = await mod.default({ scale: quick ? 0.1 : 1, log });
  for (const r of out) {
    if (only && !r.figure.startsWith(only)) continue;
    figures[r.figure] = r.value;
    rows.push(r);
  }
}
if (json) {
  process.stdout.write(JSON.stringify(figures) + '\n');
} else {
  const w = Math.max(...rows.map((r) => r.figure.length), 6);
  process.stdout.write(`${'figure'.padEnd(w)}  ${'value'.padStart(14)}  unit        note\n`);
  for (const r of rows) {
    const v = Number.isInteger(r.value) ? String(r.value) : r.value.toPrecision(4);
    process.stdout.write(`${r.figure.padEnd(w)}  ${v.padStart(14)}  ${r.unit.padEnd(10)}  ${r.note ?? ''}\n`);
  }
}
