/**
 * A minimal Chrome DevTools Protocol client over a daemon's inspector
 * WebSocket, for tests that freeze its main thread (Debugger.pause) to show
 * what the other threads and nodes do meanwhile. Every call answers within
 * 5 s or fails.
 */
export async function inspector(url: string): Promise<{ send(method: string): Promise<void>; close(): void }> {
  const ws = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    ws.addEventListener('open', () => resolve(), { once: true });
    ws.addEventListener('error', () => reject(new Error(`inspector ${url} refused`)), { once: true });
  });
  let id = 0;
  const pending = new Map<number, () => void>();
  ws.addEventListener('message', (m) => {
    const msg = JSON.parse(String(m.data)) as { id?: number };
    if (msg.id !== undefined) pending.get(msg.id)?.();
  });
  return {
    send(method) {
      const n = ++id;
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`inspector: no answer to ${method}`)), 5_000);
        pending.set(n, () => {
          clearTimeout(timer);
          resolve();
        });
        ws.send(JSON.stringify({ id: n, method }));
      });
    },
    close: () => ws.close(),
  };
}
