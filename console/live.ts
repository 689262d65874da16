/**
 * The live state of the daemon, fed by GET /api/v1/stream: the last status,
 * and the attacks and bans the stream announced (active ones, plus those that
 * ended while the page was open). One EventSource per page; it reconnects by
 * itself.
 */
import { createContext } from 'preact';
import { useContext, useEffect, useState } from 'preact/hooks';
import { streamUrl } from './api.ts';

export interface Live {
  connected: boolean;
  status: any;
  attacks: Map<string, any>;
  bans: Map<string, any>;
  /** When the stream last said anything (ms). */
  lastEvent: number;
  /** Ingest totals of every status event since the page opened (last 15 minutes): unix seconds, records/s, datagrams/s. */
  ingest: { t: number[]; records: number[]; datagrams: number[] };
}

const KEEP = 900;

function addIngest(h: Live['ingest'], status: any): Live['ingest'] {
  const ex: any[] = status?.ingest ?? [];
  const t = [...h.t, Date.now() / 1000];
  const records = [...h.records, ex.reduce((n, e) => n + (Number(e.records_per_s) || 0), 0)];
  const datagrams = [...h.datagrams, ex.reduce((n, e) => n + (Number(e.datagrams_per_s) || 0), 0)];
  const cut = Math.max(0, t.length - KEEP);
  return { t: t.slice(cut), records: records.slice(cut), datagrams: datagrams.slice(cut) };
}

export const EMPTY: Live = { connected: false, status: undefined, attacks: new Map(), bans: new Map(), lastEvent: 0, ingest: { t: [], records: [], datagrams: [] } };
export const LiveContext = createContext<Live>(EMPTY);
export const useLive = () => useContext(LiveContext);

export function useStream(enabled: boolean): Live {
  const [live, setLive] = useState<Live>(EMPTY);
  useEffect(() => {
    if (!enabled) return;
    const es = new EventSource(streamUrl());
    const put = (kind: 'attacks' | 'bans') => (ev: MessageEvent) => {
      const x = JSON.parse(ev.data);
      setLive((l) => {
        const m = new Map(l[kind]);
        m.set(x.id, x);
        return { ...l, [kind]: m, lastEvent: Date.now(), connected: true };
      });
    };
    es.addEventListener('status', (ev) =>
      setLive((l) => {
        const status = JSON.parse((ev as MessageEvent).data);
        return { ...l, status, ingest: addIngest(l.ingest, status), lastEvent: Date.now(), connected: true };
      }),
    );
    es.addEventListener('attack', put('attacks') as EventListener);
    es.addEventListener('ban', put('bans') as EventListener);
    es.onopen = () => setLive((l) => ({ ...l, connected: true }));
    es.onerror = () => setLive((l) => ({ ...l, connected: false }));
    return () => es.close();
  }, [enabled]);
  return live;
}
