/**
 * One typed message channel between two threads (a Worker and its
 * parentPort, or two MessagePorts): requests with ids and their replies,
 * errors carried back as errors, per-request timeouts, and one-way messages.
 * Both the BGP speaker worker and the flow collector workers talk through it,
 * so there is one request/reply implementation, not one per worker.
 *
 * Each side declares what it sends: `Side = { req: {op: [arg, result]}, msg:
 * {name: payload} }`. The main thread holds `Channel<MainSends, WorkerSends>`,
 * the worker `Channel<WorkerSends, MainSends>`. Messages on one port keep their
 * order, so a reply sent after one-way messages arrives after them.
 *
 * The channel adds exactly one 'message' listener to its port and removes it
 * on close(); close() also rejects every pending request. Handlers that
 * throw (or reject) send the error back: the caller's promise rejects with an
 * Error of the same message, name and `code`.
 */
import type { Transferable } from 'node:worker_threads';

/** What a port must offer: Worker, MessagePort and parentPort all do. */
export interface PortLike {
  postMessage(value: unknown, transfer?: readonly Transferable[]): void;
  on(event: 'message', listener: (value: unknown) => void): unknown;
  off(event: 'message', listener: (value: unknown) => void): unknown;
}

export interface Side {
  /** Requests this side sends: op → [argument, result]. */
  req: Record<string, [unknown, unknown]>;
  /** One-way messages this side sends: name → payload. */
  msg: Record<string, unknown>;
}

/** Frames on the wire; `$ch` tells them from anything else on the port. */
type Frame =
  | { $ch: 'req'; id: number; op: string; arg: unknown }
  | { $ch: 'res'; id: number; value: unknown }
  | { $ch: 'err'; id: number; message: string; name: string; code?: string }
  | { $ch: 'msg'; name: string; payload: unknown };

/** A request that got no reply in time. */
export class ChannelTimeoutError extends Error {
  readonly code = 'CHANNEL_TIMEOUT';
  constructor(op: string, ms: number) {
    super(`no reply to ${op} within ${ms} ms`);
    this.name = 'ChannelTimeoutError';
  }
}

/** The channel was closed (or the other thread exited) before the reply. */
export class ChannelClosedError extends Error {
  readonly code = 'CHANNEL_CLOSED';
  constructor(reason: string) {
    super(reason);
    this.name = 'ChannelClosedError';
  }
}

export interface ChannelOptions {
  /** Default timeout of request() in ms; 0 = none. Default 60 s. */
  timeoutMs?: number;
  /** Called with a handler or listener error that cannot be sent back (one-way messages). */
  onError?: (err: Error, what: string) => void;
}

export interface RequestOptions {
  /** This request's timeout in ms (0 = none). */
  timeoutMs?: number;
  transfer?: readonly Transferable[];
}

interface Pending {
  op: string;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout | undefined;
}

type Handler = (arg: never) => unknown;

export class Channel<Out extends Side, In extends Side> {
  private readonly port: PortLike;
  private readonly timeoutMs: number;
  private readonly onError: (err: Error, what: string) => void;
  private readonly pending = new Map<number, Pending>();
  private readonly handlers = new Map<string, Handler>();
  private readonly listeners = new Map<string, (payload: never) => void>();
  private readonly listener: (value: unknown) => void;
  private seq = 0;
  private closedBy: string | null = null;

  constructor(port: PortLike, opts: ChannelOptions = {}) {
    this.port = port;
    this.timeoutMs = opts.timeoutMs ?? 60_000;
    this.onError = opts.onError ?? (() => {});
    this.listener = (v) => this.receive(v);
    port.on('message', this.listener);
  }

  /** Requests still waiting for their reply. */
  get pendingCount(): number {
    return this.pending.size;
  }

  get closed(): boolean {
    return this.closedBy !== null;
  }

  /** Sends a request; resolves with the other side's result, rejects with its error, a timeout or close(). */
  request<K extends keyof Out['req'] & string>(op: K, arg: Out['req'][K][0], opts: RequestOptions = {}): Promise<Out['req'][K][1]> {
    if (this.closedBy !== null) return Promise.reject(new ChannelClosedError(this.closedBy));
    const id = ++this.seq;
    const ms = opts.timeoutMs ?? this.timeoutMs;
    return new Promise((resolve, reject) => {
      const p: Pending = { op, resolve: resolve as (v: unknown) => void, reject, timer: undefined };
      if (ms > 0) {
        p.timer = setTimeout(() => {
          this.pending.delete(id);
          reject(new ChannelTimeoutError(op, ms));
        }, ms);
        p.timer.unref();
      }
      this.pending.set(id, p);
      try {
        this.port.postMessage({ $ch: 'req', id, op, arg } satisfies Frame, opts.transfer);
      } catch (e) {
        this.settle(id)?.reject(e as Error);
      }
    });
  }

  /** Sends a one-way message. */
  post<K extends keyof Out['msg'] & string>(name: K, payload: Out['msg'][K], transfer?: readonly Transferable[]): void {
    if (this.closedBy !== null) return;
    this.port.postMessage({ $ch: 'msg', name, payload } satisfies Frame, transfer);
  }

  /** Serves the other side's requests of one op (one handler per op). */
  handle<K extends keyof In['req'] & string>(op: K, fn: (arg: In['req'][K][0]) => In['req'][K][1] | Promise<In['req'][K][1]>): this {
    this.handlers.set(op, fn as Handler);
    return this;
  }

  /** Receives the other side's one-way messages of one name (one listener per name). */
  on<K extends keyof In['msg'] & string>(name: K, fn: (payload: In['msg'][K]) => void): this {
    this.listeners.set(name, fn as (payload: never) => void);
    return this;
  }

  /** Detaches from the port and rejects every pending request. Idempotent. */
  close(reason = 'channel closed'): void {
    if (this.closedBy !== null) return;
    this.closedBy = reason;
    this.port.off('message', this.listener);
    for (const id of [...this.pending.keys()]) this.settle(id)?.reject(new ChannelClosedError(reason));
  }

  private settle(id: number): Pending | undefined {
    const p = this.pending.get(id);
    if (!p) return undefined;
    this.pending.delete(id);
    if (p.timer) clearTimeout(p.timer);
    return p;
  }

  private receive(v: unknown): void {
    if (typeof v !== 'object' || v === null || !('$ch' in v)) return;
    const f = v as Frame;
    switch (f.$ch) {
      case 'res':
        this.settle(f.id)?.resolve(f.value);
        return;
      case 'err': {
        const p = this.settle(f.id);
        if (!p) return;
        const e = new Error(f.message) as Error & { code?: string };
        e.name = f.name;
        if (f.code !== undefined) e.code = f.code;
        p.reject(e);
        return;
      }
      case 'msg': {
        const fn = this.listeners.get(f.name);
        if (!fn) return;
        try {
          fn(f.payload as never);
        } catch (e) {
          this.onError(e as Error, f.name);
        }
        return;
      }
      case 'req':
        void this.serve(f.id, f.op, f.arg);
        return;
    }
  }

  private async serve(id: number, op: string, arg: unknown): Promise<void> {
    const fn = this.handlers.get(op);
    let frame: Frame;
    try {
      if (!fn) throw new Error(`no handler for ${op}`);
      frame = { $ch: 'res', id, value: await fn(arg as never) };
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      const code = (err as Error & { code?: unknown }).code;
      frame = { $ch: 'err', id, message: err.message, name: err.name, code: typeof code === 'string' ? code : undefined };
    }
    if (this.closedBy !== null) return;
    try {
      this.port.postMessage(frame);
    } catch (e) {
      // a result that cannot be cloned: its error goes back instead
      this.port.postMessage({ $ch: 'err', id, message: (e as Error).message, name: (e as Error).name } satisfies Frame);
    }
  }
}
