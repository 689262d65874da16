/**
 * Hand-made NetFlow v5 / v9 / IPFIX datagrams (test/fixtures/netflow/build.ts)
 * for behaviour real exporters in the corpus do not show: sampler tables,
 * variable-length and enterprise fields, reverse elements, reduced-size
 * encoding, data before template, withdrawal, redefinition, expiry, and
 * truncation.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FlowDecoder } from '../../src/flow/decode.ts';
import { F, type FlowRecord } from '../../src/flow/record.ts';
import { recordJson } from '../../src/cli/decode.ts';
import { HOLD_PER_TEMPLATE } from '../../src/flow/templates.ts';
import { expectedRecord, tsharkAvailable, tsharkCflow } from '../helpers/tshark.ts';
import { HANDMADE_PCAP, handmade, handmadePcap, ip4, ipfix, ipfixOptionsTemplate, ipfixTemplate, records, v5, v9, v9OptionsTemplate, v9Template, withdrawal } from '../fixtures/netflow/build.ts';

type Rec = Record<string, string | number> & { rev_bytes?: number; rev_packets?: number };

function decoder(opts: ConstructorParameters<typeof FlowDecoder>[1] = {}) {
  const out: Rec[] = [];
  const dec = new FlowDecoder(
    {
      record(r: FlowRecord) {
        const j: Rec = recordJson(r);
        if (r.fields & F.REVERSE) {
          j.rev_bytes = r.revBytes;
          j.rev_packets = r.revPackets;
        }
        out.push(j);
      },
    },
    opts,
  );
  return { dec, out };
}

const T0 = 1700000000000;

test('fixtures: handmade.pcap is up to date with build.ts', () => {
  assert.ok(existsSync(HANDMADE_PCAP), 'run: node test/fixtures/netflow/build.ts');
  assert.ok(readFileSync(HANDMADE_PCAP).equals(handmadePcap()), 'handmade.pcap differs from build.ts output; regenerate it');
});

test('fixtures: IPFIX variable-length, enterprise, reverse and reduced-size fields, IPv6', () => {
  const { dec, out } = decoder();
  const [d] = handmade();
  assert.equal(dec.datagram(d.payload, d.src, T0), 3);
  assert.deepEqual(dec.stats.get(d.src)!.errors, {});
  for (let i = 0; i < 3; i++) {
    const r = out[i];
    assert.equal(r.src_addr, `2001:db8::${1 + i}`);
    assert.equal(r.dst_addr, '2001:db8::10');
    assert.equal(r.src_port, 40000 + i);
    assert.equal(r.dst_port, 443);
    assert.equal(r.bytes, 1500 * (i + 1)); // 2-byte octetDeltaCount
    assert.equal(r.packets, 3 + i); // 1-byte packetDeltaCount
    assert.equal(r.rev_bytes, 777);
    assert.equal(r.rev_packets, 7);
    assert.equal(r.in_if, 5);
    assert.equal(r.out_if, 6);
    assert.equal(r.start, 1700000000123);
    assert.equal(r.end, 1700000000456);
    assert.equal(r.domain, 5);
  }
});

test('fixtures: handmade.pcap agrees with tshark', { skip: tsharkAvailable() ? false : 'tshark not installed' }, () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'bw-nf-'));
  try {
    const file = path.join(dir, 'h.pcap');
    writeFileSync(file, handmadePcap());
    const theirs = tsharkCflow(file, [2055, 4739]);
    const { dec, out } = decoder();
    for (const d of handmade()) dec.datagram(d.payload, d.src, T0);
    const exp = theirs.flatMap((p) => p.flows.filter((f) => !f.options).map((f) => expectedRecord(p, f)));
    assert.equal(out.length, exp.length);
    for (let i = 0; i < exp.length; i++) for (const [k, v] of Object.entries(exp[i])) assert.equal(out[i][k], v, `record ${i} ${k}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('fixtures: v9 sampler table (48/49/50) referenced by FLOW_SAMPLER_ID; precedence', () => {
  const { dec, out } = decoder({ defaultSamplingRate: 3 });
  const d = handmade()[1];
  assert.equal(dec.datagram(d.payload, d.src, T0), 2);
  assert.deepEqual(
    out.map((r) => r.sampling_rate),
    [100, 512],
  );
  // exporter-wide option (34 without a sampler id), then a record with its own 34
  const tpl = v9Template(262, [{ id: 8, len: 4 }, { id: 48, len: 1 }, { id: 34, len: 4 }]);
  const tplNoRate = v9Template(263, [{ id: 8, len: 4 }, { id: 48, len: 1 }]);
  dec.datagram(
    v9(42, [
      { id: 1, body: v9OptionsTemplate(264, [{ id: 1, len: 4 }], [{ id: 34, len: 4 }]) },
      { id: 264, body: records((w) => w.u32(0).u32(1000)) },
      { id: 0, body: tpl },
      { id: 0, body: tplNoRate },
      { id: 262, body: records((w) => w.u32(1).u8(1).u32(64)) }, // own rate wins over sampler 1
      { id: 263, body: records((w) => w.u32(2).u8(2).u32(3).u8(9)) }, // sampler 2; unknown sampler 9 -> exporter-wide
    ]),
    d.src,
    T0,
  );
  assert.deepEqual(
    out.slice(2).map((r) => r.sampling_rate),
    [64, 512, 1000],
  );
  // another source id of the same exporter knows none of this: default rate
  dec.datagram(v9(43, [{ id: 0, body: tplNoRate }, { id: 263, body: records((w) => w.u32(2).u8(1)) }]), d.src, T0);
  assert.equal(out.at(-1)!.sampling_rate, 3);
  dec.setDefaultSamplingRate(7);
  dec.datagram(v9(43, [{ id: 263, body: records((w) => w.u32(2).u8(1)) }]), d.src, T0);
  assert.equal(out.at(-1)!.sampling_rate, 7);
});

test('fixtures: IPFIX sampling options: selectorId with 305/306 and 309/310, systemInitTime', () => {
  const { dec, out } = decoder();
  const opt = ipfixOptionsTemplate(400, [{ id: 302, len: 4 }], [{ id: 305, len: 4 }, { id: 306, len: 4 }, { id: 309, len: 4 }, { id: 310, len: 4 }, { id: 160, len: 8 }]);
  const tpl = ipfixTemplate(401, [{ id: 8, len: 4 }, { id: 302, len: 4 }, { id: 22, len: 4 }, { id: 21, len: 4 }]);
  const n = dec.datagram(
    ipfix(1, [
      { id: 3, body: opt },
      { id: 400, body: records((w) => w.u32(1).u32(1).u32(99).u32(0).u32(0).u64(T0).u32(2).u32(0).u32(0).u32(1).u32(256).u64(T0)) },
      { id: 2, body: tpl },
      { id: 401, body: records((w) => w.u32(ip4('10.1.1.1')).u32(1).u32(5000).u32(6000).u32(ip4('10.1.1.2')).u32(2).u32(5000).u32(6000)) },
    ]),
    '192.0.2.9',
    T0,
  );
  assert.equal(n, 2);
  assert.deepEqual(
    out.map((r) => [r.sampling_rate, r.start, r.end]),
    [
      [100, T0 + 5000, T0 + 6000],
      [256, T0 + 5000, T0 + 6000],
    ],
  );
});

test('fixtures: data before template is counted, held (bounded) and decoded when the template comes', () => {
  const { dec, out } = decoder();
  const tpl = { id: 0, body: v9Template(300, [{ id: 8, len: 4 }, { id: 1, len: 4 }]) };
  const data = (i: number) => ({ id: 300, body: records((w) => w.u32(i).u32(100 + i)) });
  for (let i = 0; i < HOLD_PER_TEMPLATE + 3; i++) assert.equal(dec.datagram(v9(1, [data(i)]), 'x', T0 + i), 0);
  const st = dec.stats.get('x')!;
  assert.equal(st.noTemplate, HOLD_PER_TEMPLATE + 3);
  assert.equal(st.errors.no_template, HOLD_PER_TEMPLATE + 3);
  assert.equal(st.errors.held_dropped, 3);
  // the template arrives: held sets first, then the datagram's own data
  assert.equal(dec.datagram(v9(1, [tpl, data(99)]), 'x', T0 + 10), HOLD_PER_TEMPLATE + 1);
  assert.deepEqual(
    out.map((r) => r.bytes),
    [...Array.from({ length: HOLD_PER_TEMPLATE }, (_, i) => 100 + i), 199],
  );
  // held too long: dropped, not decoded
  const late = decoder();
  late.dec.datagram(ipfix(1, [{ id: 300, body: records((w) => w.u32(1).u32(1)) }]), 'y', T0);
  assert.equal(late.dec.datagram(ipfix(1, [{ id: 2, body: ipfixTemplate(300, [{ id: 8, len: 4 }, { id: 1, len: 4 }]) }]), 'y', T0 + 120_000), 0);
  // holding disabled
  const off = decoder({ holdDataSets: false });
  off.dec.datagram(v9(1, [data(1)]), 'z', T0);
  assert.equal(off.dec.datagram(v9(1, [tpl]), 'z', T0), 0);
});

test('fixtures: IPFIX template withdrawal, withdraw-all, and redefinition (data <-> options)', () => {
  const { dec, out } = decoder();
  const ex = '192.0.2.30';
  const t1 = ipfixTemplate(500, [{ id: 8, len: 4 }, { id: 1, len: 4 }]);
  const d1 = { id: 500, body: records((w) => w.u32(1).u32(11)) };
  assert.equal(dec.datagram(ipfix(7, [{ id: 2, body: t1 }, d1]), ex, T0), 1);
  assert.equal(dec.stats.get(ex)!.templates, 1);
  assert.equal(dec.datagram(ipfix(7, [{ id: 2, body: withdrawal(500) }, d1]), ex, T0), 0);
  assert.equal(dec.stats.get(ex)!.templates, 0);
  assert.equal(dec.stats.get(ex)!.errors.no_template, 1);
  // withdraw all data templates (id 2) leaves options templates alone
  const ot = ipfixOptionsTemplate(502, [{ id: 302, len: 4 }], [{ id: 34, len: 4 }]);
  dec.datagram(ipfix(7, [{ id: 2, body: t1 }, { id: 2, body: ipfixTemplate(501, [{ id: 8, len: 4 }]) }, { id: 3, body: ot }]), ex, T0);
  assert.equal(dec.stats.get(ex)!.templates, 3);
  dec.datagram(ipfix(7, [{ id: 2, body: withdrawal(2) }]), ex, T0);
  assert.equal(dec.stats.get(ex)!.templates, 1);
  dec.datagram(ipfix(7, [{ id: 3, body: withdrawal(3) }]), ex, T0);
  assert.equal(dec.stats.get(ex)!.templates, 0);
  // redefinition: 500 becomes an options template (its data is options data: no flow records) ...
  out.length = 0;
  dec.datagram(ipfix(7, [{ id: 2, body: t1 }, { id: 3, body: ipfixOptionsTemplate(500, [{ id: 302, len: 4 }], [{ id: 34, len: 4 }]) }, d1]), ex, T0);
  assert.equal(out.length, 0);
  // ... then a data template again with another layout, which replaces it
  const t2 = ipfixTemplate(500, [{ id: 1, len: 4 }, { id: 12, len: 4 }]);
  assert.equal(dec.datagram(ipfix(7, [{ id: 2, body: t2 }, { id: 500, body: records((w) => w.u32(22).u32(ip4('192.0.2.77'))) }]), ex, T0), 1);
  assert.equal(out[0].bytes, 22);
  assert.equal(out[0].dst_addr, '192.0.2.77');
  assert.equal(out[0].src_addr, undefined);
  assert.equal(dec.stats.get(ex)!.templates, 1);
});

test('fixtures: templates expire without refresh; a refresh keeps them', () => {
  const { dec } = decoder({ templateTimeoutMs: 1000 });
  const tpl = { id: 0, body: v9Template(600, [{ id: 8, len: 4 }]) };
  const data = { id: 600, body: records((w) => w.u32(1)) };
  assert.equal(dec.datagram(v9(1, [tpl, data]), 'e', T0), 1);
  assert.equal(dec.datagram(v9(1, [tpl]), 'e', T0 + 900), 0); // refresh
  assert.equal(dec.datagram(v9(1, [data]), 'e', T0 + 1800), 1);
  assert.equal(dec.datagram(v9(1, [data]), 'e', T0 + 3000), 0);
  assert.equal(dec.stats.get('e')!.errors.template_expired, 1);
});

test('fixtures: NetFlow v5 header sampling interval, ICMP in the destination port, bad counts', () => {
  const { dec, out } = decoder({ defaultSamplingRate: 9 });
  assert.equal(dec.datagram(v5(3, 0x4000 | 64), 'v5', T0), 3);
  assert.deepEqual(
    out.map((r) => r.sampling_rate),
    [64, 64, 64],
  );
  assert.equal(out[0].icmp_type, 8);
  assert.equal(out[0].icmp_code, 3);
  assert.equal(out[0].start, 1700000000000 - 10000);
  assert.equal(out[0].end, 1700000000000 - 1000);
  dec.datagram(v5(1, 0), 'v5', T0);
  assert.equal(out.at(-1)!.sampling_rate, 9);
  const bad = v5(2);
  bad.writeUInt16BE(3, 2);
  assert.equal(dec.datagram(bad, 'v5', T0), 0);
  assert.equal(dec.stats.get('v5')!.errors.bad_count, 1);
});

test('fixtures: every truncation of valid datagrams decodes without throwing and counts errors', () => {
  for (const d of [...handmade(), { src: 's', payload: v5(5) }]) {
    const full = decoder();
    const total = full.dec.datagram(d.payload, d.src, T0);
    for (let cut = 0; cut < d.payload.length; cut++) {
      const { dec } = decoder();
      const n = dec.datagram(d.payload.subarray(0, cut), d.src, T0);
      assert.ok(n <= total, `cut ${cut}: ${n} > ${total}`);
      const errs = Object.values(dec.stats.get(d.src)!.errors).reduce((a, b) => a + b, 0);
      if (n < total) assert.ok(errs > 0 || dec.stats.get(d.src)!.noTemplate > 0, `cut ${cut} lost records without an error`);
    }
  }
});

test('fixtures: degenerate sets and templates do not hang', () => {
  const { dec } = decoder();
  // a template whose every field has length 0: records cannot advance
  dec.datagram(v9(1, [{ id: 0, body: v9Template(700, [{ id: 8, len: 0 }, { id: 1, len: 0 }]) }, { id: 700, body: Buffer.alloc(64) }]), 'd', T0);
  assert.equal(dec.stats.get('d')!.errors.empty_template, 1);
  // set length below 4
  const b = v9(1, [{ id: 256, body: Buffer.alloc(4) }]);
  b.writeUInt16BE(2, 22);
  dec.datagram(b, 'd', T0);
  assert.equal(dec.stats.get('d')!.errors.bad_set_length, 1);
  // v9 template with 0 fields, IPFIX options template whose scope count exceeds its field count
  dec.datagram(v9(1, [{ id: 0, body: Buffer.from([1, 0, 0, 0]) }]), 'd', T0);
  const bad = ipfixOptionsTemplate(701, [{ id: 302, len: 4 }], []);
  bad.writeUInt16BE(5, 4);
  dec.datagram(ipfix(1, [{ id: 3, body: bad }]), 'd', T0);
  assert.equal(dec.stats.get('d')!.errors.bad_template, 2);
});
