/**
 * Go-style flag parsing: `-name value`, `-name=value`, `--name value`,
 * `--name=value`; boolean flags take no value. Positional arguments are kept
 * in order. Unknown flags are an error naming the flag.
 */
export interface FlagSpec {
  /** Flags that take a value. */
  string?: readonly string[];
  /** Flags that take no value. */
  boolean?: readonly string[];
  /** Alternative names: alias -> canonical. */
  alias?: Readonly<Record<string, string>>;
}

export interface ParsedFlags {
  values: Record<string, string>;
  flags: Set<string>;
  positional: string[];
}

export class UsageError extends Error {}

export function parseFlags(argv: readonly string[], spec: FlagSpec): ParsedFlags {
  const str = new Set(spec.string ?? []);
  const bool = new Set(spec.boolean ?? []);
  const out: ParsedFlags = { values: {}, flags: new Set(), positional: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      out.positional.push(...argv.slice(i + 1));
      break;
    }
    if (!a.startsWith('-') || a === '-' || /^-[0-9]/.test(a)) {
      out.positional.push(a);
      continue;
    }
    let name = a.replace(/^--?/, '');
    let value: string | undefined;
    const eq = name.indexOf('=');
    if (eq !== -1) {
      value = name.slice(eq + 1);
      name = name.slice(0, eq);
    }
    name = spec.alias?.[name] ?? name;
    if (bool.has(name)) {
      if (value !== undefined && !['true', 'false', '1', '0'].includes(value)) throw new UsageError(`flag -${name} takes no value`);
      if (value === 'false' || value === '0') out.flags.delete(name);
      else out.flags.add(name);
    } else if (str.has(name)) {
      if (value === undefined) {
        if (i + 1 >= argv.length) throw new UsageError(`flag -${name} needs a value`);
        value = argv[++i];
      }
      out.values[name] = value;
    } else {
      throw new UsageError(`unknown flag ${a.split('=')[0]}`);
    }
  }
  return out;
}
