/**
 * Top talkers without an object per host: one pass over the host rows keeps
 * a min-heap of the best `limit` row numbers; only those become HostRate
 * objects (1 M tracked hosts answer in one pass, not one sort).
 */
import type { EngineConfig } from '../config/diff.ts';
import { C, type CounterTable } from './counters.ts';
import { keyToAddress, round2 } from './detector.ts';
import { HOST_IN4, HOST_IN6, HOST_OUT4, HOST_OUT6, type Compiled } from './compile.ts';
import { hostRate, type HostRate } from './views.ts';

export interface TopQuery {
  limit: number;
  by?: 'pps' | 'bps' | 'fps';
  direction?: 'incoming' | 'outgoing';
  /** Keeps rows of hostgroup index g (0: none). */
  group?: (g: number) => boolean;
  /** Start below this (value, "table:w0:..") position, for keyset pages. */
  after?: { value: number; id: string };
}

export interface TopResult {
  /** Hosts that pass the direction and group filters. */
  total: number;
  items: HostRate[];
  keys: Array<{ value: number; id: string }>;
}

/**
 * The `limit` busiest hosts with traffic in the window, by packets, bytes or
 * flows.
 * `group(g)` keeps rows of hostgroup index g (0: none); `after` starts below a
 * (value, "ip|direction") position, for keyset pages. `total`: hosts that
 * pass the direction and group filters.
 */
export function topHosts(c: Compiled, cfg: Readonly<EngineConfig>, tables: readonly CounterTable[], opts: TopQuery, sums: Float64Array): TopResult {
  const col = opts.by === 'bps' ? C.BYTES : opts.by === 'fps' ? C.FLOWS : C.PKTS;
  const scale = opts.by === 'bps' ? 8 / c.wp.windowSec : 1 / c.wp.windowSec;
  const which = opts.direction === 'incoming' ? [HOST_IN4, HOST_IN6] : opts.direction === 'outgoing' ? [HOST_OUT4, HOST_OUT6] : [HOST_IN4, HOST_OUT4, HOST_IN6, HOST_OUT6];
  // The heap never needs more room than there are rows.
  const k = Math.max(0, Math.min(opts.limit, which.reduce((n, ti) => n + tables[ti].rowLimit, 0)));
  const hv = new Float64Array(k), ht = new Int32Array(k), hr = new Int32Array(k);
  // Ties on the value are broken by (table, key words), numerically: no string per row. The keyset id is "table:w0:w1:w2:w3".
  const ka = new Uint32Array(4), kb = new Uint32Array(4);
  const cmpKey = (ta: number, ra: number, tb_: number, rb: number): number => {
    if (ta !== tb_) return ta - tb_;
    const t = tables[ta];
    t.keyInto(ra, ka);
    t.keyInto(rb, kb);
    for (let w = 0; w < t.kw; w++) if (ka[w] !== kb[w]) return ka[w] - kb[w];
    return 0;
  };
  const cmpAfter = (ti: number, r: number, id: number[]): number => {
    if (ti !== id[0]) return ti - id[0];
    const t = tables[ti];
    t.keyInto(r, ka);
    for (let w = 0; w < t.kw; w++) if (ka[w] !== id[1 + w]) return ka[w] - id[1 + w];
    return 0;
  };
  // "Worse" ranks lower: a smaller value, or the same value and a larger key.
  const worse = (i: number, j: number) => hv[i] < hv[j] || (hv[i] === hv[j] && cmpKey(ht[i], hr[i], ht[j], hr[j]) > 0);
  const swap = (i: number, j: number) => {
    const v = hv[i]; hv[i] = hv[j]; hv[j] = v;
    const t = ht[i]; ht[i] = ht[j]; ht[j] = t;
    const r = hr[i]; hr[i] = hr[j]; hr[j] = r;
  };
  let n = 0, total = 0;
  const after = opts.after;
  const afterId = after ? after.id.split(':').map(Number) : [];
  for (const ti of which) {
    const tb = tables[ti];
    for (let r = 0; r < tb.rowLimit; r++) {
      if (!tb.isLive(r)) continue;
      if (!(tb.sum(r, C.PKTS) > 0)) continue;
      if (opts.group && !opts.group(tb.group(r))) continue;
      total++;
      const v = round2(tb.sum(r, col) * scale);
      if (after && (v > after.value || (v === after.value && cmpAfter(ti, r, afterId) <= 0))) continue;
      if (k === 0) continue;
      if (n < k) {
        hv[n] = v; ht[n] = ti; hr[n] = r;
        for (let i = n++; i > 0; ) {
          const p = (i - 1) >> 1;
          if (!worse(i, p)) break;
          swap(i, p);
          i = p;
        }
      } else if (v > hv[0] || (v === hv[0] && cmpKey(ti, r, ht[0], hr[0]) < 0)) {
        hv[0] = v; ht[0] = ti; hr[0] = r;
        for (let i = 0; ; ) {
          const l = 2 * i + 1, rr = l + 1;
          let m = i;
          if (l < n && worse(l, m)) m = l;
          if (rr < n && worse(rr, m)) m = rr;
          if (m === i) break;
          swap(i, m);
          i = m;
        }
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => hv[b] - hv[a] || cmpKey(ht[a], hr[a], ht[b], hr[b]));
  const items: HostRate[] = [];
  const keys: Array<{ value: number; id: string }> = [];
  for (const i of order) {
    const t = tables[ht[i]];
    t.keyInto(hr[i], ka);
    items.push(hostRate(c, cfg, tables, ht[i], hr[i], keyToAddress(ka, 0, t.kw), sums));
    keys.push({ value: hv[i], id: [ht[i], ...Array.from(ka.subarray(0, t.kw))].join(':') });
  }
  return { total, items, keys };
}
