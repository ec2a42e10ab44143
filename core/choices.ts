/**
 * Choice lists read from data (`query:` on a choice parameter) and suggestion lists of free-text
 * parameters (`suggest:`), cached per parameter for the definition's `cacheSeconds`, so a form or a
 * typeahead search does not hit the warehouse on every keystroke. The loader is injected (it runs
 * the query on a connection), keeping this module free of connector code.
 */
import type { Report } from './catalog.ts';
import type { Choice, ParameterDef } from './params.ts';

/** A choice, and for suggestion lists narrowed by another parameter, that parameter's value on this row. */
export interface Suggestion extends Choice {
  filter?: string;
}

/** Runs a list query: rows with a `value` column, an optional `title`, and the `filterColumn` if asked for. */
export type ChoiceLoader = (connection: string, sql: string, filterColumn?: string) => Promise<Suggestion[]>;

type ListQuery = { connection: string; sql: string; cacheSeconds: number; filterBy?: string };

/** The query behind a parameter's list: a choice list from data, or a free-text parameter's suggestions. */
function listQuery(p: ParameterDef): ListQuery | undefined {
  if ((p.type === 'choice' || p.type === 'multichoice') && p.query) return p.query;
  if (p.type === 'string' && p.suggest) return p.suggest;
  return undefined;
}

export class ChoiceCache {
  private readonly load: ChoiceLoader;
  private readonly entries = new Map<string, { at: number; list: Promise<Suggestion[]> }>();

  constructor(load: ChoiceLoader) {
    this.load = load;
  }

  /** Lists for every query-backed choice parameter of `report`, by parameter name (what validation needs). */
  async forReport(report: Report, now = Date.now()): Promise<Record<string, Choice[]>> {
    const out: Record<string, Choice[]> = {};
    for (const p of report.parameters) {
      if ((p.type !== 'choice' && p.type !== 'multichoice') || !p.query) continue;
      out[p.name] = await this.cached(report, p, p.query, now);
    }
    return out;
  }

  /**
   * The whole list behind parameter `name`'s typeahead (a choice list from data, or suggestions),
   * or undefined when the parameter has none.
   */
  async listFor(report: Report, name: string, now = Date.now()): Promise<Suggestion[] | undefined> {
    const p = report.parameters.find((x) => x.name === name);
    if (!p) return undefined;
    if ((p.type === 'choice' || p.type === 'multichoice') && p.choices) return p.choices;
    const query = listQuery(p);
    return query ? this.cached(report, p, query, now) : undefined;
  }

  private cached(report: Report, p: ParameterDef, query: ListQuery, now: number): Promise<Suggestion[]> {
    const key = `${report.id}:${p.name}`;
    let entry = this.entries.get(key);
    if (!entry || now - entry.at > query.cacheSeconds * 1000) {
      const list = this.load(query.connection, query.sql, query.filterBy);
      const fresh = { at: now, list };
      entry = fresh;
      this.entries.set(key, fresh);
      // A failed load is not cached: the next form tries again.
      list.catch(() => { if (this.entries.get(key) === fresh) this.entries.delete(key); });
    }
    return entry.list;
  }
}

/**
 * Entries of `list` matching what someone typed, best first: every word of `text` must occur in the
 * value or title (case-insensitive); values that start with the text come first, then titles that do.
 * `filter` keeps only rows whose filter column equals it (e.g. accounts of the chosen PCN).
 */
export function searchChoices(list: readonly Suggestion[], text: string, opts: { count: number; filter?: string }): Choice[] {
  const words = text.toLowerCase().split(/\s+/).filter(Boolean);
  const q = words.join(' ');
  const scored: { c: Suggestion; score: number; i: number }[] = [];
  list.forEach((c, i) => {
    if (opts.filter !== undefined && c.filter !== undefined && c.filter !== opts.filter) return;
    const value = c.value.toLowerCase();
    const title = (c.title ?? '').toLowerCase();
    const hay = `${value} ${title}`;
    if (!words.every((w) => hay.includes(w))) return;
    const score = q === '' ? 0 : value.startsWith(q) ? 0 : title.startsWith(q) ? 1 : 2;
    scored.push({ c, score, i });
  });
  scored.sort((a, b) => a.score - b.score || a.i - b.i);
  const seen = new Set<string>();
  const out: Choice[] = [];
  for (const { c } of scored) {
    if (seen.has(c.value)) continue;
    seen.add(c.value);
    out.push({ value: c.value, title: c.title });
    if (out.length >= opts.count) break;
  }
  return out;
}
