/**
 * The documentation holds together: README.md is a short front page whose
 * quick start is exactly two commands; every relative link in README.md and
 * docs/ points at a file that exists and, with #anchor, at a heading of that
 * file; every page in docs/ is linked from the docs index; every npm script a
 * page names exists.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');

function pages(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? pages(p) : f.endsWith('.md') ? [p] : [];
  });
}

const docs = pages(join(root, 'docs'));
const all = [join(root, 'README.md'), ...docs];

/** GitHub's heading anchors. */
function anchors(file: string): Set<string> {
  const out = new Set<string>();
  let fence = false;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line.startsWith('```')) fence = !fence;
    const m = !fence && /^#{1,6} (.*)$/.exec(line);
    if (m) out.add(m[1].trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-'));
  }
  return out;
}

/** Markdown links outside code blocks. */
function links(file: string): string[] {
  const out: string[] = [];
  let fence = false;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line.startsWith('```')) fence = !fence;
    if (fence) continue;
    for (const m of line.replace(/`[^`]*`/g, '').matchAll(/\]\(([^)\s]+)\)/g)) out.push(m[1]);
  }
  return out;
}

test('README.md is a short front page; its quick start is exactly two commands', () => {
  const text = readFileSync(join(root, 'README.md'), 'utf8');
  assert.ok(text.split('\n').length < 100, `README.md has ${text.split('\n').length} lines`);
  const quick = /## Quick start\n\n```sh\n([\s\S]*?)```/.exec(text);
  assert.ok(quick);
  assert.deepEqual(quick[1].trim().split('\n').map((l) => l.replace(/\s+#.*$/, '')), ['npm ci && npm run demo', 'npm test']);
  for (const port of ['2055', '6343', '8080', '179']) assert.match(text, new RegExp(`\\| ${port} \\|`), `port ${port} in the table`);
});

test('every relative link in README.md and docs/ resolves, anchors included', () => {
  const bad: string[] = [];
  for (const file of all) {
    for (const link of links(file)) {
      if (/^[a-z]+:/.test(link)) continue;
      const [path, anchor] = link.split('#');
      const target = path ? resolve(dirname(file), path) : file;
      const where = `${relative(root, file)}: ${link}`;
      if (!existsSync(target)) {
        bad.push(`${where} (no such file)`);
        continue;
      }
      if (anchor && target.endsWith('.md') && !anchors(target).has(anchor)) bad.push(`${where} (no heading #${anchor})`);
    }
  }
  assert.deepEqual(bad, []);
});

test('every page in docs/ is reachable from docs/README.md or README.md', () => {
  const linked = new Set<string>();
  for (const file of [join(root, 'README.md'), join(root, 'docs/README.md')]) {
    for (const link of links(file)) if (!/^[a-z]+:/.test(link)) linked.add(resolve(dirname(file), link.split('#')[0]));
  }
  assert.deepEqual(docs.filter((p) => !p.endsWith('docs/README.md') && !linked.has(p)).map((p) => relative(root, p)), []);
});

test('every `npm run X` the docs name is a script of package.json', () => {
  const scripts = Object.keys(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts);
  const missing = new Set<string>();
  for (const file of all) for (const m of readFileSync(file, 'utf8').matchAll(/npm run ([a-z][\w:-]*)/g)) if (!scripts.includes(m[1])) missing.add(`${relative(root, file)}: npm run ${m[1]}`);
  assert.deepEqual([...missing], []);
});
