import { readFileSync } from 'node:fs';
import * as v from 'valibot';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { ConfigError, type PathIssue } from '../core/errors.ts';
import { canonicalAddress, parsePrefix, prefixesOverlap, type Prefix } from '../core/ip.ts';
import { ConfigSchema, type Config } from './schema.ts';
import { authConfigured, listenScope } from './diff.ts';
import { setCompatNotes, translateKapkan } from './kapkan.ts';

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const k of Object.keys(o)) deepFreeze((o as Record<string, unknown>)[k]);
  }
  return o;
}

function issueMessage(issue: v.BaseIssue<unknown>): string {
  if (/^Invalid key: Expected never/.test(issue.message)) return 'unknown key';
  return issue.message.replace(/^Invalid type: /, 'wrong type: ');
}

/** Cross-field rules a schema cannot express. */
function semanticIssues(c: Config): PathIssue[] {
  const issues: PathIssue[] = [];
  const nets = c.networks.map((s) => parsePrefix(s) as Prefix);
  c.hostgroups.forEach((g, gi) => {
    g.networks.forEach((s, ni) => {
      const p = parsePrefix(s) as Prefix;
      if (nets.length > 0 && !nets.some((n) => prefixesOverlap(n, p))) {
        issues.push({ path: `hostgroups.${gi}.networks.${ni}`, message: `${s} is not inside any of networks` });
      }
    });
  });
  const names = new Set<string>();
  c.hostgroups.forEach((g, gi) => {
    if (names.has(g.name)) issues.push({ path: `hostgroups.${gi}.name`, message: `duplicate hostgroup name "${g.name}"` });
    names.add(g.name);
  });
  const seen = new Set<string>();
  c.bgp.neighbors.forEach((n, i) => {
    const key = `${n.address}|${n.port}`;
    if (seen.has(key)) issues.push({ path: `bgp.neighbors.${i}.address`, message: `duplicate neighbor ${n.address}` });
    seen.add(key);
  });
  issues.push(...methodIssues(c));
  return issues;
}

/** FlowSpec methods and platforms: unique names, and every name they use exists. */
function methodIssues(c: Config): PathIssue[] {
  const issues: PathIssue[] = [];
  const nbs = new Set(c.bgp.neighbors.map((n) => canonicalAddress(n.address)));
  const platforms = new Set<string>();
  c.platforms.forEach((p, i) => {
    if (platforms.has(p.name)) issues.push({ path: `platforms.${i}.name`, message: `duplicate platform name "${p.name}"` });
    platforms.add(p.name);
    p.neighbors.forEach((a, j) => {
      if (!nbs.has(canonicalAddress(a))) issues.push({ path: `platforms.${i}.neighbors.${j}`, message: `${a} is not one of bgp.neighbors` });
    });
  });
  const methods = new Set<string>();
  c.flowspec_methods.forEach((m, i) => {
    if (methods.has(m.name)) issues.push({ path: `flowspec_methods.${i}.name`, message: `duplicate method name "${m.name}"` });
    methods.add(m.name);
    (m.platforms ?? []).forEach((p, j) => {
      if (!platforms.has(p)) issues.push({ path: `flowspec_methods.${i}.platforms.${j}`, message: `no platform named "${p}"` });
    });
    const pl = m.match.packet_length;
    if (pl?.min !== undefined && pl.max !== undefined && pl.min > pl.max) issues.push({ path: `flowspec_methods.${i}.match.packet_length`, message: 'min is above max' });
    for (const k of ['source_port', 'destination_port'] as const) {
      (m.match[k] ?? []).forEach((x, j) => {
        if (typeof x !== 'string') return;
        const [lo, hi = lo] = x.split('-').map(Number);
        if (lo > 65535 || hi > 65535 || lo > hi) issues.push({ path: `flowspec_methods.${i}.match.${k}.${j}`, message: `"${x}" is not a port range LO-HI within 0..65535` });
      });
    }
  });
  const known = (name: string | undefined, path: string) => {
    if (name !== undefined && !methods.has(name)) issues.push({ path, message: `no flowspec_methods entry named "${name}"` });
  };
  c.hostgroups.forEach((g, gi) => {
    known(g.flowspec_method, `hostgroups.${gi}.flowspec_method`);
    (g.escalation ?? []).forEach((s, si) => known(s.method, `hostgroups.${gi}.escalation.${si}.method`));
  });
  c.escalation.forEach((s, si) => known(s.method, `escalation.${si}.method`));
  return issues;
}

interface SchemaNode {
  type?: string;
  entries?: Record<string, SchemaNode>;
  wrapped?: SchemaNode;
  item?: SchemaNode;
  pipe?: SchemaNode[];
}

const isPlainObject = (x: unknown): x is Record<string, unknown> => x !== null && typeof x === 'object' && !Array.isArray(x);

/**
 * Every unknown key of `value` against `schema`, as dotted paths. valibot's
 * strictObject stops at the first unknown key of an object; this walks the
 * raw value through optional/nullable/pipe wrappers, objects and arrays so a
 * file with several misspelt keys is reported in one go.
 */
export function unknownKeyPaths(schema: unknown, value: unknown, path = '', out: string[] = []): string[] {
  let s = schema as SchemaNode | undefined;
  // Unwrap optional / nullable / nullish / non_* wrappers and pipes without entries.
  for (let i = 0; i < 16 && s; i++) {
    if (s.wrapped) s = s.wrapped;
    else if (!s.entries && !s.item && s.pipe && s.pipe[0] && s.pipe[0] !== s) s = s.pipe[0];
    else break;
  }
  if (!s) return out;
  const at = (k: string | number) => (path ? `${path}.${k}` : String(k));
  if (s.entries && isPlainObject(value)) {
    const strict = s.type === 'strict_object';
    for (const [k, sub] of Object.entries(value)) {
      const entry = s.entries[k];
      if (entry) unknownKeyPaths(entry, sub, at(k), out);
      else if (strict) out.push(at(k));
    }
  } else if (s.type === 'array' && s.item && Array.isArray(value)) {
    value.forEach((x, i) => unknownKeyPaths(s.item, x, at(i), out));
  }
  return out;
}

/** Levenshtein distance, for "did you mean". */
export function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length];
}

/** The keys the schema allows in the object at `path` (dotted, list indexes as numbers). */
export function keysAt(schema: unknown, path: string): string[] {
  let s = schema as SchemaNode | undefined;
  const steps = path ? path.split('.') : [];
  for (let i = 0; ; i++) {
    for (let n = 0; n < 16 && s; n++) {
      if (s.wrapped) s = s.wrapped;
      else if (!s.entries && !s.item && s.pipe && s.pipe[0] && s.pipe[0] !== s) s = s.pipe[0];
      else break;
    }
    if (!s) return [];
    if (i === steps.length) return s.entries ? Object.keys(s.entries) : [];
    if (s.type === 'array' && s.item && /^\d+$/.test(steps[i])) s = s.item;
    else if (s.entries) s = s.entries[steps[i]];
    else return [];
  }
}

/** The closest known key to a misspelt one: at most 2 edits, and fewer than half its letters. */
export function suggestKey(unknown: string, known: readonly string[]): string | undefined {
  let best: string | undefined, bestD = Infinity;
  for (const k of known) {
    const d = editDistance(unknown.toLowerCase(), k.toLowerCase());
    if (d < bestD) [best, bestD] = [k, d];
  }
  return bestD <= 2 && bestD * 2 < Math.max(unknown.length, 2) ? best : undefined;
}

/** valibot's issues plus every unknown key, each path once, with a "did you mean" hint where one is close. */
function schemaIssues(issues: v.BaseIssue<unknown>[], input: unknown): PathIssue[] {
  const out: PathIssue[] = issues.map((i) => ({ path: v.getDotPath(i) ?? '', message: issueMessage(i) }));
  const seen = new Set(out.map((i) => `${i.path}\0${i.message}`));
  for (const path of unknownKeyPaths(ConfigSchema, input)) {
    const key = `${path}\0unknown key`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ path, message: 'unknown key' });
  }
  for (const i of out) {
    if (i.message !== 'unknown key') continue;
    const dot = i.path.lastIndexOf('.');
    const hint = suggestKey(i.path.slice(dot + 1), keysAt(ConfigSchema, dot < 0 ? '' : i.path.slice(0, dot)));
    if (hint) i.hint = `did you mean "${hint}"?`;
  }
  // Stable: issues of one key stay in valibot's order.
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** Validates an already-parsed object. Throws ConfigError listing every problem. */
export function validateConfig(raw: unknown, file?: string): Readonly<Config> {
  const input = raw ?? {};
  const r = v.safeParse(ConfigSchema, input);
  if (!r.success) throw new ConfigError(schemaIssues(r.issues, input), file);
  const sem = semanticIssues(r.output);
  if (sem.length) throw new ConfigError(sem, file);
  return deepFreeze(r.output);
}

export function parseConfigText(text: string, file?: string): Readonly<Config> {
  let raw: unknown;
  try {
    raw = parseYaml(text, { uniqueKeys: true });
  } catch (e) {
    const msg = e instanceof YAMLParseError ? e.message.split('\n')[0] : String(e);
    throw new ConfigError([{ path: '', message: `YAML: ${msg}` }], file);
  }
  // An empty file is what a non-atomic write leaves behind: never "all defaults".
  if (raw === null || raw === undefined) throw new ConfigError([{ path: '', message: 'the config is empty (write it to a temporary file, fsync, then rename it over the old one)' }], file);
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError([{ path: '', message: 'the config must be a YAML mapping' }], file);
  }
  const { config, notes } = translateKapkan(raw, schemaKnows);
  const cfg = validateConfig(config, file);
  setCompatNotes(cfg, notes);
  return cfg;
}

/** Whether the schema has the key at `path` ("a[].b.c"). */
function schemaKnows(path: string): boolean {
  let probe: unknown = 0;
  const steps = path.split('.');
  for (let i = steps.length - 1; i >= 0; i--) {
    const list = steps[i].endsWith('[]');
    probe = { [list ? steps[i].slice(0, -2) : steps[i]]: list ? [probe] : probe };
  }
  return unknownKeyPaths(ConfigSchema, probe).length === 0;
}

/**
 * What a running daemon needs beyond a valid config: protected networks, and
 * no API open beyond loopback without tokens unless that is asked for.
 * The daemon checks these at start and on reload; -check-config prints them.
 */
export function daemonConfigIssues(c: Readonly<Config>): PathIssue[] {
  const issues: PathIssue[] = [];
  if (c.networks.length === 0) issues.push({ path: 'networks', message: 'the daemon needs at least one protected prefix in networks (only addresses inside them are counted or banned)' });
  if (listenScope(c.api.listen) === 'wide' && !authConfigured(c) && !c.api.insecure_no_auth) {
    issues.push({ path: 'api.listen', message: `"${c.api.listen}" is beyond loopback and no token is configured (api.token_env, api.tokens): anyone could ban, unban and reload; add tokens, listen on 127.0.0.1, or set api.insecure_no_auth: true` });
  }
  return issues;
}

/** loadConfig plus daemonConfigIssues: what the daemon starts or reloads with. */
export function loadDaemonConfig(file: string): Readonly<Config> {
  const cfg = loadConfig(file);
  const issues = daemonConfigIssues(cfg);
  if (issues.length) throw new ConfigError(issues, file);
  return cfg;
}

export function loadConfig(file: string): Readonly<Config> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError([{ path: '', message: `cannot read ${file}: ${(e as Error).message}` }]);
  }
  return parseConfigText(text, file);
}

/** The built-in defaults (no file). */
export function defaultConfig(): Readonly<Config> {
  return validateConfig({});
}
