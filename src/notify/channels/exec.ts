/**
 * Exec hook, without a shell. Formats:
 * - breakwater (kapkan: the same): argv + [event name], the JSON body on stdin.
 * - fastnetmon: FastNetMon's notify-script contract, once per event:
 *   argv + [ip, incoming|outgoing, pps, ban|unban|attack_details], the attack
 *   details on stdin. ban → `ban` (live) or `attack_details` (dry-run);
 *   unban → `unban` (live only); `breakwater notify-test` → `attack_details`;
 *   other events do not run it. In dry-run the
 *   script never sees ban or unban.
 * The child gets a minimal environment (no daemon secrets) and its own
 * process group, killed whole (SIGKILL) at the time limit.
 */
import { spawn } from 'node:child_process';
import type { Message, NotifyEvent } from '../event.ts';
import { buildPayload } from '../payload.ts';
import { fastnetmonDetails } from '../format.ts';
import { splitCommand } from '../argv.ts';
import type { Channel } from './channel.ts';
import { BreakwaterError } from '../../core/errors.ts';

export const EXEC_ENV: Readonly<Record<string, string>> = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' };

export type ExecFormat = 'breakwater' | 'kapkan' | 'fastnetmon';

/** FastNetMon's action word for an event, or undefined when the script is not run for it. */
export function fastnetmonAction(e: NotifyEvent): 'ban' | 'unban' | 'attack_details' | undefined {
  if (e.event === 'ban') return e.mode === 'live' ? 'ban' : 'attack_details';
  if (e.event === 'unban' && e.mode === 'live') return 'unban';
  if (e.event === 'test') return 'attack_details';
  return undefined;
}

/** Runs argv with stdin; resolves on exit 0, rejects on another exit, a signal or the time limit. */
export function runProgram(argv: string[], stdin: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { detached: true, env: { ...EXEC_ENV }, stdio: ['pipe', 'ignore', 'pipe'], shell: false });
    let stderr = '';
    let done = false;
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve();
    };
    const timer = setTimeout(() => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
      finish(new Error(`${argv[0]}: killed after ${timeoutMs} ms`));
    }, timeoutMs);
    child.stderr!.on('data', (d: Buffer) => {
      if (stderr.length < 1000) stderr += d.toString('utf8');
    });
    child.on('error', (e) => finish(new Error(`${argv[0]}: ${e.message}`)));
    child.on('close', (code, signal) => {
      if (code === 0) finish();
      else finish(new Error(`${argv[0]}: ${signal ? `signal ${signal}` : `exit ${code}`}${stderr ? `: ${stderr.trim().slice(0, 300)}` : ''}`));
    });
    child.stdin!.on('error', () => undefined);
    child.stdin!.end(stdin);
  });
}

export class ExecChannel implements Channel {
  readonly name = 'exec' as const;
  private readonly argv: string[];
  private readonly format: ExecFormat;
  private readonly timeoutMs: number;

  constructor(cfg: { command: string | string[]; timeout_seconds: number; format: ExecFormat }) {
    this.argv = splitCommand(cfg.command);
    if (this.argv.length === 0) throw new BreakwaterError('invalid_config', 'notify.exec.command is empty');
    this.format = cfg.format;
    this.timeoutMs = cfg.timeout_seconds * 1000;
  }

  async send(m: Message): Promise<void> {
    if (this.format !== 'fastnetmon') {
      await runProgram([...this.argv, m.event], JSON.stringify(buildPayload(m)) + '\n', this.timeoutMs);
      return;
    }
    for (const e of m.events) {
      const action = fastnetmonAction(e);
      if (!action || !e.target) continue;
      const ip = e.target.replace(/\/(32|128)$/, '');
      await runProgram([...this.argv, ip, e.direction ?? 'incoming', String(Math.round(e.rates?.pps ?? 0)), action], fastnetmonDetails(e), this.timeoutMs);
    }
  }
}
