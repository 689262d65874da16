/**
 * Builds the signal hub over the running engine (its signalEvent door into
 * the daemon's listeners and the ban module) and the view the API's signal
 * routes use. Without an engine that takes signals (test fakes) there is no
 * hub and the routes answer 503.
 */
import type { Config } from '../config/schema.ts';
import type { Clock } from '../core/clock.ts';
import type { Logger } from '../core/log.ts';
import { SignalHub } from '../signals/hub.ts';
import type { SignalBackend } from '../api/signal-routes.ts';
import type { EnginePort } from './ports.ts';

export interface SignalSources {
  readonly cfg: Readonly<Config>;
  readonly log: Logger;
  readonly clock: Clock;
  readonly engine: EnginePort;
}

export function attachSignals(d: SignalSources): { hub: SignalHub; backend: SignalBackend } | undefined {
  const engine = d.engine;
  const signalEvent = engine.signalEvent?.bind(engine);
  if (!signalEvent) return undefined;
  const hub = new SignalHub({
    port: {
      signalEvent,
      onEvent: (fn) => engine.on(fn),
      activeBans: () => engine.activeBans(),
      unban: (target, actor) => engine.manualUnban({ ip: target, actor }),
    },
    config: () => d.cfg,
    clock: d.clock,
    log: d.log,
  });
  hub.start();
  const backend: SignalBackend = {
    handle: (sig, actor) => hub.handle(sig, actor),
    mode: () => (d.cfg.dry_run ? 'dry_run' : 'live'),
    rateWindowSeconds: () => d.cfg.ban.ban_window_seconds,
  };
  return { hub, backend };
}
