/**
 * Compact binary batches of FlowRecords, for moving decoded records from the
 * collector worker threads to the main thread without one object per record.
 * A batch is one ArrayBuffer of fixed-size slots (transferred, not copied)
 * plus the exporter strings its slots refer to by index.
 *
 *   slot (SLOT_BYTES = 112, little endian, 8-byte aligned)
 *   0  u8 proto (0 nf5, 1 nf9, 2 ipfix, 3 sflow5)  1 u8 family  2 u8 ip_proto  3 u8 tcp_flags
 *   4  u8 icmp_type  5 u8 icmp_code  6 u8 fragment  7 u8 -
 *   8  u16 src_port  10 u16 dst_port
 *   12 u32 exporter index   16 u32 domain   20 u32 fields
 *   24 f64 bytes   32 f64 packets
 *   40 u32 sampling_rate   44 u32 in_if   48 u32 out_if   52 u32 -
 *   56 f64 start   64 f64 end   72 f64 received
 *   80 src address (16)   96 dst address (16); IPv4 as u32 in the first 4 bytes
 */
import type { FlowProto, FlowRecord, FlowSink } from './record.ts';
import { newFlowRecord } from './record.ts';

export const SLOT_BYTES = 112;
const S32 = SLOT_BYTES / 4;
const S64 = SLOT_BYTES / 8;

const PROTOS: FlowProto[] = ['netflow5', 'netflow9', 'ipfix', 'sflow5'];
const PROTO_CODE: Record<FlowProto, number> = { netflow5: 0, netflow9: 1, ipfix: 2, sflow5: 3 };

export interface Batch {
  buf: ArrayBuffer;
  count: number;
  exporters: string[];
}

/** Fills batches; the caller decides when to take() one (full, or on a timer). */
export class BatchWriter implements FlowSink {
  readonly capacity: number;
  count = 0;
  private buf: ArrayBuffer | null = null;
  private u8!: Uint8Array;
  private u16!: Uint16Array;
  private u32!: Uint32Array;
  private f64!: Float64Array;
  private exporters: string[] = [];
  private lastExporter = '';
  private lastIndex = -1;
  /** Called when the batch becomes full (take() it there). */
  onFull: (() => void) | null = null;
  /** Supplies a fresh buffer (e.g. from a pool); null means none available. */
  private readonly alloc: () => ArrayBuffer | null;
  /** Records dropped because no buffer was available. */
  dropped = 0;

  constructor(capacity = 1024, alloc?: () => ArrayBuffer | null) {
    this.capacity = capacity;
    this.alloc = alloc ?? (() => new ArrayBuffer(capacity * SLOT_BYTES));
    this.attach(this.alloc());
  }

  get bytesPerBatch(): number {
    return this.capacity * SLOT_BYTES;
  }

  private attach(buf: ArrayBuffer | null): void {
    this.buf = buf;
    if (buf === null) return;
    this.u8 = new Uint8Array(buf);
    this.u16 = new Uint16Array(buf);
    this.u32 = new Uint32Array(buf);
    this.f64 = new Float64Array(buf);
  }

  record(r: FlowRecord): void {
    if (this.count >= this.capacity) {
      // Full and not taken yet (no onFull handler): nowhere to put it.
      this.dropped++;
      return;
    }
    if (this.buf === null) {
      this.attach(this.alloc());
      if (this.buf === null) {
        this.dropped++;
        return;
      }
    }
    let ei: number;
    if (r.exporter === this.lastExporter && this.lastIndex >= 0) ei = this.lastIndex;
    else {
      ei = this.exporters.indexOf(r.exporter);
      if (ei === -1) ei = this.exporters.push(r.exporter) - 1;
      this.lastExporter = r.exporter;
      this.lastIndex = ei;
    }
    const i = this.count;
    const b = i * SLOT_BYTES;
    const u8 = this.u8, u32 = this.u32, f64 = this.f64;
    u8[b] = PROTO_CODE[r.proto];
    u8[b + 1] = r.family;
    u8[b + 2] = r.ipProto;
    u8[b + 3] = r.tcpFlags;
    u8[b + 4] = r.icmpType;
    u8[b + 5] = r.icmpCode;
    u8[b + 6] = r.fragment;
    const h = b >> 1;
    this.u16[h + 4] = r.srcPort;
    this.u16[h + 5] = r.dstPort;
    const w = i * S32;
    u32[w + 3] = ei;
    u32[w + 4] = r.domain;
    u32[w + 5] = r.fields;
    const d = i * S64;
    f64[d + 3] = r.bytes;
    f64[d + 4] = r.packets;
    u32[w + 10] = r.samplingRate;
    u32[w + 11] = r.inIf;
    u32[w + 12] = r.outIf;
    f64[d + 7] = r.start;
    f64[d + 8] = r.end;
    f64[d + 9] = r.received;
    if (r.family === 4) {
      u32[w + 20] = r.src4;
      u32[w + 24] = r.dst4;
    } else {
      const s6 = r.src6, d6 = r.dst6;
      for (let k = 0; k < 16; k++) {
        u8[b + 80 + k] = s6[k];
        u8[b + 96 + k] = d6[k];
      }
    }
    this.count = i + 1;
    if (this.count === this.capacity && this.onFull) this.onFull();
  }

  /** The filled batch (null when empty); the writer starts a new buffer on the next record. */
  take(): Batch | null {
    if (this.count === 0 || this.buf === null) return null;
    const batch: Batch = { buf: this.buf, count: this.count, exporters: this.exporters };
    this.count = 0;
    this.exporters = [];
    this.lastExporter = '';
    this.lastIndex = -1;
    this.attach(this.alloc());
    return batch;
  }
}

/** Replays batches into a sink through ONE reused FlowRecord. */
export class BatchReader {
  private readonly rec: FlowRecord = newFlowRecord();

  /** Calls sink.record() for every slot; returns the number of records. */
  read(batch: Batch, sink: FlowSink): number {
    const { buf, count, exporters } = batch;
    const u8 = new Uint8Array(buf);
    const u16 = new Uint16Array(buf);
    const u32 = new Uint32Array(buf);
    const f64 = new Float64Array(buf);
    const r = this.rec;
    for (let i = 0; i < count; i++) {
      const b = i * SLOT_BYTES, h = b >> 1, w = i * S32, d = i * S64;
      r.proto = PROTOS[u8[b]] ?? 'netflow5';
      r.family = u8[b + 1] === 6 ? 6 : 4;
      r.ipProto = u8[b + 2];
      r.tcpFlags = u8[b + 3];
      r.icmpType = u8[b + 4];
      r.icmpCode = u8[b + 5];
      r.fragment = u8[b + 6];
      r.srcPort = u16[h + 4];
      r.dstPort = u16[h + 5];
      r.exporter = exporters[u32[w + 3]] ?? '';
      r.domain = u32[w + 4];
      r.fields = u32[w + 5];
      r.bytes = f64[d + 3];
      r.packets = f64[d + 4];
      r.samplingRate = u32[w + 10];
      r.inIf = u32[w + 11];
      r.outIf = u32[w + 12];
      r.start = f64[d + 7];
      r.end = f64[d + 8];
      r.received = f64[d + 9];
      if (r.family === 4) {
        r.src4 = u32[w + 20];
        r.dst4 = u32[w + 24];
        r.src6.fill(0);
        r.dst6.fill(0);
      } else {
        r.src4 = 0;
        r.dst4 = 0;
        const s6 = r.src6, d6 = r.dst6;
        for (let k = 0; k < 16; k++) {
          s6[k] = u8[b + 80 + k];
          d6[k] = u8[b + 96 + k];
        }
      }
      sink.record(r);
    }
    return count;
  }
}
