/**
 * Compact binary batches of FlowRecords, for moving decoded records from the
 * collector worker threads to the main thread without one object per record.
 * A batch is one ArrayBuffer of fixed-size slots (transferred, not copied)
 * plus the exporter strings its slots refer to by index.
 *
 *   slot (SLOT_BYTES = 128, little endian; two slots per 256 bytes, 8-byte aligned)
 *    0 u8 proto (0 nf5, 1 nf9, 2 ipfix, 3 sflow5)  1 u8 family  2 u8 ip_proto  3 u8 tcp_flags
 *    4 u8 icmp_type  5 u8 icmp_code  6 u8 fragment  7 u8 direction
 *    8 u16 src_port  10 u16 dst_port
 *   12 u32 exporter index  16 u32 domain  20 u32 fields  24 u32 sampling_rate
 *   28 u32 in_if  32 u32 out_if  36 u32 -
 *   40 f64 bytes  48 f64 packets  56 f64 start  64 f64 end  72 f64 received
 *   80 f64 rev_bytes  88 f64 rev_packets
 *   96 src address (16)  112 dst address (16); IPv4 as u32 in the first 4 bytes
 *
 * The byte fields are written and read as packed 32-bit words (3 stores
 * instead of 9); the layout above is what those words hold on a little-endian
 * host (the only kind Node supports on Linux x64/arm64).
 */
import type { FlowProto, FlowRecord, FlowSink } from './record.ts';
import { newFlowRecord } from './record.ts';

export const SLOT_BYTES = 128;
const S32 = SLOT_BYTES / 4;
const S64 = SLOT_BYTES / 8;

const PROTOS: readonly FlowProto[] = ['netflow5', 'netflow9', 'ipfix', 'sflow5'];

function protoCode(p: FlowProto): number {
  // Interned strings: these compare by reference.
  return p === 'sflow5' ? 3 : p === 'netflow9' ? 1 : p === 'ipfix' ? 2 : 0;
}

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
  private u8: Uint8Array = new Uint8Array(0);
  private u32: Uint32Array = new Uint32Array(0);
  private f64: Float64Array = new Float64Array(0);
  private exporters: string[] = [];
  private lastExporter = '';
  private lastIndex = -1;
  /** Called when the batch becomes full (take() it there). */
  onFull: (() => void) | null = null;
  /** Called when a record lands in an empty batch (e.g. to arm a flush timer). */
  onFirst: (() => void) | null = null;
  /** Supplies a fresh buffer (e.g. from a pool); null means none available. */
  private readonly alloc: () => ArrayBuffer | null;
  /** Records dropped because no buffer was available. */
  dropped = 0;
  /** 32-bit views of the IPv6 arrays of the record last seen (decoders reuse one scratch record). */
  private src6: Uint8Array | null = null;
  private dst6: Uint8Array | null = null;
  private s32: Uint32Array | null = null;
  private d32: Uint32Array | null = null;

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
    let ei = this.lastIndex;
    if (r.exporter !== this.lastExporter || ei < 0) {
      ei = this.exporters.indexOf(r.exporter);
      if (ei === -1) ei = this.exporters.push(r.exporter) - 1;
      this.lastExporter = r.exporter;
      this.lastIndex = ei;
    }
    const i = this.count;
    if (i === 0 && this.onFirst !== null) this.onFirst();
    const w = i * S32;
    const u32 = this.u32, f64 = this.f64;
    u32[w] = protoCode(r.proto) | (r.family << 8) | (r.ipProto << 16) | (r.tcpFlags << 24);
    u32[w + 1] = r.icmpType | (r.icmpCode << 8) | (r.fragment << 16) | (r.direction << 24);
    u32[w + 2] = r.srcPort | (r.dstPort << 16);
    u32[w + 3] = ei;
    u32[w + 4] = r.domain;
    u32[w + 5] = r.fields;
    u32[w + 6] = r.samplingRate;
    u32[w + 7] = r.inIf;
    u32[w + 8] = r.outIf;
    const d = i * S64;
    f64[d + 5] = r.bytes;
    f64[d + 6] = r.packets;
    f64[d + 7] = r.start;
    f64[d + 8] = r.end;
    f64[d + 9] = r.received;
    f64[d + 10] = r.revBytes;
    f64[d + 11] = r.revPackets;
    if (r.family === 4) {
      u32[w + 24] = r.src4;
      u32[w + 28] = r.dst4;
    } else {
      if (r.src6 !== this.src6 || r.dst6 !== this.dst6) this.views6(r);
      const s = this.s32, d6 = this.d32;
      if (s !== null && d6 !== null) {
        u32[w + 24] = s[0];
        u32[w + 25] = s[1];
        u32[w + 26] = s[2];
        u32[w + 27] = s[3];
        u32[w + 28] = d6[0];
        u32[w + 29] = d6[1];
        u32[w + 30] = d6[2];
        u32[w + 31] = d6[3];
      } else {
        const u8 = this.u8, s6 = r.src6, dd = r.dst6, b = i * SLOT_BYTES;
        for (let k = 0; k < 16; k++) {
          u8[b + 96 + k] = s6[k];
          u8[b + 112 + k] = dd[k];
        }
      }
    }
    this.count = i + 1;
    if (this.count === this.capacity && this.onFull) this.onFull();
  }

  private views6(r: FlowRecord): void {
    const a = r.src6, b = r.dst6;
    this.src6 = a;
    this.dst6 = b;
    const ok = (x: Uint8Array) => x.length === 16 && x.byteOffset % 4 === 0;
    this.s32 = ok(a) && ok(b) ? new Uint32Array(a.buffer, a.byteOffset, 4) : null;
    this.d32 = this.s32 !== null ? new Uint32Array(b.buffer, b.byteOffset, 4) : null;
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
  private readonly s32 = new Uint32Array(this.rec.src6.buffer, this.rec.src6.byteOffset, 4);
  private readonly d32 = new Uint32Array(this.rec.dst6.buffer, this.rec.dst6.byteOffset, 4);
  /** The IPv6 arrays of rec hold a previous record's addresses. */
  private v6dirty = false;

  /** Calls sink.record() for every slot; returns the number of records. */
  read(batch: Batch, sink: FlowSink): number {
    const { buf, count, exporters } = batch;
    const u32 = new Uint32Array(buf);
    const f64 = new Float64Array(buf);
    const r = this.rec;
    const s32 = this.s32, d32 = this.d32;
    let lastEi = -1;
    for (let i = 0; i < count; i++) {
      const w = i * S32, d = i * S64;
      const a = u32[w];
      r.proto = PROTOS[a & 3];
      r.ipProto = (a >>> 16) & 255;
      r.tcpFlags = a >>> 24;
      const c = u32[w + 1];
      r.icmpType = c & 255;
      r.icmpCode = (c >>> 8) & 255;
      r.fragment = (c >>> 16) & 255;
      r.direction = c >>> 24;
      const p = u32[w + 2];
      r.srcPort = p & 0xffff;
      r.dstPort = p >>> 16;
      const ei = u32[w + 3];
      if (ei !== lastEi) {
        r.exporter = exporters[ei] ?? '';
        lastEi = ei;
      }
      r.domain = u32[w + 4];
      r.fields = u32[w + 5];
      r.samplingRate = u32[w + 6];
      r.inIf = u32[w + 7];
      r.outIf = u32[w + 8];
      r.bytes = f64[d + 5];
      r.packets = f64[d + 6];
      r.start = f64[d + 7];
      r.end = f64[d + 8];
      r.received = f64[d + 9];
      r.revBytes = f64[d + 10];
      r.revPackets = f64[d + 11];
      if (((a >>> 8) & 255) !== 6) {
        r.family = 4;
        r.src4 = u32[w + 24];
        r.dst4 = u32[w + 28];
        if (this.v6dirty) {
          s32.fill(0);
          d32.fill(0);
          this.v6dirty = false;
        }
      } else {
        r.family = 6;
        r.src4 = 0;
        r.dst4 = 0;
        s32[0] = u32[w + 24];
        s32[1] = u32[w + 25];
        s32[2] = u32[w + 26];
        s32[3] = u32[w + 27];
        d32[0] = u32[w + 28];
        d32[1] = u32[w + 29];
        d32[2] = u32[w + 30];
        d32[3] = u32[w + 31];
        this.v6dirty = true;
      }
      sink.record(r);
    }
    return count;
  }
}
