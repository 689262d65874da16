/**
 * Breakwater's optional native addons (Node-API, built from the project's own
 * C sources by `npm run build:native` into dist/, and stored in the single
 * executable as assets): src/bgp/tcp_md5.c and src/flow/udp_recv.c.
 *
 * An addon is looked up once per thread and per value of its environment
 * variable:
 *   1. $<env> if set: a path to an addon built by hand;
 *   2. inside the single executable, the embedded copy, written to a fresh
 *      private directory (0700, file 0600), loaded and removed at once (the
 *      mapping outlives the file, so nothing is left behind even after a
 *      crash); a temp directory that refuses to map code (noexec) falls
 *      through to /var/tmp and /dev/shm;
 *   3. from source, dist/<asset>; from a plain bundle, beside it.
 * Each addon is context-aware (NAPI_MODULE_INIT), so every worker thread
 * loads its own instance.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

declare const BREAKWATER_BUNDLE: boolean | undefined;

export interface AddonInfo<T> {
  addon: T | null;
  /** Where the addon came from: the path, or "embedded". */
  source: string;
  /** Why it is unavailable (empty when loaded). */
  error: string;
}

export interface AddonSpec {
  /** File and asset name, e.g. "udp_recv.node". */
  asset: string;
  /** Environment variable naming a path that overrides the lookup. */
  env: string;
  /** Words for messages, e.g. "TCP MD5 addon". */
  what: string;
  /** Functions the addon must export. */
  exports: readonly string[];
  /** dist/<asset> relative to the calling module (from source); evaluated lazily. */
  fromSource: () => URL;
  /** <asset> beside the bundle (plain bundle); evaluated lazily. */
  beside: () => URL;
  /** The command that builds it, for hints. */
  build: string;
}

export function inBundle(): boolean {
  return typeof BREAKWATER_BUNDLE !== 'undefined' && BREAKWATER_BUNDLE === true;
}

function dlopen<T>(spec: AddonSpec, path: string): T {
  const mod = { exports: {} as Record<string, unknown> };
  process.dlopen(mod, path);
  for (const f of spec.exports) if (typeof mod.exports[f] !== 'function') throw new Error(`no ${f} export (not the Breakwater ${spec.what}?)`);
  return mod.exports as T;
}

function loadEmbedded<T>(spec: AddonSpec): AddonInfo<T> | undefined {
  let sea: { isSea(): boolean; getAsset(k: string): ArrayBuffer };
  try {
    sea = createRequire(process.execPath)('node:sea') as typeof sea;
    if (!sea.isSea()) return undefined;
  } catch {
    return undefined;
  }
  let bytes: ArrayBuffer;
  try {
    bytes = sea.getAsset(spec.asset);
  } catch {
    return { addon: null, source: 'embedded', error: `this executable was built without the ${spec.what} (no C compiler at build time); set ${spec.env} (see docs/internals/flow.md and docs/internals/bgp.md)` };
  }
  const errors: string[] = [];
  for (const base of [...new Set([tmpdir(), '/var/tmp', '/dev/shm'])]) {
    let dir: string | undefined;
    try {
      dir = mkdtempSync(join(base, 'breakwater-addon-'));
      const file = join(dir, spec.asset);
      writeFileSync(file, new Uint8Array(bytes), { mode: 0o600, flag: 'wx' });
      return { addon: dlopen<T>(spec, file), source: 'embedded', error: '' };
    } catch (e) {
      errors.push(`${base}: ${(e as Error).message}`);
    } finally {
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  }
  return { addon: null, source: 'embedded', error: `cannot load the embedded ${spec.what} (${errors.join('; ')}); set ${spec.env}` };
}

function load<T>(spec: AddonSpec): AddonInfo<T> {
  const env = process.env[spec.env];
  if (env) {
    try {
      return { addon: dlopen<T>(spec, env), source: env, error: '' };
    } catch (e) {
      return { addon: null, source: env, error: `cannot load ${env} (${spec.env}): ${(e as Error).message}` };
    }
  }
  const embedded = inBundle() ? loadEmbedded<T>(spec) : undefined;
  if (embedded) return embedded;
  let path = '';
  try {
    path = fileURLToPath(inBundle() ? spec.beside() : spec.fromSource());
  } catch {
    /* no file location (eval'd code) */
  }
  if (!path || path.includes('[worker eval]')) {
    return { addon: null, source: '', error: `no ${spec.what} location known in this thread: set ${spec.env} (the single executable carries its own)` };
  }
  try {
    return { addon: dlopen<T>(spec, path), source: path, error: '' };
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === 'ERR_DLOPEN_FAILED' && /No such file/.test((e as Error).message);
    const hint = inBundle() ? `set ${spec.env}` : `run \`${spec.build}\` or set ${spec.env}`;
    return { addon: null, source: path, error: missing ? `no ${spec.what} at ${path}: ${hint}` : `cannot load ${path}: ${(e as Error).message}` };
  }
}

const cache = new Map<string, { key: string; info: AddonInfo<unknown> }>();

/** The addon described by spec, loaded once per thread and per value of $<spec.env>. */
export function loadAddon<T>(spec: AddonSpec): AddonInfo<T> {
  const key = process.env[spec.env] ?? '';
  const hit = cache.get(spec.asset);
  if (hit && hit.key === key) return hit.info as AddonInfo<T>;
  const info = load<T>(spec);
  cache.set(spec.asset, { key, info });
  return info;
}
