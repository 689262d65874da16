/**
 * GET /api/v1/openapi.json: an OpenAPI 3.1 document generated from ROUTES
 * and its valibot schemas. Checked for structure (what a 3.1 document must
 * hold, every $ref resolving, path parameters declared, unique operation
 * ids), for completeness (every ROUTES row documented, nothing else
 * documented), and against a real daemon: every documented operation is
 * called and its answer validated with the schema the document came from.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as v from 'valibot';
import { ROUTES } from '../../src/api/server.ts';
import { openapiPath } from '../../src/api/openapi.ts';
import type { RouteSpec } from '../../src/api/routes.ts';
import { startHarness } from '../daemon/harness.ts';
import { accessConfig, TOKENS } from './access-fixtures.ts';

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

function refs(o: unknown, out: string[] = []): string[] {
  if (Array.isArray(o)) for (const x of o) refs(x, out);
  else if (o && typeof o === 'object') for (const [k, x] of Object.entries(o)) k === '$ref' && typeof x === 'string' ? out.push(x) : refs(x, out);
  return out;
}

function resolveRef(doc: any, ref: string): unknown {
  assert.match(ref, /^#\//, ref);
  return ref.slice(2).split('/').reduce((o: any, k) => (o === undefined ? undefined : o[k.replace(/~1/g, '/').replace(/~0/g, '~')]), doc);
}

/** Structural checks of an OpenAPI 3.1 document; returns the problems found. */
export function openapiProblems(doc: any): string[] {
  const p: string[] = [];
  if (doc.openapi !== '3.1.0') p.push(`openapi is ${doc.openapi}`);
  if (typeof doc.info?.title !== 'string' || typeof doc.info?.version !== 'string') p.push('info.title and info.version are required');
  if (!doc.paths || typeof doc.paths !== 'object') p.push('paths missing');
  const ids = new Set<string>();
  const schemes = Object.keys(doc.components?.securitySchemes ?? {});
  const tags = new Set((doc.tags ?? []).map((t: any) => t.name));
  for (const [path, item] of Object.entries<any>(doc.paths ?? {})) {
    if (!path.startsWith('/')) p.push(`${path}: a path starts with /`);
    const templ = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
    for (const [m, op] of Object.entries<any>(item)) {
      const at = `${m.toUpperCase()} ${path}`;
      if (!METHODS.includes(m)) p.push(`${at}: not an HTTP method`);
      if (!op.operationId || ids.has(op.operationId)) p.push(`${at}: operationId missing or repeated`);
      ids.add(op.operationId);
      for (const t of op.tags ?? []) if (!tags.has(t)) p.push(`${at}: tag ${t} not declared`);
      const params = op.parameters ?? [];
      const seen = new Set<string>();
      for (const q of params) {
        if (!q.name || !['query', 'path', 'header', 'cookie'].includes(q.in) || !q.schema) p.push(`${at}: parameter needs name, in and schema`);
        if (seen.has(`${q.in}:${q.name}`)) p.push(`${at}: parameter ${q.name} twice`);
        seen.add(`${q.in}:${q.name}`);
        if (q.in === 'path' && q.required !== true) p.push(`${at}: path parameter ${q.name} must be required`);
        if (q.in === 'path' && !templ.includes(q.name)) p.push(`${at}: path parameter ${q.name} not in the path`);
      }
      for (const n of templ) if (!params.some((q: any) => q.in === 'path' && q.name === n)) p.push(`${at}: {${n}} not declared`);
      const codes = Object.keys(op.responses ?? {});
      if (!codes.some((c) => /^2\d\d$/.test(c))) p.push(`${at}: no 2xx response`);
      for (const [c, r] of Object.entries<any>(op.responses ?? {})) {
        if (!/^[1-5]\d\d$/.test(c)) p.push(`${at}: response code ${c}`);
        if (typeof r.description !== 'string') p.push(`${at} ${c}: description required`);
        for (const [ct, media] of Object.entries<any>(r.content ?? {})) if (!media.schema) p.push(`${at} ${c} ${ct}: schema missing`);
      }
      for (const s of op.security ?? []) for (const name of Object.keys(s)) if (!schemes.includes(name)) p.push(`${at}: security scheme ${name} not declared`);
      if (op.requestBody && !op.requestBody.content?.['application/json']?.schema) p.push(`${at}: requestBody without a JSON schema`);
    }
  }
  for (const r of refs(doc)) if (resolveRef(doc, r) === undefined) p.push(`$ref ${r} does not resolve`);
  return p;
}

test('openapi.json: a valid OpenAPI 3.1 document, every ROUTES row documented and nothing else; every documented route answers as documented', { timeout: 120_000 }, async (t) => {
  const h = await startHarness(t, { ...accessConfig(), ban: { ttl_seconds: 600, unban_hysteresis_seconds: 1 } });
  const res = await fetch(h.base + '/api/v1/openapi.json');
  assert.equal(res.status, 200, 'open without a token');
  const doc: any = await res.json();
  assert.deepEqual(openapiProblems(doc), []);

  const documented = Object.entries<any>(doc.paths).flatMap(([p, item]) => Object.keys(item).map((m) => `${m.toUpperCase()} ${p}`)).sort();
  const rows = ROUTES.map((r) => `${r.method} ${openapiPath(r.path).path}`).sort();
  assert.deepEqual(documented, rows);

  // The schemas are the validators': an enum, a pattern-checked integer, the ban body's keys and strictness.
  const hosts = doc.paths['/api/v1/hosts'].get;
  assert.deepEqual(hosts.parameters.find((q: any) => q.name === 'sort').schema.enum, ['pps', 'bps', 'flows']);
  assert.equal(hosts.parameters.find((q: any) => q.name === 'limit').schema.pattern, '^[0-9]+$');
  const banBody = doc.paths['/api/v1/ban'].post.requestBody.content['application/json'].schema;
  assert.deepEqual(Object.keys(banBody.properties).sort(), ['ip', 'reason', 'ttl_seconds']);
  assert.deepEqual(banBody.required, ['ip']);
  assert.equal(banBody.additionalProperties, false);
  assert.equal(banBody.properties.ttl_seconds.maximum, 30 * 86_400);
  assert.deepEqual(doc.paths['/api/v1/config'].get['x-breakwater-access'], 'admin');
  assert.deepEqual(doc.paths['/healthz'].get.security, []);

  // Something in every list: an attack (and its ban), traffic in the ring, audit entries.
  h.advance(200);
  for (let i = 0; i < 10; i++) {
    h.flood('198.51.100.5', 50, 10, { srcPort: 123, bytes: 468 });
    h.advance(100);
  }
  h.d.sampleTraffic();

  const attackId = (await h.req('GET', '/api/v1/attacks', undefined, { authorization: `Bearer ${TOKENS.admin}` })).json.attacks[0]?.id ?? 'none';
  const sample: Record<string, string> = { name: 'console.js', ip: '198.51.100.5', id: 'none', limit: '5', sort: 'bps', direction: 'incoming', active: 'true', from: '-5m', action: 'ban' };
  const BODIES: Record<string, unknown> = {
    'POST /api/v1/ban': { ip: '198.51.100.9', ttl_seconds: 60 },
    'POST /api/v1/unban': { ip: '198.51.100.9' },
    'POST /api/v1/events': { victim_ip: '198.51.100.20', vector: 'udp_flood', pps: 100000, source: 'probe' },
    'POST /api/v1/signals/fastnetmon': { ip: '198.51.100.21', action: 'ban' },
    'POST /api/v1/signals/alertmanager': { alerts: [] },
    'POST /api/v1/signals/rtbh': { action: 'announce', target_ip: '198.51.100.23' },
    'POST /api/v1/commands': 'announce 198.51.100.24/32',
    'POST /api/v1/mitigations': { target: '198.51.100.27', match: { protocol: ['udp'] } },
  };
  const checked: string[] = [];
  for (const r of ROUTES as readonly RouteSpec[]) {
    const op = doc.paths[openapiPath(r.path).path][r.method.toLowerCase()];
    let path = openapiPath(r.path).path;
    const query = new URLSearchParams();
    for (const q of op.parameters ?? []) {
      // The path's id: the mitigation made by the POST before it, the attack the flood made.
      if (q.in === 'path') path = path.replace(`{${q.name}}`, encodeURIComponent(q.name === 'id' && r.path.startsWith('/api/v1/mitigations/') ? sample.mid ?? 'none' : q.name === 'id' && r.path.endsWith('/infer') ? attackId : sample[q.name]));
      // Optional query parameters with a sample value are sent (not ?ip= on /hosts: that is the one-host form, called below).
      else if (sample[q.name] !== undefined && !(r.path === '/api/v1/hosts' && q.name === 'ip') && !(r.path.startsWith('/api/v1/history') && q.name === 'from')) query.set(q.name, sample[q.name]);
    }
    if (r.path === '/api/v1/mitigations/preview') {
      query.set('target', '198.51.100.26');
      query.set('match', JSON.stringify({ protocol: ['udp'] }));
      query.delete('action');
    }
    const body = BODIES[`${r.method} ${r.path}`];
    if (body !== undefined) assert.ok(v.safeParse(r.body!, body).success, `${r.path}: the sample body is valid`);
    const url = `${h.base}${path}${query.size ? `?${query}` : ''}`;
    const text_ = typeof body === 'string';
    if (r.path === '/api/v1/stream') {
      // An event stream never ends: its first event is read, then the request is dropped.
      const ac = new AbortController();
      const sse = await fetch(url, { headers: { authorization: `Bearer ${TOKENS.admin}` }, signal: ac.signal });
      assert.equal(sse.status, 200);
      assert.match(sse.headers.get('content-type') ?? '', /text\/event-stream/);
      const first = await sse.body!.getReader().read();
      assert.match(new TextDecoder().decode(first.value), /^(event|data|:|retry)/m);
      ac.abort();
      checked.push(`${r.method} ${r.path} 200`);
      continue;
    }
    const resp = await fetch(url, { method: r.method, headers: { authorization: `Bearer ${TOKENS.admin}`, ...(body !== undefined ? { 'content-type': text_ ? 'text/plain' : 'application/json' } : {}) }, body: body === undefined ? undefined : text_ ? body : JSON.stringify(body) });
    const text = await resp.text();
    if (r.method === 'POST' && r.path === '/api/v1/mitigations' && resp.status === 201) sample.mid = JSON.parse(text).id;
    const code = String(resp.status);
    assert.ok(op.responses[code], `${r.method} ${url}: ${code} is not a documented answer (${text.slice(0, 300)})`);
    if (/^2/.test(code)) {
      const ct = Object.keys(op.responses[code].content)[0];
      const value = ct === 'application/json' ? JSON.parse(text) : text;
      const ok = v.safeParse(r.response, value);
      assert.ok(ok.success, `${r.method} ${url}: answer does not match its schema: ${JSON.stringify(ok.issues?.slice(0, 3).map((i) => [v.getDotPath(i), i.message]))}\n${text.slice(0, 500)}`);
      if (ct === 'application/json' && /^\/api\/v1\/(attacks|bans|hosts|audit)$/.test(r.path)) assert.ok(value[r.path.split('/').pop()!].length > 0, `${r.path} is not empty`);
    } else {
      // ClickHouse history without storage.clickhouse; the console's page and assets when the bundle is not built.
      assert.ok(r.path.startsWith('/api/v1/history/') || r.path === '/' || r.path === '/assets/:name', `${r.method} ${url}: ${code} ${text.slice(0, 300)}`);
    }
    checked.push(`${r.method} ${r.path} ${code}`);
  }
  assert.equal(checked.length, ROUTES.length);
  // The one-host form of /hosts matches the same answer schema.
  const hostsRow = ROUTES.find((r) => r.path === '/api/v1/hosts')!;
  const one = await h.req('GET', '/api/v1/hosts?ip=198.51.100.5', undefined, { authorization: `Bearer ${TOKENS.admin}` });
  assert.ok(v.safeParse(hostsRow.response, one.json).success, one.text);
});
