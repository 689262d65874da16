/**
 * Real receivers on loopback for the notification tests: an HTTP receiver
 * (webhook, Slack, Telegram Bot API shapes) that can answer, fail or hang;
 * an SMTP server (Debian's python3-aiosmtpd) writing each message to a
 * directory; a FastNetMon-style notify script; and a validator for the JSON
 * Schema keywords docs/webhook.schema.json uses.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Received {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  time: number;
}

export type Behaviour = 'ok' | 'fail' | 'hang';

export interface HttpReceiver {
  url: string;
  port: number;
  /** Requests answered with a 2xx. */
  received: Received[];
  /** Every request that reached the handler, whatever the answer. */
  attempts: number;
  /** ok: answers with `answer(req)`; fail: 503; hang: accepts the request and never answers. */
  behaviour: Behaviour;
  waitFor(n: number, timeoutMs?: number): Promise<Received[]>;
  /** Stops listening and drops open connections (connection refused until start()). */
  stopListening(): Promise<void>;
  /** Listens again on the same port. */
  start(): Promise<void>;
  close(): Promise<void>;
}

export async function startHttpReceiver(answer: (r: Received) => { status?: number; body: string } = () => ({ body: 'ok' })): Promise<HttpReceiver> {
  let server: Server | undefined;
  const sockets = new Set<Socket>();
  const rx: HttpReceiver = {
    url: '',
    port: 0,
    received: [],
    attempts: 0,
    behaviour: 'ok',
    async waitFor(n, timeoutMs = 15_000) {
      const end = Date.now() + timeoutMs;
      while (rx.received.length < n) {
        if (Date.now() > end) throw new Error(`receiver: ${rx.received.length} of ${n} requests after ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 10));
      }
      return rx.received;
    },
    async stopListening() {
      const s = server;
      server = undefined;
      if (!s) return;
      for (const c of sockets) c.destroy();
      await new Promise<void>((r) => s.close(() => r()));
    },
    start: () => listen(),
    async close() {
      await rx.stopListening();
    },
  };
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const s = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          rx.attempts++;
          if (rx.behaviour === 'hang') return;
          if (rx.behaviour === 'fail') {
            res.writeHead(503).end('down');
            return;
          }
          const r: Received = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), time: Date.now() };
          const a = answer(r);
          if ((a.status ?? 200) < 300) rx.received.push(r);
          res.writeHead(a.status ?? 200, { 'content-type': a.body.startsWith('{') ? 'application/json' : 'text/plain' }).end(a.body);
        });
      });
      s.on('connection', (c) => {
        sockets.add(c);
        c.on('close', () => sockets.delete(c));
      });
      s.once('error', reject);
      s.listen(rx.port, '127.0.0.1', () => {
        server = s;
        rx.port = (s.address() as { port: number }).port;
        rx.url = `http://127.0.0.1:${rx.port}`;
        resolve();
      });
    });
  await listen();
  return rx;
}

/** A fake Telegram Bot API: POST /bot<token>/sendMessage with JSON {chat_id, text}; answers like the real one. */
export function startTelegram(token: string): Promise<HttpReceiver> {
  return startHttpReceiver((r) => {
    if (r.method !== 'POST' || r.path !== `/bot${token}/sendMessage`) return { status: 404, body: JSON.stringify({ ok: false, error_code: 404, description: 'Not Found' }) };
    let m: { chat_id?: unknown; text?: unknown };
    try {
      m = JSON.parse(r.body);
    } catch {
      return { status: 400, body: JSON.stringify({ ok: false, error_code: 400, description: 'Bad Request: bad JSON' }) };
    }
    if (m.chat_id === undefined || typeof m.text !== 'string' || m.text.length === 0 || m.text.length > 4096) {
      return { status: 400, body: JSON.stringify({ ok: false, error_code: 400, description: 'Bad Request: message text is empty or too long' }) };
    }
    return { body: JSON.stringify({ ok: true, result: { message_id: 1, chat: { id: m.chat_id }, text: m.text } }) };
  });
}

type Block = { type?: string; text?: { type?: string; text?: string }; elements?: unknown[] };

/** A Slack incoming-webhook endpoint: JSON with `text` and valid blocks → "ok"; else 400 like Slack ("invalid_blocks"). */
export function startSlack(): Promise<HttpReceiver> {
  return startHttpReceiver((r) => {
    let m: { text?: unknown; blocks?: Block[] };
    try {
      m = JSON.parse(r.body);
    } catch {
      return { status: 400, body: 'invalid_payload' };
    }
    if (typeof m.text !== 'string') return { status: 400, body: 'no_text' };
    const okBlock = (b: Block) =>
      (b.type === 'header' && b.text?.type === 'plain_text' && (b.text.text ?? '').length <= 150) ||
      (b.type === 'section' && (b.text?.type === 'mrkdwn' || b.text?.type === 'plain_text') && (b.text.text ?? '').length <= 3000) ||
      (b.type === 'context' && Array.isArray(b.elements));
    if (m.blocks !== undefined && (!Array.isArray(m.blocks) || !m.blocks.every(okBlock))) return { status: 400, body: 'invalid_blocks' };
    return { body: 'ok' };
  });
}

const SMTP_SINK = `
import os, sys
from aiosmtpd.controller import Controller
out = sys.argv[1]
class H:
    n = 0
    async def handle_DATA(self, server, session, envelope):
        H.n += 1
        p = os.path.join(out, '%06d.eml' % H.n)
        with open(p + '.tmp', 'wb') as f:
            f.write(b'X-Rcpt: ' + ','.join(envelope.rcpt_tos).encode() + b'\\r\\n' + envelope.content)
        os.rename(p + '.tmp', p)
        return '250 OK'
port = int(sys.argv[2])
if port == 0:
    import socket
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
c = Controller(H(), hostname='127.0.0.1', port=port)
c.start()
print(port, flush=True)
sys.stdin.read()
c.stop()
`;

export const SMTP_PYTHON = '/usr/bin/python3';

export function hasAiosmtpd(): boolean {
  return existsSync(SMTP_PYTHON) && spawnSync(SMTP_PYTHON, ['-c', 'import aiosmtpd'], { stdio: 'ignore', timeout: 10_000 }).status === 0;
}

export interface SmtpSink {
  port: number;
  dir: string;
  messages(): string[];
  waitFor(n: number, timeoutMs?: number): Promise<string[]>;
  stop(): Promise<void>;
}

/** aiosmtpd on 127.0.0.1 (port 0: a free one). */
export async function startSmtp(dir: string, port = 0): Promise<SmtpSink> {
  mkdirSync(dir, { recursive: true });
  const p: ChildProcess = spawn(SMTP_PYTHON, ['-c', SMTP_SINK, dir, String(port)], { stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  p.stderr!.on('data', (d: Buffer) => (err += d));
  const got = await new Promise<number>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`aiosmtpd did not start: ${err}`)), 15_000);
    p.stdout!.once('data', (d: Buffer) => {
      clearTimeout(t);
      resolve(Number(String(d).trim()));
    });
    p.once('exit', (c) => reject(new Error(`aiosmtpd exited ${c}: ${err}`)));
  });
  const sink: SmtpSink = {
    port: got,
    dir,
    messages: () =>
      readdirSync(dir)
        .filter((f) => f.endsWith('.eml'))
        .sort()
        .map((f) => readFileSync(join(dir, f), 'utf8')),
    async waitFor(n, timeoutMs = 15_000) {
      const end = Date.now() + timeoutMs;
      while (sink.messages().length < n) {
        if (Date.now() > end) throw new Error(`smtp: ${sink.messages().length} of ${n} messages`);
        await new Promise((r) => setTimeout(r, 20));
      }
      return sink.messages();
    },
    async stop() {
      if (p.exitCode !== null || p.signalCode !== null) return;
      const exited = new Promise((r) => p.once('exit', r));
      p.stdin!.end();
      const t = setTimeout(() => p.kill('SIGKILL'), 3_000);
      await exited;
      clearTimeout(t);
    },
  };
  return sink;
}

/** A FastNetMon-style notify script: appends one JSON line {argv, stdin, env} per run to `out`. */
export function writeNotifyScript(dir: string, out: string, before = ''): string {
  const path = join(dir, 'notify_script.sh');
  writeFileSync(
    path,
    [
      '#!/bin/sh',
      '# FastNetMon notify-script contract: $1 ip, $2 incoming|outgoing, $3 pps, $4 ban|unban|attack_details; details on stdin.',
      before,
      `exec ${SMTP_PYTHON} -c 'import json,sys,os; print(json.dumps({"argv": sys.argv[1:], "stdin": sys.stdin.read(), "env": dict(os.environ)}))' "$@" >> '${out}'`,
      '',
    ].join('\n'),
  );
  chmodSync(path, 0o755);
  return path;
}

export function readScriptRuns(out: string): Array<{ argv: string[]; stdin: string; env: Record<string, string> }> {
  if (!existsSync(out)) return [];
  return readFileSync(out, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

/** Validates `value` against the JSON Schema subset the published schema uses; throws on a keyword it does not implement. */
export function validateJsonSchema(schema: any, value: unknown, path = '$'): string[] {
  const errs: string[] = [];
  const known = new Set(['$schema', '$id', 'title', 'description', 'type', 'properties', 'required', 'enum', 'const', 'items', 'minimum', 'anyOf', 'additionalProperties']);
  for (const k of Object.keys(schema)) if (!known.has(k)) throw new Error(`validator does not implement keyword ${k} (at ${path})`);
  const typeOf = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : Number.isInteger(v) ? 'integer' : typeof v);
  if (schema.type) {
    const types: string[] = Array.isArray(schema.type) ? schema.type : [schema.type];
    const t = typeOf(value);
    if (!types.some((x) => x === t || (x === 'number' && t === 'integer'))) errs.push(`${path}: ${t} is not ${types.join('|')}`);
  }
  if ('const' in schema && value !== schema.const) errs.push(`${path}: not ${JSON.stringify(schema.const)}`);
  if (schema.enum && !schema.enum.includes(value)) errs.push(`${path}: ${JSON.stringify(value)} not in enum`);
  if (schema.minimum !== undefined && typeof value === 'number' && value < schema.minimum) errs.push(`${path}: below ${schema.minimum}`);
  if (schema.anyOf && !schema.anyOf.some((s: any) => validateJsonSchema(s, value, path).length === 0)) errs.push(`${path}: matches no anyOf branch`);
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const o = value as Record<string, unknown>;
    for (const r of schema.required ?? []) if (!(r in o)) errs.push(`${path}.${r}: required`);
    for (const [k, v] of Object.entries(o)) {
      const sub = schema.properties?.[k];
      if (sub) errs.push(...validateJsonSchema(sub, v, `${path}.${k}`));
      else if (schema.additionalProperties === false) errs.push(`${path}.${k}: not allowed`);
    }
  }
  if (Array.isArray(value) && schema.items) value.forEach((v, i) => errs.push(...validateJsonSchema(schema.items, v, `${path}[${i}]`)));
  return errs;
}
