/**
 * Top talkers: hosts by current pps / Mbps / flows/s, incoming or outgoing,
 * and a rate chart of the chosen host: the last 15 minutes from
 * GET /api/v1/hosts/{ip}/traffic when the daemon has it, otherwise what this
 * page sampled itself since it opened.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from '../api.ts';
import { Chart } from '../chart.tsx';
import { num } from '../format.ts';
import { Table, useGet } from './common.tsx';

const SORT = { pps: 'pps', bps: 'mbps', flows: 'fps' } as const;
type Sort = keyof typeof SORT;

export function Talkers() {
  const [direction, setDirection] = useState<'incoming' | 'outgoing'>('incoming');
  const [sort, setSort] = useState<Sort>('pps');
  const [host, setHost] = useState<string>('');
  // ?sort= is understood by newer daemons; older ones ignore it and the page sorts.
  const r = useGet(`/api/v1/hosts?direction=${direction}&limit=50&sort=${sort}`, 2000);
  const hosts: any[] = r?.ok ? [...r.body.hosts].sort((a, b) => b[SORT[sort]] - a[SORT[sort]]) : [];
  return (
    <div data-testid="view-talkers">
      <div class="controls">
        <label>
          direction{' '}
          <select value={direction} onChange={(e) => setDirection((e.target as HTMLSelectElement).value as 'incoming')}>
            <option value="incoming">incoming</option>
            <option value="outgoing">outgoing</option>
          </select>
        </label>
        <label>
          by{' '}
          <select value={sort} onChange={(e) => setSort((e.target as HTMLSelectElement).value as Sort)}>
            <option value="pps">packets/s</option>
            <option value="bps">Mbps</option>
            <option value="flows">flows/s</option>
          </select>
        </label>
      </div>
      {r && !r.ok ? <p class="error">{r.error}</p> : null}
      <Table
        testid="talkers"
        rowTestid="talker-row"
        head={['host', 'pps', 'Mbps', 'flows/s', 'TCP SYN pps', 'UDP pps', 'ICMP pps', 'hostgroup', '']}
        rows={hosts.map((h) => [h.ip, num(h.pps), num(h.mbps, 1), num(h.fps), num(h.tcp_syn_pps), num(h.udp_pps), num(h.icmp_pps), h.hostgroup ?? '', h.under_attack ? <span class="tag bad">under attack</span> : ''])}
        onRow={(i) => setHost(hosts[i].ip)}
        empty="no traffic to protected hosts yet"
      />
      {host ? <HostChart ip={host} direction={direction} /> : <p class="muted">Pick a host for its rate chart.</p>}
    </div>
  );
}

interface Points {
  t: number[];
  pps: number[];
  mbps: number[];
  fps: number[];
}

function HostChart(props: { ip: string; direction: 'incoming' | 'outgoing' }) {
  const [pts, setPts] = useState<Points>({ t: [], pps: [], mbps: [], fps: [] });
  const [source, setSource] = useState('');
  const own = useRef<Points>({ t: [], pps: [], mbps: [], fps: [] });
  useEffect(() => {
    let stop = false;
    own.current = { t: [], pps: [], mbps: [], fps: [] };
    const out = props.direction === 'incoming' ? 'in' : 'out';
    const load = async () => {
      const hist = await api('GET', `/api/v1/hosts/${encodeURIComponent(props.ip)}/traffic?from=-15m&step=10`);
      if (stop) return;
      if (hist.ok && Array.isArray(hist.body?.points) && hist.body.points.length) {
        const p: any[] = hist.body.points;
        const t = (x: any) => (typeof x.t === 'number' ? (x.t > 1e12 ? x.t / 1000 : x.t) : Date.parse(x.t) / 1000);
        setPts({ t: p.map(t), pps: p.map((x) => x[`${out}_pps`]), mbps: p.map((x) => x[`${out}_bps`] / 1e6), fps: p.map((x) => x[`${out}_fps`]) });
        setSource('last 15 minutes (daemon)');
        return;
      }
      const now = await api('GET', `/api/v1/hosts?ip=${encodeURIComponent(props.ip)}`);
      if (stop) return;
      const d = now.ok ? (now.body.directions ?? []).find((x: any) => x.direction === props.direction) : undefined;
      const o = own.current;
      o.t.push(Date.now() / 1000);
      o.pps.push(d?.pps ?? 0);
      o.mbps.push(d?.mbps ?? 0);
      o.fps.push(d?.fps ?? 0);
      if (o.t.length > 450) for (const a of [o.t, o.pps, o.mbps, o.fps]) a.shift();
      setPts({ t: o.t.slice(), pps: o.pps.slice(), mbps: o.mbps.slice(), fps: o.fps.slice() });
      setSource('sampled by this page every 2 s since it opened (the daemon keeps no history for this host)');
    };
    void load();
    const timer = setInterval(load, 2000);
    return () => {
      stop = true;
      clearInterval(timer);
    };
  }, [props.ip, props.direction]);
  return (
    <div data-testid="host-chart">
      <h2>
        {props.ip} ({props.direction})
      </h2>
      <p class="muted">{source}</p>
      <Chart times={pts.t} series={[{ label: 'pps', color: '#4fc3f7' }, { label: 'flows/s', color: '#ffb74d' }]} values={[pts.pps, pts.fps]} />
      <Chart times={pts.t} series={[{ label: 'Mbps', color: '#aed581' }]} values={[pts.mbps]} height={140} />
    </div>
  );
}
