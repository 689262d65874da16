/**
 * Applies a reload plan (config/diff.ts) to the running components, slice by
 * slice in a fixed order, and collects what each module did. The order
 * matters: the ban module first (a newly whitelisted target is unbanned and
 * its route withdrawn before anything else moves), then route policy, BGP
 * sessions, the mode, the flow listeners, and the API's tokens last.
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
  /** The API's tokens and /metrics rule from the plan's config (absent when the API is off). */
  readonly setApiAuth?: () => string[];
  /** Restarts the detection tick when detection.tick_ms changed. */
  readonly rescheduleTick: () => void;
}

export interface ApplyResult {
  applied: ModuleReport[];
  /** Extra fields of the API response (kept from earlier versions: unbanned, announced_routes, needs_restart). */
  details: Record<string, unknown>;
}

const nbId = (n: { address: string; port: number }) => (n.port === 179 ? n.address : `${n.address}:${n.port}`);

export async function applyPlan(plan: ReloadPlan, ctx: ApplyContext): Promise<ApplyResult> {
  const { running: r, store, log, now } = ctx;
  const cfg = plan.config;
  const applied: ModuleReport[] = [];
  const details: Record<string, unknown> = {};
  const report = (module: string, did: string[]) => {
    if (did.length) applied.push({ module, did });
  };

  // Engine and ban module: rules, networks, whitelist; lifted bans lose their routes here.
  const eb = r.engine.reconfigure(cfg, now);
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

  // Route policy, then sessions: the speaker adds, removes and changes only the neighbors in the slice.
  r.mitigator.reconfigure(cfg);
  if (plan.mitigation.keys.length) report('mitigation', [`route policy: ${plan.mitigation.keys.join(', ')}`]);
  const nb = plan.neighbors;
  if (nb.keys.length || nb.added.length || nb.removed.length || nb.changed.length) {
    await r.bgp.reconfigure(cfg);
    report('bgp', [
      ...nb.added.map((n) => `session added: ${nbId(n)}`),
      ...nb.removed.map((n) => `session removed: ${nbId(n)}`),
      ...nb.changed.map((c) => `session changed: ${nbId(c.after)} (${c.keys.join(', ')})`),
      ...nb.keys.filter((k) => !k.startsWith('bgp.neighbors')).map((k) => `speaker: ${k}`),
    ]);
  }

  if (plan.dryRun) {
    r.mitigator.setDryRun(cfg.dry_run);
    const mode = cfg.dry_run ? 'dry_run' : 'live';
    store.setValue('mode', mode);
    store.audit({ time: now, actor: ctx.actor, action: 'mode', detail: { from: plan.dryRun.from ? 'dry_run' : 'live', to: mode } });
    log.warn({ event: 'mode', actor: ctx.actor, mode, bans: r.mitigator.activeBans().length }, cfg.dry_run ? 'now in dry-run: every route withdrawn' : 'now LIVE: active bans announced');
    details.announced_routes = r.mitigator.stats().announced_routes;
    report('mitigation', [cfg.dry_run ? 'dry-run: every route withdrawn' : 'live: active bans announced']);
  }

  const flow = await r.collector.reconfigure(cfg, plan.listeners.keys);
  report('collector', flow ?? []);

  if (ctx.setApiAuth && plan.api.keys.length) report('api', ctx.setApiAuth());
  if (plan.engine.keys.includes('detection.tick_ms')) {
    ctx.rescheduleTick();
    report('daemon', [`detection tick every ${cfg.detection.tick_ms} ms`]);
  }
  if (plan.restartOnly.length) {
    details.needs_restart = plan.restartOnly;
    log.warn({ event: 'config reload', needs_restart: plan.restartOnly }, 'some changes take effect only after a restart');
  }
  return { applied, details };
}
