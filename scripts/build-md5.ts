/**
 * `npm run build:md5`: compiles the optional TCP MD5 addon src/bgp/tcp_md5.c
 * into dist/tcp_md5.node with the system C compiler ($CC or cc) against
 * Node-API headers (node_api.h): those shipped with the project's `node`
 * dev dependency, else /usr/include/node or /usr/local/include/node (Node-API
 * is ABI-stable, so any Node ≥ 18 headers do). `npm run build` runs this
 * first and embeds the result in the single executable.
 *
 * No compiler or no headers (or not Linux): prints why and exits 0, leaving
 * Breakwater without built-in TCP MD5. A compile error in the source itself
 * exits 1.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, realpathSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const src = join(root, 'src/bgp/tcp_md5.c');
const out = join(root, 'dist/tcp_md5.node');

function skip(why: string): never {
  console.log(`build:md5: skipped, ${why}. Breakwater still builds; TCP MD5 then needs BREAKWATER_TCP_MD5_ADDON (see README).`);
  process.exit(0);
}

/** Directories holding node_api.h, best first. */
export function headerCandidates(): string[] {
  const c: string[] = [];
  // the node binary running this script (npm's `node` package ships include/ beside bin/)
  try {
    c.push(join(dirname(dirname(realpathSync(process.execPath))), 'include/node'));
  } catch {
    /* ignore */
  }
  for (const base of [join(root, 'node_modules/node/node_modules'), join(root, 'node_modules')]) {
    let names: string[] = [];
    try {
      names = readdirSync(base).filter((n) => /^node-(linux|darwin)-/.test(n));
    } catch {
      /* absent */
    }
    for (const n of names) c.push(join(base, n, 'include/node'));
  }
  c.push('/usr/include/node', '/usr/local/include/node');
  return [...new Set(c)];
}

function findCompiler(): string | undefined {
  for (const cc of [process.env.CC, 'cc', 'gcc', 'clang']) {
    if (!cc) continue;
    const r = spawnSync(cc, ['--version'], { stdio: 'ignore', timeout: 10000 });
    if (!r.error && r.status === 0) return cc;
  }
  return undefined;
}

function main(): void {
  if (process.platform !== 'linux') skip(`TCP_MD5SIG is Linux-only (platform ${process.platform})`);
  const cc = findCompiler();
  if (!cc) skip('no C compiler found ($CC, cc, gcc, clang)');
  const inc = headerCandidates().find((d) => existsSync(join(d, 'node_api.h')));
  if (!inc) skip(`no Node-API headers (node_api.h) in ${headerCandidates().join(', ')}`);
  mkdirSync(dirname(out), { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  const args = ['-O2', '-Wall', '-Wextra', '-shared', '-fPIC', `-I${inc}`, src, '-o', tmp];
  const r = spawnSync(cc, args, { encoding: 'utf8', timeout: 120000 });
  if (r.error || r.status !== 0) {
    rmSync(tmp, { force: true });
    const err = `${r.stderr ?? ''}${r.error ? r.error.message : ''}`;
    // a missing system header (libc6-dev not installed) is a missing toolchain, not a bug
    if (/fatal error: [^\n]*\.h: No such file or directory/.test(err)) skip(`the C library headers are missing (${err.split('\n').find((l) => l.includes('fatal error'))?.trim()})`);
    process.stderr.write(err);
    console.error(`build:md5: ${cc} ${args.join(' ')} failed`);
    process.exit(1);
  }
  if (r.stderr.trim()) process.stderr.write(r.stderr);
  // the addon must load and export its three functions before it replaces the old one
  try {
    execFileSync(process.execPath, ['-e', 'const m={exports:{}};process.dlopen(m,process.argv[1]);for(const f of ["md5Socket","md5Listen","md5SetKey"])if(typeof m.exports[f]!=="function")throw new Error("missing "+f)', tmp], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    rmSync(tmp, { force: true });
    console.error(`build:md5: the compiled addon does not load: ${(e as { stderr?: Buffer }).stderr?.toString() ?? (e as Error).message}`);
    process.exit(1);
  }
  renameSync(tmp, out);
  console.log(`build:md5: built ${out} (${cc}, headers ${inc})`);
}

main();
