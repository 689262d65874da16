/**
 * `npm run build:native`: compiles Breakwater's optional Node-API addons with
 * the system C compiler ($CC or cc) against the headers (node_api.h, uv.h)
 * shipped with the project's `node` dev dependency, else /usr/include/node or
 * /usr/local/include/node (Node-API and libuv 1.x are ABI-stable):
 *   src/bgp/tcp_md5.c   -> dist/tcp_md5.node   TCP MD5 signatures for BGP sessions
 *   src/flow/udp_recv.c -> dist/udp_recv.node  batched UDP receive for the flow collector
 * `npm run build` runs this first and embeds the results in the single
 * executable.
 *
 * No compiler or no headers (or not Linux): prints why and exits 0; Breakwater
 * then runs without them (no TCP MD5; the collector receives with node:dgram).
 * A compile error in the sources themselves exits 1.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, realpathSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');

interface Addon {
  src: string;
  out: string;
  exports: string[];
  without: string;
}

const ADDONS: Addon[] = [
  { src: 'src/bgp/tcp_md5.c', out: 'dist/tcp_md5.node', exports: ['md5Socket', 'md5Listen', 'md5SetKey'], without: 'TCP MD5 then needs BREAKWATER_TCP_MD5_ADDON' },
  { src: 'src/flow/udp_recv.c', out: 'dist/udp_recv.node', exports: ['udpOpen', 'udpStart', 'udpStop', 'udpClose'], without: 'the collector then receives with node:dgram' },
];

function skip(why: string): never {
  console.log(`build:native: skipped, ${why}. Breakwater still builds; ${ADDONS.map((a) => a.without).join('; ')} (see docs/getting-started.md).`);
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
  if (process.platform !== 'linux') skip(`the addons use Linux socket options (platform ${process.platform})`);
  const cc = findCompiler();
  if (!cc) skip('no C compiler found ($CC, cc, gcc, clang)');
  const inc = headerCandidates().find((d) => existsSync(join(d, 'node_api.h')) && existsSync(join(d, 'uv.h')));
  if (!inc) skip(`no Node-API headers (node_api.h and uv.h) in ${headerCandidates().join(', ')}`);
  for (const a of ADDONS) build(cc, inc, a);
}

function build(cc: string, inc: string, a: Addon): void {
  const src = join(root, a.src);
  const out = join(root, a.out);
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
    console.error(`build:native: ${cc} ${args.join(' ')} failed`);
    process.exit(1);
  }
  if (r.stderr.trim()) process.stderr.write(r.stderr);
  // the addon must load and export its functions before it replaces the old one
  try {
    execFileSync(process.execPath, ['-e', 'const m={exports:{}};process.dlopen(m,process.argv[1]);for(const f of process.argv[2].split(","))if(typeof m.exports[f]!=="function")throw new Error("missing "+f)', tmp, a.exports.join(',')], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    rmSync(tmp, { force: true });
    console.error(`build:native: the compiled addon ${a.out} does not load: ${(e as { stderr?: Buffer }).stderr?.toString() ?? (e as Error).message}`);
    process.exit(1);
  }
  renameSync(tmp, out);
  console.log(`build:native: built ${out} (${cc}, headers ${inc})`);
}

main();
