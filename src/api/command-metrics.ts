/**
 * breakwater_commands_* metrics, read at scrape time from the command
 * runner's and the command pipe's plain stats objects.
 */
import { Counter, type Registry } from 'prom-client';
import type { CommandStats } from '../command/run.ts';
import { mirrorCounter, mirrorCounters } from './mirror-metrics.ts';
import type { CommandPipeStats } from './command-pipe.ts';

export type CommandStatsView = CommandStats & { pipe?: Pick<CommandPipeStats, 'dropped_too_long'> };

export function registerCommandMetrics(reg: Registry, src: () => CommandStatsView | undefined): void {
  new Counter({
    name: 'breakwater_commands_total',
    help: 'Command lines (api.command_pipe, POST /api/v1/commands) by source (pipe, api) and result: accepted, refused (a ban guard or not banned), malformed (not understood).',
    labelNames: ['source', 'result'],
    registers: [reg],
    collect() {
      this.reset();
      const s = src();
      if (!s) return;
      for (const [source, by] of Object.entries(s.lines)) for (const [result, n] of Object.entries(by)) this.inc({ source, result }, n);
    },
  });
  mirrorCounters(reg, 'breakwater_commands_refused_total', 'Refused command lines by code (whitelisted, outside_networks, max_active_bans, rate_limited, not_banned, ...).', 'code', () => src()?.refused_by_code);
  mirrorCounter(reg, 'breakwater_command_pipe_dropped_lines_total', 'Lines dropped by the command pipe for being longer than 4096 bytes.', () => src()?.pipe?.dropped_too_long);
}
