/**
 * Bounded big-endian reader over a Buffer range. One instance is reused across
 * messages (reset()), so the hot path allocates nothing. Methods do not check
 * bounds themselves: callers test has(n) first (flow decoders, which count
 * errors instead of throwing) or use need(n) (BGP, which throws DecodeError and
 * turns it into a NOTIFICATION at the message boundary).
 */
export class DecodeError extends Error {
  readonly reason: string;
  constructor(reason: string, message?: string) {
    super(message ?? reason);
    this.reason = reason;
  }
}

export class Reader {
  buf: Buffer;
  pos: number;
  end: number;

  constructor(buf: Buffer = Buffer.alloc(0), pos = 0, end = buf.length) {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
  }

  reset(buf: Buffer, pos = 0, end = buf.length): this {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
    return this;
  }

  remaining(): number {
    return this.end - this.pos;
  }

  has(n: number): boolean {
    return this.pos + n <= this.end;
  }

  /** Throws DecodeError('truncated') unless n bytes remain. */
  need(n: number, what = 'data'): void {
    if (this.pos + n > this.end) throw new DecodeError('truncated', `truncated ${what}: need ${n} bytes, have ${this.end - this.pos}`);
  }

  u8(): number {
    return this.buf[this.pos++];
  }

  u16(): number {
    const b = this.buf, p = this.pos;
    this.pos = p + 2;
    return (b[p] << 8) | b[p + 1];
  }

  u24(): number {
    const b = this.buf, p = this.pos;
    this.pos = p + 3;
    return (b[p] << 16) | (b[p + 1] << 8) | b[p + 2];
  }

  u32(): number {
    const b = this.buf, p = this.pos;
    this.pos = p + 4;
    return ((b[p] << 24) >>> 0) + ((b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]);
  }

  /** Unsigned 64-bit as a JS number (exact up to 2^53). */
  u64(): number {
    const hi = this.u32();
    const lo = this.u32();
    return hi * 4294967296 + lo;
  }

  /** Unsigned big-endian integer of 1..8 bytes as a number (reduced-size encoding). */
  uint(n: number): number {
    let v = 0;
    const b = this.buf;
    for (let i = 0; i < n; i++) v = v * 256 + b[this.pos + i];
    this.pos += n;
    return v;
  }

  /** A view (no copy) of the next n bytes. */
  bytes(n: number): Buffer {
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  skip(n: number): void {
    this.pos += n;
  }

  /** A new reader bounded to the next n bytes; this reader skips past them. */
  sub(n: number): Reader {
    const r = new Reader(this.buf, this.pos, this.pos + n);
    this.pos += n;
    return r;
  }
}
