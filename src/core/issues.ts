/**
 * The one reader of valibot issues: each becomes a PathIssue with the dotted
 * path of the offending key, as the API answers and the signal adapters
 * report them. A strict object's "Expected never" reads as "unknown key".
 */
import * as v from 'valibot';
import type { PathIssue } from './errors.ts';

export function pathIssues(issues: v.BaseIssue<unknown>[]): PathIssue[] {
  return issues.map((i) => ({ path: v.getDotPath(i) ?? '', message: /Expected never/.test(i.message) ? 'unknown key' : i.message }));
}
