/** `breakwater decode` end to end: JSON lines on stdout, summary on stderr. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { HANDMADE_PCAP } from '../fixtures/netflow/build.ts';

const root = path.resolve(import.meta.dirname, '../..');

function decode(...args: string[]) {
  return spawnSync(process.execPath, [path.join(root, 'src/main.ts'), 'decode', ...args], { encoding: 'utf8', timeout: 60000 });
}

test('decode CLI: one JSON object per record with the keys the source carried, summary on stderr', () => {
  const r = decode('--default-sampling-rate', '5', HANDMADE_PCAP);
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(lines.length, 3 + 2 + 3);
  const ipfix = lines.filter((l) => l.proto === 'ipfix');
  assert.equal(ipfix.length, 3);
  assert.deepEqual(Object.keys(ipfix[0]), ['exporter', 'proto', 'domain', 'src_addr', 'dst_addr', 'src_port', 'dst_port', 'ip_proto', 'bytes', 'packets', 'sampling_rate', 'in_if', 'out_if', 'start', 'end']);
  assert.equal(ipfix[0].sampling_rate, 5, 'no sampling information: the default rate');
  const v9 = lines.filter((l) => l.proto === 'netflow9');
  assert.deepEqual(v9.map((l) => l.sampling_rate), [100, 512]);
  assert.equal(v9[0].tcp_flags, undefined, 'not in the template, not printed');
  const v5 = lines.filter((l) => l.proto === 'netflow5');
  assert.equal(v5[0].domain, undefined);
  assert.equal(v5[0].sampling_rate, 64);
  assert.match(r.stderr, /datagrams: 3 {2}records: 8 {2}exporters: 3 .*errors: none/);
});

test('decode CLI: usage errors and unreadable files exit non-zero', () => {
  assert.notEqual(decode().status, 0);
  assert.notEqual(decode('--default-sampling-rate', 'x', HANDMADE_PCAP).status, 0);
  const r = decode(path.join(root, 'package.json'));
  assert.equal(r.status, 1);
  assert.match(r.stderr, /not a pcap/);
});

test('decode CLI: a corrupt record header or an unknown link type is an error naming the file, not an empty success', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'bw-decode-'));
  try {
    const good = readFileSync(HANDMADE_PCAP);
    // the first record header's incl_len (bytes 32..35 of a classic pcap) set to 0xffffffff
    const corrupt = Buffer.from(good);
    corrupt.writeUInt32LE(0xffffffff, 32);
    const fCorrupt = path.join(dir, 'corrupt.pcap');
    writeFileSync(fCorrupt, corrupt);
    let r = decode(fCorrupt);
    assert.equal(r.status, 1, r.stderr);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /corrupt\.pcap: corrupt record header at byte 24: incl_len 4294967295/);
    // link type 147 (DLT_USER0): not a link layer the reader knows
    const unknown = Buffer.from(good);
    unknown.writeUInt32LE(147, 20);
    const fUnknown = path.join(dir, 'unknown.pcap');
    writeFileSync(fUnknown, unknown);
    r = decode(fUnknown);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /unknown\.pcap: unsupported link type 147/);
    // the intact file still decodes
    assert.equal(decode(HANDMADE_PCAP).status, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
