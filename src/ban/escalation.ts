/**
 * Escalation ladders: how a ban's mitigation steps up while its attack goes on.
 *
 * Levels, weakest first:  flowspec_rate_limit < flowspec_discard < blackhole.
 *
 * - The initial level comes from `mitigation` (hostgroup override first):
 *   `blackhole` → blackhole; `flowspec` → flowspec_discard or flowspec_rate_limit
 *   depending on `flowspec.action`.
 * - A ladder is `escalation[]{after_seconds, action}` (the hostgroup's ladder
 *   replaces the global one when it has one). Steps are ordered by
 *   after_seconds (stable for ties); `after_seconds` counts from the ban's
 *   creation. Action `flowspec` means "FlowSpec with flowspec.action".
 * - While the ban's attack is active, every step whose after_seconds has passed
 *   is taken; the ban moves to the strongest level among them and its current
 *   level. A step weaker than (or equal to) the current level is passed over
 *   silently: escalation never steps down.
 */
import type { Escalation } from '../config/schema.ts';
import type { MitigationLevel } from './types.ts';

export const LEVELS = ['flowspec_rate_limit', 'flowspec_discard', 'blackhole'] as const satisfies readonly MitigationLevel[];
export type { MitigationLevel };

export type EscalationAction = Escalation[number]['action'];
export type FlowspecAction = 'discard' | 'rate_limit';

export function levelRank(l: MitigationLevel): number {
  return LEVELS.indexOf(l);
}

/** The level an escalation action stands for. */
export function actionLevel(action: EscalationAction, flowspecAction: FlowspecAction): MitigationLevel {
  switch (action) {
    case 'blackhole': return 'blackhole';
    case 'flowspec_discard': return 'flowspec_discard';
    case 'flowspec_rate_limit': return 'flowspec_rate_limit';
    case 'flowspec': return flowspecAction === 'rate_limit' ? 'flowspec_rate_limit' : 'flowspec_discard';
  }
}

/** The level a new ban starts at. */
export function initialLevel(mitigation: 'blackhole' | 'flowspec', flowspecAction: FlowspecAction): MitigationLevel {
  return mitigation === 'blackhole' ? 'blackhole' : actionLevel('flowspec', flowspecAction);
}

/** Ban.action for a level. */
export function levelAction(l: MitigationLevel): 'blackhole' | 'flowspec' {
  return l === 'blackhole' ? 'blackhole' : 'flowspec';
}

/** The ladder in the order steps are taken (by after_seconds, stable). */
export function sortLadder(ladder: Escalation): Escalation {
  return ladder.map((s, i) => ({ s, i })).sort((a, b) => a.s.after_seconds - b.s.after_seconds || a.i - b.i).map((x) => x.s);
}

export interface EscalationResult {
  /** New index into the sorted ladder (>= the current one). */
  step: number;
  /** New level (rank >= the current one). */
  level: MitigationLevel;
  /** True when the level went up (an `escalate` event is due). */
  changed: boolean;
}

/**
 * What the ladder says after `elapsedSeconds` since the ban was created.
 * Returns null when no new step is due. Never returns a weaker level.
 */
export function nextEscalation(
  current: MitigationLevel,
  currentStep: number,
  sortedLadder: Escalation,
  elapsedSeconds: number,
  flowspecAction: FlowspecAction,
): EscalationResult | null {
  let step = currentStep;
  let level = current;
  for (let i = Math.max(0, currentStep + 1); i < sortedLadder.length; i++) {
    const s = sortedLadder[i];
    if (s.after_seconds > elapsedSeconds) break;
    step = i;
    const l = actionLevel(s.action, flowspecAction);
    if (levelRank(l) > levelRank(level)) level = l;
  }
  if (step === currentStep) return null;
  return { step, level, changed: level !== current };
}

/** When the next step of the ladder is due (seconds after creation), or null. */
export function nextStepDue(currentStep: number, sortedLadder: Escalation): number | null {
  const s = sortedLadder[currentStep + 1];
  return s ? s.after_seconds : null;
}
