/**
 * The command pipe over a real FIFO: shell writers that open, write and close
 * one after the other and at the same time, lines split over writes, CRLF,
 * over-long lines dropped and counted, no busy loop once every writer has
 * gone, a path that is not a FIFO refused with the key named, removal at stop.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { closeSync, constants, existsSync, lstatSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CommandPipe } from '../../src/api/command-pipe.ts';
import { StartError } from '../../src/core/errors.ts';

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, fn: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

function setup(t: { after(fn: () => void): void }) {
  const dir = mkdtempSync(join(tmpdir(), 'bw-pipe-'));
  const path = join(dir, 'run', 'breakwater.pipe');
  const lines: string[] = [];
  const pipe = new CommandPipe({ path, onLine: (l) => lines.push(l) });
  t.after(() => {
    pipe.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir, path, lines, pipe };
}

test('creates the FIFO (mode 0660, parent directory made) and reads writers that open, write and close, one after the other', { timeout: 60_000 }, async (t) => {
  const { path, lines, pipe } = setup(t);
  pipe.start();
  const st = lstatSync(path);
  assert.ok(st.isFIFO());
  assert.equal(st.mode & 0o777, 0o660);
  for (let i = 0; i < 30; i++) await run('sh', ['-c', `echo "announce 198.51.100.${i}/32" > "${path}"`], { timeout: 5000 });
  await until('30 lines', () => lines.length >= 30);
  assert.deepEqual(lines, Array.from({ length: 30 }, (_, i) => `announce 198.51.100.${i}/32`));
  assert.equal(pipe.stats.lines, 30);
});

test('concurrent writers: every line arrives whole, exactly once', { timeout: 60_000 }, async (t) => {
  const { path, lines, pipe } = setup(t);
  pipe.start();
  const writers = 16, each = 8;
  // Each writer is its own process; each echo opens, writes one line and closes.
  const script = (w: number) => Array.from({ length: each }, (_, j) => `echo "withdraw route 198.51.100.${w * each + j}/32 next-hop self" > "${path}"`).join('; ');
  await Promise.all(Array.from({ length: writers }, (_, w) => run('sh', ['-c', script(w)], { timeout: 20_000 })));
  await until(`${writers * each} lines`, () => lines.length >= writers * each);
  await sleep(100);
  const want = Array.from({ length: writers * each }, (_, i) => `withdraw route 198.51.100.${i}/32 next-hop self`).sort();
  assert.deepEqual([...lines].sort(), want);
});

test('a line split over several writes (and writers) is put together; CRLF is accepted; blank input lines pass through', { timeout: 30_000 }, async (t) => {
  const { path, lines, pipe } = setup(t);
  pipe.start();
  let fd = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
  writeSync(fd, 'announce route 198.51');
  await sleep(50);
  writeSync(fd, '.100.7/32 next-hop self');
  closeSync(fd);
  await sleep(50);
  fd = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
  writeSync(fd, ' community [65535:666]\r\nwithdraw-all\n');
  closeSync(fd);
  await until('2 lines', () => lines.length >= 2);
  assert.deepEqual(lines, ['announce route 198.51.100.7/32 next-hop self community [65535:666]', 'withdraw-all']);
});

test('over-long lines are dropped up to their newline and counted; the next line is read', { timeout: 30_000 }, async (t) => {
  const { path, lines, pipe } = setup(t);
  pipe.start();
  const fd = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
  writeSync(fd, 'announce ' + 'x'.repeat(3000));
  writeSync(fd, 'y'.repeat(3000) + '\nannounce 198.51.100.9/32\n');
  writeSync(fd, 'z'.repeat(4097) + '\n');
  writeSync(fd, 'a'.repeat(4096) + '\n');
  closeSync(fd);
  await until('2 lines', () => lines.length >= 2);
  await sleep(50);
  assert.deepEqual(lines, ['announce 198.51.100.9/32', 'a'.repeat(4096)]);
  assert.equal(pipe.stats.dropped_too_long, 2);
});

test('no busy loop: with every writer gone, the daemon thread stays idle', { timeout: 30_000 }, async (t) => {
  const { path, lines, pipe } = setup(t);
  pipe.start();
  await run('sh', ['-c', `echo "announce 198.51.100.3" > "${path}"`]);
  await until('1 line', () => lines.length === 1);
  const cpu0 = process.cpuUsage();
  await sleep(1000);
  const cpu = process.cpuUsage(cpu0);
  assert.ok(cpu.user + cpu.system < 300_000, `CPU while idle: ${(cpu.user + cpu.system) / 1000} ms in 1 s`);
});

test('a path that exists and is not a FIFO is refused with the key named and left alone; an old FIFO is taken over; stop removes it', { timeout: 30_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bw-pipe-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'not-a-pipe');
  writeFileSync(file, 'keep me\n');
  const bad = new CommandPipe({ path: file, onLine: () => undefined });
  assert.throws(() => bad.start(), (e: unknown) => e instanceof StartError && e.key === 'api.command_pipe' && /not a named pipe/.test(e.message) && e.message.includes(file));
  assert.equal(readFileSync(file, 'utf8'), 'keep me\n');
  bad.stop();
  assert.ok(existsSync(file), 'stop leaves a file it did not create');

  const fifo = join(dir, 'old.pipe');
  await run('mkfifo', [fifo]);
  const lines: string[] = [];
  const p = new CommandPipe({ path: fifo, onLine: (l) => lines.push(l) });
  p.start();
  await run('sh', ['-c', `echo "withdraw 198.51.100.4" > "${fifo}"`]);
  await until('1 line', () => lines.length === 1);
  p.stop();
  assert.ok(!existsSync(fifo), 'the FIFO is removed at stop');

  const noDir = new CommandPipe({ path: join(file, 'sub', 'x.pipe'), onLine: () => undefined });
  assert.throws(() => noDir.start(), (e: unknown) => e instanceof StartError && e.key === 'api.command_pipe');
});
