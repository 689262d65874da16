/** Overview: mode, totals, ingest per exporter, BGP neighbors, active attacks and bans, a live ingest chart. */
import { Chart } from '../chart.tsx';
import { duration, num, since, time } from '../format.ts';
import { useLive } from '../live.ts';
import { Card, routeText, Table, useGet } from './common.tsx';

export function Overview() {
  const live = useLive();
  const s = live.status;
  // GET /exporters and /neighbors carry more than the status; without them the status's own lists are shown.
  const ex = useGet('/api/v1/exporters', 5000);
  const nb = useGet('/api/v1/neighbors', 5000);
  if (!s) return <p class="muted">waiting for the daemon…</p>;
  const attacks = [...live.attacks.values()].filter((a) => a.active !== false && a.end === undefined);
  const bans = [...live.bans.values()].filter((b) => b.active !== false && b.ended === undefined);
  const exporters: any[] = ex?.ok ? ex.body.exporters : (s.ingest ?? []).map((e: any) => ({ address: e.exporter, datagrams_per_second: e.datagrams_per_s, records_per_second: e.records_per_s, last_seen: e.last_seen, errors: e.errors }));
  const neighbors: any[] = nb?.ok ? nb.body.neighbors : (s.neighbors ?? []);
  const h = live.ingest;
  return (
    <div data-testid="view-overview">
      <div class="cards">
        <Card label="active attacks" value={s.active_attacks} tone={s.active_attacks ? 'bad' : ''} testid="total-attacks" />
        <Card label="active bans" value={s.active_bans} testid="total-bans" />
        <Card label="routes announced (real / dry-run)" value={`${s.announced_routes?.real ?? 0} / ${s.announced_routes?.dry_run ?? 0}`} />
        <Card label="flowspec rules (real / dry-run)" value={`${s.flowspec_rules?.real ?? 0} / ${s.flowspec_rules?.dry_run ?? 0}`} />
        <Card label="records/s" value={num(h.records[h.records.length - 1] ?? 0)} testid="total-records" />
        <Card label="uptime" value={duration(s.uptime_seconds)} />
      </div>
      <h2>Ingest</h2>
      <Chart times={h.t} series={[{ label: 'records/s', color: '#4fc3f7' }, { label: 'datagrams/s', color: '#aed581' }]} values={[h.records, h.datagrams]} height={160} />
      <Table
        testid="exporters"
        head={['exporter', 'protocol', 'datagrams/s', 'records/s', 'sampling', 'last seen', 'errors']}
        rows={exporters.map((e) => [e.address, e.protocol ?? '–', num(e.datagrams_per_second, 1), num(e.records_per_second, 1), e.sampling_rate ?? '–', e.last_seen ? `${since(Date.parse(e.last_seen))} ago` : '–', e.errors ?? 0])}
        empty="no exporter has sent anything yet"
      />
      <h2>BGP neighbors</h2>
      <Table
        testid="neighbors"
        head={['neighbor', 'state', 'families', 'routes sent', 'up', 'last error']}
        rows={neighbors.map((n) => [n.address ?? n.neighbor, <span class={`state ${n.state === 'Established' ? 'good' : 'bad'}`}>{n.state}</span>, (n.families ?? []).join(', '), n.routes_sent ?? n.routes_out ?? 0, duration(n.uptime_seconds), n.last_error ?? ''])}
        empty="no BGP neighbor configured"
      />
      <h2>Active attacks</h2>
      <Table
        head={['target', 'vector', 'pps', 'Mbps', 'since', 'route']}
        rows={attacks.map((a) => [<a href={`#/attacks/${a.id}`}>{a.target}</a>, a.vector, num(a.pps), num(a.mbps, 1), time(a.start), routeText(a.route)])}
        empty="no attack in progress"
      />
      <h2>Active bans</h2>
      <Table head={['target', 'action', 'TTL left', 'announced to']} rows={bans.map((b) => [b.target, b.action, duration(b.ttl_left_seconds ?? (b.expires - Date.now()) / 1000), (b.announced_to ?? []).join(', ') || (b.mode === 'dry_run' ? 'dry-run: none' : 'none')])} empty="no active ban" />
    </div>
  );
}
