/**
 * Packaging: the systemd unit in packaging/ passes `systemd-analyze verify`
 * (alone and with the port-179 drop-in) and carries the reload and hardening
 * settings docs/install.md describes; `npm run package` builds
 * breakwater_<version>_amd64.deb from the single executable (building it
 * first when dist/breakwater is missing) with the documented layout,
 * conffile, maintainer scripts and unit, and the packaged executable runs
 * `-version` and `-check-config` on the packaged config. Installing it with
 * dpkg is .ci/run's job (it changes the machine).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { removeDir, tempDir } from '../helpers/netns.ts';
import { singleExecutable } from '../helpers/sea.ts';

const root = join(import.meta.dirname, '../..');
const unitText = readFileSync(join(root, 'packaging/breakwater.service'), 'utf8');
const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;

/** The unit with ExecStart pointing at an executable stub (verify checks that the binary exists). */
function verify(dir: string, text: string): { status: number | null; out: string } {
  const stub = join(dir, 'breakwater');
  writeFileSync(stub, '#!/bin/sh\nexit 0\n');
  chmodSync(stub, 0o755);
  const unit = join(dir, 'breakwater.service');
  writeFileSync(unit, text.replaceAll('/usr/bin/breakwater', stub));
  const r = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

test('packaging/breakwater.service passes systemd-analyze verify, alone and with the bgp-listen drop-in', (t) => {
  const dir = tempDir('bw-unit-');
  t.after(() => removeDir(dir));
  const alone = verify(dir, unitText);
  assert.equal(alone.status, 0, alone.out);
  assert.doesNotMatch(alone.out, /breakwater\.service/, alone.out);
  const dropIn = readFileSync(join(root, 'packaging/bgp-listen.conf'), 'utf8');
  const merged = verify(dir, unitText + '\n' + dropIn);
  assert.equal(merged.status, 0, merged.out);
  // verify does fail on a broken unit (the check can fail).
  const broken = verify(dir, unitText.replace('ExecStart=', 'ExecStrat='));
  assert.notEqual(broken.status, 0);
});

test('the unit: reload is SIGHUP, hardening on, no capability unless the drop-in grants CAP_NET_BIND_SERVICE for port 179', () => {
  const keys = new Map<string, string[]>();
  for (const line of unitText.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (m) keys.set(m[1], [...(keys.get(m[1]) ?? []), m[2]]);
  }
  const one = (k: string) => keys.get(k)?.join(' ');
  assert.equal(one('ExecStart'), '/usr/bin/breakwater -config /etc/breakwater/breakwater.yaml');
  assert.equal(one('ExecReload'), '/bin/kill -HUP $MAINPID');
  assert.equal(one('User'), 'breakwater');
  assert.equal(one('NoNewPrivileges'), 'yes');
  assert.equal(one('ProtectSystem'), 'strict');
  assert.equal(one('ReadWritePaths'), '/var/lib/breakwater');
  assert.equal(one('PrivateTmp'), 'yes');
  assert.equal(one('CapabilityBoundingSet'), '');
  assert.equal(one('AmbientCapabilities'), '');
  assert.equal(keys.has('MemoryDenyWriteExecute'), false, 'V8 needs W+X memory');
  const dropIn = readFileSync(join(root, 'packaging/bgp-listen.conf'), 'utf8');
  assert.match(dropIn, /^AmbientCapabilities=CAP_NET_BIND_SERVICE$/m);
  assert.match(dropIn, /^CapabilityBoundingSet=CAP_NET_BIND_SERVICE$/m);
  // The packaged config binds nothing below 1024, so the unit needs no capability.
  const cfg = parse(readFileSync(join(root, 'packaging/breakwater.yaml'), 'utf8'));
  for (const l of [cfg.listen.netflow, cfg.listen.sflow, cfg.api.listen, cfg.bgp.listen ?? '']) if (l) assert.ok(Number(String(l).split(':').pop()) >= 1024, l);
  assert.equal(cfg.storage.data_dir, '/var/lib/breakwater');
  assert.equal(cfg.dry_run, true);
});

test(`npm run package builds breakwater_${version}_amd64.deb: layout, conffile, user, unit; the packaged executable checks the packaged config`, { timeout: 600_000 }, (t) => {
  const dir = tempDir('bw-deb-');
  t.after(() => removeDir(dir));
  singleExecutable();
  const r = spawnSync(process.execPath, [join(root, 'scripts/package-deb.ts'), '--out', dir], { cwd: root, encoding: 'utf8', timeout: 580_000 });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const deb = join(dir, `breakwater_${version}_amd64.deb`);
  const field = (f: string) => execFileSync('dpkg-deb', ['-f', deb, f], { encoding: 'utf8' }).trim();
  assert.equal(field('Package'), 'breakwater');
  assert.equal(field('Version'), version);
  assert.equal(field('Architecture'), 'amd64');
  const list = execFileSync('dpkg-deb', ['-c', deb], { encoding: 'utf8', maxBuffer: 16 << 20 });
  for (const [path, mode, owner] of [
    ['./usr/bin/breakwater', '-rwxr-xr-x', 'root/root'],
    ['./etc/breakwater/breakwater.yaml', '-rw-r-----', 'root/root'],
    ['./lib/systemd/system/breakwater.service', '-rw-r--r--', 'root/root'],
    ['./usr/share/doc/breakwater/README.md', '-rw-r--r--', 'root/root'],
    ['./usr/share/doc/breakwater/docs/install.md', '-rw-r--r--', 'root/root'],
    ['./usr/share/doc/breakwater/examples/bgp-listen.conf', '-rw-r--r--', 'root/root'],
  ]) {
    assert.match(list, new RegExp(`^${mode.replace(/-/g, '\\-')} ${owner} .* ${path.replace(/\./g, '\\.')}$`, 'm'), `${path} ${mode} ${owner}`);
  }
  const ctl = join(dir, 'control');
  execFileSync('dpkg-deb', ['-e', deb, ctl]);
  assert.equal(readFileSync(join(ctl, 'conffiles'), 'utf8'), '/etc/breakwater/breakwater.yaml\n');
  const postinst = readFileSync(join(ctl, 'postinst'), 'utf8');
  assert.match(postinst, /useradd --system .* breakwater/);
  assert.match(postinst, /chown breakwater:breakwater \/var\/lib\/breakwater/);
  assert.match(readFileSync(join(ctl, 'postrm'), 'utf8'), /purge[\s\S]*rm -rf \/var\/lib\/breakwater/);
  for (const s of ['postinst', 'prerm', 'postrm']) assert.equal(spawnSync('sh', ['-n', join(ctl, s)]).status, 0, `${s} is valid sh`);

  const x = join(dir, 'root');
  execFileSync('dpkg-deb', ['-x', deb, x]);
  assert.equal(readFileSync(join(x, 'lib/systemd/system/breakwater.service'), 'utf8'), unitText);
  const bin = join(x, 'usr/bin/breakwater');
  assert.match(execFileSync(bin, ['-version'], { encoding: 'utf8' }), new RegExp(`^breakwater ${version.replace(/\./g, '\\.')} `));
  const check = spawnSync(bin, ['-config', join(x, 'etc/breakwater/breakwater.yaml'), '-check-config'], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(check.status, 0, check.stderr);
  assert.equal(parse(check.stdout).storage.data_dir, '/var/lib/breakwater');
});
