/**
 * Heap snapshots of each thread of a running daemon (started with
 * `--inspect=127.0.0.1:PORT`), over the inspector protocol: the main thread
 * directly, workers through NodeWorker sessions. `npm run soak --
 * --heap-snapshots DIR` uses it to tell which structure grows between two
 * points of a run: summarize() sums self size and count per constructor, and
 * growth() compares two summaries.
 */
import { createWriteStream, readFileSync } from 'node:fs';

interface Pending {
  resolve(v: any): void;
  reject(e: Error): void;
  chunk?: (c: string) => void;
}

export class Inspector {
  private readonly ws: WebSocket;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  /** Chunk sinks per session ('' is the main thread): one snapshot at a time per thread. */
  private readonly chunks = new Map<string, (c: string) => void>();
  /** Worker sessions by thread name. */
  readonly workers = new Map<string, string>();

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.addEventListener('message', (ev) => this.onMessage('', String(ev.data)));
  }

  static async connect(port: number): Promise<Inspector> {
    const list = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as Array<{ webSocketDebuggerUrl: string }>;
    const ws = new WebSocket(list[0].webSocketDebuggerUrl);
    await new Promise<void>((resolve, reject) => {
      ws.addEventListener('open', () => resolve(), { once: true });
      ws.addEventListener('error', () => reject(new Error('inspector: cannot connect')), { once: true });
    });
    const ins = new Inspector(ws);
    await ins.call('', 'NodeWorker.enable', { waitForDebuggerOnStart: false });
    await new Promise((r) => setTimeout(r, 500)); // attachedToWorker events arrive after the reply
    return ins;
  }

  private onMessage(session: string, text: string): void {
    const m = JSON.parse(text);
    if (m.method === 'NodeWorker.attachedToWorker') {
      const title = String(m.params.workerInfo?.title ?? m.params.workerInfo?.workerId);
      this.workers.set(title, m.params.sessionId);
      return;
    }
    if (m.method === 'NodeWorker.receivedMessageFromWorker') return this.onMessage(m.params.sessionId, m.params.message);
    if (m.method === 'HeapProfiler.addHeapSnapshotChunk') return this.chunks.get(session)?.(m.params.chunk);
    if (typeof m.id === 'number') {
      const key = session ? -m.id : m.id;
      const p = this.pending.get(key);
      if (!p) return;
      this.pending.delete(key);
      if (m.error) p.reject(new Error(`inspector: ${m.error.message}`));
      else p.resolve(m.result);
    }
  }

  /** One protocol call on the main thread ('') or a worker session. */
  call(session: string, method: string, params: unknown = {}): Promise<any> {
    const id = this.nextId++;
    const msg = JSON.stringify({ id, method, params });
    return new Promise((resolve, reject) => {
      this.pending.set(session ? -id : id, { resolve, reject });
      if (!session) this.ws.send(msg);
      else this.ws.send(JSON.stringify({ id: this.nextId++, method: 'NodeWorker.sendMessageToWorker', params: { sessionId: session, message: msg } }));
    });
  }

  /** The session of the first thread whose title contains `name` ('main' is the main thread). */
  session(name: string): string | undefined {
    if (name === 'main') return '';
    for (const [title, s] of this.workers) if (title.includes(name)) return s;
    return undefined;
  }

  /** Writes a heap snapshot of one thread to file (the thread stops while V8 walks its heap). */
  async snapshot(session: string, file: string): Promise<void> {
    const out = createWriteStream(file);
    this.chunks.set(session, (c) => out.write(c));
    try {
      if (session) await this.call(session, 'HeapProfiler.enable');
      await this.call(session, 'HeapProfiler.takeHeapSnapshot', { reportProgress: false });
    } finally {
      this.chunks.delete(session);
      await new Promise((r) => out.end(r));
    }
  }

  close(): void {
    this.ws.close();
  }
}

export interface HeapSummary {
  /** Self size (bytes) and count per "constructor" (object and closure names; other node types by type). */
  byName: Map<string, { self: number; count: number }>;
  total: number;
}

export function summarize(file: string): HeapSummary {
  const snap = JSON.parse(readFileSync(file, 'utf8'));
  const f: string[] = snap.snapshot.meta.node_fields;
  const types: string[] = snap.snapshot.meta.node_types[0];
  const width = f.length, iType = f.indexOf('type'), iName = f.indexOf('name'), iSelf = f.indexOf('self_size');
  const nodes: number[] = snap.nodes, strings: string[] = snap.strings;
  const byName = new Map<string, { self: number; count: number }>();
  let total = 0;
  for (let i = 0; i < nodes.length; i += width) {
    const type = types[nodes[i + iType]];
    const key = type === 'object' || type === 'closure' ? `${strings[nodes[i + iName]]}${type === 'closure' ? '()' : ''}` : `(${type})`;
    const self = nodes[i + iSelf];
    total += self;
    const e = byName.get(key);
    if (e) {
      e.self += self;
      e.count++;
    } else byName.set(key, { self, count: 1 });
  }
  return { byName, total };
}

/** The names that grew most in self size from a to b (MB, and count), largest first. */
export function growth(a: HeapSummary, b: HeapSummary, top = 12): Array<{ name: string; mb_from: number; mb_to: number; count_from: number; count_to: number }> {
  const mb = (x: number) => Number((x / 1048576).toFixed(2));
  return [...b.byName]
    .map(([name, v]) => {
      const o = a.byName.get(name) ?? { self: 0, count: 0 };
      return { name, d: v.self - o.self, mb_from: mb(o.self), mb_to: mb(v.self), count_from: o.count, count_to: v.count };
    })
    .sort((x, y) => y.d - x.d)
    .slice(0, top)
    .map(({ d: _d, ...r }) => r);
}
