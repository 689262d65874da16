/**
 * Compiles a fixed-length NetFlow v9 / IPFIX data template into a specialised
 * record decoder: straight-line JavaScript with constant offsets, generated
 * once when the template arrives, so the hot loop does no per-field dispatch.
 * The generated source contains only numbers and fixed identifiers derived
 * from the template's element ids and lengths (never bytes from the wire as
 * text). The semantics are those of the generic walk in dataset.ts
 * (decodeDataSet), which handles variable-length templates and is the
 * reference; both are checked against tshark on the capture corpus, and
 * test/flow/plausible-paths.test.ts holds a plan's record reset and
 * plausibility verdict to the walk's. What the template settles once is
 * settled here, not per record: which fields to reset (the rest are always
 * written) and which plausibility bounds apply (plausible.ts verdict()).
 */
import { CLEARED_FIELDS, F, type FlowRecord } from './record.ts';
import { K, VARLEN } from './ie.ts';
import { rateFrom } from './sampling.ts';
import { ntpMs, uintWide } from './uint.ts';
import { MIN_BYTES4, MIN_BYTES6, verdict, type Plausibility } from './plausible.ts';

/**
 * Decodes the record at p into rec (all of it: no reset before) and returns its plausibility verdict
 * (plausible.ts: 0 passes) against the limits L (as an object, not as
 * numbers: this function is too large to inline into the set loop, and a
 * fractional number passed to a call is boxed, a heap number per record).
 */
export type RecordFn = (b: Buffer, dv: DataView, p: number, rec: FlowRecord, exportMs: number, uptime: number, sysInit: number, setRate: number, samplers: Map<number, number>, L: Plausibility) => number;

function rd(o: number, l: number): string {
  if (l === 1) return `b[p + ${o}]`;
  if (l === 2) return `dv.getUint16(p + ${o})`;
  if (l === 4) return `dv.getUint32(p + ${o})`;
  if (l === 8) return `(dv.getUint32(p + ${o}) * 4294967296 + dv.getUint32(p + ${o + 4}))`;
  return `uintWide(b, p + ${o}, ${l})`;
}

/** Specialised decoder for a fixed-length data template, or null when not applicable. */
export function compilePlan(kinds: Uint8Array, lens: Uint16Array): RecordFn | null {
  const n = kinds.length;
  const at = new Map<number, { o: number; l: number }>();
  let off = 0;
  for (let i = 0; i < n; i++) {
    if (lens[i] === VARLEN) return null;
    if (kinds[i] !== K.SKIP && !at.has(kinds[i])) at.set(kinds[i], { o: off, l: lens[i] });
    off += lens[i];
  }
  const has = (k: number) => at.has(k);
  const R = (k: number) => {
    const f = at.get(k)!;
    return rd(f.o, f.l);
  };
  const last = (k: number) => {
    const f = at.get(k)!;
    return `b[p + ${f.o + f.l - 1}]`;
  };
  const c: string[] = [];
  let fixedBits = 0;
  // addresses
  if (has(K.SRC4)) c.push(`rec.src4 = ${R(K.SRC4)};`);
  if (has(K.DST4)) c.push(`rec.dst4 = ${R(K.DST4)};`);
  const has6 = has(K.SRC6) || has(K.DST6);
  const has4 = has(K.SRC4) || has(K.DST4);
  const bits6 = (has(K.SRC6) ? F.SRC_ADDR : 0) | (has(K.DST6) ? F.DST_ADDR : 0);
  const bits4 = (has(K.SRC4) ? F.SRC_ADDR : 0) | (has(K.DST4) ? F.DST_ADDR : 0);
  if (has6) {
    c.push('let nz6 = 0;');
    for (const [k, name] of [
      [K.SRC6, 'src6'],
      [K.DST6, 'dst6'],
    ] as const) {
      if (!has(k)) continue;
      const o = at.get(k)!.o;
      c.push(`{ const a = rec.${name}; for (let j = 0; j < 16; j++) nz6 |= a[j] = b[p + ${o} + j]; }`);
    }
    if (has4) c.push(`if (nz6 !== 0) { rec.family = 6; fields |= ${bits6}; } else fields |= ${bits4};`);
    else {
      c.push('rec.family = 6;');
      fixedBits |= bits6;
    }
  } else fixedBits |= bits4;
  const simple: [number, string, number][] = [
    [K.SPORT, 'srcPort', F.SRC_PORT],
    [K.DPORT, 'dstPort', F.DST_PORT],
    [K.IN_IF, 'inIf', F.IN_IF],
    [K.OUT_IF, 'outIf', F.OUT_IF],
  ];
  for (const [k, name, bit] of simple) {
    if (!has(k)) continue;
    c.push(`rec.${name} = ${R(k)}${k === K.SPORT || k === K.DPORT ? ' & 65535' : ''};`);
    fixedBits |= bit;
  }
  if (has(K.PROTO)) {
    c.push(`rec.ipProto = ${last(K.PROTO)};`);
    fixedBits |= F.IP_PROTO;
  }
  if (has(K.TCPFLAGS)) {
    c.push(`rec.tcpFlags = ${last(K.TCPFLAGS)};`);
    fixedBits |= F.TCP_FLAGS;
  }
  // counters: delta > initiator > total
  const bytes = has(K.BYTES) ? K.BYTES : has(K.BYTES2) ? K.BYTES2 : has(K.BYTES3) ? K.BYTES3 : -1;
  const packets = has(K.PACKETS) ? K.PACKETS : has(K.PACKETS2) ? K.PACKETS2 : has(K.PACKETS3) ? K.PACKETS3 : -1;
  if (bytes >= 0) {
    c.push(`const bytes = ${R(bytes)}; rec.bytes = bytes;`);
    fixedBits |= F.BYTES;
  } else c.push('const bytes = 0;');
  if (packets >= 0) {
    c.push(`const packets = ${R(packets)}; rec.packets = packets;`);
    fixedBits |= F.PACKETS;
  } else c.push('const packets = 0;');
  if (has(K.REV_BYTES)) c.push(`rec.revBytes = ${R(K.REV_BYTES)};`);
  if (has(K.REV_PACKETS)) c.push(`rec.revPackets = ${R(K.REV_PACKETS)};`);
  if (has(K.REV_BYTES) || has(K.REV_PACKETS)) fixedBits |= F.REVERSE;
  if (has(K.DIRECTION)) {
    c.push(`rec.direction = ${last(K.DIRECTION)};`);
    fixedBits |= F.DIRECTION;
  }
  if (has(K.FRAG_FLAGS) || has(K.FRAG_OFF)) {
    fixedBits |= F.FRAGMENT;
    if (has(K.FRAG_FLAGS)) c.push(`if (${last(K.FRAG_FLAGS)} & 0x20) rec.fragment = 1;`);
    if (has(K.FRAG_OFF)) c.push(`if (${R(K.FRAG_OFF)} !== 0) rec.fragment = 1;`);
  }
  // ICMP
  let icmp = false;
  if (has(K.ICMP_TC) && at.get(K.ICMP_TC)!.l >= 2) {
    const f = at.get(K.ICMP_TC)!;
    c.push(`rec.icmpType = b[p + ${f.o + f.l - 2}]; rec.icmpCode = b[p + ${f.o + f.l - 1}];`);
    icmp = true;
  }
  if (has(K.ICMP_TYPE)) {
    c.push(`rec.icmpType = ${last(K.ICMP_TYPE)};`);
    icmp = true;
  }
  if (has(K.ICMP_CODE)) {
    c.push(`rec.icmpCode = ${last(K.ICMP_CODE)};`);
    icmp = true;
  }
  const icmp6 = (has(K.ICMP_TC6) && at.get(K.ICMP_TC6)!.l >= 2) || has(K.ICMP_TYPE6) || has(K.ICMP_CODE6);
  if (icmp6) {
    const parts: string[] = [];
    if (has(K.ICMP_TC6) && at.get(K.ICMP_TC6)!.l >= 2) {
      const f = at.get(K.ICMP_TC6)!;
      parts.push(`rec.icmpType = b[p + ${f.o + f.l - 2}]; rec.icmpCode = b[p + ${f.o + f.l - 1}];`);
    } else {
      parts.push(`rec.icmpType = ${has(K.ICMP_TYPE6) ? last(K.ICMP_TYPE6) : 0}; rec.icmpCode = ${has(K.ICMP_CODE6) ? last(K.ICMP_CODE6) : 0};`);
    }
    if (icmp) c.push(`if (rec.family === 6) { ${parts.join(' ')} }`);
    else c.push(parts.join(' '));
    icmp = true;
  }
  if (icmp) fixedBits |= F.ICMP;
  else if (has(K.DPORT) && has(K.PROTO)) {
    c.push(`if (rec.ipProto === 1 || rec.ipProto === 58) { rec.icmpType = rec.dstPort >>> 8; rec.icmpCode = rec.dstPort & 255; fields |= ${F.ICMP}; }`);
  }
  // times: absolute (finest first) > seconds > delta > uptime-relative
  const time = (fine: number[], secs: number, delta: number, up: number, field: string, bit: number): boolean => {
    const k = fine.find(has);
    if (k !== undefined) {
      if (k === K.START_US || k === K.START_NS || k === K.END_US || k === K.END_NS) {
        const o = at.get(k)!.o;
        c.push(`rec.${field} = ntpMs(b, p + ${o});`);
      } else c.push(`rec.${field} = ${R(k)};`);
      c.push(`if (rec.${field} >= 0) fields |= ${bit};`);
    } else if (has(secs)) {
      c.push(`rec.${field} = ${R(secs)} * 1000; fields |= ${bit};`);
    } else if (has(delta)) {
      c.push(`rec.${field} = exportMs - Math.floor(${R(delta)} / 1000); if (rec.${field} >= 0) fields |= ${bit};`);
    } else if (has(up)) {
      const init = has(K.SYSINIT) ? R(K.SYSINIT) : 'sysInit';
      c.push(`{ const t = ${R(up)}; const init = ${init}; const v = uptime >= 0 ? exportMs - ((uptime - t) | 0) : init >= 0 ? init + t : -1; if (v >= 0) { rec.${field} = v; fields |= ${bit}; } }`);
    } else return false;
    return true;
  };
  const hasStart = time([K.START_MS, K.START_US, K.START_NS], K.START_S, K.START_DUS, K.FIRST_UP, 'start', F.START);
  const hasEnd = time([K.END_MS, K.END_US, K.END_NS], K.END_S, K.END_DUS, K.LAST_UP, 'end', F.END);
  // sampling: record > sampler table > exporter-wide/default
  c.push('let rate = 0;');
  if (has(K.RATE)) c.push(`rate = ${R(K.RATE)};`);
  if (has(K.PKT_INTERVAL) || has(K.SAMP_SIZE)) {
    const v = (k: number) => (has(k) ? R(k) : '-1');
    c.push(`if (rate <= 0) rate = rateFrom(${v(K.PKT_INTERVAL)}, ${v(K.PKT_SPACE)}, ${v(K.SAMP_SIZE)}, ${v(K.SAMP_POP)});`);
  }
  if (has(K.SAMPLER)) c.push(`if (rate <= 0) rate = samplers.get(${R(K.SAMPLER)}) ?? 0;`);
  c.push('if (rate <= 0) rate = setRate;');
  c.push('rec.samplingRate = rate;');
  c.push('rec.fields = fields;');
  // plausibility (plausible.ts), with what the template tells once: which sizes and times exist, which family
  const sizes = bytes >= 0 && packets >= 0;
  const minBytes = !sizes ? '0' : has6 && has4 ? `(rec.family === 6 ? ${MIN_BYTES6} : ${MIN_BYTES4})` : has6 ? String(MIN_BYTES6) : String(MIN_BYTES4);
  const TIME = F.START | F.END;
  const ms = hasStart && hasEnd ? `((fields & ${TIME}) === ${TIME} ? rec.end - rec.start : 0)` : '0';
  c.push(`return verdict(packets, bytes, ${minBytes}, ${ms}, rate, L);`);
  // the reset (clearFlowRecord) compiled in too: only the fields no statement above always writes
  const written = new Set<string>();
  for (const line of c) if (line.startsWith('rec.') || line.startsWith('const ')) for (const m of line.matchAll(/rec\.(\w+) = /g)) written.add(m[1]);
  const reset = ['if (rec.family === 6) { rec.src6.fill(0); rec.dst6.fill(0); }', 'rec.family = 4;', ...CLEARED_FIELDS.filter((f) => !written.has(f)).map((f) => `rec.${f} = 0;`)];
  const body = `"use strict"; return function decodeRecord(b, dv, p, rec, exportMs, uptime, sysInit, setRate, samplers, L) {\n${reset.join(' ')}\nlet fields = ${fixedBits};\n${c.join('\n')}\n};`;
  return new Function('uintWide', 'rateFrom', 'ntpMs', 'verdict', body)(uintWide, rateFrom, ntpMs, verdict) as RecordFn;
}
