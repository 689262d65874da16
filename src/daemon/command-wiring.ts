/**
 * Commands for a running daemon: one CommandRunner (command/run.ts) over the
 * engine's ban port, shared by POST /api/v1/commands and the command pipe
 * (`api.command_pipe`, api/command-pipe.ts). The pipe is opened once the
 * daemon is ready, moved when a reload changes its path, and removed at stop.
 */
import type { Config } from '../config/schema.ts';
import type { Logger } from '../core/log.ts';
import { parseCommand } from '../bgp/index.ts';
import { CommandRunner, type CommandStats } from '../command/run.ts';
import { CommandPipe, type CommandPipeStats } from '../api/command-pipe.ts';
import type { Running } from './ports.ts';

export interface CommandSources {
  /** The running config. */
  readonly config: () => Readonly<Config>;
  readonly log: Logger;
  /** The components while the daemon takes changes (running), else undefined. */
  readonly ready: () => Running | undefined;
}

export class CommandWiring {
  readonly runner: CommandRunner;
  private readonly d: CommandSources;
  private pipe: CommandPipe | undefined;
  /** The api.command_pipe value the open pipe was made for. */
  private openedFor = '';

  constructor(d: CommandSources) {
    this.d = d;
    this.runner = new CommandRunner({ port: () => d.ready()?.engine, exabgp: parseCommand, log: d.log });
  }

  /** Opens `api.command_pipe` when set; throws StartError naming the key. */
  openPipe(path: string = this.d.config().api.command_pipe): void {
    if (!path) return;
    const pipe = new CommandPipe({
      path,
      log: this.d.log,
      onLine: (line) => this.runner.runLine(line, 1, { source: 'pipe', actor: 'pipe', admin: true }),
    });
    pipe.start();
    this.pipe = pipe;
    this.openedFor = path;
  }

  /** After a reload: moves the pipe when its path changed (or retries one that failed to open); says what it did. */
  reconfigure(cfg: Readonly<Config>): string[] {
    const want = cfg.api.command_pipe;
    if (want === (this.pipe ? this.openedFor : '')) return [];
    const did: string[] = [];
    if (this.pipe) {
      this.pipe.stop();
      did.push(`command pipe ${this.pipe.path} removed`);
      this.pipe = undefined;
      this.openedFor = '';
    }
    if (want) {
      try {
        this.openPipe(want);
        did.push(`command pipe ${this.pipe!.path} open`);
      } catch (e) {
        this.d.log.error({ event: 'command pipe error', path: want, err: (e as Error).message }, (e as Error).message);
        did.push(`command pipe not opened: ${(e as Error).message}`);
      }
    }
    return did;
  }

  stop(): void {
    this.pipe?.stop();
    this.pipe = undefined;
  }

  /** The runner's counts, and the pipe's while one is open (the metrics read them). */
  stats(): CommandStats & { pipe?: CommandPipeStats } {
    return { ...this.runner.stats, ...(this.pipe ? { pipe: { ...this.pipe.stats } } : {}) };
  }
}
