/**
 * docs/configuration.md's reference is generated from the schema
 * (scripts/config-doc.ts): it must match the schema exactly, every key must
 * carry a description, and the defaults it prints must be those the loader
 * really fills in.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ConfigSchema } from '../../src/config/schema.ts';
import { defaultConfig, validateConfig } from '../../src/config/load.ts';
import { CONFIG_DOC, describeSchema, KAPKAN_DOC, KAPKAN_SECTION, readSection, renderKapkanTable, renderReference, replaceSection, SECTION, type KeyDoc } from '../../scripts/config-doc.ts';

const full = describeSchema(ConfigSchema);

for (const [name, file, section, render] of [
  ['docs/configuration.md config section is the reference generated from the schema (npm run config-doc)', CONFIG_DOC, SECTION, () => renderReference()],
  ['docs/kapkan.md key table is the one generated from src/config/kapkan.ts (npm run config-doc)', KAPKAN_DOC, KAPKAN_SECTION, renderKapkanTable],
] as const) {
  test(name, () => {
    const inDoc = readSection(readFileSync(file, 'utf8'), section);
    const expected = render();
    if (inDoc !== expected) {
      const a = inDoc.split('\n'), b = expected.split('\n');
      let i = 0;
      while (i < a.length && i < b.length && a[i] === b[i]) i++;
      assert.fail(
        `${file}'s generated section differs at line ${i + 1} of the section:\n` +
          `  in the doc: ${a[i] ?? '(end)'}\n  generated:  ${b[i] ?? '(end)'}\nRun: npm run config-doc`,
      );
    }
  });
}

test('every key of the schema has a one-line description', () => {
  assert.ok(full.length > 150, `only ${full.length} keys found: the walk misses part of the schema`);
  const missing = full.filter((d) => !d.description?.trim()).map((d) => d.path);
  assert.deepEqual(missing, [], "keys without a description: wrap them in doc(schema, '...') in src/config/schema.ts, then run npm run config-doc");
  const leaves = full.filter((d) => d.leaf);
  assert.ok(leaves.length > 120);
  for (const d of full) {
    assert.ok(!/\n/.test(d.description!), `${d.path}: description spans several lines`);
    assert.ok(d.description!.length <= 200, `${d.path}: description longer than 200 characters`);
    assert.equal(d.description, d.description!.trim(), `${d.path}: description has surrounding spaces`);
  }
});

/** The value at a dotted path of a plain object (no list steps). */
function at(o: unknown, path: string): unknown {
  let x = o;
  for (const k of path.split('.')) {
    if (x === null || typeof x !== 'object') return undefined;
    x = (x as Record<string, unknown>)[k];
  }
  return x;
}

test('documented defaults are what the loader fills in', () => {
  const defaults = defaultConfig();
  let literals = 0;
  for (const d of full) {
    if (d.path.includes('[]')) continue;
    const actual = at(defaults, d.path);
    const parent = d.path.includes('.') ? at(defaults, d.path.slice(0, d.path.lastIndexOf('.'))) : defaults;
    // Keys of a block that is off by default (notify.email, storage.clickhouse)
    // only get their defaults once the block is given: checked below.
    if (parent === undefined && d.path.includes('.')) continue;
    if (d.default === '**required**') {
      assert.equal(parent, undefined, `${d.path} is documented as required but its parent is present by default`);
    } else if (d.default === '—') {
      assert.equal(actual, undefined, `${d.path} is documented as unset by default`);
    } else if (d.default === '') {
      assert.ok(actual !== null && typeof actual === 'object' && !Array.isArray(actual), `${d.path}: object default`);
    } else {
      const m = /^`(.*)`$/.exec(d.default);
      assert.ok(m, `${d.path}: unexpected default text ${d.default}`);
      assert.deepEqual(actual, JSON.parse(m[1]), `${d.path}: documented default ${d.default}`);
      literals++;
    }
  }
  assert.ok(literals > 60, `only ${literals} literal defaults checked`);
  // Inside blocks that are off by default.
  const blocks = validateConfig({
    notify: { email: { smtp_host: 'smtp.example.net', from: 'a@example.net', to: 'b@example.net' }, exec: { command: '/bin/true' } },
    storage: { clickhouse: { url: 'http://127.0.0.1:8123' } },
  });
  for (const path of ['notify.email.smtp_port', 'notify.email.require_tls', 'notify.exec.timeout_seconds', 'storage.clickhouse.database']) {
    const d = full.find((x) => x.path === path)!;
    assert.deepEqual(at(blocks, path), JSON.parse(/^`(.*)`$/.exec(d.default)![1]), `${path}: documented default ${d.default}`);
  }
  // A spot check the walk cannot get wrong in the same way as the loader.
  const byPath = new Map(full.map((d) => [d.path, d]));
  assert.equal(byPath.get('dry_run')?.default, '`true`');
  assert.equal(byPath.get('bgp.next_hop6')?.default, '`"100::1"`');
  assert.equal(byPath.get('bgp.neighbors[].port')?.default, '`179`');
  assert.equal(byPath.get('bgp.neighbors[].address')?.default, '**required**');
  assert.equal(byPath.get('bgp.neighbors[].families')?.default, 'all');
  assert.equal(byPath.get('hostgroups[].ban.ttl_seconds')?.default, '—', 'a hostgroup override has no default of its own');
  assert.match(byPath.get('flowspec.action')!.type, /`"discard"` \| `"rate_limit"`/);
  assert.equal(byPath.get('listen.netflow')?.type, 'listen address');
  assert.equal(byPath.get('notify.email.to')?.type, 'string or list of string');
});

test('the collapsed reference still reaches every key', () => {
  const collapsed = describeSchema(ConfigSchema, { collapse: true });
  const shown = new Map(collapsed.map((d) => [d.path, d]));
  const fullPaths = new Set(full.map((d) => d.path));
  const reached = (path: string): boolean => {
    if (shown.has(path)) return true;
    // Covered by an ancestor documented as "same keys as X": the rest must exist under X.
    for (const [p, d] of shown) {
      if (d.sameAs === undefined) continue;
      for (const sep of ['.', '[].']) {
        if (path.startsWith(p + sep)) {
          const rest = path.slice(p.length + sep.length);
          const target = `${d.sameAs}${sep}${rest}`;
          if (fullPaths.has(target) && reached(target)) return true;
        }
      }
    }
    return false;
  };
  const lost = full.map((d) => d.path).filter((p) => !reached(p));
  assert.deepEqual(lost, []);
  // Collapsing actually happens (thresholds are reused four times).
  const same = collapsed.filter((d: KeyDoc) => d.sameAs === 'thresholds').map((d) => d.path).sort();
  assert.deepEqual(same, ['carpet.thresholds', 'hostgroups[].thresholds', 'hostgroups[].thresholds_outgoing', 'thresholds_outgoing']);
});

test('replaceSection rewrites only between its markers', () => {
  const text = 'a\n<!-- section:config -->\nold\n<!-- /section:config -->\n<!-- section:flow -->\nx\n<!-- /section:flow -->\n';
  const out = replaceSection(text, 'config', 'new\n');
  assert.equal(out, 'a\n<!-- section:config -->\nnew\n<!-- /section:config -->\n<!-- section:flow -->\nx\n<!-- /section:flow -->\n');
  assert.equal(readSection(out, 'config'), 'new\n');
  assert.equal(replaceSection(out, 'config', 'new\n'), out, 'idempotent');
  assert.throws(() => replaceSection('no markers', 'config', 'x'), /not found/);
});
