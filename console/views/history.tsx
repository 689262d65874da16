/**
 * History: past attacks and ban lifecycle events from ClickHouse
 * (/api/v1/history/*), filtered by time range, target, vector, hostgroup and
 * direction, paged with "More" by cursor so rows written meanwhile never show
 * twice. Offered when the status carries a `history` block (the daemon has
 * storage.clickhouse); read-only for every role. Without ClickHouse the
 * Attacks and Bans views keep showing what the daemon holds itself.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, type ApiResult } from '../api.ts';
import { duration, num, time } from '../format.ts';
import { useLive } from '../live.ts';
import { Table } from './common.tsx';

export const VECTORS = [
  'ntp_amplification', 'dns_amplification', 'cldap_amplification', 'memcached_amplification', 'ssdp_amplification', 'chargen_amplification',
  'snmp_amplification', 'wsd_amplification', 'udp_amplification', 'syn_flood', 'ack_flood', 'rst_flood', 'tcp_flood', 'udp_flood', 'icmp_flood', 'fragment_flood',
];

const PRESETS = [
  ['1h', 'last hour'],
  ['6h', 'last 6 hours'],
  ['24h', 'last 24 hours'],
  ['7d', 'last 7 days'],
  ['30d', 'last 30 days'],
  ['custom', 'from … to …'],
] as const;
type Preset = (typeof PRESETS)[number][0];

export interface Filter {
  preset: Preset;
  /** datetime-local values (the browser's time zone), for `custom`. */
  from: string;
  to: string;
  target: string;
  vector: string;
  hostgroup: string;
  direction: '' | 'incoming' | 'outgoing';
}

const DEFAULT: Filter = { preset: '24h', from: '', to: '', target: '', vector: '', hostgroup: '', direction: '' };
/** The filter last applied, kept while the page is open (back from an attack's detail lands on the same list). */
let lastApplied: Filter = DEFAULT;

/** Page size of both lists. */
export const PAGE = 50;

/** The query of a filter (without limit and cursor); relative presets are resolved by the daemon's clock. */
export function filterQuery(f: Filter): string {
  const q = new URLSearchParams();
  if (f.preset === 'custom') {
    if (f.from) q.set('from', new Date(f.from).toISOString());
    if (f.to) q.set('to', new Date(f.to).toISOString());
  } else q.set('from', `-${f.preset}`);
  if (f.target.trim()) q.set('target', f.target.trim());
  if (f.vector.trim()) q.set('vector', f.vector.trim());
  if (f.hostgroup.trim()) q.set('hostgroup', f.hostgroup.trim());
  if (f.direction) q.set('direction', f.direction);
  return q.toString();
}

interface Paged {
  items: any[];
  total: number;
  next: string | null;
  loading: boolean;
  error?: ApiResult;
  more(): void;
}

/** A history list: the first page when the query changes, then the next one by cursor on more(). */
function usePaged(path: string, name: 'attacks' | 'bans', query: string, reload: number, enabled: boolean): Paged {
  const [s, setS] = useState<{ items: any[]; total: number; next: string | null; loading: boolean; error?: ApiResult }>({ items: [], total: 0, next: null, loading: true });
  /** Bumped when the list starts again: an answer for an older start is dropped. */
  const gen = useRef(0);
  const load = async (cursor: string | null, into: any[]) => {
    const g = gen.current;
    setS((x) => ({ ...x, loading: true }));
    const r = await api('GET', `${path}?${query}&limit=${PAGE}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    if (g !== gen.current) return;
    setS((x) => (r.ok ? { items: [...into, ...r.body[name]], total: r.body.total, next: r.body.next_cursor ?? null, loading: false } : { ...x, loading: false, error: r }));
  };
  useEffect(() => {
    gen.current++;
    setS({ items: [], total: 0, next: null, loading: enabled });
    if (enabled) void load(null, []);
  }, [query, reload, enabled]);
  return { ...s, more: () => void (s.next && !s.loading && load(s.next, s.items)) };
}

function More(props: { p: Paged; testid: string; what: string }) {
  const { p } = props;
  return (
    <p class="controls">
      <span class="muted" data-testid={`${props.testid}-count`}>
        {p.items.length} of {p.total} {props.what}
      </span>
      {p.next ? (
        <button data-testid={`${props.testid}-more`} disabled={p.loading} onClick={() => p.more()}>
          More
        </button>
      ) : null}
      {p.loading ? <span class="muted">loading…</span> : null}
      {p.error ? <span class="error">{p.error.error || `HTTP ${p.error.status}`}</span> : null}
    </p>
  );
}

/** What to do when the daemon has no ClickHouse history (or the token may not read it). */
export function HistoryOff(props: { tenant?: string }) {
  return (
    <div data-testid="history-off">
      <h2>History</h2>
      {props.tenant ? (
        <p class="muted">History covers every tenant: a token scoped to tenant {props.tenant} cannot read it. The Attacks and Bans views show this tenant's own.</p>
      ) : (
        <p class="muted">
          History needs ClickHouse: set <code>storage.clickhouse</code> (url, database) in the config and restart Breakwater (see the History page of the documentation). Until then the Attacks and Bans views show what the daemon keeps itself.
        </p>
      )}
    </div>
  );
}

export function History(props: { tenant?: string }) {
  const live = useLive();
  const [draft, setDraft] = useState<Filter>(lastApplied);
  const [applied, setApplied] = useState<Filter>(lastApplied);
  const [reload, setReload] = useState(0);
  // The status names ClickHouse history when the daemon has it (absent for a tenant-scoped token, which may not read it).
  const off = props.tenant !== undefined || (live.status !== undefined && live.status.history === undefined);
  const query = filterQuery(applied);
  const attacks = usePaged('/api/v1/history/attacks', 'attacks', query, reload, !off);
  const bans = usePaged('/api/v1/history/bans', 'bans', query, reload, !off);
  if (off || attacks.error?.status === 404 || attacks.error?.status === 403) return <HistoryOff tenant={props.tenant} />;
  const set = (k: keyof Filter) => (e: Event) => setDraft({ ...draft, [k]: (e.target as HTMLInputElement).value });
  const apply = (f: Filter) => {
    lastApplied = f;
    setApplied(f);
    setReload((n) => n + 1);
  };
  const head = ['start', 'target', 'vector', 'direction', 'hostgroup', 'peak pps', 'peak Mbps', 'duration', 'triggers'];
  return (
    <div data-testid="view-history">
      <form
        class="form history-filter"
        data-testid="history-filter"
        onSubmit={(e) => {
          e.preventDefault();
          apply(draft);
        }}
      >
        <label>
          time range
          <select data-testid="history-preset" value={draft.preset} onChange={(e) => {
            const f = { ...draft, preset: (e.target as HTMLSelectElement).value as Preset };
            setDraft(f);
            if (f.preset !== 'custom') apply(f);
          }}>
            {PRESETS.map(([v, label]) => <option value={v}>{label}</option>)}
          </select>
        </label>
        {draft.preset === 'custom' ? (
          <>
            <label>
              from
              <input type="datetime-local" data-testid="history-from" value={draft.from} onInput={set('from')} />
            </label>
            <label>
              to (empty: now)
              <input type="datetime-local" data-testid="history-to" value={draft.to} onInput={set('to')} />
            </label>
          </>
        ) : null}
        <label>
          target
          <input data-testid="history-target" placeholder="address" value={draft.target} onInput={set('target')} />
        </label>
        <label>
          vector
          <input data-testid="history-vector" list="history-vectors" placeholder="any" value={draft.vector} onInput={set('vector')} />
          <datalist id="history-vectors">{VECTORS.map((v) => <option value={v} />)}</datalist>
        </label>
        <label>
          hostgroup
          <input data-testid="history-hostgroup" placeholder="any" value={draft.hostgroup} onInput={set('hostgroup')} />
        </label>
        <label>
          direction
          <select data-testid="history-direction" value={draft.direction} onChange={set('direction')}>
            <option value="">both</option>
            <option value="incoming">incoming</option>
            <option value="outgoing">outgoing</option>
          </select>
        </label>
        <label>
          &nbsp;
          <span class="controls">
            <button type="submit" data-testid="history-apply">Apply</button>
            <button type="button" onClick={() => { setDraft(DEFAULT); apply(DEFAULT); }}>Reset</button>
          </span>
        </label>
      </form>
      <h2>Attacks</h2>
      <Table
        testid="history-attacks"
        rowTestid="history-attack-row"
        head={head}
        keys={attacks.items.map((a) => a.id)}
        rows={attacks.items.map((a) => [
          time(a.start),
          a.target,
          <span class="vector">{a.vector}</span>,
          a.direction,
          a.hostgroup ?? '',
          num(a.peak_pps),
          num(a.peak_mbps, 1),
          a.end ? duration((a.end - a.start) / 1000) : <span class="tag bad">active</span>,
          (a.triggers ?? []).join(', '),
        ])}
        onRow={(i) => (location.hash = `#/history/attack/${encodeURIComponent(attacks.items[i].id)}/${attacks.items[i].start}`)}
        empty={attacks.loading ? 'loading…' : 'no attack in this range'}
      />
      <More p={attacks} testid="history-attacks" what="attacks" />
      <h2>Ban events</h2>
      <BanEvents items={bans.items} loading={bans.loading} />
      <More p={bans} testid="history-bans" what="ban events" />
    </div>
  );
}

/** Ban lifecycle events (created, announced, escalated, refused, ended, restored), newest first. */
export function BanEvents(props: { items: any[]; loading: boolean }) {
  return (
    <Table
      testid="history-bans"
      rowTestid="history-ban-row"
      head={['time', 'event', 'target', 'action', 'vector', 'ban', 'neighbors', 'why', 'mode']}
      keys={props.items.map((b) => b.event_id ?? `${b.time}-${b.ban_id}-${b.event}`)}
      rows={props.items.map((b) => [
        time(b.time),
        <span class={`tag ${b.event === 'refused' ? 'bad' : ''}`}>{b.event}</span>,
        b.target,
        b.action ?? '',
        b.vector ?? '',
        <code>{b.ban_id ?? '–'}</code>,
        (b.neighbors ?? []).join(', '),
        b.guard ?? b.end_reason ?? b.reason ?? '',
        b.mode === 'dry_run' ? 'dry-run' : b.mode,
      ])}
      empty={props.loading ? 'loading…' : 'no ban event in this range'}
    />
  );
}
