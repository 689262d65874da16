/**
 * The ExaBGP-style text command language (one command per line), shared by
 * `breakwater bgp` and the daemon:
 *
 *   [neighbor IP[, neighbor IP...]] announce|withdraw route PREFIX next-hop IP|self
 *       [community [..]] [large-community [..]] [extended-community [..]]
 *       [local-preference N] [med N] [origin igp|egp|incomplete] [as-path [..]] [ttl SECONDS]
 *   [neighbor IP] announce|withdraw flow route { match { destination P; source P; protocol ..;
 *       next-header ..; port ..; destination-port ..; source-port ..; icmp-type ..; icmp-code ..;
 *       tcp-flags ..; packet-length ..; dscp ..; fragment ..; flow-label ..; }
 *       then { discard; rate-limit N; rate-limit-packets N; redirect ASN:NN|IP:NN; mark N;
 *       action sample|terminal|sample-terminal; community [..]; large-community [..];
 *       extended-community [..]; accept; } } [ttl SECONDS]
 *   show neighbor [summary] | show adj-rib out | flush adj-rib out
 *
 * Operators follow ExaBGP: numeric `=80`, `>=1024&<=2048`, `!=0`, a bare value
 * means `=`; bitmask `syn` (any of the bits), `=syn+ack` (all), `!ack` (none),
 * `!=x` (not all). Space-separated terms inside `[ ]` are ORed, `&` ANDs.
 * parseCommand never throws: bad input gives {ok: false, error}.
 */
import { parseIP, parsePrefix, formatPrefix } from '../core/ip.ts';
import { parseCommunity, parseExtCommunity, parseLargeCommunity } from './community.ts';
import { validateFlowspecRule } from './flowspec.ts';
import { FRAGMENT_BITS, TCP_FLAG_BITS, WELL_KNOWN_COMMUNITIES } from './constants.ts';
import type { AsPathSegment, BitmaskOp, ExtCommunity, FlowspecPrefix, FlowspecRoute, FlowspecRule, NumericOp, PathAttributes, UnicastRoute } from './types.ts';

export type RouteCommand = {
  kind: 'announce' | 'withdraw';
  /** Only these neighbors (addresses as written); undefined = all. */
  neighbors?: string[];
  route: UnicastRoute | FlowspecRoute;
  /** `next-hop self`: the speaker fills in the session's local address. */
  nextHopSelf?: boolean;
  /** Lease in seconds: the speaker withdraws the route when it runs out unless announced again. */
  ttl?: number;
};

export type Command =
  | RouteCommand
  | { kind: 'show-neighbor-summary'; neighbors?: string[] }
  | { kind: 'show-adj-rib-out'; neighbors?: string[] }
  | { kind: 'flush-adj-rib-out'; neighbors?: string[] };

export type ParseResult = { ok: true; command: Command } | { ok: false; error: string };

class Fail extends Error {}
const fail = (msg: string): never => {
  throw new Fail(msg);
};

function tokenize(line: string): string[] {
  return line.replace(/([[\]{};])/g, ' $1 ').split(/[\s,]+/).filter((t) => t.length > 0 && t !== ',');
}

class Tokens {
  readonly t: string[];
  i = 0;
  constructor(t: string[]) {
    this.t = t;
  }
  peek(): string | undefined {
    return this.t[this.i];
  }
  next(what: string): string {
    const v = this.t[this.i++];
    if (v === undefined) fail(`expected ${what} at end of line`);
    return v!;
  }
  expect(tok: string): void {
    const v = this.next(`"${tok}"`);
    if (v !== tok) fail(`expected "${tok}", got "${v}"`);
  }
  done(): boolean {
    return this.i >= this.t.length;
  }
  /** One value or a bracketed list. */
  list(what: string): string[] {
    const first = this.next(what);
    if (first !== '[') return [first];
    const out: string[] = [];
    for (;;) {
      const v = this.next(`"]" closing the ${what} list`);
      if (v === ']') break;
      if (v === '[' || v === '{' || v === '}' || v === ';') fail(`unexpected "${v}" in ${what} list`);
      out.push(v);
    }
    if (out.length === 0) fail(`empty ${what} list`);
    return out;
  }
}

function uint(s: string, what: string, max = 0xffffffff): number {
  if (!/^[0-9]+$/.test(s)) fail(`${what}: "${s}" is not a non-negative integer`);
  const n = Number(s);
  if (n > max) fail(`${what}: ${n} is larger than ${max}`);
  return n;
}

// ---------------------------------------------------------------- attributes

function parseAttrToken(tok: string, tk: Tokens, a: PathAttributes, st: { nextHop?: string; self?: boolean; ttl?: number }): boolean {
  switch (tok) {
    case 'next-hop': {
      const v = tk.next('next-hop address');
      if (v === 'self') st.self = true;
      else if (!parseIP(v)) fail(`next-hop "${v}" is not an IP address`);
      else st.nextHop = v;
      return true;
    }
    case 'community':
      a.communities = tk.list('community').map((c) => {
        const v = parseCommunity(c);
        return typeof v === 'string' ? fail(v) : v;
      });
      return true;
    case 'large-community':
      a.largeCommunities = tk.list('large-community').map((c) => {
        const v = parseLargeCommunity(c);
        return typeof v === 'string' ? fail(v) : v;
      });
      return true;
    case 'extended-community':
      a.extCommunities = [...(a.extCommunities ?? []), ...tk.list('extended-community').map((c) => {
        const v = parseExtCommunity(c);
        return typeof v === 'string' ? fail(v) : v;
      })];
      return true;
    case 'local-preference':
      a.localPref = uint(tk.next('local-preference value'), 'local-preference');
      return true;
    case 'med':
      a.med = uint(tk.next('med value'), 'med');
      return true;
    case 'origin': {
      const v = tk.next('origin').toLowerCase();
      const o = ['igp', 'egp', 'incomplete'].indexOf(v);
      if (o < 0) fail(`origin must be igp, egp or incomplete, not "${v}"`);
      a.origin = o as 0 | 1 | 2;
      return true;
    }
    case 'as-path': {
      const list = tk.list('as-path');
      const seg: AsPathSegment = { type: 2, asns: list.map((x) => uint(x, 'as-path')) };
      a.asPath = seg.asns.length ? [seg] : [];
      return true;
    }
    case 'ttl': {
      const v = uint(tk.next('ttl seconds'), 'ttl', 31536000);
      if (v === 0) fail('ttl must be at least 1 second');
      st.ttl = v;
      return true;
    }
  }
  return false;
}

function parseUnicast(kind: 'announce' | 'withdraw', tk: Tokens): Omit<RouteCommand, 'neighbors'> {
  const ptext = tk.next('prefix');
  const p = parsePrefix(ptext, true);
  if (typeof p === 'string') fail(p as string);
  const pr = p as Exclude<typeof p, string>;
  const attrs: PathAttributes = {};
  const st: { nextHop?: string; self?: boolean; ttl?: number } = {};
  while (!tk.done()) {
    const tok = tk.next('attribute');
    if (!parseAttrToken(tok, tk, attrs, st)) fail(`unknown route attribute "${tok}"`);
  }
  const family = pr.family === 4 ? 'ipv4_unicast' : 'ipv6_unicast';
  if (st.nextHop) {
    const nh = parseIP(st.nextHop)!;
    if (nh.family !== pr.family) fail(`an IPv${pr.family} route needs an IPv${pr.family} next hop, not ${st.nextHop}`);
    if (pr.family === 4) attrs.nextHop = st.nextHop;
    else attrs.nextHop6 = st.nextHop;
  } else if (kind === 'announce' && !st.self) {
    fail('announce route needs next-hop IP or next-hop self');
  }
  const cmd: Omit<RouteCommand, 'neighbors'> = { kind, route: { family, prefix: formatPrefix(pr), attrs } };
  if (st.self) cmd.nextHopSelf = true;
  if (st.ttl !== undefined) {
    if (kind === 'withdraw') fail('ttl applies to announce only');
    cmd.ttl = st.ttl;
  }
  return cmd;
}

// ---------------------------------------------------------------- flow

const PROTOCOLS: Record<string, number> = {
  icmp: 1, igmp: 2, tcp: 6, egp: 8, udp: 17, rsvp: 46, gre: 47, esp: 50, ah: 51, 'ipv6-icmp': 58, icmpv6: 58, ospf: 89, ipip: 94, pim: 103, sctp: 132,
};
const ICMP_TYPES: Record<string, number> = {
  'echo-reply': 0, unreachable: 3, 'destination-unreachable': 3, redirect: 5, 'echo-request': 8, 'time-exceeded': 11, 'parameter-problem': 12, timestamp: 13, 'timestamp-reply': 14,
};
const TCP_NAMES: Record<string, number> = { ...TCP_FLAG_BITS, urg: 0x20, psh: 0x08 };
const FRAG_NAMES: Record<string, number> = {
  'dont-fragment': FRAGMENT_BITS.DF, 'is-fragment': FRAGMENT_BITS.IsF, 'first-fragment': FRAGMENT_BITS.FF, 'last-fragment': FRAGMENT_BITS.LF,
};

function numValue(s: string, what: string, names?: Record<string, number>): number {
  const k = s.toLowerCase();
  if (names && k in names) return names[k];
  if (/^0x[0-9a-f]+$/.test(k)) return parseInt(k, 16);
  if (!/^[0-9]+$/.test(k)) fail(`${what}: "${s}" is not a number${names ? ' or a known name' : ''}`);
  return Number(k);
}

function numericTerms(tokens: string[], what: string, names?: Record<string, number>): NumericOp[] {
  const out: NumericOp[] = [];
  for (const tok of tokens) {
    tok.split('&').forEach((term, i) => {
      if (term === '') fail(`${what}: empty term in "${tok}"`);
      let lt = false, gt = false, eq = false, rest = term;
      const m = /^(>=|<=|!=|=|>|<)?(.*)$/.exec(term)!;
      switch (m[1]) {
        case '>=': gt = eq = true; break;
        case '<=': lt = eq = true; break;
        case '!=': lt = gt = true; break;
        case '>': gt = true; break;
        case '<': lt = true; break;
        default: eq = true;
      }
      rest = m[2];
      if (m[1] === undefined && /^(true|false)$/i.test(rest)) {
        const t = rest.toLowerCase() === 'true';
        out.push({ and: i > 0, lt: t, gt: t, eq: t, value: 0 });
        return;
      }
      out.push({ and: i > 0, lt, gt, eq, value: numValue(rest, what, names) });
    });
  }
  return out;
}

function bitmaskTerms(tokens: string[], what: string, names: Record<string, number>, fragment: boolean): BitmaskOp[] {
  const out: BitmaskOp[] = [];
  for (const tok of tokens) {
    tok.split('&').forEach((term, i) => {
      if (term === '') fail(`${what}: empty term in "${tok}"`);
      const m = /^(!=|!|=)?(.*)$/.exec(term)!;
      const not = m[1] === '!' || m[1] === '!=';
      const match = m[1] === '=' || m[1] === '!=';
      if (fragment && m[2].toLowerCase() === 'not-a-fragment') {
        if (m[1] !== undefined) fail(`${what}: use !is-fragment instead of an operator on not-a-fragment`);
        out.push({ and: i > 0, not: true, match: false, value: FRAGMENT_BITS.IsF });
        return;
      }
      let value = 0;
      for (const part of m[2].split('+')) value |= numValue(part, what, names);
      if (value === 0) fail(`${what}: "${term}" selects no bits`);
      out.push({ and: i > 0, not, match, value });
    });
  }
  return out;
}

function fsPrefix(s: string, what: string): { fam: 4 | 6; p: FlowspecPrefix } {
  // ExaBGP writes an IPv6 offset as ADDRESS/LEN/OFFSET.
  const parts = s.split('/');
  let offset: number | undefined;
  if (parts.length === 3) {
    offset = uint(parts[2], `${what} offset`, 127);
    s = `${parts[0]}/${parts[1]}`;
  }
  const p = parsePrefix(s, true);
  if (typeof p === 'string') fail(`${what}: ${p}`);
  const pr = p as Exclude<typeof p, string>;
  if (offset && pr.family === 4) fail(`${what}: an offset is only allowed for IPv6`);
  const out: FlowspecPrefix = { prefix: formatPrefix(pr) };
  if (offset) out.offset = offset;
  return { fam: pr.family, p: out };
}

/** Reads the values of one statement up to ";" or "}" (a "[ ]" list counts as one). */
function statementValues(tk: Tokens, what: string): string[] {
  const out: string[] = [];
  while (tk.peek() !== ';' && tk.peek() !== '}') {
    if (tk.done()) fail(`unterminated ${what}`);
    out.push(...tk.list(what));
  }
  if (out.length === 0) fail(`${what} needs a value`);
  if (tk.peek() === ';') tk.next(';');
  return out;
}

function parseFlow(kind: 'announce' | 'withdraw', tk: Tokens): Omit<RouteCommand, 'neighbors'> {
  const rule: FlowspecRule = {};
  const attrs: PathAttributes = {};
  const ext: ExtCommunity[] = [];
  let fam: 4 | 6 | undefined;
  let sawMatch = false;
  const st: { nextHop?: string; self?: boolean; ttl?: number } = {};
  const setFam = (f: 4 | 6, why: string) => {
    if (fam !== undefined && fam !== f) fail(`${why} is IPv${f} but the rule is IPv${fam}`);
    fam = f;
  };
  const outer = tk.peek() === '{';
  if (outer) tk.next('{');
  while (!tk.done() && tk.peek() !== '}') {
    const block = tk.next('match or then');
    if (block !== 'match' && block !== 'then') fail(`expected "match {" or "then {", got "${block}"`);
    tk.expect('{');
    if (block === 'match') sawMatch = true;
    while (tk.peek() !== '}') {
      if (tk.done()) fail(`unterminated ${block} block`);
      const key = tk.next('statement');
      if (key === ';') continue;
      if (block === 'match') {
        const has = (k: keyof FlowspecRule) => {
          if (rule[k] !== undefined) fail(`${key} given twice`);
        };
        switch (key) {
          case 'destination':
          case 'source': {
            has(key);
            const v = statementValues(tk, key);
            if (v.length !== 1) fail(`${key} takes one prefix`);
            const { fam: f, p } = fsPrefix(v[0], key);
            setFam(f, `${key} ${v[0]}`);
            rule[key] = p;
            break;
          }
          case 'protocol':
          case 'next-header':
            has('protocol');
            if (key === 'next-header') setFam(6, 'next-header');
            rule.protocol = numericTerms(statementValues(tk, key), key, PROTOCOLS);
            break;
          case 'port': has('port'); rule.port = numericTerms(statementValues(tk, key), key); break;
          case 'destination-port': has('destinationPort'); rule.destinationPort = numericTerms(statementValues(tk, key), key); break;
          case 'source-port': has('sourcePort'); rule.sourcePort = numericTerms(statementValues(tk, key), key); break;
          case 'icmp-type': has('icmpType'); rule.icmpType = numericTerms(statementValues(tk, key), key, ICMP_TYPES); break;
          case 'icmp-code': has('icmpCode'); rule.icmpCode = numericTerms(statementValues(tk, key), key); break;
          case 'packet-length': has('packetLength'); rule.packetLength = numericTerms(statementValues(tk, key), key); break;
          case 'dscp': has('dscp'); rule.dscp = numericTerms(statementValues(tk, key), key); break;
          case 'flow-label': has('flowLabel'); setFam(6, 'flow-label'); rule.flowLabel = numericTerms(statementValues(tk, key), key); break;
          case 'tcp-flags': has('tcpFlags'); rule.tcpFlags = bitmaskTerms(statementValues(tk, key), key, TCP_NAMES, false); break;
          case 'fragment': has('fragment'); rule.fragment = bitmaskTerms(statementValues(tk, key), key, FRAG_NAMES, true); break;
          default:
            fail(`unknown match condition "${key}"`);
        }
        continue;
      }
      // then
      switch (key) {
        case 'discard':
          ext.push({ type: 'traffic-rate', asn: 0, rate: 0 });
          break;
        case 'accept':
          break;
        case 'rate-limit':
        case 'rate-limit-packets': {
          const v = statementValues(tk, key);
          const n = Number(v[0]);
          if (v.length !== 1 || !/^[0-9]+(\.[0-9]+)?$/.test(v[0]) || !Number.isFinite(n)) fail(`${key} takes one non-negative number`);
          ext.push({ type: key === 'rate-limit' ? 'traffic-rate' : 'traffic-rate-packets', asn: 0, rate: Math.fround(n) });
          continue;
        }
        case 'redirect': {
          const v = statementValues(tk, key);
          if (v.length !== 1) fail('redirect takes one ASN:VALUE or IP:VALUE');
          const i = v[0].lastIndexOf(':');
          const g = v[0].slice(0, i), local = v[0].slice(i + 1);
          if (i < 0) fail('redirect takes ASN:VALUE or IP:VALUE');
          const e = parseExtCommunity(parseIP(g) ? `redirect-ip:${g}:${local}` : `redirect:${g}:${local}`);
          if (typeof e === 'string') fail(e);
          ext.push(e as ExtCommunity);
          continue;
        }
        case 'mark': {
          const v = statementValues(tk, key);
          ext.push({ type: 'traffic-marking', dscp: uint(v[0], 'mark', 63) });
          continue;
        }
        case 'action': {
          const v = statementValues(tk, key)[0].toLowerCase();
          if (!['sample', 'terminal', 'sample-terminal', 'terminal-sample'].includes(v)) fail('action must be sample, terminal or sample-terminal');
          ext.push({ type: 'traffic-action', sample: v.includes('sample'), terminal: v.includes('terminal') });
          continue;
        }
        case 'community':
        case 'large-community':
        case 'extended-community': {
          const vals = statementValues(tk, key);
          const sub = new Tokens(['[', ...vals, ']']);
          parseAttrToken(key, sub, attrs, st);
          if (key === 'extended-community') { ext.push(...attrs.extCommunities!); delete attrs.extCommunities; }
          continue;
        }
        default:
          fail(`unknown action "${key}"`);
      }
      if (tk.peek() === ';') tk.next(';');
    }
    tk.expect('}');
  }
  if (outer) tk.expect('}');
  while (!tk.done()) {
    const tok = tk.next('attribute');
    if (tok !== 'ttl') fail(`unexpected "${tok}" after the flow route`);
    parseAttrToken(tok, tk, attrs, st);
  }
  if (!sawMatch) fail('flow route needs a match { } block');
  const family = (fam ?? 4) === 4 ? 'ipv4_flowspec' : 'ipv6_flowspec';
  const bad = validateFlowspecRule(family, rule, { requireDestination: true });
  if (bad) fail(bad);
  if (kind === 'announce' && ext.length === 0) fail('flow route needs an action in then { } (discard, rate-limit N, redirect, mark, ...)');
  if (ext.length) attrs.extCommunities = ext;
  const cmd: Omit<RouteCommand, 'neighbors'> = { kind, route: { family, rule, attrs } };
  if (st.ttl !== undefined) {
    if (kind === 'withdraw') fail('ttl applies to announce only');
    cmd.ttl = st.ttl;
  }
  return cmd;
}

// ---------------------------------------------------------------- entry point

/** Parses one command line. Never throws. */
export function parseCommand(line: string): ParseResult {
  try {
    const tk = new Tokens(tokenize(line.trim()));
    if (tk.done()) return { ok: false, error: 'empty command' };
    let neighbors: string[] | undefined;
    while (tk.peek() === 'neighbor') {
      tk.next('neighbor');
      const ip = tk.next('neighbor address');
      if (!parseIP(ip)) fail(`neighbor "${ip}" is not an IP address`);
      (neighbors ??= []).push(ip);
    }
    const verb = tk.next('command');
    const withN = <T extends object>(c: T): T & { neighbors?: string[] } => (neighbors ? { ...c, neighbors } : c);
    if (verb === 'announce' || verb === 'withdraw') {
      const what = tk.next('"route" or "flow route"');
      if (what === 'route') return { ok: true, command: withN(parseUnicast(verb, tk)) as Command };
      if (what === 'flow') {
        tk.expect('route');
        return { ok: true, command: withN(parseFlow(verb, tk)) as Command };
      }
      fail(`${verb} supports "route" and "flow route", not "${what}"`);
    }
    const rest = tk.t.slice(tk.i).join(' ');
    if (verb === 'show' && (rest === 'neighbor summary' || rest === 'neighbor' || rest === 'neighbors')) return { ok: true, command: withN({ kind: 'show-neighbor-summary' as const }) };
    if (verb === 'show' && (rest === 'adj-rib out' || rest === 'adj-rib-out')) return { ok: true, command: withN({ kind: 'show-adj-rib-out' as const }) };
    if (verb === 'flush' && (rest === 'adj-rib out' || rest === 'adj-rib-out')) return { ok: true, command: withN({ kind: 'flush-adj-rib-out' as const }) };
    return { ok: false, error: `unknown command "${line.trim().slice(0, 80)}"` };
  } catch (e) {
    return { ok: false, error: e instanceof Fail ? e.message : `internal error: ${(e as Error).message}` };
  }
}

export { WELL_KNOWN_COMMUNITIES };
