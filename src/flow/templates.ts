/** Per-exporter NetFlow v9 / IPFIX template state (placeholder, filled in below). */
import type { DecodeContext } from './context.ts';

export class ExporterState {
  templateTimeoutMs: number;
  constructor(templateTimeoutMs: number) {
    this.templateTimeoutMs = templateTimeoutMs;
  }
}

export interface NetflowContext extends DecodeContext {
  state: ExporterState;
}
