/**
 * FlowSink helpers: the sampling boundary filter, a counting sink, fan-out.
 */
import { formatIP, parseIP } from '../core/ip.ts';
import type { FlowRecord, FlowSink } from './record.ts';
import { F } from './record.ts';

export interface BoundaryRule {
  exporter: string;
  external_ifindexes: number[];
}

/** Canonical text of an address ("2001:DB8::01" -> "2001:db8::1"); the input when not an address. */
export function canonicalAddress(s: string): string {
  const ip = parseIP(s);
  return ip ? formatIP(ip.family, ip.bytes) : s;
}

/**
 * `sampling.boundary`: for an exporter listed here only records whose input
 * interface is one of its external (border) interfaces pass, so a packet that
 * crosses several routers of the network is counted once, where it enters.
 * Records from exporters not listed pass unchanged; a record of a listed
 * exporter without an input interface is dropped.
 */
export class BoundarySink implements FlowSink {
  private readonly inner: FlowSink;
  private rules = new Map<string, Set<number>>();
  /** Records dropped because they did not enter on an external interface. */
  dropped = 0;

  constructor(inner: FlowSink, rules: ReadonlyArray<BoundaryRule> = []) {
    this.inner = inner;
    this.setRules(rules);
  }

  setRules(rules: readonly BoundaryRule[]): void {
    const m = new Map<string, Set<number>>();
    for (const r of rules) {
      const key = canonicalAddress(r.exporter);
      let set = m.get(key);
      if (!set) m.set(key, (set = new Set()));
      for (const i of r.external_ifindexes) set.add(i);
    }
    this.rules = m;
  }

  get active(): boolean {
    return this.rules.size > 0;
  }

  record(r: FlowRecord): void {
    if (this.rules.size !== 0) {
      const ext = this.rules.get(r.exporter);
      if (ext !== undefined && ((r.fields & F.IN_IF) === 0 || !ext.has(r.inIf))) {
        this.dropped++;
        return;
      }
    }
    this.inner.record(r);
  }
}

/** Counts records, packets and bytes (as exported and scaled by the sampling rate). */
export class CountingSink implements FlowSink {
  records = 0;
  packets = 0;
  bytes = 0;
  scaledPackets = 0;
  scaledBytes = 0;

  record(r: FlowRecord): void {
    this.records++;
    this.packets += r.packets;
    this.bytes += r.bytes;
    this.scaledPackets += r.packets * r.samplingRate;
    this.scaledBytes += r.bytes * r.samplingRate;
  }
}

/** Calls several sinks in order. */
export class TeeSink implements FlowSink {
  private readonly sinks: FlowSink[];
  constructor(...sinks: FlowSink[]) {
    this.sinks = sinks;
  }
  record(r: FlowRecord): void {
    for (let i = 0; i < this.sinks.length; i++) this.sinks[i].record(r);
  }
}
