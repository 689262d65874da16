/**
 * Totality of the NetFlow v5/v9 and IPFIX decoders: random bytes and mutated
 * real datagrams (bit flips, truncation, length fields tampered with) never
 * throw (the dispatcher would count "internal"), never hang, and every lost
 * record is a counted error. Bounded runs of a few seconds each.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { FlowDecoder } from '../../src/flow/decode.ts';
import { parseCapture, readCapture } from '../../src/flow/pcap.ts';
import { handmade, handmadePcap } from '../fixtures/netflow/build.ts';
import { threadCpuMs } from '../helpers/cpu-time.ts';

const repoRoot = path.resolve(import.meta.dirname, '../..');
const capDir = path.resolve(repoRoot, '../shared/flows/captures');

function corpus(): Buffer[] {
  const out: Buffer[] = handmade().map((d) => d.payload);
  if (existsSync(capDir)) {
    for (const f of readdirSync(capDir).filter((x) => /^(nf|ipfix|mixed)/.test(x))) {
      let n = 0;
      for (const pk of readCapture(path.join(capDir, f))) {
        const v = pk.payload.length >= 2 ? pk.payload.readUInt16BE(0) : 0;
        if (v === 5 || v === 9 || v === 10) {
          out.push(pk.payload);
          if (++n >= 6) break;
        }
      }
    }
  }
  return out;
}

const SEEDS = corpus();
let calls = 0;

function feed(dec: FlowDecoder, buf: Buffer, exporter = '192.0.2.1'): void {
  const ms = threadCpuMs(() => dec.datagram(buf, exporter, 1700000000000 + calls++));
  assert.ok(ms < 200, `one datagram took ${ms.toFixed(1)} ms of CPU`);
}

function noInternal(dec: FlowDecoder): void {
  for (const s of dec.stats.values()) assert.equal(s.errors.internal, undefined, `decoder threw: ${JSON.stringify(s.errors)}`);
}

const sink = { record() {} };
const header = fc.constantFrom(5, 9, 10);

test('fuzz: random bytes behind a NetFlow/IPFIX version', () => {
  const dec = new FlowDecoder(sink);
  fc.assert(
    fc.property(header, fc.uint8Array({ minLength: 0, maxLength: 1500 }), (v, body) => {
      const b = Buffer.alloc(body.length + 2);
      b.writeUInt16BE(v, 0);
      b.set(body, 2);
      feed(dec, b);
    }),
    { numRuns: 3000, interruptAfterTimeLimit: 4000 },
  );
  noInternal(dec);
});

test('fuzz: random sets after a valid header (template, options template and data sets)', () => {
  const dec = new FlowDecoder(sink);
  const set = fc.record({
    id: fc.oneof(fc.constantFrom(0, 1, 2, 3, 256, 257, 300), fc.integer({ min: 0, max: 65535 })),
    body: fc.uint8Array({ maxLength: 200 }),
    lenDelta: fc.constantFrom(0, 0, 0, -1, 1, -4, 1000),
  });
  fc.assert(
    fc.property(fc.boolean(), fc.array(set, { maxLength: 6 }), (isIpfix, sets) => {
      const parts: Buffer[] = [];
      for (const s of sets) {
        const h = Buffer.alloc(4);
        h.writeUInt16BE(s.id, 0);
        h.writeUInt16BE(Math.max(0, Math.min(65535, s.body.length + 4 + s.lenDelta)), 2);
        parts.push(h, Buffer.from(s.body));
      }
      const body = Buffer.concat(parts);
      const hdr = Buffer.alloc(isIpfix ? 16 : 20);
      hdr.writeUInt16BE(isIpfix ? 10 : 9, 0);
      hdr.writeUInt16BE(isIpfix ? Math.min(65535, 16 + body.length) : sets.length, 2);
      feed(dec, Buffer.concat([hdr, body]), isIpfix ? 'i' : 'n');
    }),
    { numRuns: 3000, interruptAfterTimeLimit: 4000 },
  );
  noInternal(dec);
});

test('fuzz: mutated real datagrams (bit flips, truncation, length tampering)', () => {
  assert.ok(SEEDS.length > 3);
  const dec = new FlowDecoder(sink);
  // give the decoder the templates first, so mutations hit data decoding too
  for (const s of SEEDS) feed(dec, s);
  const mutation = fc.record({
    seed: fc.nat({ max: SEEDS.length - 1 }),
    flips: fc.array(fc.record({ at: fc.nat(), bit: fc.nat({ max: 7 }) }), { maxLength: 8 }),
    u16s: fc.array(fc.record({ at: fc.nat(), v: fc.constantFrom(0, 1, 3, 4, 5, 255, 256, 65535) }), { maxLength: 3 }),
    cut: fc.option(fc.nat(), { nil: undefined }),
  });
  fc.assert(
    fc.property(mutation, (m) => {
      const b = Buffer.from(SEEDS[m.seed]);
      for (const f of m.flips) if (b.length) b[f.at % b.length] ^= 1 << f.bit;
      for (const u of m.u16s) if (b.length >= 2) b.writeUInt16BE(u.v, u.at % (b.length - 1));
      const out = m.cut === undefined ? b : b.subarray(0, m.cut % (b.length + 1));
      feed(dec, out);
    }),
    { numRuns: 5000, interruptAfterTimeLimit: 5000 },
  );
  noInternal(dec);
});

test('fuzz: pcap reader on mutated captures yields or throws Error, never hangs', () => {
  const base = handmadePcap();
  fc.assert(
    fc.property(fc.array(fc.record({ at: fc.nat(), v: fc.nat({ max: 255 }) }), { maxLength: 10 }), fc.nat(), (edits, cut) => {
      const b = Buffer.from(base);
      for (const e of edits) b[24 + (e.at % (b.length - 24))] = e.v; // keep the magic
      let n = 0;
      const ms = threadCpuMs(() => {
        for (const pk of parseCapture(b.subarray(0, 24 + (cut % (b.length - 23))))) {
          assert.ok(pk.payload.length <= 65535);
          n++;
        }
      });
      assert.ok(n <= 3);
      assert.ok(ms < 200, `${ms.toFixed(1)} ms of CPU`);
    }),
    { numRuns: 2000, interruptAfterTimeLimit: 3000 },
  );
});
