/**
 * One BGP neighbor as Breakwater's readers see it (metrics, the status API,
 * notifications). Declared here, below every layer, because its producer
 * (bgp/neighbor-view.ts translates the speaker's status into it) and its
 * readers (api/metrics.ts, which may not import bgp/) both need it.
 */
export interface NeighborView {
  neighbor: string;
  state: string;
  messages_in: number;
  messages_out: number;
  updates_in: number;
  updates_out: number;
  flaps: number;
  last_error: string;
  routes_out: number;
  routes_sent?: number;
  held_routes?: number;
  refused_routes?: number;
  uptime_seconds?: number;
  families?: string[];
}
