/**
 * What a reload changes: dotted keys whose value differs between two
 * validated configs, and the neighbors added, removed or changed (by address
 * and port) so the speaker touches only those sessions.
 */
import type { Config, NeighborConfig } from '../config/schema.ts';

export interface NeighborDiff {
  added: NeighborConfig[];
  removed: NeighborConfig[];
  changed: Array<{ before: NeighborConfig; after: NeighborConfig; keys: string[] }>;
}

export interface ConfigDiff {
  /** Dotted keys that changed, e.g. "dry_run", "thresholds.pps", "bgp.neighbors[127.0.0.2]". */
  changed: string[];
  neighbors: NeighborDiff;
  dryRunChanged: boolean;
  /** Keys that only take effect after a restart (reported, not applied). */
  needsRestart: string[];
}

const RESTART_KEYS = ['api.listen', 'storage.data_dir', 'storage.sqlite', 'storage.clickhouse', 'bgp.listen', 'bgp.local_asn', 'bgp.router_id', 'bgp.graceful_restart'];

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function nbKey(n: NeighborConfig): string {
  return n.port === 179 ? n.address : `${n.address}:${n.port}`;
}

function walk(a: unknown, b: unknown, path: string, out: string[], depth: number): void {
  if (same(a, b)) return;
  const obj = (x: unknown) => x !== null && typeof x === 'object' && !Array.isArray(x);
  if (depth > 0 && obj(a) && obj(b)) {
    const ka = a as Record<string, unknown>, kb = b as Record<string, unknown>;
    for (const k of new Set([...Object.keys(ka), ...Object.keys(kb)])) walk(ka[k], kb[k], path ? `${path}.${k}` : k, out, depth - 1);
    return;
  }
  out.push(path);
}

export function diffNeighbors(a: readonly NeighborConfig[], b: readonly NeighborConfig[]): NeighborDiff {
  const before = new Map(a.map((n) => [nbKey(n), n]));
  const after = new Map(b.map((n) => [nbKey(n), n]));
  const d: NeighborDiff = { added: [], removed: [], changed: [] };
  for (const [k, n] of after) {
    const o = before.get(k);
    if (!o) d.added.push(n);
    else if (!same(o, n)) {
      const keys: string[] = [];
      walk(o, n, '', keys, 1);
      d.changed.push({ before: o, after: n, keys });
    }
  }
  for (const [k, n] of before) if (!after.has(k)) d.removed.push(n);
  return d;
}

export function diffConfig(a: Readonly<Config>, b: Readonly<Config>): ConfigDiff {
  const changed: string[] = [];
  const { bgp: bgpA, ...restA } = a;
  const { bgp: bgpB, ...restB } = b;
  walk(restA, restB, '', changed, 2);
  const { neighbors: nA, ...bA } = bgpA;
  const { neighbors: nB, ...bB } = bgpB;
  walk(bA, bB, 'bgp', changed, 2);
  const neighbors = diffNeighbors(nA, nB);
  for (const n of neighbors.added) changed.push(`bgp.neighbors[${nbKey(n)}] added`);
  for (const n of neighbors.removed) changed.push(`bgp.neighbors[${nbKey(n)}] removed`);
  for (const c of neighbors.changed) changed.push(`bgp.neighbors[${nbKey(c.after)}] ${c.keys.join(',')}`);
  const needsRestart = changed.filter((k) => RESTART_KEYS.some((r) => k === r || k.startsWith(r + '.')));
  return { changed, neighbors, dryRunChanged: a.dry_run !== b.dry_run, needsRestart };
}
