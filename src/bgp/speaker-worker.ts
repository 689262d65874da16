/**
 * The BGP speaker's worker thread (role 'bgp', registered in
 * src/worker-roles.ts): a SpeakerCore with its sockets and timers on this
 * thread's event loop, so keepalives keep flowing however busy the main
 * thread is. It talks to the facade (index.ts) over one core/channel.ts
 * Channel; the protocol is the two Side types below.
 */
import type { Logger } from 'pino';
import type { BgpConfig } from '../config/schema.ts';
import { Channel, type PortLike } from '../core/channel.ts';
import type { FsmState } from './fsm.ts';
import { SpeakerCore, type AdjRibOutEntry, type NeighborStatus, type RouteOptions, type SentEvent } from './speaker.ts';
import type { Route } from './types.ts';

/** One route operation; the facade batches them into one message per event-loop turn. */
export type RouteOp =
  | { op: 'announce'; routes: Route[]; opts: RouteOptions }
  | { op: 'withdraw'; keys: string[]; opts: RouteOptions }
  | { op: 'flush'; neighbor?: string };

/** What the facade sends the speaker thread. */
export interface FacadeSends {
  req: {
    start: [undefined, { listen?: { address: string; port: number } }];
    stop: [{ graceful: boolean }, void];
    reconfigure: [BgpConfig, void];
    adjRibOut: [string | undefined, AdjRibOutEntry[]];
    neighbors: [undefined, NeighborStatus[]];
  };
  msg: {
    batch: RouteOp[];
    /** Test hook: block the speaker thread's event loop for this many ms. */
    busy: number;
  };
}

/** What the speaker thread sends the facade. */
export interface SpeakerSends {
  req: Record<never, [unknown, unknown]>;
  msg: {
    /** A pino line of the speaker's logger. */
    log: string;
    state: { neighbor: string; from: FsmState; to: FsmState; reason: string };
    status: NeighborStatus[];
    expired: { neighbor: string; keys: string[] };
    sent: SentEvent;
  };
}

export interface WorkerData {
  cfg: BgpConfig;
  level: string;
  restarting?: boolean;
}

/** Applies one route operation to a core (worker thread or inline). */
export function applyRouteOp(core: SpeakerCore, it: RouteOp): void {
  if (it.op === 'announce') core.announce(it.routes, it.opts, true); // validated by the facade
  else if (it.op === 'withdraw') core.withdraw(it.keys, it.opts);
  else core.flush(it.neighbor);
}

export async function runWorker(data: unknown): Promise<void> {
  const { parentPort } = await import('node:worker_threads');
  const { default: pino } = await import('pino');
  if (!parentPort) throw new Error('bgp worker without a parent port');
  const port = parentPort;
  const d = data as WorkerData;
  const ch = new Channel<SpeakerSends, FacadeSends>(port as PortLike);
  const log = pino(
    { level: d.level, base: undefined, timestamp: pino.stdTimeFunctions.epochTime, formatters: { level: (_l: string, n: number) => ({ level: n }) } },
    { write: (line: string) => ch.post('log', line) },
  ) as unknown as Logger;
  let statusTimer: NodeJS.Timeout | undefined;
  const pushStatus = () => {
    if (statusTimer) return;
    statusTimer = setTimeout(() => {
      statusTimer = undefined;
      ch.post('status', core.neighbors());
    }, 50);
  };
  const core: SpeakerCore = new SpeakerCore(d.cfg, log, {
    state: (neighbor, from, to, reason) => ch.post('state', { neighbor, from, to, reason }),
    expired: (neighbor, keys) => ch.post('expired', { neighbor, keys }),
    sent: (e) => ch.post('sent', e),
    changed: pushStatus,
  }, { restarting: d.restarting });
  const periodic = setInterval(() => ch.post('status', core.neighbors()), 1000);
  ch.handle('start', async () => {
    await core.start();
    return { listen: core.listenAddress };
  })
    .handle('stop', async ({ graceful }) => {
      await core.stop({ graceful });
      clearInterval(periodic);
      if (statusTimer) clearTimeout(statusTimer);
      setImmediate(() => {
        ch.close('bgp worker stopped');
        port.close();
      });
    })
    .handle('reconfigure', (cfg) => core.reconfigure(cfg))
    .handle('adjRibOut', (neighbor) => core.adjRibOut(neighbor))
    .handle('neighbors', () => core.neighbors())
    .on('batch', (items) => {
      for (const it of items) {
        try {
          applyRouteOp(core, it);
        } catch (e) {
          log.error({ err: (e as Error).message }, 'bgp route operation failed in the speaker');
        }
      }
    })
    .on('busy', (ms) => {
      const end = Date.now() + ms;
      while (Date.now() < end) {
        /* spin */
      }
    });
}
