/**
 * The example configs load with `breakwater -config FILE -check-config`:
 * examples/kapkan-style.yaml (a config migrated from Kapkan, loaded unchanged
 * and using only the compatibility surface's key names) and
 * examples/live-bird.yaml (live, one BIRD neighbor, FlowSpec with an
 * escalation ladder, secrets from the environment; the BIRD side it shows in
 * its comments is parsed by BIRD itself).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { COMPAT_KEYS, OPEN_BLOCKS } from './compat-keys.ts';

const root = resolve(import.meta.dirname, '../..');
const examples = join(root, 'examples');
const BIRD = '/usr/sbin/bird';

/** Runs `breakwater -config FILE -check-config`. */
function checkConfig(file: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(root, 'src/main.ts'), '-config', file, '-check-config'], { cwd: root, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Checks that every value of `sub` is in `sup` at the same place (lists item by item). */
function assertSubset(sub: unknown, sup: unknown, path = ''): void {
  if (Array.isArray(sub)) {
    assert.ok(Array.isArray(sup), `${path}: expected a list in the loaded config`);
    assert.equal(sup.length, sub.length, `${path}: list length`);
    sub.forEach((x, i) => assertSubset(x, sup[i], `${path}[${i}]`));
  } else if (sub !== null && typeof sub === 'object') {
    assert.ok(sup !== null && typeof sup === 'object' && !Array.isArray(sup), `${path}: expected a mapping in the loaded config`);
    for (const [k, v] of Object.entries(sub)) assertSubset(v, (sup as Record<string, unknown>)[k], path ? `${path}.${k}` : k);
  } else {
    assert.deepEqual(sup, sub, `${path}: changed by loading`);
  }
}

/** Leaf key paths of a parsed YAML document, lists of mappings as `key[]`. */
function leafPaths(o: unknown, prefix = '', out: string[] = []): string[] {
  if (Array.isArray(o) && o.some((x) => x !== null && typeof x === 'object' && !Array.isArray(x))) {
    for (const x of o) leafPaths(x, prefix + '[]', out);
  } else if (o !== null && typeof o === 'object' && !Array.isArray(o)) {
    for (const [k, v] of Object.entries(o)) leafPaths(v, prefix ? `${prefix}.${k}` : k, out);
  } else out.push(prefix);
  return out;
}

/** Every `*_env` key names an environment variable; no secret is written in the file. */
function assertSecretsFromEnvironment(doc: unknown, file: string): string[] {
  const envs: string[] = [];
  const walk = (o: unknown, path: string) => {
    if (Array.isArray(o)) return o.forEach((x, i) => walk(x, `${path}[${i}]`));
    if (o === null || typeof o !== 'object') return;
    for (const [k, v] of Object.entries(o)) {
      const p = path ? `${path}.${k}` : k;
      if (k.endsWith('_env')) {
        assert.match(String(v), /^[A-Z][A-Z0-9_]*$/, `${file}: ${p} must name an environment variable`);
        envs.push(String(v));
      } else if (v === null || typeof v !== 'object') {
        assert.ok(!/token|password|secret|passwd/i.test(k), `${file}: ${p} looks like a secret written in the file`);
      }
      walk(v, p);
    }
  };
  walk(doc, '');
  return envs;
}

test('examples/kapkan-style.yaml: a Kapkan config loads unchanged with -check-config', () => {
  const file = join(examples, 'kapkan-style.yaml');
  const text = readFileSync(file, 'utf8');
  assert.match(text.split('\n')[0], /migrated/i, 'the file says it shows a migrated config');
  const doc = parseYaml(text) as Record<string, unknown>;
  const r = checkConfig(file);
  assert.equal(r.status, 0, r.stderr);
  const loaded = parseYaml(r.stdout);
  assertSubset(doc, loaded);
  assert.equal(loaded.dry_run, true);
  assertSecretsFromEnvironment(doc, 'kapkan-style.yaml');
  // Realistic: it exercises most of the surface, not a handful of keys.
  for (const k of ['listen', 'sampling', 'networks', 'protected_whitelist', 'thresholds', 'thresholds_outgoing', 'hostgroups', 'baseline', 'carpet', 'mitigation', 'escalation', 'flowspec', 'ban', 'bgp', 'samples', 'notify', 'api', 'storage', 'flow_sources']) {
    assert.ok(k in doc, `kapkan-style.yaml has no ${k}`);
  }
});

test('examples/kapkan-style.yaml uses only the compatibility surface key names', () => {
  const doc = parseYaml(readFileSync(join(examples, 'kapkan-style.yaml'), 'utf8'));
  const known = new Set(COMPAT_KEYS);
  const ok = (p: string) => known.has(p) || OPEN_BLOCKS.some((b) => p.startsWith(b + '.'));
  const outside = leafPaths(doc).filter((p) => {
    // A hostgroup's thresholds, ban and escalation take the global blocks' keys.
    const inGroup = p.replace(/^hostgroups\[\]\./, '');
    return !ok(p) && !(inGroup !== p && (ok(inGroup) || known.has(inGroup)));
  });
  assert.deepEqual(outside, []);
  assert.ok(leafPaths(doc).length > 60);
});

test("a Kapkan config with its XDP dataplane block loads, with a warning naming the block", (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bw-kapkan-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'config.yaml');
  writeFileSync(file, readFileSync(join(examples, 'kapkan-style.yaml'), 'utf8') + '\ndataplane:\n  enabled: true\n  interfaces: [eth0]\n');
  const r = checkConfig(file);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /^warning: dataplane: accepted but not done by Breakwater \(no effect\)/m);
  assert.equal(parseYaml(r.stdout).dataplane, undefined, 'not part of the running config');
});

test('examples/live-bird.yaml: live, one BIRD neighbor, FlowSpec hostgroup with an escalation ladder; valid with -check-config', () => {
  const file = join(examples, 'live-bird.yaml');
  const doc = parseYaml(readFileSync(file, 'utf8'));
  const r = checkConfig(file);
  assert.equal(r.status, 0, r.stderr);
  const c = parseYaml(r.stdout);
  assertSubset(doc, c);
  assert.equal(c.dry_run, false, 'a live example');
  assert.equal(c.bgp.neighbors.length, 1);
  const nb = c.bgp.neighbors[0];
  assert.ok(nb.enabled);
  assert.ok(nb.families.includes('ipv4_flowspec') && nb.families.includes('ipv4_unicast'));
  const levels = ['flowspec_rate_limit', 'flowspec_discard', 'blackhole'];
  const fsGroups = c.hostgroups.filter((g: { mitigation?: string }) => g.mitigation === 'flowspec');
  assert.equal(fsGroups.length, 1);
  const g = fsGroups[0];
  const start = g.flowspec?.action === 'rate_limit' ? 0 : 1;
  const ladder: Array<{ after_seconds: number; action: string }> = g.escalation;
  assert.ok(ladder.length >= 2, 'an escalation ladder of at least two steps');
  let level = start;
  let after = -1;
  for (const step of ladder) {
    assert.ok(step.after_seconds > after, 'steps in time order');
    assert.ok(levels.indexOf(step.action) > level, `${step.action} steps up from ${levels[level]}`);
    after = step.after_seconds;
    level = levels.indexOf(step.action);
  }
  // Notifications and API tokens come from the environment.
  const envs = assertSecretsFromEnvironment(doc, 'live-bird.yaml');
  assert.ok(c.api.tokens.length >= 1 && c.api.tokens.every((t: { token_env: string }) => envs.includes(t.token_env)));
  assert.ok(c.notify.telegram?.token_env || c.notify.webhook?.token_env || c.notify.email?.password_env, 'a notifier with its secret in the environment');
});

test("examples/live-bird.yaml: BIRD parses the router's side shown in its comments, and it matches the neighbor", (t) => {
  const text = readFileSync(join(examples, 'live-bird.yaml'), 'utf8');
  const m = /^# --- bird\.conf ---\n([\s\S]*?)^# --- end bird\.conf ---$/m.exec(text);
  assert.ok(m, 'the file shows the BIRD side between "# --- bird.conf ---" markers');
  const conf = m[1].replace(/^# ?/gm, '');
  const c = parseYaml(text);
  const nb = c.bgp.neighbors[0];
  // The two sides describe the same session and discard next hops.
  assert.match(conf, new RegExp(`local ${nb.address.replace(/\./g, '\\.')} as ${nb.remote_asn};`));
  assert.match(conf, new RegExp(`neighbor ${nb.local_address.replace(/\./g, '\\.')} as ${c.bgp.local_asn};`));
  assert.ok(conf.includes(`route ${c.bgp.next_hop}/32 blackhole`), 'BIRD resolves bgp.next_hop');
  assert.ok(conf.includes('route 100::/64 blackhole') && c.bgp.next_hop6 === '100::1', 'BIRD resolves bgp.next_hop6');
  assert.ok(conf.includes(`(${c.bgp.community.replace(':', ', ')}) ~ bgp_community`), 'BIRD imports routes tagged bgp.community');
  for (const n of c.networks as string[]) {
    const [addr, len] = n.split('/');
    assert.ok(conf.includes(`${addr}/${len}{${addr.includes(':') ? 128 : 32},`), `BIRD's import filter covers ${n}`);
  }
  if (!existsSync(BIRD)) {
    t.skip(`${BIRD} not installed (apt-get install bird2): the config was not parsed`);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'bw-birdconf-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const run = (body: string) => {
    writeFileSync(join(dir, 'bird.conf'), body);
    return spawnSync(BIRD, ['-p', '-c', join(dir, 'bird.conf')], { encoding: 'utf8', timeout: 20_000 });
  };
  const ok = run(conf);
  assert.equal(ok.status, 0, `bird -p: ${ok.stderr}`);
  // bird -p does refuse a broken config (the check above can fail).
  assert.notEqual(run(conf.replace('gateway recursive', 'gateway sideways')).status, 0);
});

test('every example in examples/ passes -check-config and keeps its secrets in the environment', () => {
  const files = readdirSync(examples).filter((f) => f.endsWith('.yaml'));
  assert.ok(files.includes('breakwater.yaml') && files.includes('kapkan-style.yaml') && files.includes('live-bird.yaml'));
  for (const f of files) {
    const r = checkConfig(join(examples, f));
    assert.equal(r.status, 0, `${f}: ${r.stderr}`);
    assertSecretsFromEnvironment(parseYaml(readFileSync(join(examples, f), 'utf8')), f);
  }
});
