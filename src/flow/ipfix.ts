/** placeholder */
import { countError, type DecodeContext } from './context.ts';

export function decodeIpfix(_buf: Buffer, ctx: DecodeContext): number {
  countError(ctx.stats, 'unsupported');
  return 0;
}
