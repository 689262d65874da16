/**
 * breakwater_cluster_* metrics, read at scrape time from the cluster node's
 * plain stats object (cluster/ does not import prom-client). Absent without
 * `cluster:`.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { ClusterStats } from '../cluster/node.ts';

export function registerClusterMetrics(reg: Registry, src: () => ClusterStats | undefined): void {
  const gauge = (name: string, help: string, pick: (s: ClusterStats) => number) =>
    new Gauge({
      name,
      help,
      registers: [reg],
      collect() {
        const s = src();
        this.reset();
        if (s) this.set(pick(s));
      },
    });
  gauge('breakwater_cluster_partitioned', '1 while this cluster node cannot reach etcd (it keeps its bans until their TTL and, with partition_policy hold, creates none).', (s) => (s.partitioned ? 1 : 0));
  gauge('breakwater_cluster_leader', '1 while this node is the cluster leader (the one producer of ban notifications, audit and history rows).', (s) => (s.leader ? 1 : 0));
  gauge('breakwater_cluster_nodes', 'Cluster nodes with a live membership key.', (s) => s.nodes);
  gauge('breakwater_cluster_config_mismatch_nodes', 'Peers whose networks, thresholds or ban policy differ from this node\'s (config_checksum).', (s) => s.checksum_mismatches);
  new Counter({
    name: 'breakwater_cluster_ledger_ops_total',
    help: 'Ledger operations of this node: created, lost_races, adopted, adopt_refused, updates, conflicts, removed, released, errors.',
    labelNames: ['op'],
    registers: [reg],
    collect() {
      this.reset();
      const s = src();
      if (!s) return;
      for (const [k, n] of Object.entries(s.sync)) if (k !== 'dirty' && n > 0) this.inc({ op: k }, n);
    },
  });
  new Counter({
    name: 'breakwater_cluster_leader_events_total',
    help: 'Ledger ban events this node delivered as leader (notifications, audit, history).',
    registers: [reg],
    collect() {
      this.reset();
      const n = src()?.feed_events ?? 0;
      if (n > 0) this.inc(n);
    },
  });
}
