/**
 * Every NetFlow v5/v9 and IPFIX capture of the shared corpus
 * (../shared/flows/captures), decoded by Breakwater and by tshark, compared
 * record by record; MANIFEST.md's flow counts and resolved sampling rates are
 * a second oracle. Differences that are tshark's, or deliberate choices of
 * Breakwater, are listed in QUIRKS with the precise reason.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { compareWithTshark, decodeOurs, tsharkAvailable, tsharkCflow } from '../helpers/tshark.ts';
import { setCompiledPlans } from '../../src/flow/templates.ts';

const repoRoot = path.resolve(import.meta.dirname, '../..');
const capDir = path.resolve(repoRoot, '../shared/flows/captures');
const haveCaps = existsSync(capDir);
const skip = !haveCaps ? `shared captures not found at ${capDir}` : !tsharkAvailable() ? 'tshark not installed' : false;

/**
 * Known, explained differences, per file. `records` lists the record keys
 * whose comparison with tshark is skipped for that file; `manifest` marks
 * files whose MANIFEST flow count Breakwater deliberately does not reproduce.
 */
const QUIRKS: Record<string, { reason: string; keys?: string[]; rejected?: boolean; records?: number }> = {
  'nf9_h3c.pcap': {
    reason:
      'the template declares IPV4_SRC_PREFIX (43) with length 2; tshark throws "IPv4 address with length 2" and abandons the datagram after the first of its 16 flowsets. Breakwater skips that unused field by length and decodes one 80-byte record in each of the 16 flowsets (header count 16)',
    records: 16,
  },
  'nf9_malformed_invalid01.pcap': {
    reason:
      'header count says 2 but the datagram carries 2 templates, an options template (sampling interval 100), its options data and 2 data flowsets. tshark stops after `count` records; Breakwater follows the flowset lengths and decodes the 2 flows (rate 100)',
    records: 2,
  },
  'ipfix_pmacct_cisco_options_map_reassignment.pcap': {
    reason:
      'frames 11 and 21 come from a new UDP source port (65156, to another collector address) and use data template 347 defined in frame 10 (port 61853). tshark scopes templates to the UDP 4-tuple; Breakwater scopes them to (exporter address, observation domain), as specified, and decodes those 9 records',
    records: 9,
  },
  'nf5_malformed_invalid01.pcap': {
    reason: 'header count 55582 but 30 records present: Breakwater rejects the datagram (bad_count); tshark dissects the 30 records that are there',
    rejected: true,
  },
  'nf5_malformed_invalid02.pcap': {
    reason: 'header count 163 but 30 records present: Breakwater rejects the datagram (bad_count); tshark dissects the 30 records that are there',
    rejected: true,
  },
};

interface ManifestRow {
  flows: number;
  sampling: string;
}

function manifest(): Map<string, ManifestRow> {
  const m = new Map<string, ManifestRow>();
  const text = readFileSync(path.join(capDir, 'MANIFEST.md'), 'utf8');
  for (const line of text.split('\n')) {
    if (!line.startsWith('| ') || line.startsWith('| file') || line.startsWith('|---')) continue;
    const cols = line.split('|').map((c) => c.trim());
    // | file | source | content | made | ver | pkts | flows | opts | ctrs | tpl/otpl | exporters | sampling | sha |
    m.set(cols[1], { flows: Number(cols[7]), sampling: cols[12] });
  }
  return m;
}

/** "2000(option):11 4000(option):1" / "-(none):8" -> rate -> count. */
function manifestRates(s: string): Map<number, number> | null {
  if (s === '-' || s === '') return null;
  const out = new Map<number, number>();
  for (const part of s.split(/\s+/)) {
    const m = /^(-|\d+)\([^)]*\):(\d+)$/.exec(part);
    if (!m) return null;
    const rate = m[1] === '-' ? 1 : Number(m[1]);
    out.set(rate, (out.get(rate) ?? 0) + Number(m[2]));
  }
  return out;
}

const files = haveCaps ? readdirSync(capDir).filter((f) => /\.(pcap|pcapng)$/.test(f)).sort() : [];

test('captures: every NetFlow/IPFIX capture agrees with tshark and MANIFEST.md', { skip }, async (t) => {
  const man = manifest();
  let compared = 0;
  for (const f of files) {
    const file = path.join(capDir, f);
    const ours = decodeOurs(file, false);
    if (ours.perDatagram.length === 0) continue; // sFlow only
    compared++;
    await t.test(f, () => {
      const quirk = QUIRKS[f];
      const theirs = tsharkCflow(file, ours.ports);
      const total = ours.perDatagram.reduce((a, r) => a + r.length, 0);
      if (quirk?.rejected) {
        assert.equal(total, 0, `${f}: ${quirk.reason}`);
        assert.ok(Object.keys(ours.errors).length > 0, 'rejected datagrams are counted as errors');
        return;
      }
      const bad = compareWithTshark(ours, theirs, quirk?.keys ?? [], quirk?.records !== undefined);
      assert.deepEqual(bad.slice(0, 20), [], `${f}: ${bad.length} differences with tshark${quirk ? ` (${quirk.reason})` : ''}`);
      const row = man.get(f);
      assert.ok(row, `${f} is in MANIFEST.md`);
      if (quirk?.records !== undefined) {
        // MANIFEST's count is tshark's; see the quirk
        assert.equal(total, quirk.records, quirk.reason);
        return;
      }
      assert.equal(total, row.flows, 'flow records = MANIFEST flows');
      const rates = manifestRates(row.sampling);
      if (rates) {
        const got = new Map<number, number>();
        for (const d of ours.perDatagram) for (const r of d) got.set(r.sampling_rate as number, (got.get(r.sampling_rate as number) ?? 0) + 1);
        assert.deepEqual([...got].sort(), [...rates].sort(), `resolved sampling rates = MANIFEST ${row.sampling}`);
      }
    });
  }
  assert.ok(compared >= 90, `compared ${compared} NetFlow/IPFIX captures`);
});

test('captures: data held before its template adds records, never changes the others', { skip: haveCaps ? false : `shared captures not found at ${capDir}` }, () => {
  const gained: string[] = [];
  for (const f of files) {
    const file = path.join(capDir, f);
    const without = decodeOurs(file, false);
    if (without.perDatagram.length === 0) continue;
    const withHold = decodeOurs(file, true);
    const a = without.perDatagram.flat().map((r) => JSON.stringify(r));
    const b = new Map<string, number>();
    for (const r of withHold.perDatagram.flat()) b.set(JSON.stringify(r), (b.get(JSON.stringify(r)) ?? 0) + 1);
    for (const r of a) {
      const n = b.get(r) ?? 0;
      assert.ok(n > 0, `${f}: record lost when holding data sets: ${r}`);
      b.set(r, n - 1);
    }
    const extra = withHold.perDatagram.flat().length - a.length;
    if (extra > 0) {
      assert.ok(without.noTemplate > 0, `${f}: extra records only come from sets that had no template`);
      gained.push(f);
    }
  }
  // the corpus files that send data before its template (MANIFEST: "data ... BEFORE template")
  for (const f of ['ipfix_netscaler_data_before_template.pcap', 'nf9_akvorado_data_and_templates.pcap', 'ipfix_akvorado_mpls_labels_38pkt.pcap']) {
    assert.ok(gained.includes(f), `${f}: held sets decoded once the template arrived`);
  }
});

test('captures: compiled template plans decode exactly like the generic field walk', { skip: haveCaps ? false : `shared captures not found at ${capDir}` }, () => {
  let records = 0;
  for (const f of files) {
    const file = path.join(capDir, f);
    const compiled = decodeOurs(file, true);
    if (compiled.perDatagram.length === 0) continue;
    setCompiledPlans(false);
    try {
      const generic = decodeOurs(file, true);
      assert.deepEqual(compiled.perDatagram, generic.perDatagram, f);
      assert.deepEqual(compiled.errors, generic.errors, f);
    } finally {
      setCompiledPlans(true);
    }
    records += compiled.perDatagram.flat().length;
  }
  assert.ok(records > 15000, `${records} records compared`);
});
