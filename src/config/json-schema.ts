/**
 * The config file's JSON Schema (`breakwater -print-schema`), converted from
 * ConfigSchema, the valibot schema that validates the file: editors and CI
 * can check a config with the same rules and descriptions as the daemon.
 * Checks that JSON Schema cannot say (a prefix inside `networks`, ...) stay
 * with the daemon; `-check-config` runs them.
 */
import { toJsonSchema } from '@valibot/to-json-schema';
import { ConfigSchema } from './schema.ts';

export function configJsonSchema(): Record<string, unknown> {
  const s = toJsonSchema(ConfigSchema, { target: 'draft-2020-12', errorMode: 'ignore', typeMode: 'input' }) as Record<string, unknown>;
  return { $schema: 'https://json-schema.org/draft/2020-12/schema', ...s, title: 'Breakwater configuration', description: 'The YAML config file of breakwater (-config FILE).' };
}
