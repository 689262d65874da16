/**
 * Every config key of PRODUCT.md's compatibility surface exists in the schema:
 * the strict schema accepts it as a key (a wrong value may be refused, an
 * unknown key never), and the configuration reference documents it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfig } from '../../src/config/load.ts';
import { ConfigError } from '../../src/core/errors.ts';
import { ConfigSchema } from '../../src/config/schema.ts';
import { describeSchema } from '../../scripts/config-doc.ts';
import { COMPAT_KEYS, expandBraces } from './compat-keys.ts';

/** A config with only `path` set to `value`: "a.b[].c" -> {a: {b: [{c: value}]}}. */
function configWith(path: string, value: unknown): Record<string, unknown> {
  let v = value;
  const steps = path.split('.');
  for (let i = steps.length - 1; i >= 0; i--) {
    const list = steps[i].endsWith('[]');
    v = { [list ? steps[i].slice(0, -2) : steps[i]]: list ? [v] : v };
  }
  return v as Record<string, unknown>;
}

/** The issues validateConfig reports for a config (none when valid). */
function issues(cfg: unknown): Array<{ path: string; message: string }> {
  try {
    validateConfig(cfg);
    return [];
  } catch (e) {
    if (e instanceof ConfigError) return e.issues;
    throw e;
  }
}

test('PRODUCT.md compatibility keys: the list is the one PRODUCT.md names', () => {
  assert.equal(COMPAT_KEYS.length, 74);
  assert.deepEqual(expandBraces('a.{b, c}'), ['a.b', 'a.c']);
  assert.ok(COMPAT_KEYS.includes('bgp.neighbors[].remote_asn'));
  assert.ok(COMPAT_KEYS.includes('notify.email.require_tls'));
  assert.equal(new Set(COMPAT_KEYS).size, COMPAT_KEYS.length, 'no duplicates');
});

test('every PRODUCT.md compatibility key is a key of the strict schema', () => {
  const unknown: string[] = [];
  for (const key of COMPAT_KEYS) {
    // A value of the wrong type for every key (lists of lists are no key's
    // type): the schema must complain about the value, never about the key.
    const found = issues(configWith(key, [[[]]]));
    // "unknown key" at the key itself or at one of its parents (inside it,
    // e.g. a list given to an object key, does not count).
    const dotted = key.replace(/\[\]/g, '.0');
    if (found.some((i) => i.message === 'unknown key' && (dotted === i.path || dotted.startsWith(i.path + '.')))) unknown.push(key);
    assert.ok(found.length > 0, `${key}: a wrong value was accepted`);
  }
  assert.deepEqual(unknown, []);
});

test('the key check can fail: keys that are not in the schema are reported', () => {
  for (const key of ['dataplane', 'thresholds.bps', 'bgp.neighbors[].peer_as', 'hostgroups[].hosts', 'notify.email.smtp_server', 'api.tokens[].secret']) {
    const found = issues(configWith(key, 1));
    const dotted = key.replace(/\[\]/g, '.0');
    assert.ok(
      found.some((i) => i.message === 'unknown key' && i.path === dotted),
      `${key}: expected "unknown key" at ${dotted}, got ${JSON.stringify(found)}`,
    );
  }
});

test('every PRODUCT.md compatibility key is in the configuration reference', () => {
  const documented = new Set(describeSchema(ConfigSchema).map((d) => d.path));
  assert.deepEqual(COMPAT_KEYS.filter((k) => !documented.has(k)), []);
});
