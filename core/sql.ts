/**
 * Dialect-neutral SQL text utilities. One lexer masks strings, quoted identifiers and comments, so
 * parameters, statement separators and stray `?` markers are only ever looked for in code.
 */

/**
 * A copy of `sql` of the same length, so positions found in it are positions in `sql`, in which
 * comments are blanked to spaces and quoted text (strings, quoted identifiers) to NULs: it still
 * counts as part of a statement but can no longer hold a parameter, a `;` or a `?`.
 */
export function maskNonCode(sql: string): string {
  const out = sql.split('');
  const blank = (from: number, to: number, fill: string) => { for (let k = from; k < to; k++) if (out[k] !== '\n') out[k] = fill; };
  let i = 0;
  while (i < sql.length) {
    const c = sql[i];
    const next = sql[i + 1];
    const prevWord = i > 0 && /[\w$]/.test(sql[i - 1]);
    let end = -1;
    let fill = '\0';
    if (c === '-' && next === '-') {
      fill = ' ';
      end = sql.indexOf('\n', i);
      if (end < 0) end = sql.length;
    } else if (c === '/' && next === '*') {
      fill = ' ';
      // PostgreSQL and SQL Server both nest block comments.
      let depth = 0;
      let k = i;
      while (k < sql.length) {
        if (sql[k] === '/' && sql[k + 1] === '*') { depth++; k += 2; } else if (sql[k] === '*' && sql[k + 1] === '/') { depth--; k += 2; if (depth === 0) break; } else k++;
      }
      end = k;
    } else if (c === "'") {
      // E'…' strings (PostgreSQL) also escape with a backslash.
      const backslash = i > 0 && /[eE]/.test(sql[i - 1]) && !(i > 1 && /[\w$]/.test(sql[i - 2]));
      let k = i + 1;
      while (k < sql.length) {
        if (backslash && sql[k] === '\\') { k += 2; continue; }
        if (sql[k] === "'") { if (sql[k + 1] === "'") { k += 2; continue; } break; }
        k++;
      }
      end = Math.min(k + 1, sql.length);
    } else if (c === '"' || c === '`' || c === '[') {
      // Quoted identifiers: "…" (ANSI), `…` (MySQL), […] (SQL Server).
      const closing = c === '[' ? ']' : c;
      let k = i + 1;
      while (k < sql.length) {
        if (sql[k] === closing) { if (sql[k + 1] === closing) { k += 2; continue; } break; }
        k++;
      }
      end = Math.min(k + 1, sql.length);
    } else if (c === '$' && !prevWord) {
      const tag = /^\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i, i + 66))?.[0];
      if (tag) {
        const close = sql.indexOf(tag, i + tag.length);
        end = close < 0 ? sql.length : close + tag.length;
      }
    }
    if (end > i) { blank(i, end, fill); i = end; } else i++;
  }
  return out.join('');
}

/**
 * Split a script into statements on top-level `;` (not inside strings, quoted identifiers,
 * dollar quotes or comments). Comments between statements are dropped (some drivers, like the
 * SQLite one, trip over a `;` in a leading comment); statements that are empty are left out.
 */
export function splitStatements(sql: string): string[] {
  const masked = maskNonCode(sql);
  const out: string[] = [];
  let start = 0;
  for (let i = 0; i <= sql.length; i++) {
    if (i === sql.length || masked[i] === ';') {
      const code = /\S[\s\S]*\S|\S/.exec(masked.slice(start, i));
      if (code) out.push(sql.slice(start + code.index, start + code.index + code[0].length));
      start = i + 1;
    }
  }
  return out;
}
