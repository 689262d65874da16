/**
 * The configuration reference, generated from the valibot schema
 * (src/config/schema.ts): every key as a dotted path (`bgp.neighbors[].address`
 * for a key of each list item), its type (allowed values for picklists), its
 * default and its description. The schema is walked through valibot's
 * introspection properties: `type`, `entries`, `wrapped` and `default` of
 * optional, `pipe` (description, title and validation actions), `options` of
 * picklists and unions, `item` of arrays.
 *
 * It also writes the table of Kapkan's keys (src/config/kapkan.ts) into
 * docs/kapkan.md.
 *
 *   npm run config-doc              rewrite the generated sections of docs/configuration.md and docs/kapkan.md
 *   npm run config-doc -- --check   exit 1 when a generated section is out of date
 *   npm run config-doc -- --stdout  print the configuration reference
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { ConfigSchema } from '../src/config/schema.ts';
import { KAPKAN_BLOCK_KEYS, KAPKAN_KEYS } from '../src/config/kapkan.ts';

/** A schema node, as far as this walk looks at it. */
interface Node {
  readonly type: string;
  readonly kind?: string;
  readonly pipe?: readonly Node[];
  readonly wrapped?: Node;
  readonly default?: unknown;
  readonly entries?: Readonly<Record<string, Node>>;
  readonly item?: Node;
  readonly options?: readonly unknown[];
  readonly requirement?: unknown;
  readonly description?: string;
  readonly title?: string;
}

const OPTIONAL_TYPES = new Set(['optional', 'nullish', 'exact_optional']);

/** What one key's schema says once its pipes and optional wrappers are peeled off. */
interface Unwrapped {
  core: Node;
  optional: boolean;
  hasDefault: boolean;
  default: unknown;
  description?: string;
  title?: string;
  integer: boolean;
  min?: number;
  max?: number;
  minLength?: number;
  url: boolean;
}

function unwrap(schema: Node): Unwrapped {
  const u: Unwrapped = { core: schema, optional: false, hasDefault: false, default: undefined, integer: false, url: false };
  let s = schema;
  let sawOptional = false;
  for (let depth = 0; depth < 32; depth++) {
    if (s.pipe) {
      // A description or title of an outer pipe wins over an inner one (valibot's "highest level").
      let desc: string | undefined, title: string | undefined;
      for (const a of s.pipe.slice(1)) {
        switch (a.type) {
          case 'description': desc = a.description; break;
          case 'title': title = a.title; break;
          case 'integer': u.integer = true; break;
          case 'min_value': u.min = Math.max(u.min ?? -Infinity, Number(a.requirement)); break;
          case 'max_value': u.max = Math.min(u.max ?? Infinity, Number(a.requirement)); break;
          case 'min_length': u.minLength = Number(a.requirement); break;
          case 'url': u.url = true; break;
        }
      }
      u.description ??= desc;
      u.title ??= title;
      s = s.pipe[0];
      continue;
    }
    if (OPTIONAL_TYPES.has(s.type) && s.wrapped) {
      // Only the outermost optional decides what a missing key becomes.
      if (!sawOptional) {
        sawOptional = true;
        u.optional = true;
        if (s.default !== undefined) {
          u.hasDefault = true;
          u.default = typeof s.default === 'function' ? (s.default as () => unknown)() : s.default;
        }
      }
      s = s.wrapped;
      continue;
    }
    break;
  }
  u.core = s;
  return u;
}

const isObject = (n: Node) => n.entries !== undefined && /object/.test(n.type);
const code = (s: string) => '`' + s + '`';
const literal = (x: unknown) => code(JSON.stringify(x));

function rangeText(u: Unwrapped): string {
  // The schema's "no upper bound" for integers is MAX_SAFE_INTEGER.
  if (u.max !== undefined && u.max >= Number.MAX_SAFE_INTEGER) u = { ...u, max: undefined };
  if (u.min !== undefined && u.max !== undefined) return ` ${u.min}–${u.max}`;
  if (u.min !== undefined) return ` ≥ ${u.min}`;
  if (u.max !== undefined) return ` ≤ ${u.max}`;
  return '';
}

/** The type of a value schema in words. */
function typeText(schema: Node): string {
  const u = unwrap(schema);
  const c = u.core;
  if (u.title) return u.title;
  switch (c.type) {
    case 'boolean': return 'boolean';
    case 'number': return (u.integer ? 'integer' : 'number') + rangeText(u);
    case 'string': return u.url ? 'URL' : 'string';
    case 'picklist': return (c.options ?? []).map(literal).join(' | ');
    case 'union': return (c.options as Node[]).map(typeText).join(' or ');
    case 'array': {
      const item = c.item as Node;
      const what = isObject(unwrap(item).core) ? 'objects' : typeText(item);
      return (u.minLength && u.minLength > 0 ? 'non-empty list of ' : 'list of ') + what;
    }
    default:
      return isObject(c) ? 'object' : c.type;
  }
}

function defaultText(u: Unwrapped): string {
  if (!u.optional) return '**required**';
  if (!u.hasDefault) return '—';
  const d = u.default;
  if (Array.isArray(d)) {
    if (d.length === 0) return '`[]`';
    const item = u.core.item ? unwrap(u.core.item).core : undefined;
    if (item?.type === 'picklist' && JSON.stringify(d) === JSON.stringify(item.options)) return 'all';
    return code(JSON.stringify(d).replace(/,/g, ', '));
  }
  // An object that defaults to {}: its keys carry the defaults.
  if (d !== null && typeof d === 'object') return '';
  return literal(d);
}

export interface KeyDoc {
  /** Dotted path, `[]` after a list of objects: `bgp.neighbors[].address`. */
  path: string;
  type: string;
  /** Markdown: a literal, `**required**`, `—` (unset) or `all`. */
  default: string;
  description: string | undefined;
  /** true when the key has no keys of its own below it in the schema. */
  leaf: boolean;
  /** When collapsed: the path of the earlier key whose keys this one repeats. */
  sameAs?: string;
  /** The same keys as `sameAs`, each optional (an override block). */
  sameAsPartial?: boolean;
}

/** The object or list-of-objects core a key has children through, if any. */
function childContainer(u: Unwrapped): { obj: Node; suffix: string } | undefined {
  if (isObject(u.core)) return { obj: u.core, suffix: '' };
  if (u.core.type === 'array' && u.core.item) {
    const item = unwrap(u.core.item).core;
    if (isObject(item)) return { obj: item, suffix: '[]' };
  }
  return undefined;
}

export interface DescribeOptions {
  /**
   * Document a schema object that appears under several keys (thresholds,
   * the escalation ladder, hostgroup overrides of ban/flowspec/baseline) once:
   * later keys say "same keys as ..." instead of repeating its keys.
   */
  collapse?: boolean;
}

/** Every key of the schema in order, nested keys after their parent. */
export function describeSchema(root: unknown = ConfigSchema, opts: DescribeOptions = {}): KeyDoc[] {
  const rootNode = root as Node;
  const out: KeyDoc[] = [];
  // Canonical place of each reused schema: the top-level key that holds it.
  const canonical = new Map<Node, string>();
  if (opts.collapse) {
    for (const [k, s] of Object.entries(rootNode.entries ?? {})) {
      const u = unwrap(s);
      if (!canonical.has(u.core) && childContainer(u)) canonical.set(u.core, k);
    }
  }
  const partialOf = (obj: Node): string | undefined => {
    const keys = Object.keys(obj.entries ?? {});
    const allOptionalNoDefault = Object.values(obj.entries ?? {}).every((e) => {
      const u = unwrap(e);
      return u.optional && !u.hasDefault;
    });
    if (!allOptionalNoDefault) return undefined;
    for (const [c, path] of canonical) {
      if (!isObject(c)) continue;
      const ck = Object.keys(c.entries ?? {});
      if (ck.length === keys.length && ck.every((k) => keys.includes(k))) return path;
    }
    return undefined;
  };

  const visit = (obj: Node, prefix: string) => {
    for (const [key, schema] of Object.entries(obj.entries ?? {})) {
      const path = prefix ? `${prefix}.${key}` : key;
      const u = unwrap(schema);
      const kids = childContainer(u);
      const doc: KeyDoc = { path, type: typeText(schema), default: defaultText(u), description: u.description, leaf: !kids };
      out.push(doc);
      if (!kids) continue;
      if (opts.collapse) {
        const same = canonical.get(u.core);
        if (same !== undefined && same !== path) {
          doc.sameAs = same;
          continue;
        }
        const partial = partialOf(kids.obj);
        if (partial !== undefined && partial !== path) {
          doc.sameAs = partial;
          doc.sameAsPartial = true;
          continue;
        }
      }
      visit(kids.obj, path + kids.suffix);
    }
  };
  visit(rootNode, '');
  return out;
}

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function describeCell(d: KeyDoc, groups: Set<string>): string {
  let s = d.description ?? '';
  if (d.sameAs !== undefined) {
    const ref = groups.has(d.sameAs) ? `[${code(d.sameAs)}](#${d.sameAs})` : code(d.sameAs);
    s += (s ? ' ' : '') + (d.sameAsPartial ? `Same keys as ${ref}, each optional.` : `Same keys as ${ref}.`);
  }
  return cell(s);
}

function table(rows: KeyDoc[], groups: Set<string>): string[] {
  const lines = ['| Key | Type | Default | Description |', '|---|---|---|---|'];
  for (const r of rows) lines.push(`| ${code(r.path)} | ${cell(r.type)} | ${cell(r.default)} | ${describeCell(r, groups)} |`);
  return lines;
}

export const SECTION = 'config';

/** The Markdown that goes between docs/configuration.md's config markers. */
export function renderReference(root: unknown = ConfigSchema): string {
  const docs = describeSchema(root, { collapse: true });
  const top = docs.filter((d) => !d.path.includes('.') && !d.path.includes('['));
  const isGroup = (d: KeyDoc) => !d.leaf;
  const groups = new Set(top.filter(isGroup).map((d) => d.path));
  const lines: string[] = [
    '<!-- Generated from src/config/schema.ts by `npm run config-doc`: edit the descriptions there. -->',
    '',
    'Examples: `examples/breakwater.yaml` (dry-run, safe to run as is), `examples/live-bird.yaml` (live,',
    'one BIRD neighbor, a FlowSpec hostgroup with an escalation ladder, notifications and API tokens',
    'from the environment) and `examples/kapkan-style.yaml` (a config written for Kapkan, loaded',
    'unchanged). `breakwater -config FILE -check-config` validates a file and prints it with every',
    'default filled in.',
    '',
    '## Key reference',
    '',
    'Every key with its type and default: **required** keys must be given whenever their parent is,',
    '— means unset. `key[]` is a list of objects and `key[].name` a key of each of them.',
    '',
    '### General',
    '',
    ...table(top.filter((d) => !isGroup(d)), groups),
  ];
  for (const g of top.filter(isGroup)) {
    lines.push('', `### ${code(g.path)}`, '');
    const kind = g.type === 'list of objects' ? `A list, default ${g.default}. ` : '';
    lines.push(cell(`${kind}${describeCell(g, groups)}`.trim()));
    const rows = docs.filter((d) => d.path.startsWith(g.path + '.') || d.path.startsWith(g.path + '[].'));
    if (rows.length) lines.push('', ...table(rows, groups));
  }
  return lines.join('\n') + '\n';
}

/** `text` with the content between `<!-- section:NAME -->` and `<!-- /section:NAME -->` replaced. */
export function replaceSection(text: string, name: string, body: string): string {
  const open = `<!-- section:${name} -->`;
  const close = `<!-- /section:${name} -->`;
  const a = text.indexOf(open);
  const b = text.indexOf(close);
  if (a < 0 || b < a) throw new Error(`markers ${open} ... ${close} not found`);
  if (text.indexOf(open, a + 1) >= 0) throw new Error(`marker ${open} appears twice`);
  return text.slice(0, a + open.length) + '\n' + body + text.slice(b);
}

/** The content between the markers, as renderReference() returns it. */
export function readSection(text: string, name: string): string {
  const open = `<!-- section:${name} -->`;
  const close = `<!-- /section:${name} -->`;
  const a = text.indexOf(open);
  const b = text.indexOf(close);
  if (a < 0 || b < a) throw new Error(`markers ${open} ... ${close} not found`);
  return text.slice(a + open.length, b).replace(/^\n/, '');
}

export const CONFIG_DOC = resolve(import.meta.dirname, '..', 'docs', 'configuration.md');
export const KAPKAN_DOC = resolve(import.meta.dirname, '..', 'docs', 'kapkan.md');
export const KAPKAN_SECTION = 'kapkan';

const KIND_TEXT: Record<string, string> = {
  same: 'same',
  renamed: 'renamed',
  replaced: 'replaced (start-up note)',
  unsupported: 'not done (warning)',
};

/** The table of every key of Kapkan's configuration reference with what Breakwater does with it. */
export function renderKapkanTable(): string {
  const lines = [
    '<!-- Generated from src/config/kapkan.ts by `npm run config-doc`. -->',
    '',
    '| Kapkan key | Breakwater | What happens |',
    '|---|---|---|',
  ];
  for (const k of KAPKAN_KEYS) {
    lines.push(`| ${code(k.path)} | ${KIND_TEXT[k.kind]} | ${cell(k.note || 'Applied as written.')} |`);
    for (const sub of KAPKAN_BLOCK_KEYS[k.path] ?? []) lines.push(`| ${code(`${k.path}.${sub}`)} | ${KIND_TEXT[k.kind]} | ${cell(`Part of \`${k.path}\`: the block is accepted and has no effect.`)} |`);
  }
  return lines.join('\n') + '\n';
}

const TARGETS = [
  { file: CONFIG_DOC, section: SECTION, render: () => renderReference(), what: 'config reference' },
  { file: KAPKAN_DOC, section: KAPKAN_SECTION, render: renderKapkanTable, what: 'Kapkan key table' },
];

if (import.meta.main) {
  const args = process.argv.slice(2);
  if (args.includes('--stdout')) {
    process.stdout.write(renderReference());
  } else {
    let stale = false;
    for (const t of TARGETS) {
      const name = relative(resolve(import.meta.dirname, '..'), t.file);
      const text = readFileSync(t.file, 'utf8');
      const next = replaceSection(text, t.section, t.render());
      if (args.includes('--check')) {
        if (next !== text) {
          process.stderr.write(`${name}: ${t.what} is out of date: run npm run config-doc\n`);
          stale = true;
        } else process.stdout.write(`${name}: ${t.what} is up to date\n`);
      } else if (next !== text) {
        writeFileSync(t.file, next);
        process.stdout.write(`${name}: ${t.what} written\n`);
      } else {
        process.stdout.write(`${name}: ${t.what} already up to date\n`);
      }
    }
    if (stale) process.exit(1);
  }
}
