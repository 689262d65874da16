/**
 * The leader's feed of ledger ban events: only the elected leader turns the
 * ledger's changes into side effects (notifications, audit, history rows),
 * so each happens once cluster-wide. It works from a durable cursor in etcd,
 * `<prefix>/cursor` = the last ledger revision whose events were handed to
 * the sink (the notifier's durable outbox, SQLite, the history spool); a new
 * leader continues at cursor + 1, so in a normal failover no event is
 * skipped and none repeated. A leader that has no cursor yet starts at the
 * current revision.
 *
 * Ledger change → event: a key's first version → `ban`; a later version
 * whose level changed → `escalate`; a delete → `unban` with the reason from
 * the ended marker written in the same transaction (else `expired`: the
 * lease ran out). Extensions (expiry moved) make no event.
 *
 * Fencing: before each delivery the feed asks whether this node still holds
 * leadership in etcd (`fence`). A leader whose main thread stalled past its
 * election lease finds, when it runs again, watch events already delivered
 * by its successor queued up; the fence refuses them, so nothing goes out
 * twice, and `lost` tells the node.
 */
import type { Etcd3, IWatchResponse, Watcher } from 'etcd3';
import type { Logger } from '../core/log.ts';
import type { Ban, BanEvent } from '../ban/types.ts';
import { parseEntry, type Ledger } from './ledger.ts';

export type LedgerEventSink = (events: BanEvent[]) => void;

/** The ban events of one watch response (one or more revisions), in order. */
export function ledgerEvents(ledger: Ledger, res: IWatchResponse, now: number): BanEvent[] {
  const why = new Map<string, { reason: string; by?: string }>();
  for (const ev of res.events) {
    const key = ev.kv.key.toString();
    if (ev.type === 'Put' && key.startsWith(ledger.endedPrefix)) {
      try {
        why.set(key.slice(ledger.endedPrefix.length), JSON.parse(ev.kv.value.toString()) as { reason: string; by?: string });
      } catch {
        /* not ours */
      }
    }
  }
  const out: BanEvent[] = [];
  for (const ev of res.events) {
    const key = ev.kv.key.toString();
    if (!key.startsWith(ledger.bansPrefix)) continue;
    if (ev.type === 'Put') {
      const e = parseEntry(ev.kv, now);
      if (!e) continue;
      if (String(ev.kv.version) === '1') {
        out.push({ event: 'ban', time: e.ban.created, ban: e.ban });
        continue;
      }
      const prev = parseEntry(ev.prev_kv, now);
      if (prev && prev.ban.level !== e.ban.level) out.push({ event: 'escalate', time: now, ban: e.ban, from: prev.ban.level ?? '', to: e.ban.level ?? '' });
    } else {
      const prev = parseEntry(ev.prev_kv, now);
      if (!prev) continue;
      const w = why.get(prev.ban.id);
      const reason = w?.reason ?? 'expired';
      const ban: Ban = { ...prev.ban, state: 'ended', ended: now, end_reason: reason, ...(w?.by ? { ended_by: w.by } : {}) };
      out.push({ event: 'unban', time: now, ban, reason });
    }
  }
  return out;
}

export class LeaderFeed {
  private readonly client: Etcd3;
  private readonly ledger: Ledger;
  private readonly sink: LedgerEventSink;
  private readonly log: Logger;
  private readonly fence: (() => Promise<boolean>) | undefined;
  private readonly lost: (() => void) | undefined;
  private watcher: Watcher | undefined;
  private chain: Promise<void> = Promise.resolve();
  private running = false;
  /** Last revision handled and committed to the cursor. */
  cursor = '0';
  delivered = 0;

  /** fence: whether this node still holds leadership in etcd; lost: told when it found it does not. */
  constructor(opts: { client: Etcd3; ledger: Ledger; sink: LedgerEventSink; log: Logger; fence?: () => Promise<boolean>; lost?: () => void }) {
    this.fence = opts.fence;
    this.lost = opts.lost;
    this.client = opts.client;
    this.ledger = opts.ledger;
    this.sink = opts.sink;
    this.log = opts.log;
  }

  get cursorKey(): string {
    return `${this.ledger.prefix}/cursor`;
  }

  /** Starts delivering from the durable cursor (this node has just been elected). */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    const saved = await this.client.get(this.cursorKey).string();
    let from: string;
    if (saved && /^[0-9]+$/.test(saved)) from = (BigInt(saved) + 1n).toString();
    else {
      const r = await this.client.getAll().prefix(this.ledger.bansPrefix).limit(1).exec();
      from = (BigInt(r.header.revision) + 1n).toString();
      await this.client.put(this.cursorKey).value(r.header.revision);
    }
    this.cursor = (BigInt(from) - 1n).toString();
    if (!this.running) return;
    const w = await this.client.watch().prefix(this.ledger.bansPrefix).withPreviousKV().startRevision(from).create();
    if (!this.running) {
      await w.cancel().catch(() => undefined);
      return;
    }
    this.watcher = w;
    w.on('data', (res) => {
      this.chain = this.chain.then(() => this.handle(res)).catch((err: unknown) => this.log.error({ event: 'cluster feed error', err: (err as Error).message }, 'leader feed failed'));
    });
    w.on('error', (err) => this.log.warn({ event: 'cluster feed error', err: err.message }, 'leader feed watch error'));
    this.log.info({ event: 'cluster feed', from }, `leader: ledger events from revision ${from}`);
  }

  private async handle(res: IWatchResponse): Promise<void> {
    if (!this.running || res.events.length === 0) return;
    const events = ledgerEvents(this.ledger, res, Date.now());
    let rev = 0n;
    for (const ev of res.events) {
      const r = BigInt(ev.kv.mod_revision);
      if (r > rev) rev = r;
    }
    if (rev <= BigInt(this.cursor)) return;
    if (this.fence && !(await this.fence().catch(() => false))) {
      this.running = false;
      this.log.warn({ event: 'cluster feed fenced', revision: rev.toString() }, 'leader feed: leadership lost in etcd; these ledger events are left to the new leader');
      this.lost?.();
      return;
    }
    if (!this.running) return;
    if (events.length) {
      this.sink(events);
      this.delivered += events.length;
    }
    // Committed right after the side effects were accepted: a successor continues after this revision.
    await this.client.put(this.cursorKey).value(rev.toString());
    this.cursor = rev.toString();
  }

  /** Stops delivering (leadership lost, or shutdown). */
  async stop(): Promise<void> {
    this.running = false;
    const w = this.watcher;
    this.watcher = undefined;
    if (w) await w.cancel().catch(() => undefined);
    await this.chain.catch(() => undefined);
  }
}
