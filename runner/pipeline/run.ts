/**
 * The pipeline engine: a report's steps, in order, each gated on the previous one.
 *   sql     — run a script on a connection for its effect
 *   extract — rows from a source (a query, or a Plex data source with inputs) bulk-inserted into a
 *             warehouse table, streamed in batches
 *   export  — a query becomes a sheet of the workbook
 *   check   — a query returning the rows that break a reconciliation rule (none = passed)
 * A step may run `forEach` value of a multi-choice parameter or period of a range. Every step gets
 * the run's AbortSignal combined with its own timeout; a failure names the step.
 */
import { sqlFor, type Report, type StepDefinition } from '../../core/catalog.ts';
import { StepError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import { bindable, periodRange, type ParamValues } from '../../core/params.ts';
import type { Connections } from '../connectors/registry.ts';
import type { QueryResult, Row, SqlParams } from '../connectors/types.ts';
import type { ReportWorkbook } from '../excel/writer.ts';
import { convertValue } from './convert.ts';

export interface StepTiming {
  name: string;
  type: StepDefinition['type'];
  rows: number;
  ms: number;
}

export interface CheckResult {
  name: string;
  description: string;
  passed: boolean;
  /** Rows the check query returned (each one breaks the rule). */
  violations: number;
  /** The first few violations, for the Checks sheet and the logs. */
  sample: Row[];
}

export interface Progress {
  /** 1-based index of the running step. */
  step: number;
  steps: number;
  name: string;
  rows: number;
}

export interface PipelineContext {
  connections: Connections;
  workbook: ReportWorkbook;
  signal: AbortSignal;
  log: Logger;
  onProgress?: (p: Progress) => void;
}

export interface PipelineResult {
  /** Rows written to the workbook's report sheets (not the Checks sheet). */
  rows: number;
  steps: StepTiming[];
  checks: CheckResult[];
}

const CHECK_SAMPLE = 20;

/** The parameter sets a step runs with: once, or once per forEach value. */
function iterations(step: StepDefinition, params: ParamValues): { label: string; params: SqlParams }[] {
  const base = bindable(params);
  if (!step.forEach) return [{ label: '', params: base }];
  const f = step.forEach;
  const values: (string | number)[] = 'param' in f
    ? (params[f.param] as string[] | undefined) ?? []
    : periodRange(Number(params[f.periods.from]), Number(params[f.periods.to]));
  return values.map((v) => ({ label: String(v), params: { ...base, [f.as]: v } }));
}

/** `@name` refers to a parameter or forEach variable; anything else is a literal. */
function resolve(ref: string | number, params: SqlParams): string | number | boolean | null {
  return typeof ref === 'string' && ref.startsWith('@') ? (params[ref.slice(1)] ?? null) : ref;
}

/** Run every step of `report` with `params`. Throws StepError naming the failed step. */
export async function runPipeline(report: Report, params: ParamValues, ctx: PipelineContext): Promise<PipelineResult> {
  const timings: StepTiming[] = [];
  const checks: CheckResult[] = [];
  let exported = 0;
  for (const [i, step] of report.steps.entries()) {
    ctx.signal.throwIfAborted();
    const started = performance.now();
    let rows = 0;
    for (const it of iterations(step, params)) {
      const name = it.label ? `${step.name} (${it.label})` : step.name;
      const progress = (n: number) => ctx.onProgress?.({ step: i + 1, steps: report.steps.length, name, rows: rows + n });
      progress(0);
      const signal = step.timeout ? AbortSignal.any([ctx.signal, AbortSignal.timeout(step.timeout)]) : ctx.signal;
      try {
        rows += await runStep(report, step, it.params, signal, ctx, progress, checks);
      } catch (err) {
        // The run's own abort (cancel, lock lost) is not this step's fault: pass it through unchanged.
        if (ctx.signal.aborted && err === ctx.signal.reason) throw err;
        throw new StepError(name, { cause: err });
      }
    }
    if (step.type === 'export') exported += rows;
    const ms = Math.round(performance.now() - started);
    timings.push({ name: step.name, type: step.type, rows, ms });
    ctx.log.info({ step: step.name, rows, ms }, 'step finished');
  }
  if (checks.length) await ctx.workbook.addSheet('Checks', CHECK_COLUMNS, checkRows(checks), { signal: ctx.signal });
  return { rows: exported, steps: timings, checks };
}

async function runStep(
  report: Report, step: StepDefinition, params: SqlParams, signal: AbortSignal, ctx: PipelineContext,
  progress: (rows: number) => void, checks: CheckResult[],
): Promise<number> {
  switch (step.type) {
    case 'sql': {
      const c = ctx.connections.get(step.connection);
      return (await c.execute(sqlFor(report, step.name, c.kind), params, { signal })).rowsAffected;
    }
    case 'export': {
      const result = await openSource(report, step.name, step.source ?? { connection: step.connection, sql: step.sql! }, params, signal, ctx);
      try {
        const typed = (step.columns ?? []).filter((col) => col.type);
        let n = 0;
        async function* converted() {
          for await (const row of result.rows) {
            n++;
            for (const col of typed) row[col.key] = convertValue(row[col.key], col.type!, `${col.key} row ${n}`);
            yield row;
          }
        }
        return await ctx.workbook.addSheet(step.sheet, step.columns, typed.length ? converted() : result.rows, { signal, onProgress: progress });
      } finally {
        await result.release();
      }
    }
    case 'check': {
      const c = ctx.connections.get(step.connection);
      const result = await c.query(sqlFor(report, step.name, c.kind), params, { signal });
      const sample: Row[] = [];
      let violations = 0;
      try {
        for await (const row of result.rows) {
          if (violations++ < CHECK_SAMPLE) sample.push(row);
        }
      } finally {
        await result.release();
      }
      checks.push({ name: step.name, description: step.description, passed: violations === 0, violations, sample });
      if (violations) ctx.log.warn({ check: step.name, violations, sample: sample.slice(0, 3) }, 'check failed');
      return violations;
    }
    case 'extract': {
      const target = ctx.connections.get(step.target.connection);
      const result = await openSource(report, step.name, step.source, params, signal, ctx);
      try {
        const mapping = step.target.columns ?? result.columns.map((col) => ({ source: col.name, target: col.name, type: 'string' as const }));
        const constants = Object.entries(step.target.set ?? {}).map(([k, v]) => [k, resolve(v, params)] as const);
        const columns = [...mapping.map((m) => m.target), ...constants.map(([k]) => k)];
        const known = new Set(result.columns.map((col) => col.name));
        const missing = mapping.filter((m) => known.size > 0 && !known.has(m.source)).map((m) => m.source);
        if (missing.length) throw new Error(`the source has no column ${missing.join(', ')} (it has ${[...known].join(', ')})`);
        let n = 0;
        async function* converted() {
          for await (const row of result.rows) {
            n++;
            if (n % 1000 === 0) progress(n);
            yield [...mapping.map((m) => convertValue(row[m.source], m.type, `${m.source} row ${n}`)), ...constants.map(([, v]) => v)];
          }
        }
        return await target.bulkInsert(step.target.table, columns, converted(), { signal });
      } finally {
        await result.release();
      }
    }
  }
}

/** Rows from a step's source: its SQL file on a connection, or a Plex data source with resolved inputs. */
function openSource(report: Report, step: string, source: StepSource, params: SqlParams, signal: AbortSignal, ctx: PipelineContext): Promise<QueryResult> {
  const c = ctx.connections.get(source.connection);
  if ('dataSource' in source) {
    const inputs = Object.fromEntries(Object.entries(source.inputs).map(([k, v]) => [k, resolve(v, params)]));
    return c.query(source.dataSource, inputs, { signal });
  }
  return c.query(sqlFor(report, step, c.kind), params, { signal });
}

type StepSource = Extract<StepDefinition, { type: 'extract' }>['source'];

const CHECK_COLUMNS = [
  { key: 'check', header: 'Check', width: 40 },
  { key: 'result', header: 'Result', width: 10 },
  { key: 'violations', header: 'Violations', width: 12 },
  { key: 'description', header: 'What it verifies', width: 60 },
  { key: 'example', header: 'First violation', width: 60 },
];

async function* checkRows(checks: CheckResult[]) {
  for (const c of checks) {
    yield {
      check: c.name,
      result: c.passed ? 'Passed' : 'FAILED',
      violations: c.violations,
      description: c.description,
      example: c.sample[0] ? JSON.stringify(c.sample[0]) : '',
    };
  }
}
