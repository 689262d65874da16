/**
 * The ban lifecycle as an explicit, total table (state, event) → {next, actions},
 * in the style of the BGP FSM. bans.ts turns its inputs (attack events, ticks,
 * manual requests, reloads, restores) into these events, looks the pair up and
 * performs the actions in order. `describeLifecycle()` prints the table.
 *
 * States (of one ban; `none` is a ban not yet created):
 *   none      no ban for this target yet
 *   active    an attack linked to the ban is going on: the ban cannot end; it
 *             is extended when its TTL runs out and escalated on schedule
 *   expiring  no linked attack is going on (it ended, or the ban is manual or
 *             restored): the ban ends once now >= expires, where expires =
 *             max(created + TTL, quiet_since + unban_hysteresis)
 *   ended     withdrawn; kept in the history only (absorbing)
 *
 * Events (bans.ts decides which one an input is):
 *   attack_start      an attack on exactly the ban's target started, or an
 *                     update arrived for an attack not linked to any ban
 *   attack_update     a linked attack goes on
 *   attack_end        the LAST linked attack ended (earlier ends only unlink)
 *   tick              time passes and nothing is due
 *   ttl_due           a tick at or after `expires`
 *   escalation_due    a tick at or after the next ladder step's after_seconds
 *   manual_ban        POST /api/v1/ban for the target
 *   manual_unban      POST /api/v1/unban for the target or ban id
 *   whitelist_changed a reload made the target whitelisted or outside networks
 *   config_reload     any other reload
 *   restore           a ban from a snapshot (restart), not yet expired
 *   released          the cluster ledger ended the ban (another node unbanned
 *                     it, or its etcd lease ran out)
 */
import type { BanState } from './types.ts';

export const LIFECYCLE_STATES = ['none', 'active', 'expiring', 'ended'] as const;
export type LifecycleState = (typeof LIFECYCLE_STATES)[number];

export const LIFECYCLE_EVENTS = [
  'attack_start',
  'attack_update',
  'attack_end',
  'tick',
  'ttl_due',
  'escalation_due',
  'manual_ban',
  'manual_unban',
  'whitelist_changed',
  'config_reload',
  'restore',
  'released',
] as const;
export type LifecycleEvent = (typeof LIFECYCLE_EVENTS)[number];

/** What bans.ts does, in order, on a transition. */
export const LIFECYCLE_ACTIONS = {
  admit: 'run every guard; on refusal emit ban_refused and abandon the transition (stay in none)',
  admit_restore: 'run the guards except already_banned and the rate window; on refusal report the ban for withdrawal and stay in none',
  create: 'create the ban: TTL and hysteresis from the policy, initial level from mitigation, route built',
  link_attack: 'link the attack to the ban (quiet_since cleared)',
  set_quiet: 'quiet_since := now; expires := max(expires, now + unban_hysteresis)',
  extend: 'expires := max(expires, now + unban_hysteresis) (the attack goes on, so the ban is kept)',
  escalate: 'take the due ladder steps; if the level rises, rebuild the route and emit escalate (never down)',
  reroute: 'rebuild the route under the new config, keeping the level',
  emit_ban: 'emit ban',
  end: 'state ended, ended := now, end_reason from the event (expired, manual, whitelisted, outside_networks, or the ledger\'s reason)',
  emit_unban: 'emit unban with the reason',
  refuse_already_banned: 'manual ban refused with already_banned (ban_refused emitted)',
  refuse_not_banned: 'manual unban refused with not_banned',
} as const;
export type LifecycleAction = keyof typeof LIFECYCLE_ACTIONS;

export interface Transition {
  readonly next: LifecycleState;
  readonly actions: readonly LifecycleAction[];
}

const T = (next: LifecycleState, ...actions: LifecycleAction[]): Transition => Object.freeze({ next, actions: Object.freeze(actions) });
const stay = (s: LifecycleState): Transition => T(s);

export const LIFECYCLE: Readonly<Record<LifecycleState, Readonly<Record<LifecycleEvent, Transition>>>> = Object.freeze({
  none: Object.freeze({
    attack_start: T('active', 'admit', 'create', 'link_attack', 'emit_ban'),
    attack_update: T('active', 'admit', 'create', 'link_attack', 'emit_ban'),
    attack_end: stay('none'),
    tick: stay('none'),
    ttl_due: stay('none'),
    escalation_due: stay('none'),
    manual_ban: T('expiring', 'admit', 'create', 'emit_ban'),
    manual_unban: T('none', 'refuse_not_banned'),
    whitelist_changed: stay('none'),
    config_reload: stay('none'),
    restore: T('expiring', 'admit_restore', 'create'),
    released: stay('none'),
  }),
  active: Object.freeze({
    attack_start: T('active', 'link_attack'),
    attack_update: T('active', 'link_attack'),
    attack_end: T('expiring', 'set_quiet'),
    tick: stay('active'),
    ttl_due: T('active', 'extend'),
    escalation_due: T('active', 'escalate'),
    manual_ban: T('active', 'refuse_already_banned'),
    manual_unban: T('ended', 'end', 'emit_unban'),
    whitelist_changed: T('ended', 'end', 'emit_unban'),
    config_reload: T('active', 'reroute'),
    restore: stay('active'),
    released: T('ended', 'end', 'emit_unban'),
  }),
  expiring: Object.freeze({
    attack_start: T('active', 'link_attack'),
    attack_update: T('active', 'link_attack'),
    attack_end: T('expiring', 'set_quiet'),
    tick: stay('expiring'),
    ttl_due: T('ended', 'end', 'emit_unban'),
    escalation_due: stay('expiring'),
    manual_ban: T('expiring', 'refuse_already_banned'),
    manual_unban: T('ended', 'end', 'emit_unban'),
    whitelist_changed: T('ended', 'end', 'emit_unban'),
    config_reload: T('expiring', 'reroute'),
    restore: stay('expiring'),
    released: T('ended', 'end', 'emit_unban'),
  }),
  ended: Object.freeze({
    attack_start: stay('ended'),
    attack_update: stay('ended'),
    attack_end: stay('ended'),
    tick: stay('ended'),
    ttl_due: stay('ended'),
    escalation_due: stay('ended'),
    manual_ban: stay('ended'),
    manual_unban: stay('ended'),
    whitelist_changed: stay('ended'),
    config_reload: stay('ended'),
    restore: stay('ended'),
    released: stay('ended'),
  }),
});

/** The transition for a pair. Total: every pair is defined. */
export function transition(state: LifecycleState, event: LifecycleEvent): Transition {
  return LIFECYCLE[state][event];
}

/** Ban.state for a lifecycle state (`none` has no ban object). */
export function banState(s: Exclude<LifecycleState, 'none'>): BanState {
  return s;
}

/** The table as text: one line per (state, event), then the actions. */
export function describeLifecycle(): string {
  const w = Math.max(...LIFECYCLE_EVENTS.map((e) => e.length));
  const lines: string[] = ['Ban lifecycle: state × event → next state [actions]', ''];
  for (const s of LIFECYCLE_STATES) {
    lines.push(`${s}:`);
    for (const e of LIFECYCLE_EVENTS) {
      const t = LIFECYCLE[s][e];
      const acts = t.actions.length ? ` [${t.actions.join(', ')}]` : '';
      lines.push(`  ${e.padEnd(w)} → ${t.next}${acts}`);
    }
    lines.push('');
  }
  lines.push('Actions:');
  const aw = Math.max(...Object.keys(LIFECYCLE_ACTIONS).map((a) => a.length));
  for (const [a, d] of Object.entries(LIFECYCLE_ACTIONS)) lines.push(`  ${a.padEnd(aw)}  ${d}`);
  return lines.join('\n') + '\n';
}
