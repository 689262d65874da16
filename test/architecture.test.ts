/**
 * Keeps the dependency rules of docs/internals/architecture.md true by
 * scanning import specifiers in src/.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname, sep } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const src = join(root, 'src');

function files(dir: string, out: string[] = []): string[] {
  for (const n of readdirSync(dir)) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) files(p, out);
    else if (n.endsWith('.ts') && !n.endsWith('.bench.ts')) out.push(p);
  }
  return out;
}

interface Imp { from: string; spec: string; target?: string; names?: string[] }

function imports(file: string): Imp[] {
  const text = readFileSync(file, 'utf8');
  const out: Imp[] = [];
  const re = /(?:^|\n)\s*(?:import|export)\s([^'"]*?)from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;
  for (let m; (m = re.exec(text)); ) {
    const spec = m[2] ?? m[3];
    const named = m[1] ? /^\s*(?:type\s+)?\{([^}]*)\}\s*$/.exec(m[1]) : null;
    const imp: Imp = { from: relative(src, file), spec, names: named ? named[1].split(',').map((n) => n.trim().split(/\s+as\s+/)[0]).filter(Boolean) : undefined };
    if (spec.startsWith('.')) imp.target = relative(src, resolve(dirname(file), spec));
    out.push(imp);
  }
  return out;
}

const area = (p: string) => (p.includes(sep) ? p.split(sep)[0] : '(root)');
const all = files(src).flatMap(imports);

function violations(fromArea: string, allowed: (imp: Imp) => boolean): string[] {
  return all.filter((i) => area(i.from) === fromArea && !allowed(i)).map((i) => `${i.from} imports ${i.spec}`);
}

const external = (i: Imp) => !i.spec.startsWith('.');

test('core imports nothing of ours', () => {
  assert.deepEqual(violations('core', (i) => external(i) || area(i.target!) === 'core'), []);
});

test('config imports only core', () => {
  assert.deepEqual(violations('config', (i) => external(i) || ['core', 'config'].includes(area(i.target!))), []);
});

for (const a of ['flow', 'engine', 'bgp']) {
  test(`${a} is independent of the other pipeline stages and of api/koa/prom-client`, () => {
    const others = ['flow', 'engine', 'bgp'].filter((x) => x !== a);
    assert.deepEqual(
      violations(a, (i) => {
        if (external(i)) return !['koa', '@koa/router', 'prom-client'].includes(i.spec);
        const t = area(i.target!);
        if (a === 'engine' && i.target === join('flow', 'record.ts')) return true;
        return !others.includes(t) && !['api', 'daemon', 'mitigation', 'store', 'notify', 'cli'].includes(t) && i.target !== 'main.ts';
      }),
      [],
    );
  });
}

test('only mitigation (and the bgp command) drive bgp; nothing imports main.ts', () => {
  const bad = all.filter((i) => i.target && area(i.target) === 'bgp' && !['bgp', 'mitigation', 'cli', 'daemon', '(root)'].includes(area(i.from)));
  assert.deepEqual(bad.map((i) => `${i.from} imports ${i.spec}`), []);
  const daemonBgp = all.filter((i) => i.target && area(i.target) === 'bgp' && area(i.from) === 'daemon' && !i.target.endsWith(join('bgp', 'index.ts')));
  assert.deepEqual(daemonBgp.map((i) => `${i.from} imports ${i.spec}`), [], 'the daemon uses bgp only through bgp/index.ts');
  assert.deepEqual(all.filter((i) => i.target === 'main.ts').map((i) => i.from), []);
});

test('node:dgram and node:net each have one user', () => {
  // Address helpers (isIP, ...) are not socket use.
  const helpersOnly = (i: Imp) => i.names !== undefined && i.names.every((n) => /^(isIP|isIPv4|isIPv6|BlockList|SocketAddress)$/.test(n));
  const users = (mod: string) => [...new Set(all.filter((i) => i.spec === mod && !helpersOnly(i)).map((i) => i.from))];
  // The receive path has one dgram user; `breakwater replay` is the sending side.
  assert.ok(users('node:dgram').every((f) => [join('flow', 'listener.ts'), join('flow', 'replay.ts')].includes(f) || f.startsWith('cli' + sep)), `node:dgram users: ${users('node:dgram')}`);
  assert.ok(users('node:net').every((f) => f === join('bgp', 'session.ts') || f === join('bgp', 'listener.ts') || f.startsWith('api' + sep)), `node:net users: ${users('node:net')}`);
});

test('no TypeScript enum, namespace or parameter property (Node strips types)', () => {
  const bad: string[] = [];
  for (const f of files(src)) {
    const t = readFileSync(f, 'utf8');
    if (/^\s*(export\s+)?(const\s+)?enum\s/m.test(t)) bad.push(`${relative(src, f)}: enum`);
    if (/^\s*(export\s+)?namespace\s/m.test(t)) bad.push(`${relative(src, f)}: namespace`);
    for (const m of t.matchAll(/constructor\s*\(([^)]*)\)/g)) {
      if (m[1].split(',').some((param) => /^\s*(private|public|protected|readonly|override)\s+\w+\s*[?:=]/.test(param))) bad.push(`${relative(src, f)}: parameter property`);
    }
  }
  assert.deepEqual(bad, []);
});

test('flow: element semantics come from the one table (ie.ts), integers from the one reader (uint.ts)', () => {
  const flow = files(join(src, 'flow')).map((f) => [relative(src, f), readFileSync(f, 'utf8')] as const);
  // the data-set walker, the compiled plans and the options reader switch on the table's kinds, never on raw element ids
  for (const f of ['dataset.ts', 'plan.ts', 'sampling.ts']) {
    const [, text] = flow.find(([p]) => p === join('flow', f))!;
    assert.ok(all.some((i) => i.from === join('flow', f) && i.target === join('flow', 'ie.ts')), `${f} reads kinds from ie.ts`);
    assert.deepEqual([...text.matchAll(/case\s+\d+\s*:/g)].map((m) => `${f}: ${m[0]}`), [], `${f} switches on raw ids`);
  }
  const tables = flow.filter(([, t]) => /octetDeltaCount|samplingInterval/.test(t) && /\bK\.\w+/.test(t) && /\bie\(|STD\b/.test(t)).map(([p]) => p);
  assert.deepEqual(tables, [join('flow', 'ie.ts')], 'one element table');
  const readers = flow.filter(([, t]) => /function\s+(uint\w*|u32\w*|u16\w*)\s*\(/.test(t)).map(([p]) => p);
  assert.deepEqual(readers, [join('flow', 'uint.ts')], 'one unsigned-integer reader');
});

test('threads talk through one channel: postMessage only in core/channel.ts, Workers only from core/spawn-worker.ts', () => {
  const bad: string[] = [];
  for (const f of files(src)) {
    const rel = relative(src, f);
    const t = readFileSync(f, 'utf8').replace(/^\s*(\*|\/\/).*$/gm, '');
    // the selftest role answers with a bare echo: it checks that a worker starts at all
    if (/\.postMessage\(/.test(t) && rel !== join('core', 'channel.ts') && rel !== 'worker-roles.ts') bad.push(`${rel}: postMessage`);
    if (/new Worker\(/.test(t) && rel !== join('core', 'spawn-worker.ts')) bad.push(`${rel}: new Worker`);
  }
  assert.deepEqual(bad, []);
});

test('the ban module imports neither bgp nor api: only core, config, engine events and itself', () => {
  assert.deepEqual(
    violations('ban', (i) => external(i) ? !['koa', '@koa/router', 'prom-client'].includes(i.spec) : ['core', 'config', 'ban'].includes(area(i.target!)) || i.target === join('engine', 'events.ts')),
    [],
  );
});

test('the ban module takes its slice of the config, never the whole: no file in ban/ names the Config type, and route building is handed in (ban/ imports no mitigation/)', () => {
  const whole = all.filter((i) => area(i.from) === 'ban' && i.target === join('config', 'schema.ts') && (i.names ?? ['*']).some((n) => n === 'Config' || n === '*'));
  assert.deepEqual(whole.map((i) => `${i.from} imports ${i.spec}`), []);
  const texts = files(join(src, 'ban')).filter((f) => /\bReadonly<Config>|:\s*Config\b/.test(readFileSync(f, 'utf8')));
  assert.deepEqual(texts.map((f) => relative(src, f)), []);
});

test('mitigation is the only pipeline module that drives bgp, and only through bgp/index.ts', () => {
  const pipeline = ['flow', 'engine', 'ban', 'store', 'api', 'notify', 'history', 'signals', 'cluster', 'console'];
  const bad = all.filter((i) => i.target && area(i.target) === 'bgp' && pipeline.includes(area(i.from)));
  assert.deepEqual(bad.map((i) => `${i.from} imports ${i.spec}`), []);
  const deep = all.filter((i) => i.target && area(i.target) === 'bgp' && area(i.from) === 'mitigation' && i.target !== join('bgp', 'index.ts'));
  assert.deepEqual(deep.map((i) => `${i.from} imports ${i.spec}`), [], 'mitigation uses bgp only through bgp/index.ts');
});

test('lint, profiles, methods and collateral are pure: no I/O, no daemon, api, store or speaker state', () => {
  const pure = ['lint.ts', 'profiles.ts', 'methods.ts', 'collateral.ts'].map((f) => join('mitigation', f));
  const bad = all.filter((i) => pure.includes(i.from) && (external(i) ? !['valibot'].includes(i.spec) : !['core', 'config', 'ban', 'mitigation', 'bgp'].includes(area(i.target!)) && i.target !== join('engine', 'events.ts')));
  assert.deepEqual(bad.map((i) => `${i.from} imports ${i.spec}`), []);
  const ban = all.filter((i) => pure.includes(i.from) && i.target && area(i.target) === 'ban' && ![join('ban', 'types.ts'), join('ban', 'intent.ts')].includes(i.target));
  assert.deepEqual(ban.map((i) => `${i.from} imports ${i.spec}`), [], 'only the ban module\'s types');
});

test('the engine emits attacks only: it imports neither ban nor mitigation', () => {
  assert.deepEqual(violations('engine', (i) => external(i) || !['ban', 'mitigation'].includes(area(i.target!))), []);
});

test('nothing imports daemon/ but the command that runs it; api does not import daemon/', () => {
  const intoDaemon = all.filter((i) => i.target && area(i.target) === 'daemon' && area(i.from) !== 'daemon');
  assert.deepEqual(
    intoDaemon.filter((i) => i.from !== join('cli', 'daemon.ts')).map((i) => `${i.from} imports ${i.spec}`),
    [],
    'the daemon is the composition root: it imports the modules, none imports it',
  );
  assert.deepEqual(all.filter((i) => area(i.from) === 'api' && i.target && area(i.target) === 'daemon').map((i) => `${i.from} imports ${i.spec}`), []);
});

test('daemon/ports.ts takes no view type from the API; daemon files import each other without a cycle', () => {
  assert.deepEqual(all.filter((i) => i.from === join('daemon', 'ports.ts') && i.target && area(i.target) === 'api').map((i) => i.spec), []);
  const edges = new Map<string, string[]>();
  for (const i of all) {
    if (!i.target || area(i.from) !== 'daemon' || area(i.target) !== 'daemon') continue;
    edges.set(i.from, [...(edges.get(i.from) ?? []), i.target.endsWith('.ts') ? i.target : `${i.target}.ts`]);
  }
  const cycles: string[] = [];
  const visit = (f: string, path: string[]) => {
    if (path.includes(f)) {
      cycles.push([...path.slice(path.indexOf(f)), f].join(' -> '));
      return;
    }
    for (const t of edges.get(f) ?? []) visit(t, [...path, f]);
  };
  for (const f of edges.keys()) visit(f, []);
  assert.deepEqual(cycles, []);
});

test('reload paths (config/diff.ts, the daemon, the engine, the ban module, the speaker) compare configs structurally, never by JSON.stringify', () => {
  for (const f of [join('config', 'diff.ts'), join('daemon', 'daemon.ts'), join('daemon', 'reload.ts'), join('daemon', 'engine-adapter.ts'), join('engine', 'engine.ts'), join('bgp', 'speaker.ts'), join('ban', 'bans.ts')]) {
    assert.ok(!/JSON\.stringify/.test(readFileSync(join(src, f), 'utf8')), `${f} uses JSON.stringify`);
  }
});

test('notify depends only on core, config and the engine and ban event types; nothing but daemon/ and cli/ imports notify', () => {
  assert.deepEqual(
    violations('notify', (i) => external(i) || ['core', 'config', 'notify'].includes(area(i.target!)) || i.target === join('engine', 'events.ts') || i.target === join('ban', 'types.ts')),
    [],
  );
  const users = all.filter((i) => i.target && area(i.target) === 'notify' && !['notify', 'daemon', 'cli'].includes(area(i.from)));
  assert.deepEqual(users.map((i) => `${i.from} imports ${i.spec}`), []);
});

test('history depends only on core, config and the engine\'s and ban module\'s event types; only history/client.ts talks to ClickHouse', () => {
  assert.deepEqual(
    violations('history', (i) => {
      if (external(i)) return i.spec.startsWith('node:') || (i.spec === '@clickhouse/client' && i.from === join('history', 'client.ts'));
      const t = area(i.target!);
      return ['core', 'config', 'history'].includes(t) || i.target === join('engine', 'events.ts') || i.target === join('ban', 'types.ts');
    }),
    [],
  );
  const users = all.filter((i) => i.spec.startsWith('@clickhouse/')).map((i) => i.from);
  assert.deepEqual(users, [join('history', 'client.ts')]);
});

test('signals reach bans only through the ban module\'s door: they import core, config, engine events and the ban module, never bgp, mitigation, store or the daemon; only api/ and daemon/ import signals', () => {
  assert.deepEqual(
    violations('signals', (i) => {
      if (external(i)) return i.spec === 'valibot';
      const t = area(i.target!);
      return ['core', 'config', 'signals', 'ban'].includes(t) || i.target === join('engine', 'events.ts');
    }),
    [],
  );
  const users = all.filter((i) => i.target && area(i.target) === 'signals' && !['signals', 'api', 'daemon'].includes(area(i.from)));
  assert.deepEqual(users.map((i) => `${i.from} imports ${i.spec}`), []);
});

test('commands are manual bans: command/ imports only core and itself (the ExaBGP grammar is handed in); only daemon/ and api/ import it; it reaches no route but through the ban module\'s port', () => {
  assert.deepEqual(violations('command', (i) => (external(i) ? false : ['core', 'command'].includes(area(i.target!)))), []);
  const users = all.filter((i) => i.target && area(i.target) === 'command' && !['command', 'daemon', 'api'].includes(area(i.from)));
  assert.deepEqual(users.map((i) => `${i.from} imports ${i.spec}`), []);
  const apiUses = all.filter((i) => i.target && area(i.target) === 'command' && area(i.from) === 'api' && !/^\s*type\b/.test(readFileSync(join(src, i.from), 'utf8').split('\n').find((l) => l.includes(i.spec))?.replace(/^\s*import\s+/, '') ?? ''));
  assert.deepEqual(apiUses.map((i) => `${i.from} imports ${i.spec}`), [], 'api/ takes only types from command/');
});

test('stats and view types are declared once, by the module that produces them; daemon/ports.ts declares none', () => {
  const byName = new Map<string, string[]>();
  for (const f of files(src)) {
    const rel = relative(src, f);
    for (const m of readFileSync(f, 'utf8').matchAll(/export\s+(?:interface|type)\s+(\w*(?:Stats|View))\b/g)) {
      byName.set(m[1], [...(byName.get(m[1]) ?? []), rel]);
    }
  }
  const twice = [...byName].filter(([, where]) => where.length > 1).map(([n, where]) => `${n}: ${where.join(', ')}`);
  assert.deepEqual(twice, []);
  const own = [...byName].filter(([, where]) => where.includes(join('daemon', 'ports.ts'))).map(([n]) => n);
  assert.deepEqual(own, [], 'daemon/ports.ts takes stats types from their producers');
});

test('the console (console/) is browser code: the daemon never imports it, nor preact or uplot; the console imports nothing from src/ and only preact, uplot and itself', () => {
  const intoConsole = all.filter((i) => (i.target !== undefined && i.target.split(sep)[0] === '..' && i.target.split(sep)[1] === 'console') || /^(preact|uplot)(\/|$)/.test(i.spec) || i.spec === 'esbuild');
  assert.deepEqual(intoConsole.map((i) => `${i.from} imports ${i.spec}`), []);
  const ui = join(root, 'console');
  const bad: string[] = [];
  const walk = (dir: string) => {
    for (const n of readdirSync(dir)) {
      const p = join(dir, n);
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.tsx?$/.test(n)) {
        const text = readFileSync(p, 'utf8');
        for (const m of text.matchAll(/(?:^|\n)\s*import\s[^'"]*?['"]([^'"]+)['"]|(?:^|\n)\s*import\s+['"]([^'"]+)['"]/g)) {
          const spec = m[1] ?? m[2];
          const ok = spec.startsWith('.') ? resolve(dirname(p), spec).startsWith(ui + sep) : /^(preact|uplot)(\/|$)/.test(spec);
          if (!ok) bad.push(`${relative(root, p)} imports ${spec}`);
        }
      }
    }
  };
  walk(ui);
  assert.deepEqual(bad, []);
});

test('cluster reaches bans only through the ban module\'s door: it imports core, config, the ban module and etcd3, never bgp, mitigation, store or the daemon; only cluster/ talks to etcd; only daemon/ and api/ import cluster', () => {
  assert.deepEqual(
    violations('cluster', (i) => {
      if (external(i)) return ['etcd3', 'node:fs', 'node:crypto'].includes(i.spec);
      return ['core', 'config', 'cluster', 'ban'].includes(area(i.target!));
    }),
    [],
  );
  const etcd = all.filter((i) => i.spec === 'etcd3' && area(i.from) !== 'cluster');
  assert.deepEqual(etcd.map((i) => `${i.from} imports ${i.spec}`), []);
  const users = all.filter((i) => i.target && area(i.target) === 'cluster' && !['cluster', 'daemon', 'api'].includes(area(i.from)));
  assert.deepEqual(users.map((i) => `${i.from} imports ${i.spec}`), []);
});
