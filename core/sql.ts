/** Small, dialect-neutral SQL text utilities (no parsing beyond strings, identifiers and comments). */

/**
 * Split a script into statements at top-level `;`, ignoring semicolons inside '…' strings,
 * "…" / […] identifiers, -- line comments and block comments. Empty statements are dropped.
 */
export function splitStatements(sql: string): string[] {
  const out: string[] = [];
  let start = 0;
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i];
    const next = sql[i + 1];
    if (c === '-' && next === '-') {
      const end = sql.indexOf('\n', i);
      i = end === -1 ? n : end + 1;
    } else if (c === '/' && next === '*') {
      const end = sql.indexOf('*/', i + 2);
      i = end === -1 ? n : end + 2;
    } else if (c === "'" || c === '"' || c === '[') {
      const close = c === '[' ? ']' : c;
      i++;
      while (i < n) {
        if (sql[i] === close) {
          if (sql[i + 1] === close) { i += 2; continue; }
          break;
        }
        i++;
      }
      i++;
    } else if (c === ';') {
      out.push(sql.slice(start, i));
      start = ++i;
    } else {
      i++;
    }
  }
  out.push(sql.slice(start));
  return out.filter((s) => s.replace(/--[^\n]*|\/\*[\s\S]*?\*\//g, '').trim() !== '').map((s) => s.trim());
}
