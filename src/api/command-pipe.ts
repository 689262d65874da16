/**
 * The command pipe (`api.command_pipe`): a named pipe (FIFO) that scripts
 * write command lines into, the way FastNetMon's `exabgp_command_pipe` and
 * the ExaBGP RTBH guide's scripts do (`echo "announce ..." > PIPE`). It lives
 * with the API because it is another way in for operators, and node:net (the
 * non-blocking pipe handle) belongs to the API and BGP listeners only.
 *
 * The FIFO is opened O_RDONLY|O_NONBLOCK and read through a libuv pipe handle,
 * so the event loop never waits on it; the daemon also holds a write end open
 * itself, so writers that open, write and close one after the other never
 * make the reader see end-of-file (no EOF spin, no reopen). Lines split over
 * several writes are put together; a line longer than `maxLineBytes` is
 * dropped up to its newline and counted. Each command must end with a
 * newline (`echo` adds one). Writes of up to 4 KiB (PIPE_BUF) are atomic,
 * so concurrent writers of whole lines never interleave.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, constants, lstatSync, mkdirSync, openSync, rmSync } from 'node:fs';
import { Socket } from 'node:net';
import { dirname, resolve } from 'node:path';
import { StartError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';

export interface CommandPipeOptions {
  path: string;
  onLine: (line: string) => void;
  log?: Logger;
  /** Longest accepted line in bytes, newline excluded (default 4096). */
  maxLineBytes?: number;
  /** File mode of a FIFO the daemon creates (default 0o660). */
  mode?: number;
}

export interface CommandPipeStats {
  path: string;
  lines: number;
  bytes: number;
  /** Lines dropped for being longer than maxLineBytes. */
  dropped_too_long: number;
}

const KEY = 'api.command_pipe';

export class CommandPipe {
  readonly path: string;
  private readonly opts: CommandPipeOptions;
  private readonly max: number;
  private sock: Socket | undefined;
  private keepFd = -1;
  private created = false;
  /** Bytes of the line being assembled. */
  private parts: Buffer[] = [];
  private partLen = 0;
  /** Dropping an over-long line up to its newline. */
  private skipping = false;
  readonly stats: CommandPipeStats;

  constructor(opts: CommandPipeOptions) {
    this.opts = opts;
    this.path = resolve(opts.path);
    this.max = opts.maxLineBytes ?? 4096;
    this.stats = { path: this.path, lines: 0, bytes: 0, dropped_too_long: 0 };
  }

  /** Creates the FIFO (or takes over one left by an earlier run) and starts reading; throws StartError naming the key. */
  start(): void {
    let st: ReturnType<typeof lstatSync> | undefined;
    try {
      st = lstatSync(this.path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new StartError('invalid_config', `${KEY} "${this.path}": ${(e as Error).message}`, KEY);
    }
    if (st && !st.isFIFO()) {
      throw new StartError('invalid_config', `${KEY} "${this.path}" exists and is not a named pipe (FIFO); remove it or choose another path`, KEY);
    }
    if (!st) {
      try {
        mkdirSync(dirname(this.path), { recursive: true });
        execFileSync('mkfifo', ['-m', (this.opts.mode ?? 0o660).toString(8), this.path], { stdio: ['ignore', 'ignore', 'pipe'] });
      } catch (e) {
        const err = (e as { stderr?: Buffer }).stderr?.toString().trim() || (e as Error).message;
        throw new StartError('invalid_config', `${KEY} "${this.path}": cannot create the named pipe: ${err}`, KEY);
      }
      this.created = true;
    }
    let fd = -1;
    try {
      fd = openSync(this.path, constants.O_RDONLY | constants.O_NONBLOCK);
      // Our own write end: the reader never sees EOF when a writer closes.
      this.keepFd = openSync(this.path, constants.O_WRONLY | constants.O_NONBLOCK);
    } catch (e) {
      if (fd >= 0) closeSync(fd);
      this.removeFifo();
      throw new StartError('invalid_config', `${KEY} "${this.path}": cannot open the named pipe: ${(e as Error).message}`, KEY);
    }
    const sock = new Socket({ fd, readable: true, writable: false });
    sock.on('data', (chunk: Buffer) => this.onData(chunk));
    sock.on('error', (e) => this.opts.log?.error({ event: 'command pipe error', path: this.path, err: e.message }, `${KEY}: read error`));
    this.sock = sock;
    this.opts.log?.info({ event: 'command pipe open', path: this.path, created: this.created }, `command pipe ${this.path} open`);
  }

  private onData(chunk: Buffer): void {
    this.stats.bytes += chunk.length;
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      const end = nl < 0 ? chunk.length : nl;
      if (!this.skipping) {
        if (this.partLen + (end - start) > this.max) {
          this.skipping = true;
          this.parts = [];
          this.partLen = 0;
        } else if (end > start) {
          this.parts.push(chunk.subarray(start, end));
          this.partLen += end - start;
        }
      }
      if (nl < 0) break;
      if (this.skipping) {
        this.skipping = false;
        this.stats.dropped_too_long++;
        this.opts.log?.warn({ event: 'command pipe line dropped', path: this.path, max_bytes: this.max }, `${KEY}: a line longer than ${this.max} bytes was dropped`);
      } else {
        const line = Buffer.concat(this.parts, this.partLen).toString('utf8').replace(/\r$/, '');
        this.parts = [];
        this.partLen = 0;
        this.stats.lines++;
        try {
          this.opts.onLine(line);
        } catch (e) {
          this.opts.log?.error({ event: 'command pipe error', path: this.path, err: (e as Error).message }, `${KEY}: a command failed`);
        }
      }
      start = nl + 1;
    }
    // Copy the partial line out of the read buffer (libuv may reuse it).
    if (this.parts.length && this.parts[this.parts.length - 1].buffer === chunk.buffer) {
      const last = this.parts.pop()!;
      this.parts.push(Buffer.from(last));
    }
  }

  /** Stops reading and removes the FIFO. */
  stop(): void {
    this.sock?.destroy();
    this.sock = undefined;
    if (this.keepFd >= 0) {
      try {
        closeSync(this.keepFd);
      } catch {
        // already closed
      }
      this.keepFd = -1;
    }
    this.removeFifo();
    this.opts.log?.info({ event: 'command pipe closed', path: this.path }, `command pipe ${this.path} closed and removed`);
  }

  private removeFifo(): void {
    try {
      if (lstatSync(this.path).isFIFO()) rmSync(this.path, { force: true });
    } catch {
      // gone already
    }
  }
}
