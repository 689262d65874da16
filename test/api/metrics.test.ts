/**
 * One scrape asks each source once (the table adapts one snapshot), and the
 * table keeps every metric name and label set operators' dashboards use.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { METRICS, Metrics } from '../../src/api/metrics.ts';

const NAMES = [
  'breakwater_api_requests_total',
  'breakwater_bgp_flaps_total',
  'breakwater_bgp_messages_total',
  'breakwater_bgp_neighbor_last_error_info',
  'breakwater_bgp_neighbor_state',
  'breakwater_bgp_neighbor_up',
  'breakwater_bgp_routes_out',
  'breakwater_bgp_updates_total',
  'breakwater_build_info',
  'breakwater_dry_run',
  'breakwater_engine_active_attacks',
  'breakwater_engine_active_bans',
  'breakwater_engine_attacks_total',
  'breakwater_engine_bans_refused_total',
  'breakwater_engine_bans_total',
  'breakwater_engine_host_overflow_total',
  'breakwater_engine_records_total',
  'breakwater_engine_tracked_hosts',
  'breakwater_flow_datagrams_total',
  'breakwater_flow_decode_errors_total',
  'breakwater_flow_dropped_total',
  'breakwater_flow_exporter_evictions_total',
  'breakwater_flow_exporter_last_seen_seconds',
  'breakwater_flow_no_template_total',
  'breakwater_flow_receiver_info',
  'breakwater_flow_records_total',
  'breakwater_flow_state_bytes',
  'breakwater_flow_templates',
  'breakwater_mitigate_announced_routes',
  'breakwater_mitigate_fallback_total',
  'breakwater_mitigate_flowspec_rules',
  'breakwater_mitigate_held_routes',
  'breakwater_mitigate_lint_refused_total',
  'breakwater_mitigate_reconcile_repairs_total',
  'breakwater_notify_delivery_latency_seconds',
  'breakwater_notify_dropped_total',
  'breakwater_notify_events_sent_total',
  'breakwater_notify_failed_total',
  'breakwater_notify_outbox_rows',
  'breakwater_notify_queued',
  'breakwater_notify_retries_total',
  'breakwater_notify_sent_total',
  'breakwater_store_pending_writes',
  'breakwater_store_write_errors_total',
];

test('metrics: one scrape reads each source once, whatever the number of metrics fed from it', async () => {
  const calls: Record<string, number> = {};
  const count = <T>(name: string, v: T) => () => {
    calls[name] = (calls[name] ?? 0) + 1;
    return v;
  };
  const m = new Metrics(
    {
      flow: count('flow', { exporters: [{ exporter: '192.0.2.1', datagrams: 3, records: 9, errors: { truncated: 1 }, byProto: { sflow5: 3 }, templates: 0, noTemplate: 0, lastSeen: 1_700_000_000_000 }], dropped: { queue: 2 }, receiver: 'dgram' }),
      engine: count('engine', { tracked_hosts: { incoming: 2, outgoing: 0 }, active_attacks: 1, active_bans: 1, attacks_by_vector: { udp_flood: 1 }, bans_total: 1, bans_refused_by_reason: {}, records: 9, overflow: 0 }),
      bgp: count('bgp', [{ neighbor: '127.0.0.2', state: 'Established', messages_in: 1, messages_out: 2, updates_in: 0, updates_out: 1, flaps: 0, last_error: '', routes_out: 1 }]),
      mitigation: count('mitigation', { announced_routes: { real: 1, dry_run: 0 }, flowspec_rules: { real: 0, dry_run: 0 }, fallbacks: 0, held: 0, repairs: {} }),
      store: count('store', { writes: 1, write_errors: 0, pending: 0, degraded: false }),
      dryRun: count('dryRun', false),
      api: count('api', { requests: 5, errors: 1, unauthorized: 1 }),
    },
    { defaultMetrics: false },
  );
  const body = (await m.render()).body;
  assert.deepEqual(calls, { flow: 1, engine: 1, bgp: 1, mitigation: 1, store: 1, dryRun: 1, api: 1 });
  await Promise.all([m.render(), m.render()]);
  assert.deepEqual(Object.values(calls), [3, 3, 3, 3, 3, 3, 3], 'concurrent scrapes each take their own snapshot');
  assert.match(body, /^breakwater_flow_datagrams_total\{exporter="192\.0\.2\.1",proto="sflow5"\} 3$/m);
  assert.match(body, /^breakwater_bgp_neighbor_state\{neighbor="127\.0\.0\.2",state="established"\} 1$/m);
  assert.match(body, /^breakwater_mitigate_announced_routes\{mode="real"\} 1$/m);
  assert.match(body, /^breakwater_dry_run 0$/m);
  assert.match(body, /^breakwater_api_requests_total\{outcome="ok"\} 4$/m);
});

test('metrics: the table keeps every metric name (the tick histogram aside), and each is in a scrape', async () => {
  assert.deepEqual(METRICS.map((r) => r.name).sort(), NAMES);
  const body = (await new Metrics({}, { defaultMetrics: false }).render()).body;
  for (const n of [...NAMES, 'breakwater_engine_tick_seconds']) assert.match(body, new RegExp(`^# TYPE ${n} `, 'm'), n);
});
