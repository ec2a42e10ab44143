/**
 * The pipeline engine: a report's steps, in order, each gated on the previous one.
 *   sql    — run a script on a connection for its effect
 *   export — a query becomes a sheet of the workbook
 * Every step gets the run's AbortSignal combined with its own timeout; a failure names the step.
 */
import type { Report, StepDefinition } from '../../core/catalog.ts';
import { StepError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import type { ParamValues } from '../../core/params.ts';
import type { Connections } from '../connectors/registry.ts';
import type { ReportWorkbook } from '../excel/writer.ts';

export interface StepTiming {
  name: string;
  type: StepDefinition['type'];
  rows: number;
  ms: number;
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
  /** Rows written to the workbook, all sheets. */
  rows: number;
  steps: StepTiming[];
}

/** Run every step of `report` with `params`. Throws StepError naming the failed step. */
export async function runPipeline(report: Report, params: ParamValues, ctx: PipelineContext): Promise<PipelineResult> {
  const timings: StepTiming[] = [];
  let exported = 0;
  for (const [i, step] of report.steps.entries()) {
    ctx.signal.throwIfAborted();
    const started = performance.now();
    const progress = (rows: number) => ctx.onProgress?.({ step: i + 1, steps: report.steps.length, name: step.name, rows });
    progress(0);
    const signal = step.timeout ? AbortSignal.any([ctx.signal, AbortSignal.timeout(step.timeout)]) : ctx.signal;
    let rows = 0;
    try {
      const connector = ctx.connections.get(step.connection);
      const sql = report.sql[step.name];
      switch (step.type) {
        case 'sql':
          rows = (await connector.execute(sql, params, { signal })).rowsAffected;
          break;
        case 'export': {
          const result = await connector.query(sql, params, { signal });
          try {
            rows = await ctx.workbook.addSheet(step.sheet, step.columns, result.rows, { signal, onProgress: progress });
          } finally {
            await result.release();
          }
          exported += rows;
          break;
        }
      }
    } catch (err) {
      // The run's own abort (cancel, lock lost) is not this step's fault: pass it through unchanged.
      if (ctx.signal.aborted && err === ctx.signal.reason) throw err;
      throw new StepError(step.name, { cause: err });
    }
    const ms = Math.round(performance.now() - started);
    timings.push({ name: step.name, type: step.type, rows, ms });
    ctx.log.info({ step: step.name, rows, ms }, 'step finished');
  }
  return { rows: exported, steps: timings };
}
