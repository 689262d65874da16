/**
 * Times and durations as the API and `breakwater report` take them:
 * `2026-12-07T10:00:00Z`, `2026-12-07`, Unix seconds or milliseconds,
 * `now`, `now-6h` / `-6h`; durations `90`, `10s`, `5m`, `1h`, `7d`.
 */

const UNIT: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** Milliseconds of a duration, or undefined when it does not parse. */
export function parseDuration(s: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(s|m|h|d|w)?$/.exec(s.trim());
  if (!m) return undefined;
  return Number(m[1]) * UNIT[m[2] ?? 's'];
}

/** Milliseconds since the epoch, or undefined when it does not parse. */
export function parseTime(s: string, now: number): number | undefined {
  const t = s.trim();
  if (t === 'now') return now;
  const rel = /^(?:now)?-(.+)$/.exec(t);
  if (rel) {
    const d = parseDuration(rel[1]);
    return d === undefined ? undefined : now - d;
  }
  if (/^\d+$/.test(t)) {
    const n = Number(t);
    return n >= 1e12 ? n : n * 1000;
  }
  const ms = Date.parse(t);
  return Number.isFinite(ms) ? ms : undefined;
}
