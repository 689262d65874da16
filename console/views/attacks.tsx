/** Attacks: active (live) and recent; the detail of one with its vector, peaks, triggers, sample tops, timeline and route(s). */
import { duration, num, time } from '../format.ts';
import { useLive } from '../live.ts';
import { PROTO, routeText, Table, TopTable, useGet } from './common.tsx';

export function Attacks() {
  const live = useLive();
  const recent = useGet('/api/v1/attacks?limit=100', 5000);
  const byId = new Map<string, any>();
  if (recent?.ok) for (const a of recent.body.attacks) byId.set(a.id, a);
  for (const a of live.attacks.values()) byId.set(a.id, { ...byId.get(a.id), ...a });
  const all = [...byId.values()].sort((a, b) => b.start - a.start);
  const active = all.filter((a) => a.end === undefined && a.active !== false);
  const ended = all.filter((a) => !(a.end === undefined && a.active !== false));
  const row = (a: any) => [
    <a href={`#/attacks/${a.id}`}>{a.target}</a>,
    <span class="vector">{a.vector}</span>,
    a.direction,
    num(a.peak_pps),
    num(a.peak_mbps, 1),
    (a.triggers ?? []).join(', '),
    time(a.start),
    a.end ? duration((a.end - a.start) / 1000) : <span class="tag bad">active</span>,
    <span class="route">{routeText(a.route)}</span>,
  ];
  const head = ['target', 'vector', 'direction', 'peak pps', 'peak Mbps', 'triggers', 'start', 'duration', 'route'];
  return (
    <div data-testid="view-attacks">
      <h2>Active</h2>
      <Table testid="attacks-active" rowTestid="attack-row" head={head} rows={active.map(row)} keys={active.map((a) => a.id)} empty="no attack in progress" onRow={(i) => (location.hash = `#/attacks/${active[i].id}`)} />
      <h2>Recent</h2>
      <Table testid="attacks-recent" rowTestid="attack-row" head={head} rows={ended.map(row)} keys={ended.map((a) => a.id)} empty="no attack yet" onRow={(i) => (location.hash = `#/attacks/${ended[i].id}`)} />
    </div>
  );
}

export function AttackDetail(props: { id: string; canChange: boolean }) {
  const live = useLive();
  const list = useGet('/api/v1/attacks?limit=1000', 5000);
  const bans = useGet('/api/v1/bans?limit=200', 5000);
  const fromList = list?.ok ? list.body.attacks.find((a: any) => a.id === props.id) : undefined;
  const a = live.attacks.get(props.id) ? { ...fromList, ...live.attacks.get(props.id) } : fromList;
  if (!a) return <p class="muted">{list ? `attack ${props.id} not found` : 'loading…'}</p>;
  const s = a.summary ?? {};
  const relatedBans: any[] = bans?.ok ? bans.body.bans.filter((b: any) => b.attack_id === a.id || b.attack_ids?.includes(a.id)) : [];
  const events: Array<[number, string]> = [[a.start, `attack starts (${(a.triggers ?? []).join(', ')} over threshold)`]];
  for (const b of relatedBans) {
    events.push([b.created, `${b.action} ban ${b.id} (TTL ${duration(b.ttl_seconds)}${b.mode === 'dry_run' ? ', dry-run' : ''})`]);
    if (b.escalation_step >= 0) events.push([b.created, `escalation step ${b.escalation_step}`]);
    if (b.ended) events.push([b.ended, `ban ${b.id} ends (${b.end_reason ?? ''}${b.ended_by ? ` by ${b.ended_by}` : ''})`]);
  }
  if (a.end) events.push([a.end, `attack ends (${a.end_reason ?? 'below threshold'})`]);
  events.sort((x, y) => x[0] - y[0]);
  return (
    <div data-testid="view-attack-detail">
      <p>
        <a href="#/attacks">← attacks</a>
        {props.canChange ? (
          <>
            {' · '}
            <a href={`#/mitigate/${encodeURIComponent(a.target)}/${encodeURIComponent(a.id)}`} data-testid="attack-mitigate">
              Mitigate {a.target} now…
            </a>
          </>
        ) : null}
      </p>
      <h2>
        {a.target} <span class="vector">{a.vector}</span> {a.end ? <span class="tag">ended</span> : <span class="tag bad">active</span>}
      </h2>
      <div class="cards">
        <div class="card"><div class="card-value">{num(a.peak_pps)}</div><div class="card-label">peak pps (now {num(a.pps)})</div></div>
        <div class="card"><div class="card-value">{num(a.peak_mbps, 1)}</div><div class="card-label">peak Mbps (now {num(a.mbps, 1)})</div></div>
        <div class="card"><div class="card-value">{num(a.peak_fps)}</div><div class="card-label">peak flows/s</div></div>
        <div class="card"><div class="card-value">{num(s.avg_packet_size)}</div><div class="card-label">avg packet bytes</div></div>
      </div>
      <dl class="facts">
        <dt>direction</dt><dd>{a.direction}</dd>
        <dt>hostgroup</dt><dd>{a.hostgroup ?? '–'}</dd>
        <dt>triggers</dt><dd data-testid="triggers">{(a.triggers ?? []).join(', ')}</dd>
        <dt>thresholds</dt><dd>{a.thresholds ? Object.entries(a.thresholds).map(([k, x]) => `${k} ${x}`).join(', ') : '–'}</dd>
        <dt>started</dt><dd>{time(a.start)}</dd>
        <dt>ended</dt><dd>{a.end ? time(a.end) : 'still active'}</dd>
        <dt>{a.mode === 'live' ? 'route' : 'route (would announce)'}</dt><dd data-testid="attack-route" class="route">{routeText(a.route)}</dd>
        <dt>ban</dt><dd>{a.ban ? `${a.ban.id}, announced to ${(a.ban.announced_to ?? []).join(', ') || 'none'}` : '–'}</dd>
        {a.collateral ? (<><dt>collateral</dt><dd>{a.collateral.summary ?? JSON.stringify(a.collateral)}</dd></>) : null}
      </dl>
      <h2>Timeline</h2>
      <Table head={['time', 'event']} rows={events.map(([t, e]) => [time(t), e])} />
      <h2>From the sample</h2>
      <div class="tops">
        <TopTable title="top sources" items={s.top_sources} />
        <TopTable title="top source ports" items={s.top_source_ports} />
        <TopTable title="top destination ports" items={s.top_destination_ports} />
        <TopTable title="protocols" items={s.protocols} />
        <TopTable title="TCP flags" items={s.tcp_flags} />
      </div>
      <h3>Sampled flows</h3>
      <Table
        head={['source', 'destination', 'protocol', 'sport', 'dport', 'packets', 'bytes']}
        rows={(s.sample ?? []).slice(0, 50).map((f: any) => [f.src, f.dst, PROTO[f.ip_proto] ?? f.ip_proto, f.src_port, f.dst_port, num(f.packets), num(f.bytes)])}
        empty="no flow kept (samples.enabled: false?)"
      />
    </div>
  );
}
