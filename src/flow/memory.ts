/**
 * One memory budget for all per-exporter flow state of a decoding thread
 * (templates with their compiled plans, held data sets, sampler tables,
 * domains, stats): listen.max_flow_state_mb. Spoofed template floods from
 * many source addresses otherwise grow a worker without bound (8192 templates
 * x 4096 exporters). When the state is over budget, whole exporters are
 * evicted, least recently used first, down to 90 % of the budget, and counted
 * by reason; an exporter that keeps sending stays the most recently used.
 * listen.max_template_bytes_per_exporter caps one exporter's templates.
 *
 * The figures are estimates on the safe side: V8 heap objects, typed arrays
 * and the generated code of a compiled plan cost more than their payload
 * (measured: ~2.5 KiB of RSS per 19-field template with its plan).
 */

/** Context, stats, plausibility filter and maps of one exporter. */
export const EXPORTER_BYTES = 8192;
/** One (version, observation domain) with its sampling state. */
export const DOMAIN_BYTES = 1024;
/** One sampler table entry. */
export const SAMPLER_BYTES = 96;
/** One held data set, beyond its bytes. */
export const HELD_BYTES = 256;

/** Estimated bytes of a template of n fields with `rawLen` definition bytes, with or without a compiled plan. */
export function templateCost(n: number, rawLen: number, compiled: boolean): number {
  return 1024 + 2 * rawLen + 16 * n + (compiled ? 4096 + 160 * n : 0);
}

/** Why exporters were evicted. */
export const EVICT = { budget: 'flow_state_budget' } as const;

/**
 * Per decoding thread. 64 MiB of estimate holds ~130 exporters with 50
 * templates of 20 fields each (~0.5 MiB estimated apiece) per thread, and
 * about a third of that in RSS (~25 MB); 256 let a spoofed template flood
 * hold ~1 GB of RSS on a two-thread collector before any eviction.
 */
export const DEFAULT_MAX_FLOW_STATE_MB = 64;
export const DEFAULT_MAX_TEMPLATE_BYTES_PER_EXPORTER = 16 << 20;

/** Shared by every exporter of one decoder (one per thread). */
export class FlowStateBudget {
  /** Bytes allowed (listen.max_flow_state_mb). */
  limit: number;
  /** Template bytes one exporter may hold (listen.max_template_bytes_per_exporter). */
  templateLimit: number;
  /** Bytes accounted now. */
  used = 0;
  /** Exporters evicted, by reason. */
  readonly evictions: Record<string, number> = {};

  constructor(limitBytes = DEFAULT_MAX_FLOW_STATE_MB << 20, templateLimit = DEFAULT_MAX_TEMPLATE_BYTES_PER_EXPORTER) {
    this.limit = limitBytes;
    this.templateLimit = templateLimit;
  }
}
