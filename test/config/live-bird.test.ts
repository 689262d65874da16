/**
 * examples/live-bird.yaml works as written: Breakwater runs on it (only
 * addresses, ports and the data directory moved to loopback / a temp dir,
 * notifications left out so nothing leaves the machine) against BIRD 2 running
 * the bird.conf shown in the example's comments (addresses and ports likewise).
 * The session comes up; the API tokens come from the environment with their
 * roles; a manual ban in the FlowSpec hostgroup reaches BIRD's flow table, and
 * a ban outside it reaches BIRD's routing table as a blackhole route accepted
 * by the example's import filter.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { Bird, birdAvailable } from '../helpers/bird.ts';
import { loopbackBlock, removeDir, tempDir, waitFor } from '../helpers/netns.ts';
import { freePort, startBreakwater, writeYaml, type Breakwater } from '../e2e/helpers.ts';

const skip = birdAvailable() ? false : 'BIRD 2 (bird, birdc) not installed or not root';
const example = resolve(import.meta.dirname, '../../examples/live-bird.yaml');

const HOSTING = '198.51.100.7'; // inside the FlowSpec hostgroup "hosting"
const OTHER = '203.0.113.9'; // outside any hostgroup: blackhole

test('live-bird.yaml against BIRD running its bird.conf: session up, token roles, FlowSpec and blackhole bans accepted', { skip, timeout: 120_000 }, async (t) => {
  const text = readFileSync(example, 'utf8');
  const cfg = parseYaml(text);
  const L = loopbackBlock();
  const router = L(1), breakwater = L(10);
  const birdPort = freePort();
  const dir = tempDir('bw-live-bird-');
  mkdirSync(join(dir, 'data'));

  // The router's side, as the example shows it, moved to loopback.
  const exampleRouter = cfg.bgp.neighbors[0].address as string;
  const exampleSelf = cfg.bgp.neighbors[0].local_address as string;
  const shown = /^# --- bird\.conf ---\n([\s\S]*?)^# --- end bird\.conf ---$/m.exec(text)![1].replace(/^# ?/gm, '');
  const birdConf = shown
    .replace(`router id ${exampleRouter};`, `router id ${router};`)
    .replace(`local ${exampleRouter} as`, `local ${router} port ${birdPort} as`)
    .replace(`neighbor ${exampleSelf} as`, `neighbor ${breakwater} port ${freePort()} as`)
    .replace('graceful restart on;', 'graceful restart on;\n  passive on;');
  assert.ok(birdConf.includes(`local ${router} port ${birdPort}`) && birdConf.includes(`neighbor ${breakwater} port`), 'addresses replaced');
  const bird = new Bird(`log stderr all;\n${birdConf}`);

  // Breakwater's side: the example with loopback addresses, no notifier.
  const ports = { sflow: freePort(), api: freePort() };
  cfg.listen = { ...cfg.listen, netflow: '', sflow: `127.0.0.1:${ports.sflow}`, workers: 1 };
  cfg.bgp.router_id = breakwater;
  cfg.bgp.connect_retry_seconds = 1;
  Object.assign(cfg.bgp.neighbors[0], { address: router, port: birdPort, local_address: breakwater });
  cfg.api.listen = `127.0.0.1:${ports.api}`;
  cfg.storage.data_dir = join(dir, 'data');
  delete cfg.notify;
  const tokens: Record<string, string> = {};
  for (const tok of cfg.api.tokens as Array<{ name: string; token_env: string }>) {
    tokens[tok.name] = `t-${tok.name}-${Math.random().toString(36).slice(2)}`;
    process.env[tok.token_env] = tokens[tok.name];
  }
  const cfgFile = join(dir, 'breakwater.yaml');
  writeYaml(cfgFile, cfg);

  let bw: Breakwater | undefined;
  t.after(async () => {
    await bw?.stop().catch(() => undefined);
    await bird.dispose();
    removeDir(dir);
  });
  await bird.start();
  bw = await startBreakwater(cfgFile, cfg);
  await waitFor('BGP Established with BIRD', async () => (await bird.state('breakwater')) === 'Established', 30_000, 200);

  assert.equal((await bw.api('GET', '/api/v1/status')).status, 401, 'with tokens set, reads need one too');
  const status = await bw.api('GET', '/api/v1/status', undefined, { authorization: `Bearer ${tokens.grafana}` });
  assert.equal(status.status, 200);
  assert.equal(status.json.mode, 'live');

  // Tokens from the environment, with their roles.
  const ban = (ip: string, who?: string) => bw!.api('POST', '/api/v1/ban', { ip, reason: 'live-bird example test' }, who ? { authorization: `Bearer ${tokens[who]}` } : {});
  assert.equal((await ban(HOSTING)).status, 401, 'no token');
  assert.equal((await ban(HOSTING, 'grafana')).status, 403, 'viewer token');
  const fs = await ban(HOSTING, 'noc');
  assert.equal(fs.status, 201, fs.text);
  assert.equal(fs.json.ban.hostgroup, 'hosting');
  const bh = await ban(OTHER, 'admin');
  assert.equal(bh.status, 201, bh.text);

  // The hostgroup's ban is a FlowSpec rule (rate_limit) in BIRD's flow table, no blackhole.
  const flow = await waitFor(
    'the FlowSpec rule in BIRD',
    async () => (await bird.routes('flowtab4')).find((r) => r.net.includes(`dst ${HOSTING}/32`)),
    20_000,
    200,
  );
  // traffic-rate (0x8006) of the hostgroup's flowspec.rate_mbps, as an IEEE float of bytes/s: rate_limit, not discard.
  const rate = Buffer.alloc(4);
  rate.writeFloatBE(cfg.hostgroups.find((g: { name: string }) => g.name === 'hosting').flowspec.rate_mbps * 125_000);
  assert.equal(flow.attrs['BGP.ext_community'], `(generic, 0x80060000, 0x${rate.toString('hex')})`);
  // The other ban is a blackhole route that passed the example's import filter.
  const route = await waitFor('the blackhole route in BIRD', async () => (await bird.routes('master4')).find((r) => r.net === `${OTHER}/32`), 20_000, 200);
  assert.match(route.attrs['BGP.community'] ?? '', /\(65535,666\)/);
  assert.equal(route.attrs['BGP.next_hop'], cfg.bgp.next_hop);
  assert.match(route.head, /^blackhole /, "BIRD resolved the next hop through the example's discard route");
  assert.equal((await bird.routes('master4')).find((r) => r.net === `${HOSTING}/32`), undefined, 'no blackhole for the FlowSpec hostgroup yet');
});
