/** placeholder */
import { countError, type DecodeContext } from './context.ts';

export function decodeNetflow9(_buf: Buffer, ctx: DecodeContext): number {
  countError(ctx.stats, 'unsupported');
  return 0;
}
