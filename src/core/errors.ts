export { DecodeError } from './reader.ts';

/** A config or request problem, with the dotted path of the offending key. */
export interface PathIssue {
  path: string;
  message: string;
}

export class ConfigError extends Error {
  readonly issues: PathIssue[];
  constructor(issues: PathIssue[], file?: string) {
    super(`${file ? file + ': ' : ''}invalid config:\n` + issues.map((i) => `  ${i.path || '(root)'}: ${i.message}`).join('\n'));
    this.issues = issues;
  }
}
