/**
 * Keeps one node's bans and the ledger (ledger.ts) in step. The ban module
 * keeps deciding under its guards, synchronously; this class only reacts,
 * and every etcd round trip runs here, off the detection path:
 *
 * - a ban the node created (event `ban`) is proposed to the ledger; the
 *   loser of a create race adopts the winner (BanPort.adopt: same id on
 *   every node, one ban per target);
 * - an escalation, or an expiry moved later (checked every second by
 *   pushExtensions), is a compare-and-swap update; on a conflict the
 *   ledger's copy is merged in and the update retried;
 * - an unban on this node removes the key (with its reason);
 * - the ledger's changes (watch, or reconcile after a partition) come back:
 *   a ban created elsewhere is adopted, a deleted or expired key ends the
 *   ban here (BanPort.release).
 * Work is chained per target, so the ledger sees one node's changes of a
 * target in the order they happened. While etcd cannot be reached, changes
 * are kept (dirty) and replayed by reconcile().
 */
import type { Logger } from '../core/log.ts';
import type { Ban, BanEvent } from '../ban/types.ts';
import type { AdoptResult } from '../ban/bans.ts';
import { Ledger, parseEntry, type LedgerEntry } from './ledger.ts';
import type { IWatchResponse } from 'etcd3';

/** What the sync needs from the ban module (ban/bans.ts). */
export interface BanPort {
  active(): Ban[];
  get(idOrTarget: string): Ban | undefined;
  adopt(ban: Ban): AdoptResult;
  release(id: string, reason: string, actor?: string): Ban | undefined;
}

/** Told when the ledger changed this node's bans (the daemon saves them and re-reads their routes). */
export interface SyncHooks {
  adopted(ban: Ban, replaced: string | undefined, created: boolean): void;
}

export interface SyncStats {
  created: number;
  lost_races: number;
  adopted: number;
  adopt_refused: number;
  updates: number;
  conflicts: number;
  removed: number;
  released: number;
  errors: number;
  dirty: number;
}

const MAX_CAS_RETRIES = 5;

export class LedgerSync {
  readonly ledger: Ledger;
  private readonly bans: BanPort;
  private readonly hooks: SyncHooks;
  private readonly log: Logger;
  private readonly nodeId: string;
  /** The ledger as this node last saw it, by target. */
  readonly known = new Map<string, LedgerEntry>();
  /** Bans this node created that the ledger has not confirmed yet, by id. */
  private readonly unconfirmed = new Set<string>();
  /** Targets whose change could not reach etcd (replayed by reconcile). */
  private readonly dirty = new Set<string>();
  private readonly chains = new Map<string, Promise<void>>();
  /** Why bans left the ledger, from the ended markers, by ban id. */
  private readonly endedWhy = new Map<string, { reason: string; by: string }>();
  /** Set while the sync itself changes the ban module (its events are not proposed back). */
  private applying = false;
  private readonly counters: Omit<SyncStats, 'dirty'> = { created: 0, lost_races: 0, adopted: 0, adopt_refused: 0, updates: 0, conflicts: 0, removed: 0, released: 0, errors: 0 };
  /** Called with each etcd failure and success (the node's partition detector listens). */
  onEtcd: (ok: boolean) => void = () => undefined;

  constructor(opts: { ledger: Ledger; bans: BanPort; hooks: SyncHooks; log: Logger; nodeId: string }) {
    this.ledger = opts.ledger;
    this.bans = opts.bans;
    this.hooks = opts.hooks;
    this.log = opts.log;
    this.nodeId = opts.nodeId;
  }

  stats(): SyncStats {
    return { ...this.counters, dirty: this.dirty.size };
  }

  /** True while no change waits for etcd. */
  get idle(): boolean {
    return this.chains.size === 0;
  }

  /** Resolves when every queued change has run. */
  async settled(): Promise<void> {
    for (let i = 0; i < 100 && this.chains.size; i++) await Promise.all([...this.chains.values()]);
  }

  // ------------------------------------------------------------ from the ban module

  /** Subscribe this to the ban module's events. */
  onBanEvent(e: BanEvent): void {
    if (this.applying) return;
    if (e.event === 'ban') {
      this.unconfirmed.add(e.ban.id);
      this.queue(e.ban.target, () => this.propose(e.ban.id, e.ban.target));
    } else if (e.event === 'escalate') {
      this.queue(e.ban.target, () => this.push(e.ban.target));
    } else if (e.event === 'unban') {
      this.unconfirmed.delete(e.ban.id);
      this.queue(e.ban.target, () => this.remove(e.ban, e.reason));
    }
  }

  /** Bans whose expiry moved past the ledger's copy (extensions emit no event): CAS updates. */
  pushExtensions(): void {
    for (const b of this.bans.active()) {
      const k = this.known.get(b.target);
      if (k && k.ban.id === b.id && b.expires > k.ban.expires && !this.chains.has(b.target)) this.queue(b.target, () => this.push(b.target));
    }
  }

  private queue(target: string, fn: () => Promise<void>): void {
    const prev = this.chains.get(target) ?? Promise.resolve();
    const next = prev
      .then(fn)
      .then(() => this.onEtcd(true))
      .catch((err: unknown) => {
        this.counters.errors++;
        this.dirty.add(target);
        this.onEtcd(false);
        this.log.warn({ event: 'cluster ledger error', target, err: (err as Error).message }, `ledger change of ${target} not written: ${(err as Error).message}`);
      })
      .finally(() => {
        if (this.chains.get(target) === next) this.chains.delete(target);
      });
    this.chains.set(target, next);
  }

  private async propose(id: string, target: string): Promise<void> {
    const ban = this.bans.get(id);
    if (!ban) return; // ended before it reached etcd: nothing to create
    for (let i = 0; i < MAX_CAS_RETRIES; i++) {
      const r = await this.ledger.create(ban);
      if (r.created) {
        this.counters.created++;
        this.unconfirmed.delete(id);
        this.known.set(target, r.entry);
        this.dirty.delete(target);
        return;
      }
      if (r.entry) {
        this.counters.lost_races++;
        this.unconfirmed.delete(id);
        this.apply(r.entry);
        // The winner may be behind this node (a later expiry, a stronger level): push the merge.
        await this.push(target);
        return;
      }
    }
  }

  /** Writes this node's copy of the target's ban over the ledger's (CAS), merging on conflicts. */
  private async push(target: string): Promise<void> {
    for (let i = 0; i < MAX_CAS_RETRIES; i++) {
      const local = this.bans.get(target);
      const k = this.known.get(target);
      if (!local) return;
      if (!k || k.ban.id !== local.id) {
        if (!k) return this.propose(local.id, target);
        this.apply(k);
        continue;
      }
      if (!ahead(local, k.ban)) {
        this.dirty.delete(target);
        return;
      }
      const r = await this.ledger.update(k, local);
      if (r.ok) {
        this.counters.updates++;
        this.known.set(target, r.entry);
        this.dirty.delete(target);
        return;
      }
      this.counters.conflicts++;
      if (!r.current) {
        // Gone from the ledger meanwhile: the watch ends the ban here.
        this.known.delete(target);
        return;
      }
      this.apply(r.current);
    }
  }

  private async remove(ban: Ban, reason: string): Promise<void> {
    for (let i = 0; i < MAX_CAS_RETRIES; i++) {
      const k = this.known.get(ban.target) ?? (await this.ledger.get(ban.target));
      if (!k || k.ban.id !== ban.id) {
        this.known.delete(ban.target);
        this.dirty.delete(ban.target);
        return;
      }
      const r = await this.ledger.remove(k, reason, ban.ended_by ?? this.nodeId);
      if (r.ok) {
        this.counters.removed++;
        this.known.delete(ban.target);
        this.dirty.delete(ban.target);
        return;
      }
      this.counters.conflicts++;
      if (r.current) this.known.set(ban.target, r.current);
      else this.known.delete(ban.target);
    }
  }

  // ------------------------------------------------------------ from the ledger

  /** A ban the ledger holds: adopted (or merged) here. */
  apply(entry: LedgerEntry): void {
    const t = entry.ban.target;
    const k = this.known.get(t);
    if (k && BigInt(k.modRevision) > BigInt(entry.modRevision)) return;
    this.known.set(t, entry);
    const before = this.bans.get(t);
    let r: AdoptResult;
    this.applying = true;
    try {
      r = this.bans.adopt(entry.ban);
    } finally {
      this.applying = false;
    }
    if (!r.ok) {
      this.counters.adopt_refused++;
      this.log.warn({ event: 'cluster adopt refused', ban: entry.ban.id, target: t, reason: r.reason, detail: r.detail }, `ledger ban ${entry.ban.id} on ${t} not taken here: ${r.reason}`);
      if (before && before.id !== entry.ban.id) this.unconfirmed.delete(before.id);
      return;
    }
    if (r.created || r.changed) {
      this.counters.adopted++;
      if (r.replaced) this.unconfirmed.delete(r.replaced);
      this.hooks.adopted(r.ban, r.replaced, r.created);
    }
  }

  /** A ban left the ledger: it ends here too. */
  drop(ban: Ban): void {
    const k = this.known.get(ban.target);
    if (k && k.ban.id === ban.id) this.known.delete(ban.target);
    const local = this.bans.get(ban.id);
    if (!local) return;
    const why = this.endedWhy.get(ban.id);
    this.applying = true;
    try {
      this.bans.release(ban.id, why?.reason ?? 'expired', why?.by);
    } finally {
      this.applying = false;
    }
    this.counters.released++;
  }

  /** One watch response of `<prefix>/bans/`: ended markers first, then the bans, in order. */
  onWatch(res: IWatchResponse): void {
    const now = Date.now();
    for (const ev of res.events) {
      const key = ev.kv.key.toString();
      if (ev.type === 'Put' && key.startsWith(this.ledger.endedPrefix)) {
        try {
          const why = JSON.parse(ev.kv.value.toString()) as { reason: string; by: string };
          this.endedWhy.set(key.slice(this.ledger.endedPrefix.length), why);
          if (this.endedWhy.size > 10_000) this.endedWhy.delete(this.endedWhy.keys().next().value!);
        } catch {
          /* not ours */
        }
      }
    }
    for (const ev of res.events) {
      const key = ev.kv.key.toString();
      if (!key.startsWith(this.ledger.bansPrefix)) continue;
      if (ev.type === 'Put') {
        const e = parseEntry(ev.kv, now);
        if (e && !this.chains.has(e.ban.target)) this.apply(e);
        else if (e) {
          const t = e.ban.target;
          // A change of ours to this target is in flight: apply after it.
          this.queue(t, async () => this.apply(e));
        }
      } else {
        const prev = parseEntry(ev.prev_kv, now);
        if (prev) this.drop(prev.ban);
      }
    }
  }

  /**
   * After a partition (or at start): the ledger's bans are adopted, local
   * bans the ledger lost are ended (reason ledger_lost), and bans created
   * here that never reached it are proposed. Returns the revision read.
   */
  async reconcile(): Promise<string> {
    await this.settled();
    const { entries, revision } = await this.ledger.list();
    const inLedger = new Set<string>();
    for (const e of entries) {
      inLedger.add(e.ban.target);
      this.apply(e);
    }
    for (const t of [...this.known.keys()]) if (!inLedger.has(t)) this.known.delete(t);
    for (const b of this.bans.active()) {
      if (inLedger.has(b.target)) {
        if (this.dirty.has(b.target)) this.queue(b.target, () => this.push(b.target));
        continue;
      }
      if (this.unconfirmed.has(b.id)) {
        this.queue(b.target, () => this.propose(b.id, b.target));
        continue;
      }
      this.applying = true;
      try {
        this.bans.release(b.id, 'ledger_lost', 'cluster');
      } finally {
        this.applying = false;
      }
      this.counters.released++;
      this.log.warn({ event: 'cluster ban lost', ban: b.id, target: b.target }, `ban ${b.id} on ${b.target} is no longer in the ledger: withdrawn`);
    }
    this.dirty.clear();
    await this.settled();
    return revision;
  }
}

/** The local copy carries something the ledger's lacks: a later expiry or a stronger level. */
function ahead(local: Ban, ledger: Ban): boolean {
  const order = ['flowspec_rate_limit', 'flowspec_discard', 'blackhole'];
  return local.expires > ledger.expires || order.indexOf(local.level ?? '') > order.indexOf(ledger.level ?? '');
}
