/**
 * Message header and framing (RFC 4271 §4.1, RFC 8654).
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                           Marker (16 x 0xff)                  |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |          Length               |      Type     |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
import { ERR, HEADER_LEN, HEADER_SUB, MARKER_LEN, MAX_EXTENDED_MESSAGE_LEN, MAX_MESSAGE_LEN, MIN_LEN, MSG } from './constants.ts';
import { BgpError } from './errors.ts';
import { Writer } from '../core/writer.ts';

export interface RawMessage {
  type: number;
  /** Message body after the 19-byte header (a copy owned by the receiver). */
  body: Buffer;
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

/** Starts a message in `w`: marker, length placeholder, type. Returns the start offset. */
export function beginMessage(w: Writer, type: number): number {
  const start = w.pos;
  for (let i = 0; i < MARKER_LEN; i++) w.u8(0xff);
  w.u16(0);
  w.u8(type);
  return start;
}

/** Backfills the length of the message begun at `start`; checks the size limit. */
export function endMessage(w: Writer, start: number, maxLen = MAX_MESSAGE_LEN): number {
  const len = w.pos - start;
  if (len > maxLen) throw new RangeError(`BGP message of ${len} bytes exceeds the ${maxLen}-byte limit`);
  w.put16(start + MARKER_LEN, len);
  return len;
}

/** A whole message (header + body) as a new Buffer. */
export function frameMessage(type: number, body: Uint8Array, maxLen = MAX_MESSAGE_LEN): Buffer {
  const len = HEADER_LEN + body.length;
  if (len > maxLen) throw new RangeError(`BGP message of ${len} bytes exceeds the ${maxLen}-byte limit`);
  const out = Buffer.allocUnsafe(len);
  out.fill(0xff, 0, MARKER_LEN);
  out.writeUInt16BE(len, MARKER_LEN);
  out[MARKER_LEN + 2] = type;
  out.set(body, HEADER_LEN);
  return out;
}

/**
 * Checks one header (RFC 4271 §6.1). `extended`: RFC 8654 negotiated, which
 * raises the limit for UPDATE, NOTIFICATION and ROUTE-REFRESH (not OPEN or KEEPALIVE).
 */
export function checkHeader(buf: Uint8Array, off: number, extended: boolean): { length: number; type: number } {
  for (let i = 0; i < MARKER_LEN; i++) {
    if (buf[off + i] !== 0xff) throw new BgpError(ERR.HEADER, HEADER_SUB.CONNECTION_NOT_SYNCHRONIZED);
  }
  const length = (buf[off + MARKER_LEN] << 8) | buf[off + MARKER_LEN + 1];
  const type = buf[off + MARKER_LEN + 2];
  if (type < MSG.OPEN || type > MSG.ROUTE_REFRESH) throw new BgpError(ERR.HEADER, HEADER_SUB.BAD_MESSAGE_TYPE, Buffer.from([type]));
  const max = extended && type !== MSG.OPEN && type !== MSG.KEEPALIVE ? MAX_EXTENDED_MESSAGE_LEN : MAX_MESSAGE_LEN;
  const min = MIN_LEN[type];
  const bad = length < min || length > max || (type === MSG.KEEPALIVE && length !== HEADER_LEN);
  if (bad) throw new BgpError(ERR.HEADER, HEADER_SUB.BAD_MESSAGE_LENGTH, u16(length));
  return { length, type };
}

/**
 * Splits a TCP byte stream into messages. Feed every chunk to push(); it
 * returns the complete messages found (possibly none) and keeps the rest.
 * Throws BgpError on a header error; the session then sends NOTIFICATION.
 */
export class Framer {
  /** Set after the peer and we both advertised RFC 8654. */
  extended = false;
  private pending: Buffer = Buffer.alloc(0);
  /** Bytes buffered waiting for the rest of a message. */
  get buffered(): number {
    return this.pending.length;
  }

  push(chunk: Buffer): RawMessage[] {
    let buf = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const out: RawMessage[] = [];
    let off = 0;
    while (buf.length - off >= HEADER_LEN) {
      const { length, type } = checkHeader(buf, off, this.extended);
      if (buf.length - off < length) break;
      out.push({ type, body: Buffer.from(buf.subarray(off + HEADER_LEN, off + length)) });
      off += length;
    }
    this.pending = off === buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(off));
    buf = this.pending;
    return out;
  }

  reset(): void {
    this.pending = Buffer.alloc(0);
  }
}

/** Splits a buffer holding whole messages (tests, pcaps). Throws on trailing garbage. */
export function splitMessages(buf: Buffer, extended = false): RawMessage[] {
  const f = new Framer();
  f.extended = extended;
  const out = f.push(buf);
  if (f.buffered !== 0) throw new BgpError(ERR.HEADER, HEADER_SUB.BAD_MESSAGE_LENGTH, Buffer.alloc(0), `${f.buffered} trailing bytes`);
  return out;
}

// ---------------------------------------------------------------- KEEPALIVE

const KEEPALIVE = frameMessage(MSG.KEEPALIVE, Buffer.alloc(0));

/** A KEEPALIVE (header only, 19 bytes). */
export function encodeKeepalive(): Buffer {
  return Buffer.from(KEEPALIVE);
}
