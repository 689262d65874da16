/**
 * GET /api/v1/openapi.json: an OpenAPI 3.1 document built from ROUTES, with
 * every schema converted from the valibot schema that validates the request
 * (@valibot/to-json-schema, JSON Schema 2020-12, which OpenAPI 3.1 uses).
 * Nothing here is written by hand per route: a row in ROUTES is documented.
 */
import * as v from 'valibot';
import { toJsonSchema } from '@valibot/to-json-schema';
import { ErrorBody, type RouteSpec } from './routes.ts';

type Json = Record<string, unknown>;

const STATUS_TEXT: Record<number, string> = {
  200: 'OK',
  201: 'Created',
  400: 'Bad request: the parameters or the body are invalid (`issues` names them)',
  401: 'A bearer token is required, or the token is unknown',
  403: 'The token\'s role (or tenant scope) does not allow this route',
  404: 'Not found (for a tenant-scoped token also: not its tenant\'s)',
  405: 'Method not allowed',
  409: 'Refused: a ban guard, or a dangerous reload without force',
  413: 'Request body too large',
  503: 'Not ready (starting or stopping), or history unavailable',
};

const conv = (s: v.GenericSchema, mode: 'input' | 'output'): Json => {
  const j = toJsonSchema(s, { target: 'draft-2020-12', errorMode: 'ignore', typeMode: mode }) as Json;
  delete j.$schema;
  return j;
};

/** `/api/v1/hosts/:ip/traffic` → `/api/v1/hosts/{ip}/traffic` and its path parameter names. */
export function openapiPath(path: string): { path: string; params: string[] } {
  const params: string[] = [];
  const p = path.replace(/:([A-Za-z_]+)/g, (_m, n: string) => {
    params.push(n);
    return `{${n}}`;
  });
  return { path: p, params };
}

export function buildOpenApi(routes: readonly RouteSpec[], version: string): Json {
  const paths: Record<string, Json> = {};
  for (const r of routes) {
    const { path, params } = openapiPath(r.path);
    const parameters: Json[] = params.map((name) => ({ name, in: 'path', required: true, schema: { type: 'string' } }));
    if (r.query) {
      for (const [name, schema] of Object.entries(r.query.entries)) {
        const j = conv(schema as v.GenericSchema, 'input');
        const description = j.description;
        delete j.description;
        parameters.push({ name, in: 'query', required: !(schema as { type: string }).type.startsWith('optional'), ...(description ? { description } : {}), schema: j });
      }
    }
    const ok = r.status ?? 200;
    const responses: Record<string, Json> = {
      [String(ok)]: { description: STATUS_TEXT[ok] ?? 'OK', content: { [r.contentType ?? 'application/json']: { schema: conv(r.response, 'output') } } },
    };
    const errs = new Set<number>(r.errors ?? []);
    if (r.query || r.body) errs.add(400);
    if (r.access !== 'open') {
      errs.add(401);
      if (r.access !== 'metrics') errs.add(403);
    }
    for (const s of [...errs].sort()) responses[String(s)] = { description: STATUS_TEXT[s] ?? 'Error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
    const op: Json = {
      operationId: `${r.method.toLowerCase()}${path.replace(/[{}]/g, '').replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ''))}`,
      summary: r.summary,
      tags: [r.tag],
      'x-breakwater-access': r.access,
      'x-breakwater-tenant': r.tenant,
      security: r.access === 'open' ? [] : r.access === 'metrics' ? [{}, { bearer: [] }] : [{ bearer: [] }],
      ...(parameters.length ? { parameters } : {}),
      ...(r.body ? { requestBody: { required: true, content: { 'application/json': { schema: conv(r.body, 'input') } } } } : {}),
      responses,
    };
    (paths[path] ??= {})[r.method.toLowerCase()] = op;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Breakwater API',
      version,
      description: 'DDoS detection and BGP mitigation daemon. Roles: viewer reads, operator also bans and mitigates, admin also reloads and reads the config. Lists take ?limit= and an opaque ?cursor= (next_cursor of the previous page).',
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    servers: [{ url: '/' }],
    security: [{ bearer: [] }],
    tags: [...new Set(routes.map((r) => r.tag))].map((name) => ({ name })),
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'A token from api.token_env or api.tokens[].token_env.' } },
      schemas: { Error: conv(ErrorBody, 'output') },
    },
  };
}
