/** `breakwater report` output: the incident summary as Markdown (JSON is the Report itself). */
import type { Report, Stat } from './reader.ts';

const fmt = (x: number) => (Number.isInteger(x) ? x.toLocaleString('en-US') : x.toLocaleString('en-US', { maximumFractionDigits: 2 }));

function stat(s: Stat, unit: string): string {
  if (!s.count) return 'none';
  return `${s.count} — min ${fmt(s.min!)} ${unit}, median ${fmt(s.p50!)} ${unit}, p90 ${fmt(s.p90!)} ${unit}, max ${fmt(s.max!)} ${unit} (mean ${fmt(s.avg!)} ${unit})`;
}

function duration(s: number): string {
  if (s < 120) return `${fmt(Math.round(s))} s`;
  if (s < 7200) return `${fmt(Math.round(s / 60))} min`;
  return `${fmt(Math.round(s / 360) / 10)} h`;
}

export function reportMarkdown(r: Report): string {
  const out: string[] = [];
  out.push(`# Breakwater incident report`, '', `${r.from} → ${r.to}`, '');
  out.push(`- Attacks: **${fmt(r.attacks)}** on ${fmt(r.targets)} targets (peak ${fmt(r.peak_pps)} pps, ${fmt(r.peak_mbps)} Mbps)`);
  out.push(`- Bans: ${fmt(r.bans.created)} created, ${fmt(r.bans.escalated)} escalations, ${fmt(r.bans.ended)} ended, ${fmt(r.bans.refused)} refused${r.bans.refused ? ` (${Object.entries(r.bans.refused_by_guard).map(([g, n]) => `${g}: ${n}`).join(', ')})` : ''}`);
  out.push(`- Ban durations: ${stat(r.ban_duration_s, 's')}`);
  out.push(`- Mitigation latency (attack start → ban): ${stat(r.mitigation_latency_ms, 'ms')}`, '');
  out.push('## Attacks by vector', '');
  if (!r.by_vector.length) out.push('No attacks.', '');
  else {
    out.push('| vector | attacks | targets | peak pps | peak Mbps | mean duration |', '|---|---:|---:|---:|---:|---:|');
    for (const v of r.by_vector) out.push(`| ${v.vector} | ${fmt(v.attacks)} | ${fmt(v.targets)} | ${fmt(v.peak_pps)} | ${fmt(v.peak_mbps)} | ${duration(v.avg_duration_s)} |`);
    out.push('');
  }
  out.push('## Top targets', '');
  if (!r.top_targets.length) out.push('No attacks.', '');
  else {
    out.push('| target | attacks | vectors | peak pps | peak Mbps | under attack |', '|---|---:|---|---:|---:|---:|');
    for (const t of r.top_targets) out.push(`| ${t.target} | ${fmt(t.attacks)} | ${t.vectors.join(', ')} | ${fmt(t.peak_pps)} | ${fmt(t.peak_mbps)} | ${duration(t.duration_s)} |`);
    out.push('');
  }
  return out.join('\n');
}
