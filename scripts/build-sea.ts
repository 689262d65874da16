/**
 * Builds dist/breakwater: esbuild bundles src/main.ts into one CommonJS file,
 * Node's single-executable-application support turns it into a blob, and
 * postject injects the blob into a stripped copy of the Node 24 binary. The bundle is
 * also stored as a SEA asset so worker threads can start from it.
 *
 * First runs scripts/build-native.ts (`npm run build:native`); each addon it
 * produced (dist/tcp_md5.node: TCP MD5; dist/udp_recv.node: batched UDP
 * receive) is stored as an asset of the same name and loaded from there at
 * run time (src/core/addon.ts). The console (scripts/build-console.ts) is built
 * too and its console.js and console.css are stored as assets that
 * src/api/console-routes.ts serves.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, renameSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { build, type Plugin } from 'esbuild';
import { createRequire } from 'node:module';
import { buildConsole } from './build-console.ts';

const root = resolve(import.meta.dirname, '..');
const dist = join(root, 'dist');
const bundle = join(dist, 'breakwater.cjs');
const blob = join(dist, 'sea-prep.blob');
const exe = join(dist, 'breakwater');
// Built under another name and renamed into place: a test running dist/breakwater never sees half a file.
const partial = join(dist, `breakwater.partial-${process.pid}`);

mkdirSync(dist, { recursive: true });

// the optional native addons (skips with a message, exit 0, without a C compiler or headers)
execFileSync(process.execPath, [join(root, 'scripts/build-native.ts')], { stdio: 'inherit' });
const assets: Record<string, string> = { 'breakwater.cjs': bundle };
const addons = ['tcp_md5.node', 'udp_recv.node'].filter((a) => existsSync(join(dist, a)));
for (const a of addons) assets[a] = join(dist, a);
const ui = await buildConsole();
assets['console.js'] = ui.js;
assets['console.css'] = ui.css;

/**
 * etcd3 reads its gRPC .proto files from node_modules when it is first
 * required; the executable has no node_modules, so the parsed definition is
 * put into the bundle as JSON instead (same parse options).
 */
const etcdProtos: Plugin = {
  name: 'etcd3-protos',
  setup(b) {
    b.onLoad({ filter: /etcd3[\\/]lib[\\/]connection-pool\.js$/ }, async (args) => {
      const { readFileSync } = await import('node:fs');
      const protobuf = createRequire(args.path)('protobufjs') as { Root: new () => { loadSync(f: string, o: object): { toJSON(): unknown } } };
      const json = new protobuf.Root().loadSync(join(args.path, '../../proto/rpc.proto'), { keepCase: true }).toJSON();
      const src = readFileSync(args.path, 'utf8');
      const from = '(0, proto_loader_1.loadSync)(`${__dirname}/../proto/rpc.proto`,';
      if (!src.includes(from)) throw new Error(`etcd3 changed how it loads its protos (${args.path}): update scripts/build-sea.ts`);
      return { contents: src.replace(from, `(0, proto_loader_1.fromJSON)(${JSON.stringify(json)},`), loader: 'js' };
    });
  },
};

await build({
  entryPoints: [join(root, 'src/main.ts')],
  plugins: [etcdProtos],
  outfile: bundle,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node24',
  define: { BREAKWATER_BUNDLE: 'true', 'import.meta.url': '__bw_import_meta_url', 'import.meta.dirname': '__dirname' },
  banner: { js: 'const __bw_import_meta_url = require("node:url").pathToFileURL(__filename).href;' },
  logLevel: 'warning',
  legalComments: 'none',
});

const seaConfig = join(dist, 'sea-config.json');
writeFileSync(
  seaConfig,
  JSON.stringify({ main: bundle, output: blob, disableExperimentalSEAWarning: true, useSnapshot: false, useCodeCache: false, assets }, null, 2),
);
execFileSync(process.execPath, ['--experimental-sea-config', seaConfig], { stdio: 'inherit' });
copyNode(partial);
chmodSync(partial, 0o755);
const injected = spawnSync(
  process.execPath,
  [join(root, 'node_modules/postject/dist/cli.js'), partial, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2'],
  { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' },
);
// postject (LIEF) adds the blob as a new PT_NOTE segment whose section it names ".note" without
// putting that name into .shstrtab, and says so once: "Can't find string offset for section name
// '.note'". Harmless (sections are not used at run time; the blob is found through the note
// segment), so that one line is dropped; anything else postject says is shown.
const noise = /^warning: Can't find string offset for section name '\.note'$/;
for (const line of (injected.stderr ?? '').split('\n')) if (line && !noise.test(line)) process.stderr.write(line + '\n');
if (injected.status !== 0) {
  rmSync(partial, { force: true });
  throw new Error(`postject failed (${injected.status})`);
}
renameSync(partial, exe);
console.log(`built ${exe}, ${(statSync(exe).size / 2 ** 20).toFixed(1)} MiB (${addons.length ? `with ${addons.join(', ')}` : 'without native addons'})`);

/**
 * The Node binary without what a running process never reads: its symbol
 * tables and DWARF debug info (`strip --strip-all`, about 17 MiB) and the
 * `.gnu.build.attributes` notes of the compiler's annotation plugin (one
 * section of about 250 notes; LIEF, inside postject, rewrote them as nine
 * unnamed `.note.100` sections and warned about each). Falls back to a plain
 * copy where `strip` is missing. The rest is the floor: V8, ICU data and
 * Node's own code (about 103 MiB) plus the bundle, twice (main script and
 * worker asset, about 4 MiB).
 */
function copyNode(to: string): void {
  const r = spawnSync('strip', ['--strip-all', '--remove-section=.gnu.build.attributes', '-o', to, process.execPath], { stdio: 'inherit' });
  if (r.status === 0) return;
  console.log(`strip unavailable (${r.error?.message ?? `exit ${r.status}`}): the executable keeps Node's symbols and debug info`);
  copyFileSync(process.execPath, to);
}
