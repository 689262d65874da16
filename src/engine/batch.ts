/**
 * RecordBatch: a small struct-of-arrays copy of the flow records the engine
 * has accepted but not yet counted.
 *
 * Why: with a million tracked hosts almost every record's hash slot and
 * counter row are cache (and TLB) misses. Counting records one by one makes
 * each miss wait for the one before; counting a batch in two passes (find
 * every row, then add to every row) lets the CPU overlap the misses of
 * independent records. The engine counts a batch when it is full and before
 * anything reads its state (tick, hosts, attacks, stats, reconfigure), so
 * what it decides is exactly what record-by-record counting would decide.
 */
import { newFlowRecord, type FlowRecord } from '../flow/record.ts';

/** Bits of RecordBatch.kind. */
export const BK = { DST: 1, SRC: 2, V6: 4 } as const;

export class RecordBatch {
  readonly size: number;
  n = 0;
  readonly kind: Uint8Array;
  readonly cls: Uint8Array;
  readonly src4: Uint32Array;
  readonly dst4: Uint32Array;
  readonly src6: Uint8Array;
  readonly dst6: Uint8Array;
  /** Sampling-corrected (and spread) packets, bytes, flows. */
  readonly pk: Float64Array;
  readonly by: Float64Array;
  readonly fl: Float64Array;
  /** The record as exported, for classification and the flow ring. */
  readonly ports: Uint32Array;
  /** ipProto | tcpFlags << 8 | fragment << 16. */
  readonly pf: Uint32Array;
  readonly packets: Float64Array;
  readonly bytes: Float64Array;
  readonly rate: Float64Array;
  readonly time: Float64Array;
  readonly exporter: string[];
  /** Rows found by the first pass: incoming host, outgoing host, carpet prefix. */
  readonly rowIn: Int32Array;
  readonly rowOut: Int32Array;
  readonly rowCarpet: Int32Array;
  /** Carpet prefix of dst4 (filled by the engine for the carpet lookup). */
  readonly carpetKey: Uint32Array;
  /** Scratch record for the slow paths (classification, flow ring, IPv6). */
  readonly rec: FlowRecord = newFlowRecord();
  /** Entry currently materialised in `rec` (-1: none). */
  recAt = -1;

  constructor(size: number) {
    this.size = size;
    this.kind = new Uint8Array(size);
    this.cls = new Uint8Array(size);
    this.src4 = new Uint32Array(size);
    this.dst4 = new Uint32Array(size);
    this.src6 = new Uint8Array(size * 16);
    this.dst6 = new Uint8Array(size * 16);
    this.pk = new Float64Array(size);
    this.by = new Float64Array(size);
    this.fl = new Float64Array(size);
    this.ports = new Uint32Array(size);
    this.pf = new Uint32Array(size);
    this.packets = new Float64Array(size);
    this.bytes = new Float64Array(size);
    this.rate = new Float64Array(size);
    this.time = new Float64Array(size);
    this.exporter = new Array<string>(size).fill('');
    this.rowIn = new Int32Array(size);
    this.rowOut = new Int32Array(size);
    this.rowCarpet = new Int32Array(size);
    this.carpetKey = new Uint32Array(size);
  }

  /** Appends a record; returns true when the batch is full. */
  push(r: FlowRecord, kind: number, pk: number, by: number, fl: number, cls: number): boolean {
    const i = this.n;
    this.kind[i] = kind;
    this.cls[i] = cls;
    if ((kind & BK.V6) === 0) {
      this.src4[i] = r.src4;
      this.dst4[i] = r.dst4;
    } else {
      this.src6.set(r.src6, i * 16);
      this.dst6.set(r.dst6, i * 16);
    }
    this.pk[i] = pk;
    this.by[i] = by;
    this.fl[i] = fl;
    this.ports[i] = ((r.srcPort & 0xffff) << 16) | (r.dstPort & 0xffff);
    this.pf[i] = (r.ipProto & 0xff) | ((r.tcpFlags & 0xff) << 8) | ((r.fragment ? 1 : 0) << 16);
    this.packets[i] = r.packets;
    this.bytes[i] = r.bytes;
    this.rate[i] = r.samplingRate;
    this.time[i] = r.received;
    this.exporter[i] = r.exporter;
    this.n = i + 1;
    return this.n === this.size;
  }

  /** Entry i as a FlowRecord (the fields classification and the flow ring read). */
  record(i: number): FlowRecord {
    const r = this.rec;
    if (this.recAt === i) return r;
    this.recAt = i;
    if ((this.kind[i] & BK.V6) === 0) {
      r.family = 4;
      r.src4 = this.src4[i];
      r.dst4 = this.dst4[i];
    } else {
      r.family = 6;
      const s6 = this.src6, d6 = this.dst6, rs = r.src6, rd = r.dst6, o = i * 16;
      for (let j = 0; j < 16; j++) { rs[j] = s6[o + j]; rd[j] = d6[o + j]; }
    }
    const ports = this.ports[i], pf = this.pf[i];
    r.srcPort = ports >>> 16;
    r.dstPort = ports & 0xffff;
    r.ipProto = pf & 0xff;
    r.tcpFlags = (pf >>> 8) & 0xff;
    r.fragment = (pf >>> 16) & 1;
    r.packets = this.packets[i];
    r.bytes = this.bytes[i];
    r.samplingRate = this.rate[i];
    r.received = this.time[i];
    r.exporter = this.exporter[i];
    return r;
  }

  clear(): void {
    this.n = 0;
    this.recAt = -1;
  }
}
