/** sFlow v5 decoder (placeholder until implemented). */
import { countError, type DecodeContext } from './context.ts';

export function decodeSflow5(_buf: Buffer, ctx: DecodeContext): number {
  countError(ctx.stats, 'unsupported');
  return 0;
}
