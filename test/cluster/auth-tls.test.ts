/**
 * `cluster.etcd` credentials against a real etcd: with auth enabled (a
 * root user, and a `breakwater` user whose role may read and write only the
 * prefix) a node given `username_env`/`password_env` joins, becomes leader
 * and writes bans to the ledger; with a wrong password it does not crash but
 * stays partitioned and its log names the authentication failure. Over TLS
 * with client-certificate auth (CA, server and client certificates made by
 * openssl in the test's temp dir) a node with `ca_file`/`cert_file`/`key_file`
 * works; without the client certificate it is refused, said the same way.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { execFileSync } from 'node:child_process';
import { Etcd3 } from 'etcd3';
import pino from 'pino';
import { EtcdCluster, etcdAvailable } from '../helpers/etcd.ts';
import { waitFor } from '../helpers/netns.ts';
import { BanManager } from '../../src/ban/bans.ts';
import { routeBuilder } from '../../src/mitigation/route.ts';
import { ClusterNode, type ClusterConfig } from '../../src/cluster/node.ts';
import { Ledger } from '../../src/cluster/ledger.ts';
import { cfg } from '../ban/helpers.ts';

function opensslAvailable(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const skip = !etcdAvailable() ? 'etcd not installed' : false;
const skipTls = skip || (!opensslAvailable() ? 'openssl not installed' : false);

interface Started {
  node: ClusterNode;
  bans: BanManager;
  lines: Array<Record<string, unknown>>;
}

/** A ClusterNode with a real ban module; log lines kept as objects. */
async function startNode(t: import('node:test').TestContext, etcd: ClusterConfig['etcd'], id: string): Promise<Started> {
  const lines: Started['lines'] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  const log = pino({ level: 'info' }, sink);
  const bans = new BanManager(cfg(), { routes: routeBuilder(cfg()), idTag: id });
  const node = new ClusterNode({ config: { node_id: id, partition_policy: 'hold', etcd }, checksum: 'c', bans, hooks: { adopted() {} }, sink() {}, log });
  bans.on((e) => node.onBanEvent(e));
  t.after(() => node.stop());
  await node.start();
  return { node, bans, lines };
}

test('etcd with auth: the breakwater user joins with username_env/password_env; a wrong password is named and does not crash', { skip, timeout: 90_000 }, async (t) => {
  const etcd = await EtcdCluster.start(1);
  t.after(() => etcd.stop());
  const PREFIX = '/bw-auth';
  const admin = new Etcd3({ hosts: etcd.endpoints });
  await admin.role('root').create();
  await (await admin.user('root').create('root-secret')).addRole('root');
  const role = await admin.role('breakwater').create();
  await role.grant({ permission: 'Readwrite', range: admin.range({ prefix: `${PREFIX}/` }) });
  await role.grant({ permission: 'Readwrite', key: PREFIX });
  await (await admin.user('breakwater').create('bw-secret')).addRole('breakwater');
  await admin.auth.authEnable({});
  admin.close();

  // Without credentials etcd now refuses: auth is really on.
  const anon = new Etcd3({ hosts: etcd.endpoints });
  await assert.rejects(anon.put(`${PREFIX}/x`).value('1').exec(), /user name is empty|permission denied|auth/i);
  anon.close();

  process.env.BW_TEST_ETCD_USER = 'breakwater';
  process.env.BW_TEST_ETCD_PASS = 'bw-secret';
  process.env.BW_TEST_ETCD_BADPASS = 'not-the-password';
  t.after(() => {
    delete process.env.BW_TEST_ETCD_USER;
    delete process.env.BW_TEST_ETCD_PASS;
    delete process.env.BW_TEST_ETCD_BADPASS;
  });
  const good = await startNode(t, { endpoints: etcd.endpoints, prefix: PREFIX, dial_timeout_seconds: 2, username_env: 'BW_TEST_ETCD_USER', password_env: 'BW_TEST_ETCD_PASS' }, 'good');
  await waitFor('the authenticated node leads', () => good.node.status().role === 'leader', 20_000, 100).catch((e) => { throw new Error(`${e.message}: ${JSON.stringify(good.lines)}`); });
  assert.equal(good.node.partitioned, false);
  assert.ok(good.bans.manualBan({ ip: '198.51.100.20', actor: 'op', ttlSeconds: 300 }));
  const root = new Etcd3({ hosts: etcd.endpoints, auth: { username: 'root', password: 'root-secret' } });
  t.after(() => root.close());
  const ledger = new Ledger(root, PREFIX);
  await waitFor('the ban is in the ledger', async () => (await ledger.list()).entries.some((e) => e.ban.target === '198.51.100.20'), 10_000, 100);

  const bad = await startNode(t, { endpoints: etcd.endpoints, prefix: PREFIX, dial_timeout_seconds: 2, username_env: 'BW_TEST_ETCD_USER', password_env: 'BW_TEST_ETCD_BADPASS' }, 'bad');
  await waitFor('the wrong password leaves the node partitioned', () => bad.node.partitioned, 15_000, 100);
  const line = bad.lines.find((l) => l.event === 'cluster partitioned');
  assert.ok(line, JSON.stringify(bad.lines));
  assert.match(String(line.err), /authentication failed|invalid user ID or password/i, JSON.stringify(line));
  assert.equal(bad.node.status().partitioned, true);
  assert.equal(bad.node.stats().partitioned, true);
  assert.equal(bad.node.mayCreate(), false, 'hold: no ban on its own');
  // It keeps trying without a crash, and the good node is unaffected.
  await new Promise((r) => setTimeout(r, 2_500));
  assert.equal(bad.node.partitioned, true);
  assert.equal(good.node.partitioned, false);
  assert.deepEqual(good.node.status().nodes.map((n) => n.node_id), ['good']);
});

test('etcd over TLS with client certificates: ca_file/cert_file/key_file work; without the client certificate the node is refused and says so', { skip: skipTls, timeout: 90_000 }, async (t) => {
  const etcd = await EtcdCluster.start(1, '127.0.0.1', { tls: true });
  t.after(() => etcd.stop());
  const pki = etcd.tls!;
  assert.ok(etcd.endpoints[0].startsWith('https://127.0.0.1:'));
  const PREFIX = '/bw-tls';
  const good = await startNode(t, { endpoints: etcd.endpoints, prefix: PREFIX, dial_timeout_seconds: 2, ca_file: pki.ca, cert_file: pki.clientCert, key_file: pki.clientKey }, 'tls');
  await waitFor('the TLS node leads', () => good.node.status().role === 'leader', 20_000, 100);
  assert.ok(good.bans.manualBan({ ip: '198.51.100.21', actor: 'op', ttlSeconds: 300 }));
  await waitFor('the ban is in the ledger', async () => (await good.node.ledger.list()).entries.some((e) => e.ban.target === '198.51.100.21'), 10_000, 100);

  const bare = await startNode(t, { endpoints: etcd.endpoints, prefix: PREFIX, dial_timeout_seconds: 2, ca_file: pki.ca }, 'bare');
  await waitFor('without a client certificate the node is partitioned', () => bare.node.partitioned, 15_000, 100);
  const line = bare.lines.find((l) => l.event === 'cluster partitioned');
  assert.ok(line, JSON.stringify(bare.lines));
  t.diagnostic(`refusal: ${String(line.err)}`);
  assert.match(String(line.err), /bad certificate|certificate required/i, 'the refusal names the certificate');
  assert.equal(bare.node.mayCreate(), false);
  await new Promise((r) => setTimeout(r, 2_500));
  assert.equal(bare.node.partitioned, true);
  assert.equal(good.node.partitioned, false);
});
