/**
 * A private ClickHouse server for tests and benches: the Debian
 * clickhouse-server binary with a minimal config in a temp directory, HTTP
 * and TCP on free loopback ports, interserver off, started and stopped by
 * PID (stop() also runs from t.after / process exit, so a failed test leaves
 * no server behind). restart() keeps the data directory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface ClickHouseServer {
  url: string;
  httpPort: number;
  dir: string;
  pid(): number | undefined;
  /** SQL over HTTP (tests read rows back with it). */
  sql(query: string): Promise<string>;
  json<T = Record<string, unknown>>(query: string): Promise<T[]>;
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Removes the data directory after stop(). */
  cleanup(): Promise<void>;
}

export const CLICKHOUSE_BIN = ['/usr/bin/clickhouse-server', '/usr/sbin/clickhouse-server'].find((p) => existsSync(p));

export function freeTcpPort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => res(port));
    });
  });
}

function configXml(dir: string, http: number, tcp: number): string {
  return `<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>${dir}/log/server.log</log><errorlog>${dir}/log/error.log</errorlog><size>10M</size><count>1</count></logger>
  <http_port>${http}</http_port>
  <tcp_port>${tcp}</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <max_connections>64</max_connections>
  <keep_alive_timeout>3</keep_alive_timeout>
  <max_concurrent_queries>32</max_concurrent_queries>
  <uncompressed_cache_size>67108864</uncompressed_cache_size>
  <mark_cache_size>67108864</mark_cache_size>
  <path>${dir}/data/</path>
  <tmp_path>${dir}/tmp/</tmp_path>
  <user_files_path>${dir}/user_files/</user_files_path>
  <format_schema_path>${dir}/format_schemas/</format_schema_path>
  <users_config>${dir}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mlock_executable>false</mlock_executable>
</yandex>
`;
}

const USERS = `<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>2000000000</max_memory_usage><max_threads>2</max_threads></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
`;

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of running) if (p.pid) try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ }
});

export async function startClickHouse(t?: { after(fn: () => Promise<void> | void): void }): Promise<ClickHouseServer> {
  if (!CLICKHOUSE_BIN) throw new Error('clickhouse-server is not installed');
  const dir = mkdtempSync(join(tmpdir(), 'bw-clickhouse-'));
  const httpPort = await freeTcpPort();
  let tcpPort = await freeTcpPort();
  while (tcpPort === httpPort) tcpPort = await freeTcpPort();
  for (const d of ['log', 'data', 'tmp', 'user_files', 'format_schemas']) mkdirSync(join(dir, d), { recursive: true });
  writeFileSync(join(dir, 'config.xml'), configXml(dir, httpPort, tcpPort));
  writeFileSync(join(dir, 'users.xml'), USERS);
  const url = `http://127.0.0.1:${httpPort}`;
  let proc: ChildProcess | undefined;
  let out = '';

  const sql = async (query: string) => {
    const r = await fetch(url + '/', { method: 'POST', body: query, signal: AbortSignal.timeout(30_000) });
    const text = await r.text();
    if (!r.ok) throw new Error(`ClickHouse ${r.status}: ${text.trim()} (query: ${query.slice(0, 200)})`);
    return text;
  };

  const srv: ClickHouseServer = {
    url,
    httpPort,
    dir,
    pid: () => proc?.pid,
    sql,
    async json<T>(query: string) {
      const text = await sql(`${query} FORMAT JSONEachRow`);
      return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as T);
    },
    async start() {
      if (proc) return;
      const p = spawn(CLICKHOUSE_BIN!, [`--config-file=${join(dir, 'config.xml')}`], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
      proc = p;
      running.add(p);
      p.stdout!.on('data', (b: Buffer) => (out = (out + b.toString()).slice(-4000)));
      p.stderr!.on('data', (b: Buffer) => (out = (out + b.toString()).slice(-4000)));
      p.once('exit', () => {
        running.delete(p);
        if (proc === p) proc = undefined;
      });
      const end = Date.now() + 60_000;
      for (;;) {
        if (!proc) {
          const err = existsSync(join(dir, 'log/error.log')) ? readFileSync(join(dir, 'log/error.log'), 'utf8').slice(-3000) : '';
          throw new Error(`clickhouse-server exited: ${out}\n${err}`);
        }
        try {
          const r = await fetch(url + '/ping', { signal: AbortSignal.timeout(1000) });
          if (r.ok) return;
        } catch {
          /* not yet */
        }
        if (Date.now() > end) throw new Error(`clickhouse-server did not answer /ping within 60 s: ${out}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    },
    async stop() {
      const p = proc;
      if (!p || p.exitCode !== null) return;
      const exited = new Promise<void>((r) => p.once('exit', () => r()));
      try { process.kill(p.pid!, 'SIGTERM'); } catch { return; }
      const t = setTimeout(() => { try { process.kill(p.pid!, 'SIGKILL'); } catch { /* gone */ } }, 15_000);
      await exited;
      clearTimeout(t);
    },
    async cleanup() {
      await srv.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  t?.after(() => srv.cleanup());
  try {
    await srv.start();
  } catch (e) {
    await srv.cleanup();
    throw e;
  }
  return srv;
}
