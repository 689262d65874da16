/**
 * Applies a reload plan (config/diff.ts) to the running components, slice by
 * slice in a fixed order, and collects what each module did. Each module gets
 * only its slice (the keys that changed and the part of the config it reads)
 * and answers with what it did. The order matters: the ban module first (a
 * newly whitelisted target is unbanned and its route withdrawn before
 * anything else moves), then route policy, BGP sessions, the mode, the flow
 * listeners, and the API's tokens last. Notifications take their slice after
 * the reload is recorded (daemon/notify-wiring.ts); ClickHouse history is
 * applied only at start, so its slice only says a restart is needed.
 */
import type { ReloadPlan } from '../config/diff.ts';
import type { Logger } from '../core/log.ts';
import type { Store } from '../store/sqlite.ts';
import type { ModuleReport, Running } from './ports.ts';

export interface ApplyContext {
  readonly running: Running;
  readonly store: Store;
  readonly log: Logger;
  readonly actor: string;
  readonly now: number;
  /** Applies the API slice: tokens and the /metrics rule (absent when the API is off). */
  readonly setApiAuth?: (slice: ReloadPlan['api']) => string[];
  /** Restarts the detection tick when detection.tick_ms changed. */
  readonly rescheduleTick: () => void;
}

export interface ApplyResult {
  applied: ModuleReport[];
  /** Extra fields of the API response (kept from earlier versions: unbanned, announced_routes, needs_restart). */
  details: Record<string, unknown>;
}

export async function applyPlan(plan: ReloadPlan, ctx: ApplyContext): Promise<ApplyResult> {
  const { running: r, store, log, now } = ctx;
  const applied: ModuleReport[] = [];
  const details: Record<string, unknown> = {};
  const report = (module: string, did: readonly string[] | void) => {
    if (did && did.length) applied.push({ module, did: [...did] });
  };

  // Engine and ban module: rules, networks, whitelist; lifted bans lose their routes here.
  const eb = r.engine.reconfigure(plan, now);
  const banDid: string[] = [];
  if (plan.engine.keys.length) banDid.push(`detection rules: ${plan.engine.keys.join(', ')}`);
  for (const b of eb.unbanned) {
    // Normally already handled through its unban event; the mitigator reads the ban module, so this only makes sure the route is gone.
    r.mitigator.changed(b.id);
    banDid.push(`lifted ban ${b.target} (${b.end_reason ?? 'reconfigured'})`);
  }
  for (const b of eb.rerouted) {
    store.saveBan(b);
    r.mitigator.changed(b.id);
    banDid.push(`new route for ban ${b.target}`);
  }
  if (eb.unbanned.length) details.unbanned = eb.unbanned.map((b) => ({ target: b.target, reason: b.end_reason }));
  report('engine', banDid);

  // Route policy (every ban re-applied), then sessions: the speaker adds, removes and changes only the neighbors in the slice.
  const reapplied = r.mitigator.reconfigure(plan.mitigation.config);
  if (plan.mitigation.keys.length) report('mitigation', [`route policy: ${plan.mitigation.keys.join(', ')} (${reapplied} active ban(s) re-applied)`]);
  report('bgp', await r.bgp.reconfigure(plan.neighbors));

  if (plan.dryRun) {
    const dryRun = plan.dryRun.to;
    r.mitigator.setDryRun(dryRun);
    const mode = dryRun ? 'dry_run' : 'live';
    store.setValue('mode', mode);
    store.audit({ time: now, actor: ctx.actor, action: 'mode', detail: { from: plan.dryRun.from ? 'dry_run' : 'live', to: mode } });
    log.warn({ event: 'mode', actor: ctx.actor, mode, bans: r.mitigator.activeBans().length }, dryRun ? 'now in dry-run: every route withdrawn' : 'now LIVE: active bans announced');
    details.announced_routes = r.mitigator.stats().announced_routes;
    report('mitigation', [dryRun ? 'dry-run: every route withdrawn' : 'live: active bans announced']);
  }

  report('collector', await r.collector.reconfigure(plan.listeners));

  if (ctx.setApiAuth && plan.api.keys.length) report('api', ctx.setApiAuth(plan.api));
  if (plan.engine.keys.includes('detection.tick_ms')) {
    ctx.rescheduleTick();
    report('daemon', [`detection tick every ${plan.engine.config.detection.tick_ms} ms`]);
  }
  if (plan.history.restartRequired) report('history', [`restart required: ${plan.history.keys.join(', ')} apply at the next start`]);
  if (plan.restartOnly.length) {
    details.needs_restart = plan.restartOnly;
    log.warn({ event: 'config reload', needs_restart: plan.restartOnly }, 'some changes take effect only after a restart');
  }
  return { applied, details };
}
