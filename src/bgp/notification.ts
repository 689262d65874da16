/**
 * NOTIFICATION message (RFC 4271 §4.5), with the shutdown communication of
 * RFC 9003 for Cease / Administrative Shutdown and Reset.
 *
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Error code    | Error subcode |   Data (variable)             |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
import { CEASE_SUB, ERR, MSG } from './constants.ts';
import { BgpError, errorName } from './errors.ts';
import { frameMessage } from './header.ts';

export interface NotificationMessage {
  code: number;
  subcode: number;
  data: Buffer;
  /** "Cease / Administrative Shutdown" etc. */
  name: string;
  /** RFC 9003 shutdown communication, when present and valid UTF-8. */
  shutdownMessage?: string;
}

/** Encodes a whole NOTIFICATION message. */
export function encodeNotification(code: number, subcode: number, data: Uint8Array = Buffer.alloc(0)): Buffer {
  const body = Buffer.alloc(2 + data.length);
  body[0] = code;
  body[1] = subcode;
  body.set(data, 2);
  // A NOTIFICATION must fit 4096 bytes unless extended messages were negotiated; trim the data.
  return frameMessage(MSG.NOTIFICATION, body.length + 19 > 4096 ? body.subarray(0, 4096 - 19) : body);
}

export function notificationFromError(e: BgpError): Buffer {
  return encodeNotification(e.code, e.subcode, e.data);
}

/** Cease with an RFC 9003 shutdown communication (at most 255 bytes of UTF-8). */
export function encodeShutdown(message: string, subcode: number = CEASE_SUB.ADMIN_SHUTDOWN): Buffer {
  let text = Buffer.from(message, 'utf8');
  if (text.length > 255) text = text.subarray(0, 255);
  return encodeNotification(ERR.CEASE, subcode, Buffer.concat([Buffer.from([text.length]), text]));
}

export function decodeNotification(body: Buffer): NotificationMessage {
  if (body.length < 2) throw new BgpError(ERR.HEADER, 2, Buffer.from([0, body.length + 19]));
  const code = body[0];
  const subcode = body[1];
  const data = Buffer.from(body.subarray(2));
  const n: NotificationMessage = { code, subcode, data, name: errorName(code, subcode) };
  if (code === ERR.CEASE && (subcode === CEASE_SUB.ADMIN_SHUTDOWN || subcode === CEASE_SUB.ADMIN_RESET) && data.length >= 1) {
    const len = data[0];
    if (len + 1 <= data.length) {
      const text = new TextDecoder('utf-8', { fatal: false }).decode(data.subarray(1, 1 + len));
      n.shutdownMessage = text;
    }
  }
  return n;
}
