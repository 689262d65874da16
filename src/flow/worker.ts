/** Collector worker thread entry (not yet implemented). */
export async function runWorker(_data: unknown): Promise<void> {
  throw new Error('collector worker not implemented yet');
}
