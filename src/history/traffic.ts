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

/**
 * One interval, built in slices so a large host table never holds the event
 * loop for long: hosts(slice) as often as needed (busiest first overall),
 * then finish() for the totals and the exporters.
 */
export class TrafficPass {
  private readonly day: string;
  private readonly time: number;
  private readonly now: number;
  private readonly owner: TrafficSampler;
  private readonly groups = new Map<string, Sum>();
  private readonly totals = { incoming: zero(), outgoing: zero() };
  private readonly scratch = zero();
  private written = 0;

  constructor(owner: TrafficSampler, now: number) {
    this.owner = owner;
    this.now = now;
    this.day = dayOf(now);
    this.time = Math.floor(now / 1000);
  }

  /** Rows of hosts[from, to) into out. */
  hosts(hosts: readonly HostReading[], from: number, to: number, out: Row[]): void {
    const { minPps, maxHosts } = this.owner;
    const scratch = this.scratch;
    for (let i = from; i < to; i++) {
      const h = hosts[i];
      add(this.totals[h.direction], h);
      if (h.hostgroup) {
        const k = h.direction === 'incoming' ? h.hostgroup : `\u0000${h.hostgroup}`;
        let g = this.groups.get(k);
        if (!g) this.groups.set(k, (g = zero()));
        add(g, h);
      }
      if (this.written < maxHosts && h.pps >= minPps && h.pps > 0) {
        this.written++;
        scratch.pps = h.pps; scratch.mbps = h.mbps; scratch.fps = h.fps;
        scratch.tcp = h.tcp_pps ?? 0; scratch.udp = h.udp_pps ?? 0; scratch.icmp = h.icmp_pps ?? 0; scratch.syn = h.tcp_syn_pps ?? 0; scratch.frag = h.frag_pps ?? 0;
        scratch.hosts = 1;
        out.push(row(this.day, this.time, 'host', h.ip, h.direction, h.hostgroup ?? '', scratch));
      }
    }
  }

  /** Hostgroup, total and exporter rows into out. */
  finish(exporters: readonly ExporterReading[], out: Row[]): void {
    const { day, time, now } = this;
    for (const [k, s] of this.groups) {
      const outgoing = k.charCodeAt(0) === 0;
      const name = outgoing ? k.slice(1) : k;
      out.push(row(day, time, 'hostgroup', name, outgoing ? 'outgoing' : 'incoming', name, s));
    }
    out.push(row(day, time, 'total', '', 'incoming', '', this.totals.incoming));
    out.push(row(day, time, 'total', '', 'outgoing', '', this.totals.outgoing));
    this.owner.exporterRows(now, day, time, exporters, out);
  }
}

export class TrafficSampler {
  private prev?: { t: number; per: Map<string, { d: number; r: number }> };
  readonly minPps: number;
  readonly maxHosts: number;

  constructor(opts: { minPps: number; maxHosts: number }) {
    this.minPps = opts.minPps;
    this.maxHosts = opts.maxHosts;
  }

  begin(now: number): TrafficPass {
    return new TrafficPass(this, now);
  }

  /** Rows for one interval ending at `now` (ms), in one go. `hosts` busiest first. */
  sample(now: number, hosts: readonly HostReading[], exporters: readonly ExporterReading[]): Row[] {
    const out: Row[] = [];
    const p = this.begin(now);
    p.hosts(hosts, 0, hosts.length, out);
    p.finish(exporters, out);
    return out;
  }

  /** Datagram and record rates of each exporter since the previous interval. */
  exporterRows(now: number, day: string, time: number, exporters: readonly ExporterReading[], out: Row[]): void {
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
  }
}
