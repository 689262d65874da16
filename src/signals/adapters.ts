/**
 * What other detectors send, validated (valibot) and turned into one shape,
 * Signal, that the hub (hub.ts) handles the same way whoever sent it:
 *
 *   POST /api/v1/events              {victim_ip, vector, pps, bps, source, confidence, ttl_seconds}
 *   POST /api/v1/signals/fastnetmon  FastNetMon's JSON notify / web callback document
 *                                    {ip, action: ban|unban|partial_block|attack_details, attack_details{...}}
 *   POST /api/v1/signals/alertmanager  Alertmanager webhook (version 4): alerts[] firing|resolved
 *   POST /api/v1/signals/rtbh        {action: announce|withdraw, target_ip, withdraw_after}
 *
 * Parsing never throws: a bad body is a list of issues with dotted paths
 * (the API answers 400 with them). Unknown keys are ignored: detectors add
 * fields between versions.
 */
import * as v from 'valibot';
import { parsePrefix } from '../core/ip.ts';
import type { PathIssue } from '../core/errors.ts';
import { pathIssues } from '../core/issues.ts';
import { VECTORS, type Direction, type Vector } from '../engine/events.ts';
import { targetKey } from '../ban/bans.ts';

/** One report about one target, whoever sent it. */
export interface Signal {
  /** The detector: "fastnetmon", "alertmanager", "rtbh", or the `source` of a generic event. */
  name: string;
  /** Canonical address ("198.51.100.7") or prefix ("198.51.100.0/28"). */
  target: string;
  /** start: the target is attacked (again); end: the sender says it is over. */
  action: 'start' | 'end';
  /** false: record the attack only (FastNetMon's attack_details: it did not ban). */
  ban: boolean;
  /** The end (or the expiry) lifts the ban this signal caused at once, without the unban hysteresis. */
  lift: boolean;
  /** Refusals end the signal instead of leaving it to be retried (the RTBH webhook: a refused command is not done later). */
  oneShot: boolean;
  vector: Vector;
  direction: Direction;
  pps: number;
  bps: number;
  confidence?: number;
  /** How long the signal holds without a repeat; absent: `ban.ttl_seconds`. */
  ttlSeconds?: number;
}

export type Parsed = { ok: true; signals: Signal[]; skipped: Array<{ index: number; reason: string }> } | { ok: false; issues: PathIssue[] };

/** Longest signal lifetime accepted (as the manual ban's). */
export const MAX_SIGNAL_TTL = 365 * 86_400;

const ALIASES: Readonly<Record<string, Vector>> = {
  syn: 'syn_flood', tcp_syn: 'syn_flood', syn_flood: 'syn_flood',
  ack: 'ack_flood', rst: 'rst_flood',
  tcp: 'tcp_flood', udp: 'udp_flood', icmp: 'icmp_flood',
  fragment: 'fragment_flood', fragments: 'fragment_flood', frag: 'fragment_flood', ip_fragmentation_flood: 'fragment_flood', ip_fragment_flood: 'fragment_flood',
  ntp: 'ntp_amplification', dns: 'dns_amplification', cldap: 'cldap_amplification', memcached: 'memcached_amplification',
  ssdp: 'ssdp_amplification', chargen: 'chargen_amplification', snmp: 'snmp_amplification', wsd: 'wsd_amplification',
  amplification: 'udp_amplification', udp_amplification: 'udp_amplification',
  carpet: 'carpet_bomb', carpet_bombing: 'carpet_bomb',
  unknown: 'mixed', other: 'mixed', mixed: 'mixed',
};

/** A vector name as detectors write it ("udp_flood", "ntp", "SYN"), or undefined. */
export function vectorOf(s: string | undefined): Vector | undefined {
  if (s === undefined) return undefined;
  const k = s.trim().toLowerCase().replace(/[\s-]+/g, '_');
  if ((VECTORS as readonly string[]).includes(k)) return k as Vector;
  return ALIASES[k];
}

/** Canonical target text, or undefined when `s` is not an address or prefix. */
export function canonicalTarget(s: string): string | undefined {
  const p = parsePrefix(s.trim());
  return typeof p === 'string' ? undefined : targetKey(p);
}

const TargetText = v.pipe(v.string('must be a string'), v.trim(), v.check((s) => canonicalTarget(s) !== undefined, 'must be an IPv4 or IPv6 address (or a prefix)'));
const Rate = v.pipe(v.number('must be a number'), v.finite('must be a finite number'), v.minValue(0, 'must be >= 0'));
const Ttl = v.pipe(v.number('must be a number'), v.integer('must be an integer'), v.minValue(1, 'must be >= 1'), v.maxValue(MAX_SIGNAL_TTL, `must be <= ${MAX_SIGNAL_TTL}`));
const NAME_RE = /^[A-Za-z0-9_.-]{1,64}$/;


// ---------------------------------------------------------------- generic

export const EventBody = v.object({
  victim_ip: TargetText,
  vector: v.optional(v.pipe(v.string('must be a string'), v.check((s) => vectorOf(s) !== undefined, `must be one of ${VECTORS.join(', ')} (or syn, udp, tcp, icmp, ntp, dns, ...)`))),
  pps: v.optional(Rate),
  bps: v.optional(Rate),
  source: v.optional(v.pipe(v.string('must be a string'), v.regex(NAME_RE, 'must be 1-64 characters of A-Z a-z 0-9 _ . -'))),
  confidence: v.optional(v.pipe(v.number('must be a number'), v.minValue(0, 'must be between 0 and 1'), v.maxValue(1, 'must be between 0 and 1'))),
  ttl_seconds: v.optional(Ttl),
  direction: v.optional(v.picklist(['incoming', 'outgoing'], 'must be incoming or outgoing')),
  action: v.optional(v.picklist(['start', 'end'], 'must be start or end')),
  timestamp: v.optional(v.union([v.string(), v.number()], 'must be a string or a number')),
});

export function parseEvent(body: unknown): Parsed {
  const r = v.safeParse(EventBody, body);
  if (!r.success) return { ok: false, issues: pathIssues(r.issues) };
  const b = r.output;
  return {
    ok: true,
    skipped: [],
    signals: [
      {
        name: b.source ?? 'events',
        target: canonicalTarget(b.victim_ip)!,
        action: b.action ?? 'start',
        ban: true,
        lift: false,
        oneShot: false,
        vector: vectorOf(b.vector) ?? 'mixed',
        direction: b.direction ?? 'incoming',
        pps: b.pps ?? 0,
        bps: b.bps ?? 0,
        confidence: b.confidence,
        ttlSeconds: b.ttl_seconds,
      },
    ],
  };
}

// ---------------------------------------------------------------- FastNetMon

const Num = v.optional(v.union([Rate, v.pipe(v.string(), v.transform(Number), Rate)], 'must be a number'));

export const FastNetMonBody = v.object({
  ip: TargetText,
  action: v.picklist(['ban', 'unban', 'partial_block', 'attack_details'], 'must be ban, unban, partial_block or attack_details'),
  alert_scope: v.optional(v.string()),
  attack_details: v.optional(
    v.object({
      attack_uuid: v.optional(v.string()),
      attack_type: v.optional(v.string()),
      attack_protocol: v.optional(v.string()),
      attack_direction: v.optional(v.string()),
      attack_severity: v.optional(v.string()),
      total_incoming_pps: Num,
      total_outgoing_pps: Num,
      total_incoming_traffic: Num,
      total_outgoing_traffic: Num,
      total_incoming_traffic_bits: Num,
      total_outgoing_traffic_bits: Num,
      peak_attack_power: Num,
    }),
  ),
});

export function parseFastNetMon(body: unknown): Parsed {
  const r = v.safeParse(FastNetMonBody, body);
  if (!r.success) return { ok: false, issues: pathIssues(r.issues) };
  const b = r.output;
  const d = b.attack_details ?? {};
  const direction: Direction = d.attack_direction === 'outgoing' ? 'outgoing' : 'incoming';
  const out = direction === 'outgoing';
  const pps = (out ? d.total_outgoing_pps : d.total_incoming_pps) ?? d.peak_attack_power ?? 0;
  // total_*_traffic is bytes per second; newer versions add total_*_traffic_bits.
  const bits = out ? d.total_outgoing_traffic_bits : d.total_incoming_traffic_bits;
  const bytes = out ? d.total_outgoing_traffic : d.total_incoming_traffic;
  const bps = bits ?? (bytes !== undefined ? bytes * 8 : 0);
  // attack_type is often "unknown": then the protocol says more (udp → udp_flood).
  const byType = vectorOf(d.attack_type);
  const vector = (byType !== 'mixed' ? byType : undefined) ?? vectorOf(d.attack_protocol) ?? 'mixed';
  return {
    ok: true,
    skipped: [],
    signals: [
      {
        name: 'fastnetmon',
        target: canonicalTarget(b.ip)!,
        action: b.action === 'unban' ? 'end' : 'start',
        ban: b.action === 'ban' || b.action === 'partial_block',
        lift: true,
        oneShot: false,
        vector,
        direction,
        pps,
        bps,
      },
    ],
  };
}

// ---------------------------------------------------------------- Alertmanager

const Labels = v.optional(v.record(v.string(), v.string('label values must be strings')), {});

export const AlertmanagerBody = v.object({
  version: v.optional(v.string()),
  status: v.optional(v.string()),
  receiver: v.optional(v.string()),
  commonLabels: Labels,
  commonAnnotations: Labels,
  alerts: v.pipe(
    v.array(
      v.object({
        status: v.picklist(['firing', 'resolved'], 'must be firing or resolved'),
        labels: Labels,
        annotations: Labels,
        startsAt: v.optional(v.string()),
        endsAt: v.optional(v.string()),
        fingerprint: v.optional(v.string()),
      }),
      'must be an array',
    ),
    v.maxLength(1000, 'at most 1000 alerts per request'),
  ),
});

/** Label names read, first found wins (labels before annotations). */
export const ALERT_LABELS = {
  target: ['victim_ip', 'target_ip', 'ip', 'instance'],
  vector: ['vector', 'attack_vector', 'attack_type'],
  pps: ['pps'],
  bps: ['bps'],
  direction: ['direction'],
  ttl: ['ttl_seconds'],
} as const;

/** An Alertmanager `instance` label ("192.0.2.1:9100", "[2001:db8::1]:9100") without its port. */
function stripPort(s: string): string {
  const t = s.trim();
  const m6 = /^\[([^\]]+)\](?::\d+)?$/.exec(t);
  if (m6) return m6[1];
  const m4 = /^(\d{1,3}(?:\.\d{1,3}){3}):\d+$/.exec(t);
  return m4 ? m4[1] : t;
}

export function parseAlertmanager(body: unknown): Parsed {
  const r = v.safeParse(AlertmanagerBody, body);
  if (!r.success) return { ok: false, issues: pathIssues(r.issues) };
  const b = r.output;
  const signals: Signal[] = [];
  const skipped: Array<{ index: number; reason: string }> = [];
  b.alerts.forEach((a, index) => {
    const pick = (names: readonly string[]): string | undefined => {
      for (const n of names) {
        const x = a.labels[n] ?? b.commonLabels[n] ?? a.annotations[n] ?? b.commonAnnotations[n];
        if (x !== undefined && x !== '') return x;
      }
      return undefined;
    };
    const raw = pick(ALERT_LABELS.target);
    const target = raw === undefined ? undefined : canonicalTarget(stripPort(raw));
    if (!target) {
      skipped.push({ index, reason: raw === undefined ? `no label ${ALERT_LABELS.target.join(', ')}` : `"${raw}" is not an address` });
      return;
    }
    const num = (names: readonly string[]) => {
      const s = pick(names);
      const n = s === undefined ? NaN : Number(s);
      return Number.isFinite(n) && n >= 0 ? n : undefined;
    };
    const ttl = num(ALERT_LABELS.ttl);
    signals.push({
      name: 'alertmanager',
      target,
      action: a.status === 'resolved' ? 'end' : 'start',
      ban: true,
      lift: false,
      oneShot: false,
      vector: vectorOf(pick(ALERT_LABELS.vector)) ?? 'mixed',
      direction: pick(ALERT_LABELS.direction) === 'outgoing' ? 'outgoing' : 'incoming',
      pps: num(ALERT_LABELS.pps) ?? 0,
      bps: num(ALERT_LABELS.bps) ?? 0,
      ttlSeconds: ttl !== undefined && Number.isInteger(ttl) && ttl >= 1 && ttl <= MAX_SIGNAL_TTL ? ttl : undefined,
    });
  });
  return { ok: true, signals, skipped };
}

// ---------------------------------------------------------------- RTBH webhook

export const RtbhBody = v.object({
  action: v.optional(v.picklist(['announce', 'withdraw'], 'must be announce or withdraw'), 'announce'),
  target_ip: TargetText,
  withdraw_after: v.optional(Ttl),
});

export function parseRtbh(body: unknown): Parsed {
  const r = v.safeParse(RtbhBody, body);
  if (!r.success) return { ok: false, issues: pathIssues(r.issues) };
  const b = r.output;
  return {
    ok: true,
    skipped: [],
    signals: [
      {
        name: 'rtbh',
        target: canonicalTarget(b.target_ip)!,
        action: b.action === 'withdraw' ? 'end' : 'start',
        ban: true,
        lift: true,
        oneShot: true,
        vector: 'mixed',
        direction: 'incoming',
        pps: 0,
        bps: 0,
        ttlSeconds: b.withdraw_after,
      },
    ],
  };
}

export const ADAPTERS = {
  events: parseEvent,
  fastnetmon: parseFastNetMon,
  alertmanager: parseAlertmanager,
  rtbh: parseRtbh,
} as const;
export type AdapterName = keyof typeof ADAPTERS;
