/**
 * The versioned JSON body of the webhook and of the exec hook's stdin. The
 * valibot schema below is the single source of docs/webhook.schema.json
 * (`node scripts/webhook-schema.ts` writes it; a test checks it is current and
 * validates real payloads against it). Bump SCHEMA_VERSION on any change
 * that is not a new optional field.
 */
import * as v from 'valibot';
import { toJsonSchema } from '@valibot/to-json-schema';
import { NOTIFY_EVENTS } from '../config/schema.ts';
import type { Message, NotifyEvent } from './event.ts';

export const SCHEMA_VERSION = 1;

const num = v.number();
const RatesSchema = v.object({ pps: num, mbps: num, fps: num, peak_pps: num, peak_mbps: num, peak_fps: num });
const RouteSchema = v.pipe(
  v.looseObject({
    type: v.picklist(['blackhole', 'flowspec']),
    prefix: v.optional(v.string()),
    next_hop: v.optional(v.string()),
    communities: v.optional(v.array(v.string())),
    large_communities: v.optional(v.array(v.string())),
    rules: v.optional(v.array(v.looseObject({}))),
  }),
  v.description('What is (live) or would be (dry_run) announced: a blackhole prefix with its next hop and communities, or FlowSpec rules.'),
);

const fields = {
  event: v.picklist(NOTIFY_EVENTS),
  time: v.pipe(v.string(), v.description('When it happened, RFC 3339 UTC.')),
  mode: v.picklist(['dry_run', 'live']),
  attack_id: v.optional(v.string()),
  ban_id: v.optional(v.string()),
  target: v.optional(v.pipe(v.string(), v.description('Address or prefix attacked or banned.'))),
  direction: v.optional(v.picklist(['incoming', 'outgoing'])),
  vector: v.optional(v.string()),
  rates: v.optional(RatesSchema),
  route: v.optional(RouteSchema),
  neighbors: v.optional(v.pipe(v.array(v.string()), v.description('ban: BGP neighbors the route is announced to (empty in dry_run).'))),
  ttl_seconds: v.optional(num),
  reason: v.optional(v.string()),
  who: v.optional(v.pipe(v.string(), v.description('Who caused it: auto, an API token name, signal, config.'))),
  guard: v.optional(v.pipe(v.string(), v.description('ban_refused: the guard that refused the ban.'))),
  from: v.optional(v.string()),
  to: v.optional(v.string()),
  neighbor: v.optional(v.string()),
  state: v.optional(v.string()),
  exporter: v.optional(v.string()),
  silent_seconds: v.optional(num),
  changed: v.optional(v.array(v.string())),
  text: v.optional(v.string()),
};

export const EventSchema = v.object(fields);

export const PayloadSchema = v.pipe(
  v.object({
    schema_version: v.literal(SCHEMA_VERSION),
    id: v.pipe(v.string(), v.description('Delivery id, the same on every retry: deduplicate on it.')),
    count: v.pipe(v.number(), v.integer(), v.minValue(1), v.description('Events in this delivery (a burst of the same event is grouped).')),
    ...fields,
    events: v.pipe(v.array(EventSchema), v.description('Every event of the delivery; the top-level fields repeat the first one.')),
  }),
  v.title('Breakwater notification'),
  v.description('Body of a Breakwater webhook POST and of the exec hook stdin (format breakwater).'),
);
export type Payload = v.InferOutput<typeof PayloadSchema>;

function eventBody(e: NotifyEvent): v.InferOutput<typeof EventSchema> {
  const { time, ...rest } = e;
  return { ...rest, time: new Date(time).toISOString() } as v.InferOutput<typeof EventSchema>;
}

export function buildPayload(m: Message): Payload {
  const events = m.events.map(eventBody);
  return { schema_version: SCHEMA_VERSION, id: m.id, count: events.length, ...events[0], events };
}

export function webhookJsonSchema(): Record<string, unknown> {
  return { $id: 'https://breakwater.invalid/webhook.schema.json', ...(toJsonSchema(PayloadSchema, { target: 'draft-2020-12' }) as Record<string, unknown>) };
}
