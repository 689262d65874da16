/**
 * One past attack from ClickHouse history: its facts, its ban events, the
 * flows sampled from it (sources, ports, protocols, packet sizes, from
 * /history/attacks/{id}/samples) and the target's traffic around it
 * (/hosts/{ip}/traffic, read from ClickHouse beyond the last minutes).
 * The hash carries the attack's start, so the lookup reads one second.
 */
import { Chart } from '../chart.tsx';
import { duration, num, time } from '../format.ts';
import { ErrorNote, PROTO, routeText, Table, TopTable, useGet } from './common.tsx';
import { BanEvents } from './history.tsx';

/** Minutes of traffic shown before and after the attack. */
const AROUND_MS = 10 * 60_000;

interface Top {
  key: string;
  packets: number;
  share: number;
}

/** Packets by a key of the sample flows, largest first (each flow weighs its packets). */
export function tops(flows: any[], key: (f: any) => string, limit = 10): Top[] {
  const by = new Map<string, number>();
  let total = 0;
  for (const f of flows) {
    const p = Number(f.packets) || 0;
    total += p;
    const k = key(f);
    by.set(k, (by.get(k) ?? 0) + p);
  }
  return [...by.entries()]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, limit)
    .map(([k, p]) => ({ key: k, packets: p, share: total ? p / total : 0 }));
}

const SIZES = [64, 128, 256, 512, 1024, 1500];
/** A packet size as its bucket ("128–255 B"). */
export function sizeBucket(size: number): string {
  let lo = 0;
  for (const hi of SIZES) {
    if (size < hi) return `${lo}–${hi - 1} B`;
    lo = hi;
  }
  return `≥ ${lo} B`;
}

export function HistoryAttack(props: { id: string; start?: number }) {
  const id = encodeURIComponent(props.id);
  const at = props.start !== undefined && Number.isFinite(props.start) ? `from=${props.start - 1000}&to=${props.start + 1000}` : 'from=0';
  const r = useGet(`/api/v1/history/attacks?id=${id}&${at}&limit=1`);
  const a = r?.ok ? r.body.attacks[0] : undefined;
  const bans = useGet(a ? `/api/v1/history/bans?attack_id=${id}&from=${a.start - 60_000}&limit=1000` : null);
  const samples = useGet(a ? `/api/v1/history/attacks/${id}/samples` : null);
  if (!r) return <p class="muted">loading…</p>;
  if (!r.ok) return <ErrorNote r={r} />;
  if (!a) return <p class="muted">attack {props.id} is not in ClickHouse history</p>;
  const flows: any[] = samples?.ok ? samples.body.samples : [];
  const s = a.summary ?? {};
  return (
    <div data-testid="view-history-attack">
      <p>
        <a href="#/history" data-testid="history-back">← history</a>
      </p>
      <h2>
        {a.target} <span class="vector">{a.vector}</span> {a.end ? <span class="tag">ended</span> : <span class="tag bad">active</span>}
      </h2>
      <div class="cards">
        <div class="card"><div class="card-value">{num(a.peak_pps)}</div><div class="card-label">peak pps</div></div>
        <div class="card"><div class="card-value">{num(a.peak_mbps, 1)}</div><div class="card-label">peak Mbps</div></div>
        <div class="card"><div class="card-value">{num(a.peak_fps)}</div><div class="card-label">peak flows/s</div></div>
        <div class="card"><div class="card-value">{a.end ? duration((a.end - a.start) / 1000) : '–'}</div><div class="card-label">duration</div></div>
      </div>
      <dl class="facts" data-testid="history-attack-facts">
        <dt>direction</dt><dd>{a.direction}</dd>
        <dt>hostgroup</dt><dd>{a.hostgroup ?? '–'}</dd>
        <dt>triggers</dt><dd>{(a.triggers ?? []).join(', ')}</dd>
        <dt>thresholds</dt><dd>{a.thresholds ? Object.entries(a.thresholds).map(([k, x]) => `${k} ${x}`).join(', ') : '–'}</dd>
        <dt>detected by</dt><dd>{a.source}</dd>
        <dt>started</dt><dd>{time(a.start)}</dd>
        <dt>ended</dt><dd>{a.end ? `${time(a.end)}${a.end_reason ? ` (${a.end_reason})` : ''}` : 'still active'}</dd>
        <dt>route</dt><dd class="route">{routeText(a.route)}</dd>
        <dt>avg packet bytes</dt><dd>{num(s.avg_packet_size)}</dd>
      </dl>
      <TrafficAround ip={a.target} direction={a.direction} start={a.start} end={a.end} />
      <h2>Ban events</h2>
      {bans && !bans.ok ? <ErrorNote r={bans} /> : <BanEvents items={bans?.ok ? bans.body.bans : []} loading={!bans} />}
      <h2>From the sample</h2>
      {samples && !samples.ok ? <ErrorNote r={samples} /> : null}
      <div class="tops" data-testid="history-samples-tops">
        <TopTable title="top sources" items={tops(flows, (f) => f.src)} testid="history-top-sources" />
        <TopTable title="top source ports" items={tops(flows, (f) => String(f.src_port))} testid="history-top-source-ports" />
        <TopTable title="top destination ports" items={tops(flows, (f) => String(f.dst_port))} />
        <TopTable title="protocols" items={tops(flows, (f) => PROTO[f.ip_proto] ?? String(f.ip_proto))} testid="history-top-protocols" />
        <TopTable title="packet sizes" items={tops(flows, (f) => sizeBucket(Number(f.packet_size)), SIZES.length + 1)} testid="history-packet-sizes" />
      </div>
      <h3>Sampled flows ({flows.length})</h3>
      <Table
        testid="history-samples"
        rowTestid="history-sample-row"
        head={['time', 'source', 'sport', 'destination', 'dport', 'protocol', 'packets', 'bytes', 'packet bytes', 'exporter']}
        rows={flows.slice(0, 200).map((f) => [time(f.time_ms), f.src, f.src_port, f.dst, f.dst_port, PROTO[f.ip_proto] ?? f.ip_proto, num(f.packets), num(f.bytes), num(f.packet_size), f.exporter])}
        empty={samples ? 'no flow kept for this attack (samples.enabled: false?)' : 'loading…'}
      />
    </div>
  );
}

/** The target's rates from ten minutes before the attack to ten minutes after it (or now). */
function TrafficAround(props: { ip: string; direction: string; start: number; end?: number }) {
  // "now" is the daemon's clock; a `to` past it simply has no points yet.
  const from = props.start - AROUND_MS;
  const to = props.end !== undefined ? props.end + AROUND_MS : undefined;
  const r = useGet(`/api/v1/hosts/${encodeURIComponent(props.ip)}/traffic?from=${from}&to=${to ?? 'now'}`);
  const side = props.direction === 'outgoing' ? 'out' : 'in';
  const points: any[] = r?.ok ? r.body.points ?? [] : [];
  const t = points.map((p) => p.t / 1000);
  return (
    <div data-testid="history-traffic">
      <h2>
        Traffic to {props.ip} around the attack ({props.direction})
      </h2>
      {!r ? <p class="muted">loading…</p> : null}
      {r && !r.ok ? <p class="muted">{r.error || `HTTP ${r.status}`}</p> : null}
      {r?.ok && points.length === 0 ? (
        <p class="muted" data-testid="history-traffic-none">
          {r.body.source === 'memory'
            ? `The daemon's memory of the last 15 minutes (the busiest hosts and those under attack, every few seconds) holds no point for ${props.ip} in this range; once the range is older than that, the chart reads ClickHouse's traffic rows.`
            : `No traffic row for ${props.ip} in this range (below storage.clickhouse.traffic_min_pps, or not written yet).`}
        </p>
      ) : null}
      {points.length ? (
        <>
          <p class="muted" data-testid="history-traffic-source">
            {time(from)} – {to === undefined ? 'now' : time(to)}, one point per {duration(r!.body.step)}, from {r!.body.source === 'clickhouse' ? 'ClickHouse' : "the daemon's memory"}; the attack {props.end ? `ran ${time(props.start)} – ${time(props.end)}` : `started ${time(props.start)}`}.
          </p>
          <div data-testid="history-traffic-chart">
            <Chart times={t} series={[{ label: 'pps', color: '#4fc3f7' }, { label: 'flows/s', color: '#ffb74d' }]} values={[points.map((p) => p[`${side}_pps`]), points.map((p) => p[`${side}_fps`])]} />
            <Chart times={t} series={[{ label: 'Mbps', color: '#aed581' }]} values={[points.map((p) => p[`${side}_bps`] / 1e6)]} height={140} />
          </div>
        </>
      ) : null}
    </div>
  );
}
