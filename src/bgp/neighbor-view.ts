/**
 * One neighbor as Breakwater's readers see it (metrics, the status API,
 * notifications): the speaker's NeighborStatus translated once, here, by
 * the module that produces it.
 */
import type { NeighborStatus } from './speaker.ts';

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

export function neighborView(s: NeighborStatus): NeighborView {
  return {
    neighbor: s.address,
    state: s.state,
    messages_in: s.messagesIn,
    messages_out: s.messagesOut,
    updates_in: s.updatesIn,
    updates_out: s.updatesOut,
    flaps: s.flaps,
    last_error: s.lastError,
    routes_out: s.prefixesDesired,
    routes_sent: s.prefixesSent,
    held_routes: s.heldRoutes,
    refused_routes: s.refusedRoutes,
    uptime_seconds: s.uptimeSeconds,
    families: s.familiesNegotiated,
  };
}
