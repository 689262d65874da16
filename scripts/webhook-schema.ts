/** Writes docs/webhook.schema.json from src/notify/payload.ts (the valibot schema is the source). */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { webhookJsonSchema } from '../src/notify/payload.ts';

const out = resolve(import.meta.dirname, '..', 'docs', 'webhook.schema.json');
writeFileSync(out, JSON.stringify(webhookJsonSchema(), null, 2) + '\n');
process.stdout.write(`wrote ${out}\n`);
