/**
 * Per-target policy: the global settings with the overrides of the hostgroup
 * the target belongs to (ban settings, mitigation, escalation ladder,
 * FlowSpec settings). What a route carries on the wire (next hops,
 * communities) is mitigation's policy (mitigation/policy.ts).
 *
 * Hostgroup of a target: the attack's `hostgroup` name when the config has a
 * group of that name; otherwise the group with the most specific network that
 * wholly covers the target (for a carpet prefix, a group network must cover the
 * whole prefix). Overrides: `ban.*` keys, `mitigation`, `flowspec.*` replace
 * the global value key by key; `escalation` replaces the whole global ladder
 * when the group sets it (an empty list disables escalation for the group).
 *
 * A hostgroup's `ban.max_active_bans`, `ban.max_banned_fraction` (of the
 * group's own networks) and `ban.max_bans_per_window` are caps on the group's
 * own bans, enforced IN ADDITION to the global caps, never instead of them.
 */
import { parsePrefix, prefixCovers, type Prefix } from '../core/ip.ts';
import type { BanConfig, Escalation, Hostgroup } from '../config/schema.ts';
import type { PolicyConfig } from '../config/diff.ts';
import { BreakwaterError } from '../core/errors.ts';
import { sortLadder, type FlowspecAction } from './escalation.ts';

export interface GroupCaps {
  max_active_bans?: number;
  max_banned_fraction?: number;
  max_bans_per_window?: number;
  ban_window_seconds: number;
}

export interface TargetPolicy {
  hostgroup?: Hostgroup;
  /** Global ban settings with the group's overrides. */
  ban: BanConfig;
  /** Caps the group sets for its own bans (absent keys: no group cap). */
  groupCaps?: GroupCaps;
  mitigation: 'blackhole' | 'flowspec';
  /** Sorted by after_seconds. */
  escalation: Escalation;
  flowspec: { action: FlowspecAction; rate_mbps: number; max_rules_per_ban: number };
}

/** Resolves policies for one config; build a new one on reload. */
export class PolicyResolver {
  readonly config: Readonly<PolicyConfig>;
  private readonly groups: Array<{ prefix: Prefix; group: Hostgroup }> = [];
  private readonly byName = new Map<string, Hostgroup>();
  private readonly groupPrefixes = new Map<string, Prefix[]>();

  constructor(config: Readonly<PolicyConfig>) {
    this.config = config;
    for (const g of config.hostgroups) {
      this.byName.set(g.name, g);
      const ps: Prefix[] = [];
      for (const n of g.networks) {
        const p = parsePrefix(n);
        if (typeof p === 'string') continue;
        ps.push(p);
        this.groups.push({ prefix: p, group: g });
      }
      this.groupPrefixes.set(g.name, ps);
    }
  }

  /** The hostgroup for a target, or undefined. */
  hostgroupFor(target: Prefix, name?: string): Hostgroup | undefined {
    if (name !== undefined) {
      const g = this.byName.get(name);
      if (g) return g;
    }
    let best: { prefix: Prefix; group: Hostgroup } | undefined;
    for (const e of this.groups) {
      if (prefixCovers(e.prefix, target) && (!best || e.prefix.len > best.prefix.len)) best = e;
    }
    return best?.group;
  }

  /** The parsed networks of a hostgroup. */
  groupNetworks(name: string): Prefix[] {
    return this.groupPrefixes.get(name) ?? [];
  }

  forTarget(target: Prefix, hostgroup?: Hostgroup | string): TargetPolicy {
    const c = this.config;
    const g = typeof hostgroup === 'object' ? hostgroup : this.hostgroupFor(target, hostgroup);
    const o = g?.ban ?? {};
    const ban: BanConfig = { ...c.ban };
    for (const k of Object.keys(o) as Array<keyof BanConfig>) {
      const val = o[k];
      if (val !== undefined) (ban as Record<string, unknown>)[k] = val;
    }
    let groupCaps: GroupCaps | undefined;
    if (g && (o.max_active_bans !== undefined || o.max_banned_fraction !== undefined || o.max_bans_per_window !== undefined)) {
      groupCaps = {
        max_active_bans: o.max_active_bans,
        max_banned_fraction: o.max_banned_fraction,
        max_bans_per_window: o.max_bans_per_window,
        ban_window_seconds: ban.ban_window_seconds,
      };
    }
    const fs = { ...c.flowspec, ...(g?.flowspec ?? {}) };
    return {
      hostgroup: g,
      ban,
      groupCaps,
      mitigation: g?.mitigation ?? c.mitigation,
      escalation: sortLadder(g?.escalation ?? c.escalation),
      flowspec: { action: fs.action ?? 'discard', rate_mbps: fs.rate_mbps ?? 0, max_rules_per_ban: fs.max_rules_per_ban ?? 4 },
    };
  }
}

const cache = new WeakMap<object, PolicyResolver>();

/** Resolver for a config, cached per config object. */
export function policyResolver(config: Readonly<PolicyConfig>): PolicyResolver {
  let r = cache.get(config);
  if (!r) {
    r = new PolicyResolver(config);
    cache.set(config, r);
  }
  return r;
}

/** Policy for a target ("198.51.100.7", "10.0.0.0/24") under a config. */
export function resolvePolicy(config: Readonly<PolicyConfig>, target: Prefix | string, hostgroup?: Hostgroup | string): TargetPolicy {
  const p = typeof target === 'string' ? parsePrefix(target) : target;
  if (typeof p === 'string') throw new BreakwaterError('invalid_target', p);
  return policyResolver(config).forTarget(p, hostgroup);
}

/** Same steps in the same order. */
export function sameLadder(a: Escalation, b: Escalation): boolean {
  return a.length === b.length && a.every((s, i) => s.after_seconds === b[i].after_seconds && s.action === b[i].action);
}
