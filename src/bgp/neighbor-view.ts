/**
 * One neighbor as Breakwater's readers see it (metrics, the status API,
 * notifications): the speaker's NeighborStatus translated once, here, by
 * the module that produces it, into the shape core/neighbor-view.ts declares.
 */
import type { NeighborStatus } from './speaker.ts';
import type { NeighborView } from '../core/neighbor-view.ts';

export type { NeighborView };

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
