/** Small pieces every view uses: tables, a route in words, a "not available" note, a loader hook. */
import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, unavailable, type ApiResult } from '../api.ts';
import { num, pct } from '../format.ts';

export function routeText(r: any): string {
  if (!r) return '–';
  if (r.type === 'blackhole') return `blackhole ${r.prefix} via ${r.next_hop}${r.communities?.length ? ` [${r.communities.join(' ')}]` : ''}`;
  if (r.type === 'flowspec') return (r.rules ?? []).map(ruleText).join('; ') || 'flowspec (no rule)';
  return JSON.stringify(r);
}

export const PROTO: Record<number, string> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 47: 'gre', 58: 'icmpv6' };

/** A FlowSpec rule (ban/intent.ts FlowspecRuleIntent) in one line. */
export function ruleText(x: any): string {
  const parts = [`flowspec dst ${x.destination}`];
  if (x.source) parts.push(`src ${x.source}`);
  if (x.protocols?.length) parts.push(`proto ${x.protocols.map((p: number) => PROTO[p] ?? p).join(',')}`);
  if (x.source_ports?.length) parts.push(`sport ${x.source_ports.join(',')}`);
  if (x.destination_ports?.length) parts.push(`dport ${x.destination_ports.join(',')}`);
  if (x.tcp_flags) parts.push(typeof x.tcp_flags === 'object' ? `tcp-flags set 0x${Number(x.tcp_flags.set).toString(16)} clear 0x${Number(x.tcp_flags.clear).toString(16)}` : `tcp-flags ${x.tcp_flags}`);
  if (x.fragment) parts.push('fragment');
  if (x.packet_length) parts.push(`length ${x.packet_length.min ?? 0}-${x.packet_length.max ?? 65535}`);
  if (x.icmp_type !== undefined) parts.push(`icmp-type ${x.icmp_type}`);
  const a = x.action;
  if (!a || a.type === 'discard') parts.push('→ discard');
  else if (a.type === 'rate_limit') parts.push(`→ rate-limit ${((a.bytes_per_second * 8) / 1e6).toFixed(1)} Mbps`);
  else parts.push(`→ ${JSON.stringify(a)}`);
  return parts.join(' ');
}

/** A FlowSpec match of the config or of "infer" (flowspec_methods[].match) in words: "udp; source port 123; length 1000-1500". */
export function matchText(m: any): string {
  if (!m || typeof m !== 'object') return 'any traffic';
  const list = (xs: any[]) => xs.map((x) => (typeof x === 'number' ? PROTO[x] ?? String(x) : String(x))).join(', ');
  const parts: string[] = [];
  if (m.protocol?.length) parts.push(list(m.protocol));
  if (m.source) parts.push(`from ${m.source}`);
  if (m.source_port?.length) parts.push(`source port ${m.source_port.join(', ')}`);
  if (m.destination_port?.length) parts.push(`destination port ${m.destination_port.join(', ')}`);
  if (m.tcp_flags) parts.push(`TCP flags ${m.tcp_flags}`);
  if (m.fragment) parts.push(m.fragment === true ? 'fragments' : String(m.fragment).replace(/_/g, ' '));
  if (m.packet_length) parts.push(`length ${m.packet_length.min ?? 0}-${m.packet_length.max ?? 65535} bytes`);
  if (m.icmp_type !== undefined) parts.push(`ICMP type ${m.icmp_type}${m.icmp_code !== undefined ? ` code ${m.icmp_code}` : ''}`);
  if (m.dscp?.length) parts.push(`DSCP ${m.dscp.join(', ')}`);
  return parts.join('; ') || 'any traffic';
}

/** A FlowSpec action of the config in words: "discard", "rate-limit 10 Mbps". */
export function actionText(a: any): string {
  if (!a) return 'the configured action';
  const parts: string[] = [];
  if (a.discard) parts.push('discard');
  if (a.rate_limit_mbps !== undefined) parts.push(`rate-limit ${a.rate_limit_mbps} Mbps`);
  if (a.redirect_rt) parts.push(`redirect to VRF ${a.redirect_rt}`);
  if (a.mark_dscp !== undefined) parts.push(`mark DSCP ${a.mark_dscp}`);
  return parts.join(' + ') || 'the configured action';
}

/** A FlowSpec ban's lint refusals in words: "not sent to 192.0.2.3 (junos): packet_length — message". */
export function lintRefusals(lint: any[] | undefined): string[] {
  return (lint ?? [])
    .filter((l) => !l.ok)
    .map((l) => {
      const errs = (l.findings ?? []).filter((f: any) => f.severity === 'error');
      return `not sent to ${l.neighbor} (${l.profile}): ${errs.map((f: any) => `${f.code} — ${f.message}`).join('; ') || 'refused'}`;
    });
}

export function NotAvailable(props: { what: string; r?: ApiResult }) {
  return (
    <p class="muted not-available" data-testid="not-available">
      {props.what}: not available{props.r && !unavailable(props.r) && props.r.error ? ` (${props.r.error})` : ' on this daemon'}.
    </p>
  );
}

export function ErrorNote(props: { r: ApiResult }) {
  return <p class="error">{props.r.error || `HTTP ${props.r.status}`}</p>;
}

/** GET a path, again every `everyMs` (0: once) and when `dep` changes. */
export function useGet<T = any>(path: string | null, everyMs = 0, dep: unknown = null): ApiResult<T> | undefined {
  const [r, setR] = useState<ApiResult<T>>();
  useEffect(() => {
    if (!path) return;
    let stop = false;
    const load = async () => {
      const x = await api<T>('GET', path);
      if (!stop) setR(x);
    };
    void load();
    const t = everyMs ? setInterval(load, everyMs) : undefined;
    return () => {
      stop = true;
      if (t) clearInterval(t);
    };
  }, [path, everyMs, dep]);
  return r;
}

/**
 * keys: one stable id per row (a ban's or an attack's id). With them a row
 * that moves keeps its element, so a click aimed at it cannot land on the
 * row that took its place.
 */
export function Table(props: { head: string[]; rows: ComponentChildren[][]; keys?: string[]; empty?: string; testid?: string; rowTestid?: string; onRow?: (i: number) => void }) {
  if (props.rows.length === 0) return <p class="muted">{props.empty ?? 'none'}</p>;
  return (
    <table data-testid={props.testid}>
      <thead>
        <tr>{props.head.map((h) => <th>{h}</th>)}</tr>
      </thead>
      <tbody>
        {props.rows.map((r, i) => (
          <tr key={props.keys?.[i] ?? i} data-testid={props.rowTestid} class={props.onRow ? 'clickable' : ''} onClick={props.onRow ? () => props.onRow!(i) : undefined}>
            {r.map((c) => <td>{c}</td>)}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** One of an attack's sample tops (sources, ports, protocols, sizes): key, packets and share, the first 10. */
export function TopTable(props: { title: string; items?: Array<{ key: string; packets: number; share: number }>; testid?: string }) {
  return (
    <div class="top" data-testid={props.testid}>
      <h3>{props.title}</h3>
      <Table head={['', 'packets', 'share']} rows={(props.items ?? []).slice(0, 10).map((x) => [x.key, num(x.packets), pct(x.share)])} empty="none in the sample" />
    </div>
  );
}

export function Card(props: { label: string; value: ComponentChildren; tone?: string; testid?: string }) {
  return (
    <div class={`card ${props.tone ?? ''}`} data-testid={props.testid}>
      <div class="card-value">{props.value}</div>
      <div class="card-label">{props.label}</div>
    </div>
  );
}
