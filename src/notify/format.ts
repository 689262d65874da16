/**
 * Human-readable text of a message (Telegram, Slack, email) and FastNetMon's
 * attack-details text for its notify-script contract.
 */
import type { Message, NotifyEvent } from './event.ts';

const LIST_MAX = 20;

const fmt = (n: number | undefined) => (n === undefined ? '?' : n >= 100 ? String(Math.round(n)) : String(Math.round(n * 10) / 10));
const modeTag = (e: NotifyEvent) => (e.mode === 'dry_run' ? ' (dry-run)' : '');

function routeText(e: NotifyEvent): string | undefined {
  const r = e.route;
  if (!r) return undefined;
  if (r.type === 'blackhole') return `blackhole ${r.prefix} next-hop ${r.next_hop}${r.communities.length ? ` communities ${r.communities.join(' ')}` : ''}`;
  return `flowspec ${r.rules.map((x) => `${x.destination}${x.protocols ? ` proto ${x.protocols.join(',')}` : ''}${x.source_ports ? ` sport ${x.source_ports.join(',')}` : ''} ${x.action.type}`).join('; ')}`;
}

/** One line about one event. */
export function eventLine(e: NotifyEvent): string {
  switch (e.event) {
    case 'attack_start':
      return `attack on ${e.target}: ${e.vector} ${e.direction ?? ''}, ${fmt(e.rates?.pps)} pps ${fmt(e.rates?.mbps)} Mbps`;
    case 'attack_update':
      return `attack on ${e.target}: new peak ${fmt(e.rates?.peak_pps)} pps ${fmt(e.rates?.peak_mbps)} Mbps (${e.vector})`;
    case 'attack_end':
      return `attack on ${e.target} ended (${e.vector}, peak ${fmt(e.rates?.peak_pps)} pps ${fmt(e.rates?.peak_mbps)} Mbps)`;
    case 'ban':
      return `ban ${e.target}${modeTag(e)}: ${routeText(e) ?? ''}, TTL ${e.ttl_seconds}s, by ${e.who}, ${e.reason ?? ''}${e.neighbors?.length ? `, to ${e.neighbors.join(', ')}` : ''}`;
    case 'unban':
      return `unban ${e.target}${modeTag(e)}: ${e.reason ?? ''}, by ${e.who}`;
    case 'escalation':
      return `ban ${e.target} escalated from ${e.from} to ${e.to}${modeTag(e)}`;
    case 'ban_refused':
      return `ban of ${e.target} refused by guard ${e.guard}${e.reason ? `: ${e.reason}` : ''}`;
    case 'bgp_down':
      return `BGP session with ${e.neighbor} down (${e.state ?? ''})${e.reason ? `: ${e.reason}` : ''}`;
    case 'bgp_up':
      return `BGP session with ${e.neighbor} established`;
    case 'exporter_silent':
      return `exporter ${e.exporter} silent for ${e.silent_seconds}s`;
    case 'exporter_back':
      return `exporter ${e.exporter} sends again (after ${e.silent_seconds}s)`;
    case 'reload':
      return `config reloaded by ${e.who}: ${e.changed?.length ? e.changed.join(', ') : 'nothing changed'}`;
    case 'mode_change':
      if (e.who === 'start') return e.from && e.from !== e.to ? `Breakwater started in ${e.to} mode (was ${e.from})` : `Breakwater started in ${e.to} mode`;
      return `mode changed from ${e.from} to ${e.to} by ${e.who}`;
    case 'test':
      return e.text ?? 'test message';
  }
}

const PLURAL: Record<string, string> = {
  attack_start: 'attacks started',
  attack_end: 'attacks ended',
  ban: 'bans',
  unban: 'unbans',
  escalation: 'escalations',
  ban_refused: 'bans refused',
};

/** Subject / header line. */
export function title(m: Message): string {
  const e = m.events[0];
  if (m.events.length > 1) return `Breakwater: ${m.events.length} ${PLURAL[m.event] ?? m.event}${modeTag(e)}`;
  if (e.event === 'test') return 'Breakwater: test message';
  return `Breakwater: ${eventLine(e)}`.slice(0, 200);
}

/** Body lines (at most LIST_MAX events, then a count of the rest). */
export function bodyLines(m: Message): string[] {
  const lines = m.events.slice(0, LIST_MAX).map(eventLine);
  if (m.events.length > LIST_MAX) lines.push(`... and ${m.events.length - LIST_MAX} more`);
  const e = m.events[0];
  lines.push(`mode: ${e.mode === 'dry_run' ? 'dry-run (nothing announced)' : 'live'}, ${new Date(e.time).toISOString()}`);
  return lines;
}

export function plainText(m: Message, max = 4000): string {
  const t = [title(m), '', ...bodyLines(m)].join('\n');
  return t.length > max ? t.slice(0, max - 3) + '...' : t;
}

/** The attack description FastNetMon passes on stdin. */
export function fastnetmonDetails(e: NotifyEvent): string {
  const r = e.rates;
  return [
    `IP: ${e.target}`,
    `Attack type: ${e.vector ?? 'unknown'}`,
    `Attack direction: ${e.direction ?? 'incoming'}`,
    `Initial attack power: ${Math.round(r?.pps ?? 0)} packets per second`,
    `Peak attack power: ${Math.round(r?.peak_pps ?? r?.pps ?? 0)} packets per second`,
    `Total incoming traffic: ${Math.round(r?.mbps ?? 0)} mbps`,
    `Total incoming pps: ${Math.round(r?.pps ?? 0)} packets per second`,
    `Total incoming flows: ${Math.round(r?.fps ?? 0)} flows per second`,
    `Action: ${e.event}${e.mode === 'dry_run' ? ' (dry-run: not announced)' : ''}`,
    ...(e.reason ? [`Reason: ${e.reason}`] : []),
    ...(e.route ? [`Route: ${routeText(e)}`] : []),
    '',
  ].join('\n');
}
