/**
 * Where interop tests run their routers: child daemons started with private
 * directories and stopped by PID even when a test fails (process exit hook as
 * the last resort), random loopback addresses and ports, and network
 * namespaces created and deleted by the test.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) {
    try {
      if (c.pid) process.kill(c.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
});

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export interface Daemon {
  proc: ChildProcess;
  pid: number;
  output(): string;
  exited: Promise<number | null>;
}

export function startDaemon(cmd: string, args: string[], opts: { cwd?: string } = {}): Daemon {
  const proc = spawn(cmd, args, { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(proc);
  let out = '';
  const keep = (b: Buffer) => {
    out += b.toString();
    if (out.length > 200_000) out = out.slice(-100_000);
  };
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  const exited = new Promise<number | null>((resolve) => {
    proc.on('exit', (code) => {
      live.delete(proc);
      resolve(code);
    });
    proc.on('error', () => {
      live.delete(proc);
      resolve(-1);
    });
  });
  return { proc, pid: proc.pid ?? -1, output: () => out, exited };
}

/** SIGTERM, then SIGKILL after graceMs. Resolves when the process is gone. */
export async function stopDaemon(d: Daemon, graceMs = 3000): Promise<void> {
  if (d.proc.exitCode !== null || d.proc.signalCode !== null) return;
  try {
    process.kill(d.pid, 'SIGCONT');
    process.kill(d.pid, 'SIGTERM');
  } catch {
    return;
  }
  const t = setTimeout(() => {
    try {
      process.kill(d.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }, graceMs);
  await d.exited;
  clearTimeout(t);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls fn until it returns a truthy value or timeoutMs passes (then throws with the last value). */
export async function waitFor<T>(what: string, fn: () => Promise<T> | T, timeoutMs = 15000, everyMs = 100): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (let i = 0; i < 100000; i++) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
      last = v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) break;
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
}

/** A random loopback /24-ish block 127.A.B.x so parallel tests do not collide. */
export function loopbackBlock(): (host: number) => string {
  const a = 10 + Math.floor(Math.random() * 200);
  const b = 1 + Math.floor(Math.random() * 250);
  return (h: number) => `127.${a}.${b}.${h}`;
}

/**
 * Ports for test listeners, below the kernel's ephemeral range: a port-0
 * listener or an outgoing connection (a BGP connect, an HTTP client) is
 * never given one of them.
 */
const PORT_LOW = 20000;
const PORT_HIGH = (() => {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) - 1;
  } catch {
    return 32767;
  }
})();
/** One file per port handed out, named by the port, holding the owner's pid: test processes running side by side never get the same port. */
const PORT_LOCKS = join(tmpdir(), 'breakwater-test-ports');
const held: string[] = [];
process.on('exit', () => {
  for (const f of held) {
    try {
      unlinkSync(f);
    } catch {
      /* already gone */
    }
  }
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A port no other test process holds (see PORT_LOCKS), outside the ephemeral range. */
export function randomPort(): number {
  mkdirSync(PORT_LOCKS, { recursive: true });
  for (let i = 0; i < 1000; i++) {
    const port = PORT_LOW + Math.floor(Math.random() * (PORT_HIGH - PORT_LOW + 1));
    const f = join(PORT_LOCKS, String(port));
    try {
      const fd = openSync(f, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      held.push(f);
      return port;
    } catch {
      // held: by a live process it stays theirs; a dead owner's lock is taken over on a later draw
      try {
        const owner = Number(readFileSync(f, 'utf8'));
        if (owner > 0 && !alive(owner)) unlinkSync(f);
      } catch {
        /* raced with its owner */
      }
    }
  }
  throw new Error(`no free test port in ${PORT_LOW}-${PORT_HIGH} after 1000 draws (${PORT_LOCKS})`);
}

/** Creates a network namespace with lo up; returns a function that deletes it. */
export function createNetns(name: string): () => void {
  execFileSync('ip', ['netns', 'add', name]);
  execFileSync('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  return () => {
    try {
      execFileSync('ip', ['netns', 'delete', name]);
    } catch {
      /* already gone */
    }
  };
}
