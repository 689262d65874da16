import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfigText, defaultConfig } from '../../src/config/load.ts';
import { ConfigError } from '../../src/core/errors.ts';

function issuesOf(text: string): Array<{ path: string; message: string }> {
  try {
    parseConfigText(text);
  } catch (e) {
    if (e instanceof ConfigError) return e.issues;
    throw e;
  }
  assert.fail('config was accepted');
}

test('defaults: dry-run on, listeners, SQLite under data dir', () => {
  const c = defaultConfig();
  assert.equal(c.dry_run, true);
  assert.equal(c.listen.netflow, ':2055');
  assert.equal(c.api.listen, '127.0.0.1:8080');
  assert.equal(c.bgp.next_hop6, '100::1');
  assert.equal(c.bgp.community, '65535:666');
  assert.ok(Object.isFrozen(c.ban));
});

test('unknown keys are rejected with their dotted path', () => {
  const issues = issuesOf('ban:\n  ttl_seconds: 60\n  tll: 5\n');
  assert.deepEqual(issues, [{ path: 'ban.tll', message: 'unknown key' }]);
});

test('wrong types and invalid prefixes name the key', () => {
  const issues = issuesOf('networks: ["10.0.0.0/8", "10.0.0.1/24"]\nthresholds:\n  pps: "lots"\n');
  const paths = issues.map((i) => i.path).sort();
  assert.deepEqual(paths, ['networks.1', 'thresholds.pps']);
  assert.match(issues.find((i) => i.path === 'networks.1')!.message, /host bits/);
});

test('hostgroup networks must be inside networks; duplicate neighbors rejected', () => {
  const issues = issuesOf(`
networks: ["198.51.100.0/24"]
hostgroups:
  - name: web
    networks: ["203.0.113.0/24"]
bgp:
  local_asn: 65001
  neighbors:
    - {address: 127.0.0.2, remote_asn: 65002}
    - {address: 127.0.0.2, remote_asn: 65003}
`);
  assert.deepEqual(issues.map((i) => i.path).sort(), ['bgp.neighbors.1.address', 'hostgroups.0.networks.0']);
});

test('YAML syntax errors and non-mapping documents are reported', () => {
  assert.match(issuesOf('dry_run: [\n')[0].message, /^YAML:/);
  assert.match(issuesOf('- a\n- b\n')[0].message, /mapping/);
});
