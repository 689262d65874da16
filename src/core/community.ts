/**
 * The one grammar for BGP communities in text, shared by the config schema
 * (bgp.community, hostgroup and neighbor communities) and the ExaBGP-style
 * command line (bgp/command.ts), so both accept and refuse the same inputs.
 *
 *   standard (RFC 1997): "ASN:VALUE" (each 0..65535), a plain u32, or a
 *                        well-known name, case-insensitive, "-" or "_":
 *                        blackhole (65535:666, RFC 7999), no-export, ...
 *   large (RFC 8092):    "GLOBAL:LOCAL1:LOCAL2" (each 0..4294967295)
 *
 * Extended communities (bgp/community.ts) exist on the command line only:
 * no config key takes them.
 */

/** Well-known standard communities by name (RFC 1997, 3765, 7611, 7999, 8326; LLGR). */
export const WELL_KNOWN_COMMUNITIES: Readonly<Record<string, number>> = Object.freeze({
  'graceful-shutdown': 0xffff0000, // RFC 8326
  'accept-own': 0xffff0001, // RFC 7611
  'llgr-stale': 0xffff0006,
  'no-llgr': 0xffff0007,
  blackhole: 0xffff029a, // 65535:666, RFC 7999
  'no-export': 0xffffff01, // RFC 1997
  'no-advertise': 0xffffff02,
  'no-export-subconfed': 0xffffff03,
  'no-peer': 0xffffff04, // RFC 3765
});

export type LargeCommunityValue = [number, number, number];

function u32text(s: string, max = 0xffffffff): number {
  if (!/^[0-9]{1,10}$/.test(s)) return -1;
  const n = Number(s);
  return n <= max ? n : -1;
}

/** "65535:666", "blackhole", "no-export", "NO_EXPORT" or a plain u32 → value; or an error message. */
export function parseCommunity(s: string): number | string {
  const name = s.trim().toLowerCase().replace(/_/g, '-');
  if (Object.hasOwn(WELL_KNOWN_COMMUNITIES, name)) return WELL_KNOWN_COMMUNITIES[name];
  const m = /^([0-9]+):([0-9]+)$/.exec(name);
  if (m) {
    const hi = u32text(m[1], 0xffff), lo = u32text(m[2], 0xffff);
    if (hi < 0 || lo < 0) return `community "${s}": each half must be 0..65535`;
    return hi * 65536 + lo;
  }
  const n = u32text(name);
  if (n >= 0) return n;
  return `"${s}" is not a community (ASN:VALUE or a well-known name: ${Object.keys(WELL_KNOWN_COMMUNITIES).join(', ')})`;
}

/** "65000:1:2" → [65000, 1, 2]; or an error message. */
export function parseLargeCommunity(s: string): LargeCommunityValue | string {
  const m = /^([0-9]+):([0-9]+):([0-9]+)$/.exec(s.trim());
  if (!m) return `"${s}" is not a large community (GLOBAL:LOCAL1:LOCAL2)`;
  const a = u32text(m[1]), b = u32text(m[2]), c = u32text(m[3]);
  if (a < 0 || b < 0 || c < 0) return `large community "${s}": each part must be 0..4294967295`;
  return [a, b, c];
}
