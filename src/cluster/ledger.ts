/**
 * The cluster's one ban ledger, in etcd. Nodes decide bans on their own
 * (ban/ and its guards); the ledger makes one ban per target cluster-wide:
 *
 *   <prefix>/bans/<target>   JSON of the Ban, on an etcd lease that ends
 *                            LEDGER_GRACE_MS after the ban's expiry
 *   <prefix>/bans/~ended/<ban id>  {reason, by}: why a ban left the ledger
 *                            (short lease; inside bans/ so one watch sees both)
 *
 * - create: one transaction, create-if-absent on the target's key; the
 *   loser gets the winner's entry back and adopts it (one id).
 * - update (extension, escalation): compare-and-swap on the key's
 *   mod_revision; an expiry past the lease moves the key to a new lease.
 *   On a conflict the current entry comes back (the caller merges and retries).
 * - remove (unban): compare-and-swap delete, with the ended marker in the
 *   same transaction so watchers learn the reason.
 * A key whose lease runs out disappears by itself: the ban expired.
 * Every method is one round trip (two with a lease grant); none throws on a
 * lost race, only on etcd errors.
 */
import type { Etcd3, IKeyValue } from 'etcd3';
import type { Ban } from '../ban/types.ts';

/** Same grace as the speaker's route leases (mitigation/reconcile.ts LEASE_GRACE_MS). */
export const LEDGER_GRACE_MS = 5_000;
/** How long the ended marker stays. */
const ENDED_TTL_SECONDS = 60;

export interface LedgerEntry {
  ban: Ban;
  /** etcd mod_revision of the key (the compare-and-swap token). */
  modRevision: string;
  /** etcd lease the key is attached to. */
  lease: string;
  /** When that lease ends (ms since epoch, our clock). */
  leaseEnds: number;
}

export type CreateResult = { created: true; entry: LedgerEntry } | { created: false; entry: LedgerEntry | undefined };
export type UpdateResult = { ok: true; entry: LedgerEntry } | { ok: false; current: LedgerEntry | undefined };

/** A ban key's target ("198.51.100.7", "2001:db8::/64"): '/' becomes '_' so the key has one level. */
export function keyTarget(target: string): string {
  return target.replace('/', '_');
}

export function parseEntry(kv: IKeyValue | undefined, now: number): LedgerEntry | undefined {
  if (!kv || !kv.value || kv.value.length === 0) return undefined;
  try {
    const ban = JSON.parse(kv.value.toString()) as Ban;
    if (typeof ban?.id !== 'string' || typeof ban.target !== 'string') return undefined;
    return { ban, modRevision: String(kv.mod_revision), lease: String(kv.lease ?? '0'), leaseEnds: Number.isFinite(ban.expires) ? ban.expires + LEDGER_GRACE_MS : now };
  } catch {
    return undefined;
  }
}

export class Ledger {
  readonly client: Etcd3;
  readonly prefix: string;
  private readonly clock: () => number;

  constructor(client: Etcd3, prefix: string, clock: () => number = Date.now) {
    this.client = client;
    this.prefix = prefix;
    this.clock = clock;
  }

  get bansPrefix(): string {
    return `${this.prefix}/bans/`;
  }

  get endedPrefix(): string {
    return `${this.prefix}/bans/~ended/`;
  }

  key(target: string): string {
    return this.bansPrefix + keyTarget(target);
  }

  /** A lease that ends LEDGER_GRACE_MS after the ban's expiry (whole seconds, at least 2). */
  private async grant(ban: Ban): Promise<{ id: string; ends: number }> {
    const now = this.clock();
    const ttl = Math.max(2, Math.ceil((ban.expires - now + LEDGER_GRACE_MS) / 1000));
    const lease = this.client.lease(ttl, { autoKeepAlive: false });
    const id = await lease.grant();
    lease.release();
    return { id, ends: now + ttl * 1000 };
  }

  private async revoke(id: string): Promise<void> {
    await this.client.leaseClient.leaseRevoke({ ID: id }).catch(() => undefined);
  }

  /** Creates the ban if its target has none; else returns the ban that is there. */
  async create(ban: Ban): Promise<CreateResult> {
    const key = this.key(ban.target);
    const lease = await this.grant(ban);
    const r = await this.client
      .if(key, 'Create', '==', 0)
      .then(this.client.put(key).value(JSON.stringify(ban)).lease(lease.id))
      .else(this.client.get(key))
      .commit();
    if (r.succeeded) {
      return { created: true, entry: { ban, modRevision: String(r.header.revision), lease: lease.id, leaseEnds: lease.ends } };
    }
    await this.revoke(lease.id);
    const kv = r.responses[0]?.response_range?.kvs?.[0];
    return { created: false, entry: parseEntry(kv, this.clock()) };
  }

  /** Replaces the ban if the key is still at `entry.modRevision`; a later expiry moves it to a new lease. */
  async update(entry: LedgerEntry, ban: Ban): Promise<UpdateResult> {
    const key = this.key(ban.target);
    const needLease = ban.expires + LEDGER_GRACE_MS > entry.leaseEnds || entry.lease === '0';
    const lease = needLease ? await this.grant(ban) : { id: entry.lease, ends: entry.leaseEnds };
    const r = await this.client
      .if(key, 'Mod', '==', entry.modRevision)
      .then(this.client.put(key).value(JSON.stringify(ban)).lease(lease.id))
      .else(this.client.get(key))
      .commit();
    if (r.succeeded) {
      if (needLease && entry.lease !== '0') await this.revokeIfUnused(entry.lease);
      return { ok: true, entry: { ban, modRevision: String(r.header.revision), lease: lease.id, leaseEnds: lease.ends } };
    }
    if (needLease) await this.revoke(lease.id);
    return { ok: false, current: parseEntry(r.responses[0]?.response_range?.kvs?.[0], this.clock()) };
  }

  /** An old lease is revoked only when no key is left on it (a revoke deletes its keys). */
  private async revokeIfUnused(id: string): Promise<void> {
    try {
      const r = await this.client.leaseClient.leaseTimeToLive({ ID: id, keys: true });
      if (!r.keys || r.keys.length === 0) await this.revoke(id);
    } catch {
      /* it ends by itself */
    }
  }

  /** Deletes the ban if the key is still at `entry.modRevision`, leaving why in the ended marker. */
  async remove(entry: LedgerEntry, reason: string, by: string): Promise<UpdateResult> {
    const key = this.key(entry.ban.target);
    const marker = this.client.lease(ENDED_TTL_SECONDS, { autoKeepAlive: false });
    const mid = await marker.grant();
    marker.release();
    const r = await this.client
      .if(key, 'Mod', '==', entry.modRevision)
      .then(this.client.delete().key(key), this.client.put(this.endedPrefix + entry.ban.id).value(JSON.stringify({ reason, by })).lease(mid))
      .else(this.client.get(key))
      .commit();
    if (r.succeeded) return { ok: true, entry };
    await this.revoke(mid);
    return { ok: false, current: parseEntry(r.responses[0]?.response_range?.kvs?.[0], this.clock()) };
  }

  /** Every ban in the ledger, and the revision it was read at (a watch continues from revision + 1). */
  async list(): Promise<{ entries: LedgerEntry[]; revision: string }> {
    const r = await this.client.getAll().prefix(this.bansPrefix).exec();
    const now = this.clock();
    const entries: LedgerEntry[] = [];
    for (const kv of r.kvs) {
      const e = parseEntry(kv, now);
      if (e) entries.push(e);
    }
    return { entries, revision: String(r.header.revision) };
  }

  /** One entry by target. */
  async get(target: string): Promise<LedgerEntry | undefined> {
    const r = await this.client.getAll().prefix(this.key(target)).exec();
    const kv = r.kvs.find((k) => k.key.toString() === this.key(target));
    return parseEntry(kv, this.clock());
  }
}
