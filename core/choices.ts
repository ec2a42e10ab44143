/**
 * Choice lists read from data (`query:` on a choice parameter), cached per parameter for the
 * definition's `cacheSeconds`, so a form does not hit the warehouse on every open. The loader is
 * injected (it runs the query on a connection), keeping this module free of connector code.
 */
import type { Report } from './catalog.ts';
import type { Choice } from './params.ts';

/** Runs a choice query: rows with a `value` column and an optional `title` column. */
export type ChoiceLoader = (connection: string, sql: string) => Promise<Choice[]>;

export class ChoiceCache {
  private readonly load: ChoiceLoader;
  private readonly entries = new Map<string, { at: number; choices: Promise<Choice[]> }>();

  constructor(load: ChoiceLoader) {
    this.load = load;
  }

  /** Lists for every query-backed choice parameter of `report`, by parameter name. */
  async forReport(report: Report, now = Date.now()): Promise<Record<string, Choice[]>> {
    const out: Record<string, Choice[]> = {};
    for (const p of report.parameters) {
      if ((p.type !== 'choice' && p.type !== 'multichoice') || !p.query) continue;
      const key = `${report.id}:${p.name}`;
      let entry = this.entries.get(key);
      if (!entry || now - entry.at > p.query.cacheSeconds * 1000) {
        const choices = this.load(p.query.connection, p.query.sql);
        entry = { at: now, choices };
        this.entries.set(key, entry);
        // A failed load is not cached: the next form tries again.
        choices.catch(() => { if (this.entries.get(key) === entry) this.entries.delete(key); });
      }
      out[p.name] = await entry.choices;
    }
    return out;
  }
}
