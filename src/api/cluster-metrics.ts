/**
 * breakwater_cluster_* metrics, read at scrape time from the cluster node's
 * plain stats object (cluster/ does not import prom-client). Absent without
 * `cluster:`.
 */
import type { Registry } from 'prom-client';
import type { ClusterStats } from '../cluster/node.ts';
import { mirrorCounter, mirrorCounters, mirrorGauge } from './mirror-metrics.ts';

export function registerClusterMetrics(reg: Registry, src: () => ClusterStats | undefined): void {
  const gauge = (name: string, help: string, pick: (s: ClusterStats) => number) =>
    mirrorGauge(reg, name, help, () => {
      const s = src();
      return s ? pick(s) : undefined;
    });
  gauge('breakwater_cluster_partitioned', '1 while this cluster node cannot reach etcd (it keeps its bans until their TTL and, with partition_policy hold, creates none).', (s) => (s.partitioned ? 1 : 0));
  gauge('breakwater_cluster_leader', '1 while this node is the cluster leader (the one producer of ban notifications, audit and history rows).', (s) => (s.leader ? 1 : 0));
  gauge('breakwater_cluster_nodes', 'Cluster nodes with a live membership key.', (s) => s.nodes);
  gauge('breakwater_cluster_config_mismatch_nodes', 'Peers whose networks, thresholds or ban policy differ from this node\'s (config_checksum).', (s) => s.checksum_mismatches);
  mirrorCounters(reg, 'breakwater_cluster_ledger_ops_total', 'Ledger operations of this node: created, lost_races, adopted, adopt_refused, updates, conflicts, removed, released, errors.', 'op', () => {
    const s = src()?.sync;
    if (!s) return undefined;
    const { dirty: _pending, ...ops } = s; // a gauge's worth (bans waiting for etcd), not a count of operations
    return ops;
  });
  mirrorCounter(reg, 'breakwater_cluster_leader_events_total', 'Ledger ban events this node delivered as leader (notifications, audit, history).', () => src()?.feed_events);
}
