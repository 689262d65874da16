/**
 * The project's own captures (pcaps/, made from real exporters by the script
 * named in pcaps/README.md): every NetFlow/IPFIX datagram in every capture is
 * decoded by Breakwater and by tshark and compared record by record.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { compareWithTshark, decodeOurs, fixV9Counts, tsharkAvailable, tsharkCflow } from '../helpers/tshark.ts';

const pcapsDir = path.resolve(import.meta.dirname, '../../pcaps');
const files = existsSync(pcapsDir) ? readdirSync(pcapsDir).filter((f) => /\.(pcap|pcapng)$/.test(f)).sort() : [];
const documented = existsSync(path.join(pcapsDir, 'README.md'));

test('pcaps/: captures exist once pcaps/README.md describes them', { skip: documented ? false : 'pcaps/README.md not written yet' }, () => {
  assert.ok(files.length > 0, 'pcaps/README.md exists but pcaps/ holds no capture');
});

test('pcaps/: every NetFlow/IPFIX capture agrees with tshark record by record', { skip: !tsharkAvailable() ? 'tshark not installed' : files.length === 0 ? 'no captures in pcaps/ yet' : false }, async (t) => {
  let compared = 0;
  for (const f of files) {
    const file = path.join(pcapsDir, f);
    const ours = decodeOurs(file, false);
    if (ours.perDatagram.length === 0) continue; // sFlow only: test/flow/sflow*
    compared++;
    await t.test(f, () => {
      // softflowd's v9 header count covers flow records only; tshark stops after `count`
      // records, so it gets a copy whose counts cover every record (see fixV9Counts)
      const fixed = fixV9Counts(ours);
      let theirs;
      if (fixed) {
        const dir = mkdtempSync(path.join(tmpdir(), 'bw-v9-'));
        try {
          writeFileSync(path.join(dir, f), fixed);
          theirs = tsharkCflow(path.join(dir, f), ours.ports);
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      } else theirs = tsharkCflow(file, ours.ports);
      const bad = compareWithTshark(ours, theirs, [], false);
      assert.deepEqual(bad.slice(0, 20), [], `${f}: ${bad.length} differences with tshark`);
      assert.equal(ours.errors.internal, undefined);
    });
  }
  assert.ok(compared > 0, 'pcaps/ has NetFlow/IPFIX captures');
});
