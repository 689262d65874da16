/**
 * Traffic rows every traffic_interval_seconds: each host above the floor
 * (busiest first, at most maxHosts), the per-hostgroup and overall totals of
 * every tracked host, and each exporter's datagram and record rates (from
 * the collector's running counters), both directions where they exist.
 */
import type { Row } from './rows.ts';
import { dayOf } from './sql.ts';

/** A host as the engine reports it (the optional fields are there with the real engine). */
export interface HostReading {
  ip: string;
  direction: 'incoming' | 'outgoing';
  pps: number;
  mbps: number;
  fps: number;
  hostgroup?: string;
  tcp_pps?: number;
  udp_pps?: number;
  icmp_pps?: number;
  tcp_syn_pps?: number;
  frag_pps?: number;
}

export interface ExporterReading {
  exporter: string;
  datagrams: number;
  records: number;
}

interface Sum {
  pps: number; mbps: number; fps: number; tcp: number; udp: number; icmp: number; syn: number; frag: number; hosts: number;
}
const zero = (): Sum => ({ pps: 0, mbps: 0, fps: 0, tcp: 0, udp: 0, icmp: 0, syn: 0, frag: 0, hosts: 0 });
const r2 = (x: number) => Math.round(x * 100) / 100;

function add(s: Sum, h: HostReading): void {
  s.pps += h.pps; s.mbps += h.mbps; s.fps += h.fps;
  s.tcp += h.tcp_pps ?? 0; s.udp += h.udp_pps ?? 0; s.icmp += h.icmp_pps ?? 0; s.syn += h.tcp_syn_pps ?? 0; s.frag += h.frag_pps ?? 0;
  s.hosts++;
}

function row(day: string, time: number, kind: string, key: string, direction: string, hostgroup: string, s: Sum, dps = 0): Row {
  return {
    day, time, kind, key, direction, hostgroup,
    pps: r2(s.pps), mbps: r2(s.mbps), fps: r2(s.fps), tcp_pps: r2(s.tcp), udp_pps: r2(s.udp), icmp_pps: r2(s.icmp), syn_pps: r2(s.syn), frag_pps: r2(s.frag),
    dps: r2(dps), hosts: s.hosts,
  };
}

export class TrafficSampler {
  private prev?: { t: number; per: Map<string, { d: number; r: number }> };
  private readonly minPps: number;
  private readonly maxHosts: number;

  constructor(opts: { minPps: number; maxHosts: number }) {
    this.minPps = opts.minPps;
    this.maxHosts = opts.maxHosts;
  }

  /** Rows for one interval ending at `now` (ms). `hosts` busiest first. */
  sample(now: number, hosts: readonly HostReading[], exporters: readonly ExporterReading[]): Row[] {
    const day = dayOf(now);
    const time = Math.floor(now / 1000);
    const out: Row[] = [];
    const groups = new Map<string, Sum>();
    const totals = { incoming: zero(), outgoing: zero() };
    let written = 0;
    const scratch = zero();
    for (const h of hosts) {
      add(totals[h.direction], h);
      if (h.hostgroup) {
        const k = `${h.direction}|${h.hostgroup}`;
        let g = groups.get(k);
        if (!g) groups.set(k, (g = zero()));
        add(g, h);
      }
      if (written < this.maxHosts && h.pps >= this.minPps && h.pps > 0) {
        written++;
        scratch.pps = h.pps; scratch.mbps = h.mbps; scratch.fps = h.fps;
        scratch.tcp = h.tcp_pps ?? 0; scratch.udp = h.udp_pps ?? 0; scratch.icmp = h.icmp_pps ?? 0; scratch.syn = h.tcp_syn_pps ?? 0; scratch.frag = h.frag_pps ?? 0;
        scratch.hosts = 1;
        out.push(row(day, time, 'host', h.ip, h.direction, h.hostgroup ?? '', scratch));
      }
    }
    for (const [k, s] of groups) {
      const [direction, name] = [k.slice(0, k.indexOf('|')), k.slice(k.indexOf('|') + 1)];
      out.push(row(day, time, 'hostgroup', name, direction, name, s));
    }
    out.push(row(day, time, 'total', '', 'incoming', '', totals.incoming));
    out.push(row(day, time, 'total', '', 'outgoing', '', totals.outgoing));

    const per = new Map<string, { d: number; r: number }>();
    for (const e of exporters) per.set(e.exporter, { d: e.datagrams, r: e.records });
    const prev = this.prev;
    if (prev) {
      const dt = Math.max(0.001, (now - prev.t) / 1000);
      for (const [ex, c] of per) {
        const p = prev.per.get(ex) ?? { d: 0, r: 0 };
        // Counters restart from 0 when the collector does: a negative delta counts from 0.
        const dd = c.d >= p.d ? c.d - p.d : c.d;
        const dr = c.r >= p.r ? c.r - p.r : c.r;
        const s = zero();
        s.fps = dr / dt;
        out.push(row(day, time, 'exporter', ex, 'incoming', '', s, dd / dt));
      }
    }
    this.prev = { t: now, per };
    return out;
  }
}
