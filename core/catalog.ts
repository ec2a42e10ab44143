/**
 * The report catalog: `reports/<id>/report.yaml` plus the SQL files its steps name. Loaded once at
 * start; a broken definition is reported with its file and line and left out, never breaking the others.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { z } from 'zod/v4';
import { DefinitionError } from './errors.ts';
import { parameterSchema, type ParameterDef } from './params.ts';

const duration = z.string().regex(/^\d+(ms|s|m|h)$/, 'must be a duration like 90s, 10m or 1h').transform((s) => {
  const [, n, unit] = /^(\d+)(ms|s|m|h)$/.exec(s)!;
  return Number(n) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit as 'ms' | 's' | 'm' | 'h'];
});

const columnSchema = z.object({
  key: z.string(),
  header: z.string().optional(),
  width: z.number().positive().max(255).optional(),
  numFmt: z.string().optional(),
});

const stepSchema = z.discriminatedUnion('type', [
  z.object({
    name: z.string().min(1), type: z.literal('sql'),
    connection: z.string().default('warehouse'), sql: z.string(), timeout: duration.optional(),
  }),
  z.object({
    name: z.string().min(1), type: z.literal('export'),
    connection: z.string().default('warehouse'), sql: z.string(), timeout: duration.optional(),
    sheet: z.string().min(1).max(31).regex(/^[^\\/?*[\]:]+$/, 'is not a valid Excel sheet name'),
    columns: z.array(columnSchema).optional(),
  }),
]);

/** The report.yaml format. */
export const reportSchema = z.object({
  id: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'must be lower-case letters, digits and dashes'),
  title: z.string().min(1),
  description: z.string().default(''),
  category: z.string().default('General'),
  locks: z.array(z.string().regex(/^[a-z0-9-]+$/)).default([]),
  timeout: duration.default(3_600_000),
  parameters: z.array(parameterSchema).default([]),
  steps: z.array(stepSchema).min(1),
  output: z.object({
    fileName: z.string().regex(/^[^/\\]+\.xlsx$/, 'must be a file name ending in .xlsx').default('{id}-{runId}.xlsx'),
  }).default({ fileName: '{id}-{runId}.xlsx' }),
}).strict();

export type ReportDefinition = z.infer<typeof reportSchema>;
export type StepDefinition = ReportDefinition['steps'][number];
export type { ParameterDef };

/** A definition with its SQL text loaded. */
export interface Report extends ReportDefinition {
  dir: string;
  /** SQL text per step, by step name. */
  sql: Record<string, string>;
}

export interface Catalog {
  reports: Map<string, Report>;
  /** Definitions that failed to load, each with file and line. */
  errors: DefinitionError[];
}

/** `@name` parameters referenced by a SQL text, ignoring comments, strings and `@@` globals. */
export function sqlParameters(sql: string): Set<string> {
  const stripped = sql
    .replace(/--[^\n]*/g, ' ')
    .replace(/\/\*[\s\S]*?\*\//g, ' ')
    .replace(/'(?:[^']|'')*'/g, "''");
  const names = new Set<string>();
  for (const m of stripped.matchAll(/(?<![@\w])@([A-Za-z_][A-Za-z0-9_]*)/g)) names.add(m[1]);
  return names;
}

/** Load one report folder. Throws DefinitionError with file and line. */
export async function loadReport(dir: string, knownConnections?: ReadonlySet<string>): Promise<Report> {
  const file = join(dir, 'report.yaml');
  const text = await readFile(file, 'utf8').catch((err: unknown) => {
    throw new DefinitionError(file, 'cannot be read', { cause: err });
  });
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  if (doc.errors.length) {
    const e = doc.errors[0];
    throw new DefinitionError(`${file}:${e.linePos?.[0].line ?? 1}`, `invalid YAML: ${e.message.split('\n')[0]}`);
  }
  const lineOf = (path: readonly PropertyKey[]): number => {
    for (let n = path.length; n >= 0; n--) {
      const node = doc.getIn(path.slice(0, n) as unknown[], true) as { range?: [number, number, number] } | undefined;
      if (node?.range) return lines.linePos(node.range[0]).line;
    }
    return 1;
  };
  const parsed = reportSchema.safeParse(doc.toJS());
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new DefinitionError(`${file}:${lineOf(issue.path)}`, `${issue.path.join('.') || 'definition'}: ${issue.message}`);
  }
  const def = parsed.data;
  const folder = dir.split(/[\\/]/).filter(Boolean).pop();
  if (def.id !== folder) throw new DefinitionError(`${file}:${lineOf(['id'])}`, `id "${def.id}" must match its folder "${folder}"`);

  const paramNames = new Set(def.parameters.map((p) => p.name));
  if (paramNames.size !== def.parameters.length) throw new DefinitionError(`${file}:${lineOf(['parameters'])}`, 'parameter names must be unique');
  const stepNames = new Set(def.steps.map((s) => s.name));
  if (stepNames.size !== def.steps.length) throw new DefinitionError(`${file}:${lineOf(['steps'])}`, 'step names must be unique');

  const sql: Record<string, string> = {};
  for (const [i, step] of def.steps.entries()) {
    if (knownConnections && !knownConnections.has(step.connection)) {
      throw new DefinitionError(`${file}:${lineOf(['steps', i, 'connection'])}`,
        `step "${step.name}" uses unknown connection "${step.connection}" (configured: ${[...knownConnections].join(', ')})`);
    }
    const sqlFile = join(dir, step.sql);
    if (step.sql.includes('..')) throw new DefinitionError(`${file}:${lineOf(['steps', i, 'sql'])}`, 'SQL file must be inside the report folder');
    const body = await readFile(sqlFile, 'utf8').catch(() => {
      throw new DefinitionError(`${file}:${lineOf(['steps', i, 'sql'])}`, `step "${step.name}": SQL file ${step.sql} not found`);
    });
    for (const name of sqlParameters(body)) {
      if (!paramNames.has(name)) {
        throw new DefinitionError(sqlFile, `uses @${name}, which is not a parameter of ${def.id}`);
      }
    }
    sql[step.name] = body;
  }
  return { ...def, dir, sql };
}

/**
 * Load every report folder under `roots` (a comma-separated list of folders, e.g. the shipped
 * reports plus a site's own). Never throws for one bad report; a missing root is an error entry.
 */
export async function loadCatalog(roots: string, knownConnections?: ReadonlySet<string>): Promise<Catalog> {
  const reports = new Map<string, Report>();
  const errors: DefinitionError[] = [];
  for (const root of roots.split(',').map((r) => r.trim()).filter(Boolean)) {
    const entries = await readdir(root, { withFileTypes: true }).catch((err: unknown) => {
      errors.push(new DefinitionError(root, 'report folder cannot be read', { cause: err }));
      return [];
    });
    for (const entry of entries.filter((e) => e.isDirectory()).sort((a, b) => a.name.localeCompare(b.name))) {
      const dir = join(root, entry.name);
      if (!(await stat(join(dir, 'report.yaml')).catch(() => undefined))) continue;
      try {
        const report = await loadReport(dir, knownConnections);
        const twin = reports.get(report.id);
        if (twin) throw new DefinitionError(join(dir, 'report.yaml'), `report id "${report.id}" is already defined in ${twin.dir}`);
        reports.set(report.id, report);
      } catch (err) {
        errors.push(err instanceof DefinitionError ? err : new DefinitionError(dir, String(err), { cause: err }));
      }
    }
  }
  return { reports, errors };
}

/** The output file name for a run: `{name}` placeholders filled from id, runId, date and parameters. */
export function outputFileName(report: ReportDefinition, runId: string, params: Record<string, unknown>, now = new Date()): string {
  const vars: Record<string, unknown> = { ...params, id: report.id, runId, date: now.toISOString().slice(0, 10) };
  return report.output.fileName.replace(/\{([A-Za-z0-9_]+)\}/g, (_, k: string) =>
    String(vars[k] ?? '').replace(/[^A-Za-z0-9._-]+/g, '_'));
}
