/**
 * Cluster figures (`npm run bench -- --only cluster`), against Debian's etcd
 * on loopback (one member):
 *
 * cluster.detect_to_update_single_s / cluster.detect_to_update_cluster_s —
 *   the e2e detect-to-UPDATE loop (bench/rig.ts: sFlow attack until BIRD
 *   holds the /32) on a single node and on a node in cluster mode, in the
 *   same run. The ledger is written off the detection path, so the two
 *   should match.
 * cluster.ledger_create_ms — one ban created in the ledger (lease grant +
 *   create-if-absent transaction), median over many bans; p99 in the note.
 * cluster.failover_s — two nodes with a webhook receiver: SIGKILL the
 *   leader, ban through the follower at once; seconds until the webhook
 *   receives that ban's notification (the new leader delivering).
 * cluster.failover_duplicates — leader-feed level, two members campaigning
 *   through etcd's election API with a 2 s election lease (the daemon uses
 *   5 s) while a writer keeps creating and removing ledger bans: N induced
 *   failovers (the leader resigns, or every tenth time its client dies and
 *   its lease must run out), then every ban and unban event counted at the
 *   sink. Duplicates and missed events must both be 0.
 * cluster.node_loss_route_changes — two live nodes peering with one BIRD
 *   (sessions bw1 = leader, bw2 = follower), 50 bans held from both; the
 *   leader is killed with SIGKILL and BIRD's route lines from the surviving
 *   session (timestamps included) are polled for 15 s: every change or
 *   disappearance of one counts. Must be 0.
 */
import { createServer } from 'node:http';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import type { BenchContext, BenchRow } from './harness.ts';
import { median } from './harness.ts';
import { detectToUpdateRuns, startRig, type Rig } from './rig.ts';
import { birdAvailable, clusterBird } from '../test/helpers/bird.ts';
import { EtcdCluster, etcdAvailable } from '../test/helpers/etcd.ts';
import { loopbackBlock, removeDir, sleep, tempDir, waitFor } from '../test/helpers/netns.ts';
import { freePort, SflowSender, startBreakwater, writeYaml, type Breakwater } from '../test/e2e/helpers.ts';
import pino from 'pino';
import { Ledger } from '../src/cluster/ledger.ts';
import { LeaderFeed } from '../src/cluster/leader-feed.ts';
import type { Ban } from '../src/ban/types.ts';

export const prefix = 'cluster';

const THRESHOLD_PPS = 20_000;

async function detectToUpdate(ctx: BenchContext, etcd: EtcdCluster, runs: number): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const mode of ['single', 'cluster'] as const) {
    const dir = tempDir(`bw-bench-cluster-${mode}-`);
    let rig: Rig | undefined;
    const sender = new SflowSender();
    try {
      const extra = mode === 'cluster' ? { cluster: { node_id: 'bench', etcd: { endpoints: etcd.endpoints, prefix: `/bw-bench-${Date.now()}` } } } : {};
      rig = await startRig(dir, THRESHOLD_PPS, extra);
      const victims = Array.from({ length: runs }, (_, i) => `198.51.100.${(mode === 'single' ? 50 : 100) + i}`);
      const times = await detectToUpdateRuns(ctx, rig, sender, victims, THRESHOLD_PPS * 2.5, `${mode} detect-to-UPDATE`);
      rows.push({ figure: `cluster.detect_to_update_${mode}_s`, value: times.length ? Number(median(times).toFixed(3)) : NaN, unit: 's', note: `median of ${times.length} runs (min ${Math.min(...times).toFixed(3)}, max ${Math.max(...times).toFixed(3)}); ${mode === 'cluster' ? 'cluster mode, one etcd member' : 'no cluster'}` });
    } finally {
      sender.close();
      await rig?.bw.stop().catch(() => undefined);
      await rig?.bird.dispose();
      removeDir(dir);
    }
  }
  return rows;
}

async function ledgerCreate(etcd: EtcdCluster, n: number): Promise<BenchRow> {
  const client = new Etcd3({ hosts: etcd.endpoints });
  try {
    const ledger = new Ledger(client, `/bw-bench-ledger-${Date.now()}`);
    const ms: number[] = [];
    for (let i = 0; i < n; i++) {
      const now = Date.now();
      const target = `198.51.${100 + (i >> 8)}.${i & 255}`;
      const ban: Ban = { id: `ban-bench-${i}`, target, family: 4, source: 'bench', reason: 'bench', action: 'blackhole', escalation_step: -1, route: { type: 'blackhole', prefix: `${target}/32`, next_hop: '192.0.2.1', communities: [], large_communities: [] }, created: now, expires: now + 60_000, ttl_seconds: 60, state: 'expiring', level: 'blackhole' };
      const t0 = performance.now();
      await ledger.create(ban);
      ms.push(performance.now() - t0);
    }
    ms.sort((a, b) => a - b);
    const p99 = ms[Math.min(ms.length - 1, Math.floor(ms.length * 0.99))];
    return { figure: 'cluster.ledger_create_ms', value: Number(median(ms).toFixed(2)), unit: 'ms', note: `median of ${n} creations (p99 ${p99.toFixed(2)} ms); lease grant + create-if-absent transaction, one etcd member on loopback` };
  } finally {
    client.close();
  }
}

async function failover(ctx: BenchContext, etcd: EtcdCluster): Promise<BenchRow> {
  const dir = tempDir('bw-bench-failover-');
  const got: Array<{ event: string; target?: string; at: number }> = [];
  const server = createServer((req, res) => {
    let b = '';
    req.on('data', (c) => (b += c));
    req.on('end', () => {
      try {
        got.push({ ...(JSON.parse(b) as { event: string; target?: string }), at: performance.now() });
      } catch {
        /* ignored */
      }
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const nodes: Breakwater[] = [];
  const pfx = `/bw-bench-failover-${Date.now()}`;
  try {
    for (const id of ['a', 'b']) {
      mkdirSync(join(dir, id), { recursive: true });
      const cfg = {
        dry_run: true,
        log: { level: 'warn' },
        listen: { netflow: '', sflow: '' },
        networks: ['198.51.100.0/24'],
        notify: { webhook: { url: `http://127.0.0.1:${port}/`, events: ['ban'] } },
        api: { listen: `127.0.0.1:${freePort()}`, insecure_no_auth: true },
        storage: { data_dir: join(dir, id, 'data') },
        cluster: { node_id: id, etcd: { endpoints: etcd.endpoints, prefix: pfx, dial_timeout_seconds: 2 } },
      };
      writeYaml(join(dir, `${id}.yaml`), cfg);
      nodes.push(await startBreakwater(join(dir, `${id}.yaml`), cfg));
      if (id === 'a') await waitFor('a leader', async () => (await nodes[0].api('GET', '/api/v1/status')).json.cluster?.role === 'leader', 20_000, 100);
    }
    const [a, b] = nodes;
    await waitFor('b sees a', async () => (await b.api('GET', '/api/v1/status')).json.cluster?.nodes?.length === 2, 10_000, 100);
    const t0 = performance.now();
    await a.kill9();
    nodes.shift();
    const r = await b.api('POST', '/api/v1/ban', { ip: '198.51.100.77' });
    if (r.status !== 201) throw new Error(`ban through the follower: ${r.status} ${r.text}`);
    await waitFor('the new leader delivers', () => got.some((x) => x.event === 'ban' && x.target === '198.51.100.77'), 30_000, 20);
    const at = got.find((x) => x.event === 'ban' && x.target === '198.51.100.77')!.at;
    const s = (at - t0) / 1000;
    ctx.log(`failover: ${s.toFixed(3)} s`);
    return { figure: 'cluster.failover_s', value: Number(s.toFixed(3)), unit: 's', note: 'SIGKILL of the leader → the follower delivers a ban notification (election lease 5 s); duplicates: ' + (got.filter((x) => x.target === '198.51.100.77').length - 1) };
  } finally {
    for (const n of nodes) await n.stop().catch(() => undefined);
    server.close();
    removeDir(dir);
  }
}

export async function nodeLossFlaps(ctx: BenchContext, etcd: EtcdCluster, bans: number): Promise<BenchRow> {
  const dir = tempDir('bw-bench-flaps-');
  const L = loopbackBlock();
  const birdPort = freePort();
  const bird = clusterBird(L, birdPort, freePort());
  const nodes: Breakwater[] = [];
  const pfx = `/bw-bench-flaps-${Date.now()}`;
  try {
    await bird.start();
    for (const [id, self] of [['a', L(1)], ['b', L(3)]] as const) {
      mkdirSync(join(dir, id), { recursive: true });
      const cfg = {
        dry_run: false,
        log: { level: 'warn' },
        listen: { netflow: '', sflow: '' },
        networks: ['198.51.100.0/24'],
        ban: { ttl_seconds: 900, max_active_bans: 1000, max_banned_fraction: 1, max_bans_per_window: 1000 },
        bgp: { local_asn: 65000, router_id: self, next_hop: '192.0.2.1', connect_retry_seconds: 1, neighbors: [{ address: L(2), port: birdPort, remote_asn: 65001, local_address: self, hold_time: 9 }] },
        api: { listen: `127.0.0.1:${freePort()}`, insecure_no_auth: true },
        storage: { data_dir: join(dir, id, 'data') },
        cluster: { node_id: id, etcd: { endpoints: etcd.endpoints, prefix: pfx, dial_timeout_seconds: 2 } },
      };
      writeYaml(join(dir, `${id}.yaml`), cfg);
      nodes.push(await startBreakwater(join(dir, `${id}.yaml`), cfg));
      if (id === 'a') await waitFor('a leader', async () => (await nodes[0].api('GET', '/api/v1/status')).json.cluster?.role === 'leader', 20_000, 100);
    }
    const [a, b] = nodes;
    await waitFor('both sessions up', async () => (await bird.state('bw1')) === 'Established' && (await bird.state('bw2')) === 'Established', 30_000, 200);
    for (let i = 0; i < bans; i++) {
      const r = await a.api('POST', '/api/v1/ban', { ip: `198.51.100.${10 + i}` });
      if (r.status !== 201) throw new Error(`ban ${i}: ${r.status} ${r.text}`);
    }
    const survivor = async () => {
      const m = new Map<string, string>();
      for (const r of await bird.routes('master4')) if (r.head.includes('[bw2 ')) m.set(r.net, r.head);
      return m;
    };
    await waitFor('BIRD holds every route from both sessions', async () => {
      const all = await bird.routes('master4');
      return all.filter((r) => r.head.includes('[bw1 ')).length >= bans && all.filter((r) => r.head.includes('[bw2 ')).length >= bans;
    }, 30_000, 200);
    const before = await survivor();
    await a.kill9();
    nodes.shift();
    const t0 = Date.now();
    let changes = 0;
    const seen = new Map(before);
    let polls = 0;
    while (Date.now() - t0 < 15_000) {
      const now = await survivor();
      for (const [net, head] of seen) {
        const h = now.get(net);
        if (h !== head) {
          changes++;
          if (h) seen.set(net, h);
          else seen.delete(net);
        }
      }
      polls++;
      await sleep(200);
    }
    const leader = (await b.api('GET', '/api/v1/status')).json.cluster?.role;
    ctx.log(`node loss: ${changes} route changes on the surviving session over ${polls} polls; survivor is ${leader}`);
    return { figure: 'cluster.node_loss_route_changes', value: changes, unit: 'routes', note: `${before.size} routes from the surviving session at BIRD, polled ${polls} times over 15 s after SIGKILL of the leader (survivor became ${leader}); any change of a route line (timestamp included) or its loss counts` };
  } finally {
    for (const n of nodes) await n.stop().catch(() => undefined);
    await bird.dispose();
    removeDir(dir);
  }
}

interface Member {
  name: string;
  client: Etcd3;
  feed: LeaderFeed;
  campaign: ReturnType<ReturnType<Etcd3['election']>['campaign']> | undefined;
}

export async function failoverDuplicates(ctx: BenchContext, etcd: EtcdCluster, n: number): Promise<BenchRow> {
  const pfx = `/bw-bench-dup-${Date.now()}`;
  const log = pino({ level: 'silent' });
  const delivered = new Map<string, number>();
  let leader: Member | undefined;
  let elections = 0;
  const members: Member[] = [];
  const make = (name: string): Member => {
    const client = new Etcd3({ hosts: etcd.endpoints, dialTimeout: 2000 });
    const m: Member = { name, client, campaign: undefined, feed: undefined as unknown as LeaderFeed };
    m.feed = new LeaderFeed({
      client,
      ledger: new Ledger(client, pfx),
      log,
      sink: (evs) => {
        for (const e of evs) {
          const k = `${e.event}:${'ban' in e ? e.ban.id : ''}`;
          delivered.set(k, (delivered.get(k) ?? 0) + 1);
        }
      },
      fence: async () => !!m.campaign && leader === m && (await client.get(await m.campaign.getCampaignKey()).exec()).kvs.length === 1,
    });
    return m;
  };
  const campaign = (m: Member) => {
    const c = m.client.namespace(`${pfx}/`).election('leader', 2).campaign(m.name);
    m.campaign = c;
    c.on('elected', () => {
      if (m.campaign !== c) return;
      leader = m;
      elections++;
      void m.feed.start().catch(() => undefined);
    });
    c.on('error', () => undefined);
  };
  const writerClient = new Etcd3({ hosts: etcd.endpoints });
  const ledger = new Ledger(writerClient, pfx);
  let writing = true;
  let created = 0;
  let removed = 0;
  let go: () => void = () => undefined;
  const started = new Promise<void>((r) => (go = r));
  const writer = (async () => {
    // From the first leader on: a leader without a cursor starts at the current revision.
    await started;
    const live: Awaited<ReturnType<Ledger['create']>>[] = [];
    for (let i = 0; writing && i < 1_000_000; i++) {
      const now = Date.now();
      const target = `198.51.${100 + ((i >> 8) % 100)}.${i & 255}`;
      const ban: Ban = { id: `ban-dup-${i}`, target, family: 4, source: 'bench', reason: 'bench', action: 'blackhole', escalation_step: -1, route: { type: 'blackhole', prefix: `${target}/32`, next_hop: '192.0.2.1', communities: [], large_communities: [] }, created: now, expires: now + 600_000, ttl_seconds: 600, state: 'expiring', level: 'blackhole' };
      const r = await ledger.create(ban).catch(() => undefined);
      if (r?.created) {
        created++;
        live.push(r);
      }
      if (live.length > 20) {
        const old = live.shift()!;
        if (old.created && (await ledger.remove(old.entry, 'manual', 'bench').catch(() => ({ ok: false }))).ok) removed++;
      }
      await new Promise((res) => setTimeout(res, 10));
    }
  })();
  const t0 = performance.now();
  let kills = 0;
  const took: number[] = [];
  try {
    members.push(make('m0'), make('m1'));
    campaign(members[0]);
    await waitFor('first leader', () => leader === members[0], 10_000, 10);
    await waitFor('its feed running', async () => (await writerClient.get(`${pfx}/cursor`).string()) !== null, 10_000, 10);
    go();
    campaign(members[1]);
    for (let i = 0; i < n; i++) {
      const old = leader!;
      const before = elections;
      const f0 = performance.now();
      const idx = members.indexOf(old);
      if (i % 10 === 9) {
        // The leader's process dies: its client goes, its lease must run out.
        kills++;
        // Keep-alives stop without a revoke (as when the process is gone), then the client closes.
        (old.campaign as unknown as { lease: { release(): void } }).lease.release();
        old.client.close();
        const fresh = make(old.name);
        members[idx] = fresh;
        await waitFor('the other member elected', () => elections > before && leader !== old, 20_000, 10);
        await old.feed.stop();
        campaign(fresh);
      } else {
        await old.feed.stop();
        const c = old.campaign!;
        old.campaign = undefined;
        await c.resign();
        await waitFor('the other member elected', () => elections > before && leader !== old, 20_000, 10);
        campaign(old);
      }
      took.push(performance.now() - f0);
    }
    writing = false;
    await writer;
    const expected = created + removed;
    await waitFor('every event delivered', () => [...delivered.keys()].length >= expected, 30_000, 50).catch(() => undefined);
    const dup = [...delivered.values()].reduce((a, c) => a + (c - 1), 0);
    const missed = expected - delivered.size;
    const s = (performance.now() - t0) / 1000;
    ctx.log(`failover duplicates: ${dup} over ${n} failovers (${kills} by lease expiry), ${delivered.size}/${expected} events, ${s.toFixed(1)} s; failover ms: ${took.map((x) => x.toFixed(0)).join(' ')}`);
    return { figure: 'cluster.failover_duplicates', value: dup, unit: 'events', note: `${n} induced failovers (${n - kills} resignations, ${kills} dead leaders whose 2 s election lease ran out) in ${s.toFixed(0)} s while ${created} bans were created and ${removed} removed; ${delivered.size} of ${expected} events delivered, ${missed} missed` };
  } finally {
    writing = false;
    go();
    await writer.catch(() => undefined);
    for (const m of members) {
      await m.feed.stop();
      await m.campaign?.resign().catch(() => undefined);
      m.client.close();
    }
    writerClient.close();
  }
}

export default async function (ctx: BenchContext): Promise<BenchRow[]> {
  if (!etcdAvailable()) return [{ figure: 'cluster.skipped', value: NaN, unit: '', note: 'etcd not installed' }];
  const etcd = await EtcdCluster.start(1);
  try {
    const rows: BenchRow[] = [];
    rows.push(await ledgerCreate(etcd, Math.max(20, Math.round(500 * ctx.scale))));
    if (birdAvailable()) rows.push(...(await detectToUpdate(ctx, etcd, Math.max(3, Math.round(7 * ctx.scale)))));
    else ctx.log('BIRD not available: detect-to-UPDATE skipped');
    rows.push(await failover(ctx, etcd));
    rows.push(await failoverDuplicates(ctx, etcd, Math.max(10, Math.round(100 * ctx.scale))));
    if (birdAvailable()) rows.push(await nodeLossFlaps(ctx, etcd, Math.max(10, Math.round(50 * ctx.scale))));
    return rows;
  } finally {
    await etcd.stop();
  }
}
