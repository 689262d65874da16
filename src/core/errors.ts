export { DecodeError } from './reader.ts';

/** A config or request problem, with the dotted path of the offending key. */
export interface PathIssue {
  path: string;
  message: string;
  /** A suggestion shown after the message ("did you mean ..."). */
  hint?: string;
}

export class ConfigError extends Error {
  readonly issues: PathIssue[];
  constructor(issues: PathIssue[], file?: string) {
    super(`${file ? file + ': ' : ''}invalid config:\n` + issues.map((i) => `  ${i.path || '(root)'}: ${i.message}${i.hint ? ` (${i.hint})` : ''}`).join('\n'));
    this.issues = issues;
  }
}
