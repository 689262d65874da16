/**
 * CPU time of this thread spent in fn, in ms: bounds on decode work that a
 * busy machine's preemption cannot break (wall time can, by whole slices).
 */
export function threadCpuMs(fn: () => void): number {
  const t0 = process.threadCpuUsage();
  fn();
  const d = process.threadCpuUsage(t0);
  return (d.user + d.system) / 1000;
}
