/**
 * Exporter silence from the collector's per-exporter last-seen times: an
 * exporter that has sent datagrams and then none for `silentMs` is silent
 * once (exporter_silent), and back (exporter_back) when its last-seen time
 * moves again. Pure: the caller polls it with the stats and the time.
 */
import type { NotifyEvent } from './event.ts';

export class ExporterWatch {
  /** exporter → last-seen time when it went silent. */
  private readonly silent = new Map<string, number>();

  check(exporters: ReadonlyArray<{ exporter: string; lastSeen: number }>, now: number, silentMs: number, mode: 'dry_run' | 'live'): NotifyEvent[] {
    const out: NotifyEvent[] = [];
    if (silentMs <= 0) return out;
    for (const e of exporters) {
      if (!e.lastSeen) continue;
      const since = this.silent.get(e.exporter);
      if (since === undefined) {
        if (now - e.lastSeen >= silentMs) {
          this.silent.set(e.exporter, e.lastSeen);
          out.push({ event: 'exporter_silent', time: now, mode, exporter: e.exporter, silent_seconds: Math.round((now - e.lastSeen) / 1000) });
        }
      } else if (e.lastSeen > since) {
        this.silent.delete(e.exporter);
        out.push({ event: 'exporter_back', time: now, mode, exporter: e.exporter, silent_seconds: Math.round((e.lastSeen - since) / 1000) });
      }
    }
    return out;
  }
}
