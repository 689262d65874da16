/**
 * Growable big-endian writer. reserve16()/reserve8() leave room for a length
 * field that fill16()/fill8() later backfill with the number of bytes written
 * after it.
 */
export class Writer {
  buf: Buffer;
  pos = 0;

  constructor(initial = 256) {
    this.buf = Buffer.allocUnsafe(initial);
  }

  private grow(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  u8(v: number): this {
    this.grow(1);
    this.buf[this.pos++] = v & 0xff;
    return this;
  }

  u16(v: number): this {
    this.grow(2);
    this.buf.writeUInt16BE(v & 0xffff, this.pos);
    this.pos += 2;
    return this;
  }

  u24(v: number): this {
    this.grow(3);
    this.buf[this.pos] = (v >>> 16) & 0xff;
    this.buf[this.pos + 1] = (v >>> 8) & 0xff;
    this.buf[this.pos + 2] = v & 0xff;
    this.pos += 3;
    return this;
  }

  u32(v: number): this {
    this.grow(4);
    this.buf.writeUInt32BE(v >>> 0, this.pos);
    this.pos += 4;
    return this;
  }

  u64(v: number | bigint): this {
    this.grow(8);
    this.buf.writeBigUInt64BE(BigInt(v), this.pos);
    this.pos += 8;
    return this;
  }

  f32(v: number): this {
    this.grow(4);
    this.buf.writeFloatBE(v, this.pos);
    this.pos += 4;
    return this;
  }

  bytes(b: Uint8Array): this {
    this.grow(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }

  zeros(n: number): this {
    this.grow(n);
    this.buf.fill(0, this.pos, this.pos + n);
    this.pos += n;
    return this;
  }

  reserve8(): number {
    const at = this.pos;
    this.u8(0);
    return at;
  }

  reserve16(): number {
    const at = this.pos;
    this.u16(0);
    return at;
  }

  /** Writes at `at` (a reserve8 mark) the number of bytes written since it. */
  fill8(at: number): number {
    const len = this.pos - at - 1;
    if (len > 0xff) throw new RangeError(`length ${len} does not fit one byte`);
    this.buf[at] = len;
    return len;
  }

  fill16(at: number): number {
    const len = this.pos - at - 2;
    if (len > 0xffff) throw new RangeError(`length ${len} does not fit two bytes`);
    this.buf.writeUInt16BE(len, at);
    return len;
  }

  /** Overwrites a u16 at an absolute position. */
  put16(at: number, v: number): void {
    this.buf.writeUInt16BE(v & 0xffff, at);
  }

  /** A copy of what was written. */
  finish(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos));
  }

  /** A view of what was written (valid until the next write). */
  view(): Buffer {
    return this.buf.subarray(0, this.pos);
  }

  clear(): void {
    this.pos = 0;
  }
}
