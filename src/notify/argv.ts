/**
 * Splits an exec command into argv without a shell: whitespace separates
 * words, single or double quotes group them, a backslash escapes the next
 * character. No expansion of any kind.
 */
export function splitCommand(cmd: string | readonly string[]): string[] {
  if (Array.isArray(cmd)) return [...cmd];
  const out: string[] = [];
  let cur = '';
  let has = false;
  let quote: '"' | "'" | '' = '';
  const s = cmd as string;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if (quote) {
      if (ch === quote) quote = '';
      else if (ch === '\\' && quote === '"' && i + 1 < s.length) cur += s[++i];
      else cur += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      has = true;
    } else if (ch === '\\' && i + 1 < s.length) {
      cur += s[++i];
      has = true;
    } else if (/\s/.test(ch)) {
      if (has || cur) out.push(cur);
      cur = '';
      has = false;
    } else cur += ch;
  }
  if (quote) throw new Error(`unclosed ${quote} in command`);
  if (has || cur) out.push(cur);
  return out;
}
