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
}

export const EMPTY: Live = { connected: false, status: undefined, attacks: new Map(), bans: new Map(), lastEvent: 0 };
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
    es.addEventListener('status', (ev) => setLive((l) => ({ ...l, status: JSON.parse((ev as MessageEvent).data), lastEvent: Date.now(), connected: true })));
    es.addEventListener('attack', put('attacks') as EventListener);
    es.addEventListener('ban', put('bans') as EventListener);
    es.onopen = () => setLive((l) => ({ ...l, connected: true }));
    es.onerror = () => setLive((l) => ({ ...l, connected: false }));
    return () => es.close();
  }, [enabled]);
  return live;
}
