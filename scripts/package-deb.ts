/**
 * `npm run package [-- --out DIR]`: the Debian package
 * breakwater_<version>_amd64.deb, built with dpkg-deb from the single
 * executable (dist/breakwater; `npm run build` runs first when it is missing):
 *
 *   /usr/bin/breakwater                         the executable
 *   /etc/breakwater/breakwater.yaml             config (a conffile: upgrades keep your edits)
 *   /lib/systemd/system/breakwater.service      the unit (packaging/breakwater.service)
 *   /usr/share/doc/breakwater/                  README, docs/, examples (incl. bgp-listen.conf)
 *   /var/lib/breakwater                         state (created by postinst, owned by the user)
 *
 * postinst creates the system user and group "breakwater" and the state
 * directory; it does not enable or start the service (the config needs your
 * networks and neighbors first). A purge removes /var/lib/breakwater.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const args = process.argv.slice(2);
const oi = args.indexOf('--out');
const outDir = oi >= 0 ? resolve(args[oi + 1]) : join(root, 'dist');
const exe = join(root, 'dist/breakwater');
const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version as string;
const ARCH = 'amd64';

if (!existsSync(exe)) {
  console.log('dist/breakwater missing: npm run build');
  execFileSync(process.execPath, [join(root, 'scripts/build-sea.ts')], { stdio: 'inherit', cwd: root });
}

const stage = mkdtempSync(join(tmpdir(), 'breakwater-deb-'));
try {
  const put = (rel: string, from: string | { text: string }, mode: number) => {
    const to = join(stage, rel);
    mkdirSync(dirname(to), { recursive: true });
    if (typeof from === 'string') copyFileSync(from, to);
    else writeFileSync(to, from.text);
    chmodSync(to, mode);
  };
  put('usr/bin/breakwater', exe, 0o755);
  put('etc/breakwater/breakwater.yaml', join(root, 'packaging/breakwater.yaml'), 0o640);
  put('lib/systemd/system/breakwater.service', join(root, 'packaging/breakwater.service'), 0o644);
  const doc = 'usr/share/doc/breakwater';
  put(`${doc}/README.md`, join(root, 'README.md'), 0o644);
  put(`${doc}/copyright`, join(root, 'LICENSE'), 0o644);
  cpSync(join(root, 'docs'), join(stage, doc, 'docs'), { recursive: true });
  for (const f of readdirSync(join(root, 'examples'))) put(`${doc}/examples/${f}`, join(root, 'examples', f), 0o644);
  put(`${doc}/examples/bgp-listen.conf`, join(root, 'packaging/bgp-listen.conf'), 0o644);

  const du = (dir: string): number => readdirSync(dir, { withFileTypes: true }).reduce((n, e) => n + (e.isDirectory() ? du(join(dir, e.name)) : statSync(join(dir, e.name)).size), 0);
  const installedKiB = Math.ceil(du(stage) / 1024);
  put(
    'DEBIAN/control',
    {
      text: [
        'Package: breakwater',
        `Version: ${version}`,
        `Architecture: ${ARCH}`,
        'Maintainer: Breakwater maintainers <breakwater@localhost>',
        `Installed-Size: ${installedKiB}`,
        'Depends: libc6 (>= 2.28), libstdc++6, passwd',
        'Section: net',
        'Priority: optional',
        'Description: DDoS detection and automated BGP mitigation (RTBH and FlowSpec)',
        ' Breakwater receives NetFlow v5/v9, IPFIX and sFlow v5 from routers, detects',
        ' volumetric attacks against the prefixes you protect, and mitigates them over its',
        ' own BGP sessions with blackhole routes or FlowSpec rules. Dry-run by default.',
        '',
      ].join('\n'),
    },
    0o644,
  );
  put('DEBIAN/conffiles', { text: '/etc/breakwater/breakwater.yaml\n' }, 0o644);
  put(
    'DEBIAN/postinst',
    {
      text: `#!/bin/sh
set -e
if [ "$1" = configure ]; then
  getent group breakwater >/dev/null || groupadd --system breakwater
  getent passwd breakwater >/dev/null || useradd --system --gid breakwater --home-dir /var/lib/breakwater --no-create-home --shell /usr/sbin/nologin --comment "Breakwater DDoS mitigation" breakwater
  mkdir -p /var/lib/breakwater
  chown breakwater:breakwater /var/lib/breakwater
  chmod 0750 /var/lib/breakwater
  chgrp breakwater /etc/breakwater/breakwater.yaml
  chmod 0640 /etc/breakwater/breakwater.yaml
  if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
fi
exit 0
`,
    },
    0o755,
  );
  put(
    'DEBIAN/prerm',
    {
      text: `#!/bin/sh
set -e
if [ -d /run/systemd/system ] && [ "$1" = remove ]; then
  systemctl stop breakwater.service >/dev/null 2>&1 || true
  systemctl disable breakwater.service >/dev/null 2>&1 || true
fi
exit 0
`,
    },
    0o755,
  );
  put(
    'DEBIAN/postrm',
    {
      text: `#!/bin/sh
set -e
if [ "$1" = purge ]; then
  rm -rf /var/lib/breakwater
fi
if [ -d /run/systemd/system ]; then systemctl daemon-reload >/dev/null 2>&1 || true; fi
exit 0
`,
    },
    0o755,
  );
  mkdirSync(outDir, { recursive: true });
  const deb = join(outDir, `breakwater_${version}_${ARCH}.deb`);
  rmSync(deb, { force: true });
  // gzip: xz saves a little more on the executable but takes several times longer.
  const r = spawnSync('dpkg-deb', ['-Zgzip', '--root-owner-group', '--build', stage, deb], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`dpkg-deb failed (${r.error?.message ?? r.status})`);
  console.log(`built ${deb} (${(statSync(deb).size / 2 ** 20).toFixed(1)} MiB)`);
} finally {
  rmSync(stage, { recursive: true, force: true });
}
