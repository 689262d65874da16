/**
 * The engine's book of attacks: the active ones (by target and by counter
 * row, so the count path can hand a pinned row's records to its
 * classifier), the recently ended ones, the counts per vector, and the
 * listeners that receive every attack event as a snapshot. The engine
 * decides when an attack starts, updates and ends; this file keeps the record.
 */
import type { Logger } from '../core/log.ts';
import type { Attack, EngineEvent, EngineListener } from './events.ts';
import { VECTORS } from './events.ts';
import { RF } from './counters.ts';
import type { ActiveAttack } from './detector.ts';
import { ROW_SPAN } from './compile.ts';

export class AttackBook {
  /** direction|target → attack. */
  readonly active = new Map<string, ActiveAttack>();
  /** table slot × ROW_SPAN + row → attack. */
  readonly byRow = new Map<number, ActiveAttack>();
  readonly byVector: Record<string, number> = {};
  started = 0;
  private recent: Attack[] = [];
  private readonly listeners: EngineListener[] = [];
  private readonly log?: Logger;
  private readonly recentMax: number;
  private readonly updateIntervalMs: number;

  constructor(opts: { log?: Logger; recentMax: number; updateIntervalMs: number }) {
    this.log = opts.log;
    this.recentMax = opts.recentMax;
    this.updateIntervalMs = opts.updateIntervalMs;
    for (const v of VECTORS) this.byVector[v] = 0;
  }

  on(listener: EngineListener): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  /** Records a new attack on row `row` of table slot `slot` (already pinned) and emits attack_start. */
  start(key: string, slot: number, a: ActiveAttack, time: number): void {
    this.active.set(key, a);
    this.byRow.set(slot * ROW_SPAN + a.row, a);
    this.started++;
    this.byVector[a.attack.vector] = (this.byVector[a.attack.vector] ?? 0) + 1;
    this.emit('attack_start', time, a.attack);
  }

  /** Emits attack_update when the last one is at least the update interval old. */
  update(a: ActiveAttack, time: number): void {
    if (time - a.lastUpdate < this.updateIntervalMs) return;
    a.lastUpdate = time;
    a.attack.vector = a.cls.vector();
    a.attack.summary = a.cls.summary();
    this.emit('attack_update', time, a.attack);
  }

  /** Ends an attack: unpins its row, keeps it among the recent ones, emits attack_end. */
  end(key: string, slot: number, a: ActiveAttack, time: number, reason: string): void {
    const at = a.attack;
    at.end = time;
    at.vector = a.cls.vector();
    at.summary = a.cls.summary();
    at.end_reason = reason;
    this.active.delete(key);
    this.byRow.delete(slot * ROW_SPAN + a.row);
    if (a.table.isLive(a.row)) a.table.setFlags(a.row, a.table.flags(a.row) & ~RF.PINNED);
    this.recent.unshift(at);
    if (this.recent.length > this.recentMax) this.recent.length = this.recentMax;
    this.emit('attack_end', time, at);
  }

  /** Active attacks (oldest first), then recently ended ones (newest first). */
  list(): Attack[] {
    const act = [...this.active.values()].map((a) => {
      a.attack.summary = a.cls.summary();
      return snapshot(a.attack);
    }).sort((x, y) => x.start - y.start);
    return [...act, ...this.recent.map(snapshot)];
  }

  get(key: string): Attack | undefined {
    const a = this.active.get(key);
    return a ? snapshot(a.attack) : undefined;
  }

  private emit(event: 'attack_start' | 'attack_update' | 'attack_end', time: number, attack: Attack): void {
    const e: EngineEvent = { event, time, attack: snapshot(attack) };
    for (const l of this.listeners) {
      try {
        l(e);
      } catch (err) {
        this.log?.error({ err }, 'engine listener failed');
      }
    }
  }
}

function snapshot(a: Attack): Attack {
  return structuredClone(a);
}
