/**
 * The report catalog: `reports/<id>/report.yaml` plus the SQL files its steps name. Loaded once at
 * start; a broken definition is reported with its file and line and left out, never breaking the others.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { z } from 'zod/v4';
import { DefinitionError } from './errors.ts';
import { parameterSchema, ruleSchema, type ParameterDef } from './params.ts';
import { maskNonCode } from './sql.ts';

const duration = z.string().regex(/^\d+(ms|s|m|h)$/, 'must be a duration like 90s, 10m or 1h').transform((s) => {
  const [, n, unit] = /^(\d+)(ms|s|m|h)$/.exec(s)!;
  return Number(n) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit as 'ms' | 's' | 'm' | 'h'];
});

const valueType = z.enum(['string', 'integer', 'decimal', 'cents', 'date', 'boolean']);

const columnSchema = z.object({
  key: z.string(),
  header: z.string().optional(),
  width: z.number().positive().max(255).optional(),
  numFmt: z.string().optional(),
  /** Convert the source value first (Plex data sources return text; `decimal` makes amounts numbers). */
  type: valueType.optional(),
});

/** Run a step once per value of a multi-choice parameter, or per period of a range; `as` names the variable. */
const forEachSchema = z.union([
  z.object({ param: z.string(), as: z.string().regex(/^[a-zA-Z][a-zA-Z0-9_]*$/) }).strict(),
  z.object({ periods: z.object({ from: z.string(), to: z.string() }).strict(), as: z.string().regex(/^[a-zA-Z][a-zA-Z0-9_]*$/) }).strict(),
]);

const common = {
  name: z.string().min(1),
  timeout: duration.optional(),
  forEach: forEachSchema.optional(),
};

/** Where extracted rows come from: a query on a connection, or a Plex data source with inputs. */
const sourceSchema = z.union([
  z.object({ connection: z.string(), sql: z.string() }).strict(),
  z.object({
    connection: z.string(),
    dataSource: z.coerce.string().regex(/^\d+$/, 'must be a data source key (digits)'),
    /** Input name → value: `@param` refers to a parameter (or forEach variable), anything else is literal. */
    inputs: z.record(z.string(), z.union([z.string(), z.number()])).default({}),
  }).strict(),
]);

const extractColumn = z.object({
  source: z.string(),
  target: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/),
  /** Conversion of source values (Plex returns strings): cents = exact integer cents from a decimal. */
  type: valueType.default('string'),
}).strict();

const stepSchema = z.discriminatedUnion('type', [
  z.object({ ...common, type: z.literal('sql'), connection: z.string().default('warehouse'), sql: z.string() }).strict(),
  z.object({
    ...common, type: z.literal('export'), connection: z.string().default('warehouse'),
    /** The query (a file); or `source`, e.g. a Plex data source read live. */
    sql: z.string().optional(),
    source: sourceSchema.optional(),
    sheet: z.string().min(1).max(31).regex(/^[^\\/?*[\]:]+$/, 'is not a valid Excel sheet name'),
    columns: z.array(columnSchema).optional(),
  }).strict().refine((s) => (s.sql === undefined) !== (s.source === undefined), { message: 'an export step needs exactly one of sql or source' }),
  z.object({
    ...common, type: z.literal('extract'), source: sourceSchema,
    target: z.object({
      connection: z.string().default('warehouse'),
      table: z.string().regex(/^[A-Za-z_][A-Za-z0-9_.]*$/),
      /** Source column → target column; without it, columns keep their names. */
      columns: z.array(extractColumn).optional(),
      /** Extra constant columns per row: name → `@param` / forEach variable or literal. */
      set: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.union([z.string(), z.number()])).optional(),
    }).strict(),
  }).strict(),
  /** A reconciliation check: the query returns the rows that break it; none means it passed. */
  z.object({
    ...common, type: z.literal('check'), connection: z.string().default('warehouse'), sql: z.string(),
    description: z.string().default(''),
  }).strict(),
]);

/** How long runs are kept when a report does not say (`retentionDays`). */
export const DEFAULT_RETENTION_DAYS = 90;

/** The report.yaml format. */
export const reportSchema = z.object({
  id: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'must be lower-case letters, digits and dashes'),
  title: z.string().min(1),
  description: z.string().default(''),
  category: z.string().default('General'),
  /**
   * Other names people type for it ("tb", "trial balance"): `run tb …` and a bare "tb" find this
   * report. Lower-case words; unique across the catalog.
   */
  aliases: z.array(z.string().trim().toLowerCase().regex(/^[a-z0-9][a-z0-9 &'-]*$/, 'must be letters, digits, spaces or dashes').max(60)).default([]),
  /** The result (and a failure notice) goes to the requester's 1:1 chat with the bot, wherever it was asked for. */
  private: z.boolean().default(false),
  /**
   * Who may run it: `*`, a UPN/email, `@domain.com`, or an Entra object id. `shareRuns: true` lets
   * everyone `allow` admits download any run of this report from its archive, not only the requester.
   */
  access: z.object({
    allow: z.array(z.string().min(1)).min(1),
    shareRuns: z.boolean().default(false),
  }).strict().default({ allow: ['*'], shareRuns: false }),
  locks: z.array(z.string().regex(/^[a-z0-9-]+$/)).default([]),
  timeout: duration.default(3_600_000),
  /** Days a run (workbook and run.json) stays in the archive and in `history`; then the daily cleanup deletes it. */
  retentionDays: z.number().int().min(1).max(36_500).default(DEFAULT_RETENTION_DAYS),
  parameters: z.array(parameterSchema).default([]),
  rules: z.array(ruleSchema).default([]),
  steps: z.array(stepSchema).min(1),
  output: z.object({
    fileName: z.string().regex(/^[^/\\]+\.xlsx$/, 'must be a file name ending in .xlsx').default('{id}-{runId}.xlsx'),
  }).default({ fileName: '{id}-{runId}.xlsx' }),
  /** Where results go by default (a request may say otherwise). Teams always; email when `email: true`. */
  delivery: z.object({
    /** Also email the workbook to the requester (needs Graph and MAIL_SENDER configured). */
    email: z.boolean().default(false),
  }).strict().default({ email: false }),
}).strict();

export type ReportDefinition = z.infer<typeof reportSchema>;
export type StepDefinition = ReportDefinition['steps'][number];
export type { ParameterDef };

/** SQL dialects a step's file may be specialised for: `10-x.mssql.sql` beside `10-x.sql`. */
export const DIALECTS = ['mssql', 'sqlite', 'odbc'] as const;
export type Dialect = (typeof DIALECTS)[number];

/** A step's SQL: the portable text and any dialect-specific overrides. */
export interface StepSql {
  default: string;
  variants: Partial<Record<Dialect, string>>;
}

/** A definition with its SQL text loaded. */
export interface Report extends ReportDefinition {
  dir: string;
  /** SQL per step name (steps that run SQL: sql, export, check, and extract from a query). */
  sql: Record<string, StepSql>;
}

/** The SQL a step runs on a connector of `kind` (its dialect file if there is one). */
export function sqlFor(report: Report, step: string, kind: string): string {
  const s = report.sql[step];
  if (!s) throw new Error(`step "${step}" of ${report.id} has no SQL`);
  return s.variants[kind as Dialect] ?? s.default;
}

/** The SQL file a step names, if it runs SQL. */
function sqlFileOf(step: StepDefinition): string | undefined {
  if (step.type === 'extract' || (step.type === 'export' && step.source)) return step.source && 'sql' in step.source ? step.source.sql : undefined;
  return step.sql;
}

/** Connections a step uses. */
function connectionsOf(step: StepDefinition): string[] {
  if (step.type === 'extract') return [step.source.connection, step.target.connection];
  if (step.type === 'export' && step.source) return [step.source.connection];
  return [step.connection];
}

export interface Catalog {
  reports: Map<string, Report>;
  /** Definitions that failed to load, each with file and line. */
  errors: DefinitionError[];
}

/** `@name` parameters referenced by a SQL text, ignoring comments, strings and `@@` globals. */
export function sqlParameters(sql: string): Set<string> {
  const names = new Set<string>();
  for (const m of maskNonCode(sql).matchAll(/(?<![@\w$])@([A-Za-z_][A-Za-z0-9_]*)/g)) names.add(m[1]);
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

  for (const rule of def.rules) {
    for (const name of rule.type === 'order' ? [rule.first, rule.second] : [rule.from, rule.to]) {
      if (!paramNames.has(name)) throw new DefinitionError(`${file}:${lineOf(['rules'])}`, `rule refers to unknown parameter "${name}"`);
    }
  }

  for (const [i, p] of def.parameters.entries()) {
    const filterBy = p.type === 'string' ? p.suggest?.filterBy : undefined;
    if (filterBy !== undefined && (filterBy === p.name || !paramNames.has(filterBy))) {
      throw new DefinitionError(`${file}:${lineOf(['parameters', i, 'suggest'])}`, `suggest.filterBy of "${p.name}" must name another parameter ("${filterBy}" is not one)`);
    }
  }

  const sql: Record<string, StepSql> = {};
  for (const [i, step] of def.steps.entries()) {
    const at = (...path: (string | number)[]) => `${file}:${lineOf(['steps', i, ...path])}`;
    for (const connection of connectionsOf(step)) {
      if (knownConnections && !knownConnections.has(connection)) {
        throw new DefinitionError(at(), `step "${step.name}" uses unknown connection "${connection}" (configured: ${[...knownConnections].join(', ')})`);
      }
    }
    // Names a step's SQL may bind: the parameters, plus its forEach variable.
    const names = new Set(paramNames);
    if (step.forEach) {
      if (step.type === 'export') throw new DefinitionError(at('forEach'), 'an export step writes one sheet and cannot use forEach');
      if ('param' in step.forEach) {
        const p = def.parameters.find((x) => x.name === (step.forEach as { param: string }).param);
        if (p?.type !== 'multichoice') throw new DefinitionError(at('forEach'), `forEach.param must name a multichoice parameter`);
      } else {
        for (const ref of [step.forEach.periods.from, step.forEach.periods.to]) {
          if (def.parameters.find((x) => x.name === ref)?.type !== 'period') throw new DefinitionError(at('forEach'), `forEach.periods must name period parameters ("${ref}" is not one)`);
        }
      }
      names.add(step.forEach.as);
    }
    if (step.type === 'extract' || (step.type === 'export' && step.source)) {
      const source = step.source!;
      const refs = [...Object.values('inputs' in source ? source.inputs : {}), ...(step.type === 'extract' ? Object.values(step.target.set ?? {}) : [])];
      for (const ref of refs) {
        if (typeof ref === 'string' && ref.startsWith('@') && !names.has(ref.slice(1))) {
          throw new DefinitionError(at(), `step "${step.name}" refers to ${ref}, which is not a parameter of ${def.id}`);
        }
      }
    }
    const sqlFile = sqlFileOf(step);
    if (sqlFile === undefined) continue;
    if (sqlFile.includes('..') || sqlFile.includes('/')) throw new DefinitionError(at(), 'SQL file must be a file name inside the report folder');
    const read = (name: string) => readFile(join(dir, name), 'utf8');
    const body = await read(sqlFile).catch(() => {
      throw new DefinitionError(at(), `step "${step.name}": SQL file ${sqlFile} not found`);
    });
    const variants: Partial<Record<Dialect, string>> = {};
    for (const dialect of DIALECTS) {
      const text = await read(sqlFile.replace(/\.sql$/, `.${dialect}.sql`)).catch(() => undefined);
      if (text !== undefined) variants[dialect] = text;
    }
    for (const [variant, text] of [['', body], ...Object.entries(variants)] as [string, string][]) {
      for (const name of sqlParameters(text)) {
        if (!names.has(name)) {
          throw new DefinitionError(join(dir, variant ? sqlFile.replace(/\.sql$/, `.${variant}.sql`) : sqlFile), `uses @${name}, which is not a parameter of ${def.id}`);
        }
      }
    }
    sql[step.name] = { default: body, variants };
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
        const names = new Set([report.id, ...report.aliases]);
        for (const other of reports.values()) {
          const clash = [other.id, ...other.aliases].find((n) => names.has(n));
          if (clash) throw new DefinitionError(join(dir, 'report.yaml'), `"${clash}" already names report ${other.id}; aliases must be unique`);
        }
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
