/**
 * A syntax check for T-SQL meant for SQL Server / Azure SQL, without a server: node-sql-parser's
 * TransactSQL grammar (`database: 'transactsql'`). It catches typos and unbalanced SQL in report
 * steps in CI; it is not SQL Server, so passing proves no more than that the text parses.
 *
 * A dev dependency: import this from tests and tools only, never from the runner.
 *
 * The script is split at `GO` lines first (the parser does not treat GO as a batch separator), and
 * each batch is parsed on its own; line numbers in messages are the script's. `@name` parameters
 * parse as they are; where the grammar refuses one (e.g. `OFFSET @n ROWS`), the batch is parsed
 * again with each bound parameter replaced by a same-length literal `0`.
 *
 * Valid T-SQL the grammar (node-sql-parser 5.4) rejects, found by probing; none of it is an error
 * on SQL Server:
 * - statements not separated by `;` (`select 1` newline `select 2`): write the semicolons;
 * - MERGE … WHEN MATCHED THEN UPDATE SET …, `ON (…)` in parentheses, `WHEN MATCHED AND …`,
 *   `WHEN NOT MATCHED BY SOURCE` (MERGE with only INSERT/DELETE actions parses);
 * - SET @variable = …; IF/ELSE and WHILE with BEGIN…END blocks; procedure bodies with BEGIN…END;
 *   CREATE FUNCTION; THROW; RAISERROR; ROLLBACK (COMMIT and BEGIN TRANSACTION parse);
 * - EXCEPT, INTERSECT; TOP … WITH TIES; GROUPING SETS; OPTION (RECOMPILE / MAXRECURSION …);
 *   TABLESAMPLE; NEXT VALUE FOR; AT TIME ZONE; TRY_CAST (TRY_CONVERT parses);
 *   STRING_AGG … WITHIN GROUP (STRING_AGG alone parses); UPDATE/DELETE … OUTPUT (INSERT … OUTPUT
 *   parses); INSERT … EXEC; INSERT … DEFAULT VALUES.
 * Parses fine: CTEs (not recursive ones with OPTION), TOP n / TOP (n) / TOP (@n) / PERCENT,
 * [bracket] and "quoted" identifiers, #temp and ##global tables, SELECT … INTO #t, DECLARE with
 * initialisers, table variables, CROSS APPLY, PIVOT/UNPIVOT, window functions (ROW_NUMBER, LAG,
 * LEAD, SUM … OVER), OFFSET/FETCH with literals, WITH (NOLOCK), three-part names, CAST/CONVERT/
 * TRY_CONVERT, IIF, ISNULL, DATEADD/DATEDIFF/EOMONTH/FORMAT, FOR JSON, CREATE TABLE/VIEW/INDEX,
 * CREATE OR ALTER VIEW, DROP TABLE IF EXISTS, TRUNCATE, SET NOCOUNT ON.
 *
 * The grammar is also lax in places: `update t set where a = 1` passes, and `selec 1` is taken as a
 * call of procedure `selec` (valid T-SQL: a batch may start with a procedure name without EXEC).
 *
 * A batch that must use such a construct can opt out with a line comment `-- tsql-check: skip
 * <reason>` anywhere in it; the reasons come back in `skipped`.
 */
import nodeSqlParser from 'node-sql-parser/build/transactsql.js';
import { sqlParameters } from '../../core/catalog.ts';
import { maskNonCode } from '../../core/sql.ts';
import { declaredVariables, splitBatches } from './mssql.ts';

/** The result of {@link checkTSql}: line and column are the script's, 1-based. */
export type TSqlCheck =
  | { ok: true; skipped?: string[] }
  | { ok: false; message: string; line?: number; column?: number };

interface PegSyntaxError {
  message: string;
  found?: string | null;
  location?: { start: { line: number; column: number } };
}

const parser = new nodeSqlParser.Parser();
// trimQuery off: the parser trims by default, which would shift the line numbers it reports.
const OPTIONS = { database: 'transactsql', trimQuery: false };
const SKIP = /--[ \t]*tsql-check:[ \t]*skip\b[ \t]*(.*)/i;

/** `batch` with its bound `@name` references replaced by `0` padded to the same length. */
function withLiteralParameters(batch: string): string {
  const declared = declaredVariables(batch);
  const bound = new Set([...sqlParameters(batch)].filter((n) => !declared.has(n.toLowerCase())));
  const mask = maskNonCode(batch);
  let out = '';
  let last = 0;
  for (const m of mask.matchAll(/(?<![@\w$])@([A-Za-z_][A-Za-z0-9_]*)/g)) {
    if (!bound.has(m[1])) continue;
    out += batch.slice(last, m.index) + '0'.padEnd(m[0].length, ' ');
    last = m.index + m[0].length;
  }
  return out + batch.slice(last);
}

function parses(text: string): PegSyntaxError | undefined {
  try {
    parser.astify(text, OPTIONS);
    return undefined;
  } catch (err) {
    return err as PegSyntaxError;
  }
}

/**
 * Parse a T-SQL script (one or more `GO`-separated batches) with the TransactSQL grammar.
 * Never throws: a parse failure comes back as `{ ok: false, message, line, column }`, the message
 * naming the line, the column and the text of that line.
 */
export function checkTSql(sql: string): TSqlCheck {
  const skipped: string[] = [];
  for (const batch of splitBatches(sql)) {
    const skip = SKIP.exec(batch.sql);
    if (skip) {
      skipped.push(skip[1].trim() || `batch at line ${batch.line}`);
      continue;
    }
    const err = parses(batch.sql);
    if (!err) continue;
    if (!parses(withLiteralParameters(batch.sql))) continue;
    const at = err.location?.start;
    if (!at) return { ok: false, message: `T-SQL does not parse: ${err.message ?? String(err)}` };
    const line = batch.line + at.line - 1;
    const text = batch.sql.split('\n')[at.line - 1]?.trim() ?? '';
    const what = err.found === null ? 'unexpected end of input' : err.found !== undefined ? `unexpected ${JSON.stringify(err.found)}` : err.message;
    return { ok: false, message: `line ${line}, column ${at.column}: ${what} in "${text.length > 120 ? `${text.slice(0, 117)}...` : text}"`, line, column: at.column };
  }
  return skipped.length ? { ok: true, skipped } : { ok: true };
}
