/**
 * The JSON Schema of report.yaml, generated from the zod schema so editors complete and check
 * definitions (`# yaml-language-server: $schema=../report.schema.json`). `npm run schema` rewrites
 * reports/report.schema.json; a test fails when the committed file is stale.
 */
import { writeFileSync } from 'node:fs';
import { z } from 'zod/v4';
import { reportSchema } from './catalog.ts';
import { isMain } from './lifecycle.ts';

export const SCHEMA_PATH = 'reports/report.schema.json';

export function reportJsonSchema(): string {
  const schema = z.toJSONSchema(reportSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  schema.title = 'Report definition (reports/<id>/report.yaml)';
  return `${JSON.stringify(schema, null, 2)}\n`;
}

if (isMain(import.meta.url)) {
  writeFileSync(SCHEMA_PATH, reportJsonSchema());
  console.log(`wrote ${SCHEMA_PATH}`);
}
