/**
 * Worker roles, by name. main.ts dispatches here when it runs inside a worker.
 * Each entry is a lazy import so the bundle carries every role.
 */
export const workerRoles: Record<string, () => Promise<{ runWorker(data: unknown): Promise<void> | void }>> = {
  selftest: async () => ({
    runWorker: async (data: unknown) => {
      const { parentPort } = await import('node:worker_threads');
      parentPort?.postMessage({ echo: data });
    },
  }),
  collector: () => import('./flow/collector-worker.ts'),
  bgp: () => import('./bgp/speaker-worker.ts'),
};
