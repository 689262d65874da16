/**
 * Communities: standard (RFC 1997), extended (RFC 4360, RFC 5668, FlowSpec
 * actions of RFC 8955 §7) and large (RFC 8092): text forms and 8-byte codec.
 *
 * Extended community (8 bytes):
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  Type high    |  Type low     |          Value (6 bytes) ...   |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  0x8006 traffic-rate bytes/s: AS (2) | IEEE float32 (4); 0 = discard
 *  0x800c traffic-rate packets/s: AS (2) | float32 (4)
 *  0x8007 traffic-action: 5 zero bytes | flags (S = 0x02, T = 0x01)
 *  0x8008 redirect AS2: AS (2) | value (4)      0x8208 redirect AS4: AS (4) | value (2)
 *  0x8108 redirect IPv4: address (4) | value (2)
 *  0x8009 traffic-marking: 5 zero bytes | DSCP (low 6 bits)
 */
import { parseCommunity, parseLargeCommunity, WELL_KNOWN_COMMUNITIES } from '../core/community.ts';
import { formatIPv4, parseIPv4 } from '../core/ip.ts';
import { EXT } from './constants.ts';
import type { ExtCommunity, LargeCommunity } from './types.ts';

/** Standard and large communities share the config's grammar (core/community.ts). */
export { parseCommunity, parseLargeCommunity };

const WK_BY_VALUE = new Map<number, string>(Object.entries(WELL_KNOWN_COMMUNITIES).map(([k, v]) => [v, k]));

function u32text(s: string, max = 0xffffffff): number {
  if (!/^[0-9]{1,10}$/.test(s)) return -1;
  const n = Number(s);
  return n <= max ? n : -1;
}

/** "65535:666" (numeric form; wellKnownName() gives the name). */
export function formatCommunity(v: number): string {
  return `${Math.floor(v / 65536)}:${v & 0xffff}`;
}

export function wellKnownName(v: number): string | undefined {
  return WK_BY_VALUE.get(v);
}

export function formatLargeCommunity(c: LargeCommunity): string {
  return `${c[0]}:${c[1]}:${c[2]}`;
}

/** Encodes one extended community into 8 bytes at `out[off..]`. Throws RangeError on bad values. */
export function encodeExtCommunity(e: ExtCommunity, out: Uint8Array, off: number): void {
  const dv = new DataView(out.buffer, out.byteOffset + off, 8);
  for (let i = 0; i < 8; i++) out[off + i] = 0;
  const chk = (ok: boolean, what: string) => {
    if (!ok) throw new RangeError(`extended community ${e.type}: ${what}`);
  };
  const u16ok = (n: number) => Number.isInteger(n) && n >= 0 && n <= 0xffff;
  const u32ok = (n: number) => Number.isInteger(n) && n >= 0 && n <= 0xffffffff;
  switch (e.type) {
    case 'traffic-rate':
    case 'traffic-rate-packets':
      chk(u16ok(e.asn), 'AS must be 0..65535');
      chk(Number.isFinite(e.rate) && e.rate >= 0 && e.rate <= 3.4e38, 'rate must be a finite non-negative number');
      dv.setUint16(0, e.type === 'traffic-rate' ? EXT.TRAFFIC_RATE_BYTES : EXT.TRAFFIC_RATE_PACKETS);
      dv.setUint16(2, e.asn);
      dv.setFloat32(4, e.rate);
      return;
    case 'traffic-action':
      dv.setUint16(0, EXT.TRAFFIC_ACTION);
      out[off + 7] = (e.sample ? 0x02 : 0) | (e.terminal ? 0x01 : 0);
      return;
    case 'redirect':
      if (e.as4) {
        chk(u32ok(e.asn) && u16ok(e.value), '4-octet AS form takes AS 0..4294967295 and value 0..65535');
        dv.setUint16(0, EXT.REDIRECT_AS4);
        dv.setUint32(2, e.asn);
        dv.setUint16(6, e.value);
      } else {
        chk(u16ok(e.asn) && u32ok(e.value), '2-octet AS form takes AS 0..65535 and value 0..4294967295');
        dv.setUint16(0, EXT.REDIRECT_AS2);
        dv.setUint16(2, e.asn);
        dv.setUint32(4, e.value);
      }
      return;
    case 'redirect-ip': {
      const ip = parseIPv4(e.ip);
      chk(ip >= 0 && u16ok(e.value), 'needs an IPv4 address and value 0..65535');
      dv.setUint16(0, EXT.REDIRECT_IPV4);
      dv.setUint32(2, ip);
      dv.setUint16(6, e.value);
      return;
    }
    case 'traffic-marking':
      chk(Number.isInteger(e.dscp) && e.dscp >= 0 && e.dscp <= 63, 'DSCP must be 0..63');
      dv.setUint16(0, EXT.TRAFFIC_MARKING);
      out[off + 7] = e.dscp;
      return;
    case 'target':
    case 'origin': {
      const sub = e.type === 'target' ? 0x02 : 0x03;
      if (e.format === 'as2') {
        const asn = u32text(e.global, 0xffff);
        chk(asn >= 0 && u32ok(e.local), 'AS2 form takes AS 0..65535 and value 0..4294967295');
        out[off] = 0x00; out[off + 1] = sub;
        dv.setUint16(2, asn);
        dv.setUint32(4, e.local);
      } else if (e.format === 'ipv4') {
        const ip = parseIPv4(e.global);
        chk(ip >= 0 && u16ok(e.local), 'IPv4 form takes an address and value 0..65535');
        out[off] = 0x01; out[off + 1] = sub;
        dv.setUint32(2, ip);
        dv.setUint16(6, e.local);
      } else {
        const asn = u32text(e.global);
        chk(asn >= 0 && u16ok(e.local), 'AS4 form takes AS 0..4294967295 and value 0..65535');
        out[off] = 0x02; out[off + 1] = sub;
        dv.setUint32(2, asn);
        dv.setUint16(6, e.local);
      }
      return;
    }
    case 'raw': {
      chk(/^[0-9a-f]{16}$/.test(e.hex), 'raw form needs 16 lowercase hex digits');
      out.set(Buffer.from(e.hex, 'hex'), off);
      return;
    }
  }
}

/** Decodes 8 bytes at `b[off..]`. Anything not understood comes back as `raw`. */
export function decodeExtCommunity(b: Uint8Array, off: number): ExtCommunity {
  const dv = new DataView(b.buffer, b.byteOffset + off, 8);
  const t = dv.getUint16(0);
  const zeros5 = b[off + 2] === 0 && b[off + 3] === 0 && b[off + 4] === 0 && b[off + 5] === 0 && b[off + 6] === 0;
  switch (t) {
    case EXT.TRAFFIC_RATE_BYTES:
    case EXT.TRAFFIC_RATE_PACKETS: {
      const rate = dv.getFloat32(4);
      if (!Number.isFinite(rate) || rate < 0) break;
      return { type: t === EXT.TRAFFIC_RATE_BYTES ? 'traffic-rate' : 'traffic-rate-packets', asn: dv.getUint16(2), rate };
    }
    case EXT.TRAFFIC_ACTION:
      if (!zeros5 || (b[off + 7] & 0xfc) !== 0) break;
      return { type: 'traffic-action', sample: (b[off + 7] & 0x02) !== 0, terminal: (b[off + 7] & 0x01) !== 0 };
    case EXT.REDIRECT_AS2:
      return { type: 'redirect', asn: dv.getUint16(2), value: dv.getUint32(4), as4: false };
    case EXT.REDIRECT_AS4:
      return { type: 'redirect', asn: dv.getUint32(2), value: dv.getUint16(6), as4: true };
    case EXT.REDIRECT_IPV4:
      return { type: 'redirect-ip', ip: formatIPv4(dv.getUint32(2)), value: dv.getUint16(6) };
    case EXT.TRAFFIC_MARKING:
      if (!zeros5 || b[off + 7] > 63) break;
      return { type: 'traffic-marking', dscp: b[off + 7] };
    case EXT.ROUTE_TARGET_AS2:
    case EXT.ROUTE_ORIGIN_AS2:
      return { type: t === EXT.ROUTE_TARGET_AS2 ? 'target' : 'origin', format: 'as2', global: String(dv.getUint16(2)), local: dv.getUint32(4) };
    case EXT.ROUTE_TARGET_IPV4:
    case EXT.ROUTE_ORIGIN_IPV4:
      return { type: t === EXT.ROUTE_TARGET_IPV4 ? 'target' : 'origin', format: 'ipv4', global: formatIPv4(dv.getUint32(2)), local: dv.getUint16(6) };
    case EXT.ROUTE_TARGET_AS4:
    case EXT.ROUTE_ORIGIN_AS4:
      return { type: t === EXT.ROUTE_TARGET_AS4 ? 'target' : 'origin', format: 'as4', global: String(dv.getUint32(2)), local: dv.getUint16(6) };
  }
  return { type: 'raw', hex: Buffer.from(b.buffer, b.byteOffset + off, 8).toString('hex') };
}

/**
 * Text form of an extended community, also accepted by parseExtCommunity:
 * "target:65000:1", "origin:192.0.2.1:7", "redirect:65000:100",
 * "redirect-ip:192.0.2.1:0", "rate-limit:12500" (bytes/s), "rate-packets:1000",
 * "discard", "action:sample-terminal", "mark:46", "0x8006000000000000".
 */
export function formatExtCommunity(e: ExtCommunity): string {
  switch (e.type) {
    case 'traffic-rate':
      return e.rate === 0 && e.asn === 0 ? 'discard' : `rate-limit:${e.rate}${e.asn ? `:as${e.asn}` : ''}`;
    case 'traffic-rate-packets':
      return `rate-packets:${e.rate}${e.asn ? `:as${e.asn}` : ''}`;
    case 'traffic-action':
      return `action:${[e.sample ? 'sample' : '', e.terminal ? 'terminal' : ''].filter(Boolean).join('-') || 'none'}`;
    case 'redirect':
      return `redirect:${e.asn}:${e.value}${e.as4 && e.asn <= 0xffff ? ':as4' : ''}`;
    case 'redirect-ip':
      return `redirect-ip:${e.ip}:${e.value}`;
    case 'traffic-marking':
      return `mark:${e.dscp}`;
    case 'target':
    case 'origin':
      return `${e.type}:${e.global}:${e.local}${e.format === 'as4' && Number(e.global) <= 0xffff ? ':as4' : ''}`;
    case 'raw':
      return `0x${e.hex}`;
  }
}

/** Parses the text forms of formatExtCommunity; returns an error message on bad input. */
export function parseExtCommunity(s: string): ExtCommunity | string {
  const t = s.trim().toLowerCase();
  const bad = `"${s}" is not an extended community (target:ASN:N, origin:IP:N, redirect:ASN:N, rate-limit:N, mark:N, 0x + 16 hex digits)`;
  if (/^0x[0-9a-f]{16}$/.test(t)) return decodeExtCommunity(Buffer.from(t.slice(2), 'hex'), 0);
  if (t === 'discard') return { type: 'traffic-rate', asn: 0, rate: 0 };
  const parts = t.split(':');
  const kind = parts[0];
  const num = (x: string | undefined, max: number) => (x === undefined ? -1 : u32text(x, max));
  try {
    switch (kind) {
      case 'target':
      case 'origin': {
        if (parts.length < 3 || parts.length > 4) return bad;
        const forceAs4 = parts[3] === 'as4';
        if (parts.length === 4 && !forceAs4) return bad;
        const g = parts[1], local = parts[2];
        if (parseIPv4(g) >= 0) {
          const l = num(local, 0xffff);
          return l < 0 ? `${kind}: value after an IPv4 address must be 0..65535` : { type: kind, format: 'ipv4', global: g, local: l };
        }
        const asn = num(g, 0xffffffff);
        if (asn < 0) return bad;
        if (asn > 0xffff || forceAs4) {
          const l = num(local, 0xffff);
          return l < 0 ? `${kind}: value after a 4-octet AS must be 0..65535` : { type: kind, format: 'as4', global: String(asn), local: l };
        }
        const l = num(local, 0xffffffff);
        return l < 0 ? bad : { type: kind, format: 'as2', global: String(asn), local: l };
      }
      case 'redirect': {
        if (parts.length !== 3 && !(parts.length === 4 && parts[3] === 'as4')) return bad;
        const asn = num(parts[1], 0xffffffff);
        if (asn < 0) return bad;
        const as4 = asn > 0xffff || parts[3] === 'as4';
        const v = num(parts[2], as4 ? 0xffff : 0xffffffff);
        if (v < 0) return `redirect: value must be 0..${as4 ? 65535 : 4294967295}`;
        return { type: 'redirect', asn, value: v, as4 };
      }
      case 'redirect-ip': {
        if (parts.length !== 3 || parseIPv4(parts[1]) < 0) return bad;
        const v = num(parts[2], 0xffff);
        return v < 0 ? bad : { type: 'redirect-ip', ip: parts[1], value: v };
      }
      case 'rate-limit':
      case 'rate-packets': {
        if (parts.length < 2 || parts.length > 3) return bad;
        const rate = Number(parts[1]);
        if (!Number.isFinite(rate) || rate < 0 || parts[1] === '') return `${kind}: rate must be a non-negative number`;
        let asn = 0;
        if (parts.length === 3) {
          asn = /^as[0-9]+$/.test(parts[2]) ? num(parts[2].slice(2), 0xffff) : -1;
          if (asn < 0) return bad;
        }
        return { type: kind === 'rate-limit' ? 'traffic-rate' : 'traffic-rate-packets', asn, rate: Math.fround(rate) };
      }
      case 'action': {
        if (parts.length !== 2) return bad;
        const v = parts[1];
        if (!['sample', 'terminal', 'sample-terminal', 'terminal-sample', 'none'].includes(v)) return 'action must be sample, terminal or sample-terminal';
        return { type: 'traffic-action', sample: v.includes('sample'), terminal: v.includes('terminal') };
      }
      case 'mark': {
        const d = num(parts[1], 63);
        return parts.length !== 2 || d < 0 ? 'mark: DSCP must be 0..63' : { type: 'traffic-marking', dscp: d };
      }
    }
  } catch {
    return bad;
  }
  return bad;
}
