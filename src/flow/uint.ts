/**
 * Unsigned big-endian integers of 1..8 bytes, as NetFlow v9 / IPFIX elements
 * carry them (RFC 7011 §6.2 reduced-size encoding: any width up to the
 * element's own), and the NTP timestamps of RFC 7011 §6.1.10: headers, the
 * generic data-set walk and options; small so that it inlines. The hottest
 * loops (the v5 records, compiled plans, sFlow samples) read fixed 16- and
 * 32-bit fields through a DataView instead, which costs them no inlining budget.
 * Values past 2^53 lose precision (counters that large are implausible anyway).
 */

/** NTP era 0 (1900) to Unix epoch, seconds. */
export const NTP_UNIX = 2208988800;

/**
 * A DataView over exactly the bytes of `b` (a Buffer may sit at an offset in a
 * shared pool), for the loops that read fixed 16- and 32-bit fields.
 */
export function viewOf(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** Unsigned big-endian 32-bit integer at p (headers, addresses, XDR words). */
export function u32BE(b: Uint8Array, p: number): number {
  return ((b[p] << 24) >>> 0) + ((b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]);
}

/** Unsigned big-endian integer of l (1..8) bytes at p. */
export function uintBE(b: Uint8Array, p: number, l: number): number {
  if (l === 4) return u32BE(b, p);
  if (l === 2) return (b[p] << 8) | b[p + 1];
  if (l === 1) return b[p];
  return uintWide(b, p, l);
}

/** The other widths (3, 5..8 bytes), out of line so that uintBE stays small. */
export function uintWide(b: Uint8Array, p: number, l: number): number {
  if (l === 8) return u32BE(b, p) * 4294967296 + u32BE(b, p + 4);
  let v = 0;
  for (let i = 0; i < l; i++) v = v * 256 + b[p + i];
  return v;
}

/** NTP 64-bit timestamp (RFC 7011 §6.1.9/10: seconds since 1900, 2^-32 fractions) at p, in ms since the Unix epoch. */
export function ntpMs(b: Uint8Array, p: number): number {
  const sec = u32BE(b, p);
  const frac = u32BE(b, p + 4);
  return (sec - NTP_UNIX) * 1000 + Math.floor((frac * 1000) / 4294967296);
}
