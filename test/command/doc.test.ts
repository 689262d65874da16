/**
 * docs/command-pipe.md is followed word for word: its config example is a
 * valid config with the pipe set, and every line of its command table is
 * read as the table says (ban, unban or withdraw-all of the named target).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { validateConfig } from '../../src/config/load.ts';
import { parseCommand } from '../../src/bgp/command.ts';
import { parseLine } from '../../src/command/parse.ts';

const doc = readFileSync(join(import.meta.dirname, '../../docs/command-pipe.md'), 'utf8');

test('the config examples of the command pipe page are valid configs', () => {
  const blocks = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]);
  assert.ok(blocks.length >= 2);
  for (const b of blocks) {
    const raw = parse(b.replace(/^ {3}/gm, ''));
    const full = raw.networks ? raw : { networks: ['198.51.100.0/24'], ...raw };
    const cfg = validateConfig(full);
    assert.equal(cfg.api.command_pipe, '/var/lib/breakwater/exabgp.cmd');
  }
});

test('every line of the command table reads as the table says', () => {
  const rows = [...doc.matchAll(/^\| `([^`]+)` \| (ban|unban|lift every active ban)[^|]*\|$/gm)];
  assert.ok(rows.length >= 10, `rows: ${rows.length}`);
  for (const [, line, what] of rows) {
    const r = parseLine(line, parseCommand);
    assert.equal(r.ok, true, `${line}: ${JSON.stringify(r)}`);
    if (r.ok !== true) continue;
    const op = what === 'ban' ? 'ban' : what === 'unban' ? 'unban' : 'unban_all';
    assert.equal(r.cmd.op, op, line);
    if (r.cmd.op !== 'unban_all') assert.match(r.cmd.target, /^198\.51\.100\.7(\/32)?$/, line);
    if (/ttl 600/.test(line)) assert.equal(r.cmd.op === 'ban' && r.cmd.ttlSeconds, 600);
  }
  // The FastNetMon lines of the migration steps.
  for (const m of doc.matchAll(/^\s*echo "([^"]+)" > /gm)) assert.equal(parseLine(m[1], parseCommand).ok, true, m[1]);
});
