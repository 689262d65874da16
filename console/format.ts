/** Numbers, times and durations as an operator reads them. */
export function num(n: unknown, digits = 0): string {
  const x = Number(n);
  if (!Number.isFinite(x)) return '–';
  if (Math.abs(x) >= 1e9) return `${(x / 1e9).toFixed(1)} G`;
  if (Math.abs(x) >= 1e6) return `${(x / 1e6).toFixed(1)} M`;
  if (Math.abs(x) >= 1e4) return `${(x / 1e3).toFixed(1)} k`;
  return x.toFixed(digits);
}

export function pct(share: unknown): string {
  const x = Number(share);
  return Number.isFinite(x) ? `${(x * 100).toFixed(x < 0.1 ? 1 : 0)} %` : '–';
}

export function time(t: unknown): string {
  if (t === undefined || t === null || t === '') return '–';
  const d = typeof t === 'number' ? new Date(t) : new Date(String(t));
  return Number.isNaN(d.getTime()) ? String(t) : d.toLocaleString(undefined, { hour12: false });
}

export function duration(seconds: unknown): string {
  let s = Math.max(0, Math.round(Number(seconds)));
  if (!Number.isFinite(s)) return '–';
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  return h ? `${h}h ${m}m` : m ? `${m}m ${s}s` : `${s}s`;
}

export function since(ms: unknown): string {
  return duration((Date.now() - Number(ms)) / 1000);
}
