/**
 * Forgiving reading of what people type: "trial balance", "tb", "run tb for 900101 jan to mar 2025".
 * A report is found by its id, title or aliases (or a near miss of one); the rest of the sentence is
 * read for what it clearly says (choice values such as PCNs, months and years, `name value`,
 * `name=value`). The result only ever pre-fills the report's form, never runs anything: the person
 * checks what was understood and presses Run. Pure functions, so the bot and tests share them.
 */
import type { Report } from './catalog.ts';
import { addPeriods, choicesOf, labelOf, type Choice, type ParameterDef } from './params.ts';

/** A report named at the start of a sentence, and what follows it (as typed). */
export interface ReportMatch {
  report: Report;
  /** The words after the report's name, unchanged. */
  rest: string;
  /** The name as written in the definition (id, title or alias) that matched. */
  matched: string;
  /** False when the name was a near miss ("trial balence"). */
  exact: boolean;
}

/** What could be read from the words after a report's name. */
export interface Understanding {
  /** Raw values by parameter name, as the form takes them. */
  values: Record<string, string | string[]>;
  /** What was understood, for a person to check: `{ label: 'PCN', value: '900101' }`. */
  understood: { label: string; value: string }[];
  /** Words that were not used. */
  ignored: string[];
}

export interface UnderstandOptions {
  /** Choice lists read from data, by parameter name. */
  choices?: Readonly<Record<string, readonly Choice[]>>;
  now?: Date;
}

const MONTHS: Record<string, number> = {
  jan: 1, january: 1, feb: 2, febr: 2, february: 2, mar: 3, march: 3, apr: 4, april: 4, may: 5, jun: 6, june: 6,
  jul: 7, july: 7, aug: 8, august: 8, sep: 9, sept: 9, september: 9, oct: 10, october: 10, nov: 11, november: 11,
  dec: 12, december: 12,
};
const RANGE_WORDS = new Set(['to', 'through', 'thru', 'until', 'till', '-', '–', '—', '..']);
const STOPWORDS = new Set([
  'for', 'to', 'from', 'and', 'the', 'of', 'in', 'on', 'with', 'please', 'me', 'a', 'an', 'run', 'report', 'reports',
  'period', 'periods', 'through', 'thru', 'until', 'till', 'between', 'show', 'get', 'give', 'can', 'you', 'i', 'want',
  'need', 'my', 'by', 'pcn', 'pcns', 'plant', 'plants', 'company', 'companies', '&', 'now', 'thanks', 'pls',
]);

/** Lower case, dashes and underscores as spaces, other punctuation dropped, single spaces. */
export function normalise(text: string): string {
  return text.toLowerCase().replace(/[-_–—/]+/g, ' ').replace(/[^\p{L}\p{N}&' ]+/gu, ' ').replace(/\s+/g, ' ').trim();
}

/** Names a report answers to, normalised: id, title, aliases. */
function namesOf(report: Report): string[] {
  return [...new Set([report.id, report.title, ...report.aliases].map(normalise).filter(Boolean))];
}

/** Edit distance, for near misses of report names. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return row[b.length];
}

/**
 * The report a sentence starts with: the longest id, title or alias that the first words spell
 * (ignoring case, dashes and punctuation); failing that, a close misspelling of a name of five or
 * more letters. Undefined when none fits.
 */
export function matchReport(text: string, reports: Iterable<Report>): ReportMatch | undefined {
  const tokens = text.trim().split(/\s+/).filter(Boolean);
  const list = [...reports];
  const names = list.flatMap((report) => namesOf(report).map((name) => ({ report, name })));
  const maxWords = Math.min(tokens.length, Math.max(1, ...names.map((n) => n.name.split(' ').length)) + 1);
  for (let k = maxWords; k >= 1; k--) {
    const head = normalise(tokens.slice(0, k).join(' '));
    const hit = names.find((n) => n.name === head);
    if (hit) return { report: hit.report, rest: tokens.slice(k).join(' '), matched: hit.name, exact: true };
  }
  let best: (ReportMatch & { d: number; k: number }) | undefined;
  for (let k = maxWords; k >= 1; k--) {
    const head = normalise(tokens.slice(0, k).join(' '));
    if (head.length < 5) continue;
    for (const n of names) {
      if (n.name.length < 5) continue;
      const d = distance(head, n.name);
      const allowed = n.name.length >= 9 ? 2 : 1;
      if (d <= allowed && (!best || d < best.d || (d === best.d && k > best.k))) {
        best = { report: n.report, rest: tokens.slice(k).join(' '), matched: n.name, exact: false, d, k };
      }
    }
  }
  if (!best) return undefined;
  const { d: _d, k: _k, ...match } = best;
  return match;
}

type Atom =
  | { kind: 'month'; month: number; at: number }
  | { kind: 'year'; year: number; at: number }
  | { kind: 'period'; period: number; at: number }
  | { kind: 'quarter'; quarter: number; at: number }
  | { kind: 'relative'; from: number; to: number; at: number }
  | { kind: 'range'; at: number };

/** One end of a period expression: "jan", "mar 2025", "2025", "q1 2025", "202503". */
interface Endpoint {
  month?: number;
  quarter?: number;
  year?: number;
  period?: number;
  relative?: { from: number; to: number };
  /** The year came from a neighbour ("jan to mar 2025"): it may be moved back a year. */
  inherited?: boolean;
}

function thisPeriod(now: Date): number {
  return now.getUTCFullYear() * 100 + now.getUTCMonth() + 1;
}

/** The atoms of one word, or undefined when it says nothing about dates. */
function dateAtoms(word: string, at: number): Atom[] | undefined {
  const w = word.toLowerCase().replace(/^[(,;]+|[),;.!?]+$/g, '');
  if (RANGE_WORDS.has(w)) return [{ kind: 'range', at }];
  if (w in MONTHS) return [{ kind: 'month', month: MONTHS[w], at }];
  let m = /^(19\d{2}|20\d{2})$/.exec(w);
  if (m) return [{ kind: 'year', year: Number(m[1]), at }];
  m = /^(19\d{2}|20\d{2})[-/]?(0[1-9]|1[0-2])$/.exec(w);
  if (m) return [{ kind: 'period', period: Number(m[1]) * 100 + Number(m[2]), at }];
  m = /^(0?[1-9]|1[0-2])[-/](19\d{2}|20\d{2})$/.exec(w);
  if (m) return [{ kind: 'period', period: Number(m[2]) * 100 + Number(m[1]), at }];
  m = /^q([1-4])$/.exec(w);
  if (m) return [{ kind: 'quarter', quarter: Number(m[1]), at }];
  m = /^([a-z]+)(19\d{2}|20\d{2})$/.exec(w);
  if (m && m[1] in MONTHS) return [{ kind: 'month', month: MONTHS[m[1]], at }, { kind: 'year', year: Number(m[2]), at }];
  // "jan-mar", "202501-202503", "jan–mar2025": every piece a date word.
  const pieces = w.split(/[-–—]|\.\./);
  if (pieces.length > 1 && pieces.every(Boolean)) {
    const parts = pieces.map((p) => dateAtoms(p, at));
    if (parts.every((p) => p !== undefined && p.every((a) => a.kind !== 'range'))) {
      return parts.flatMap((p, i) => (i ? [{ kind: 'range', at } as Atom, ...p!] : p!));
    }
  }
  return undefined;
}

/** Read "jan to mar 2025", "2025", "q1 2025", "202501-202503", "last month" into a period range. */
function readPeriods(atoms: Atom[], now: Date): { from: number; to: number } | undefined {
  const ends: Endpoint[] = [];
  let current: Endpoint | undefined;
  const close = () => { if (current) ends.push(current); current = undefined; };
  for (const a of atoms) {
    if (a.kind === 'range') {
      close();
    } else if (a.kind === 'year') {
      // "mar 2025", "q1 2025": the year belongs to the month or quarter just before it.
      if (current && current.year === undefined && (current.month || current.quarter)) current.year = a.year;
      else { close(); current = { year: a.year }; }
    } else {
      close();
      current = a.kind === 'month' ? { month: a.month } : a.kind === 'quarter' ? { quarter: a.quarter }
        : a.kind === 'period' ? { period: a.period } : { relative: { from: a.from, to: a.to } };
    }
  }
  close();
  if (ends.length === 0) return undefined;
  // Months without a year take the next endpoint's year ("jan to mar 2025"), else the previous one's.
  for (const [i, e] of ends.entries()) {
    if (e.year !== undefined || e.period !== undefined || e.relative) continue;
    const next = ends.slice(i + 1).find((x) => x.year !== undefined)?.year;
    const prev = ends.slice(0, i).reverse().find((x) => x.year !== undefined)?.year;
    if (next !== undefined || prev !== undefined) {
      e.year = next ?? prev;
      e.inherited = true;
    } else {
      // No year anywhere: the latest such month that is not in the future.
      const month = e.month ?? (e.quarter ? e.quarter * 3 : 12);
      e.year = now.getUTCFullYear() - (month > now.getUTCMonth() + 1 ? 1 : 0);
      e.inherited = true;
    }
  }
  const span = (e: Endpoint): [number, number] => {
    if (e.relative) return [e.relative.from, e.relative.to];
    if (e.period !== undefined) return [e.period, e.period];
    const y = e.year! * 100;
    if (e.month) return [y + e.month, y + e.month];
    if (e.quarter) return [y + e.quarter * 3 - 2, y + e.quarter * 3];
    return [y + 1, y + 12];
  };
  let [from] = span(ends[0]);
  const [, to] = span(ends[ends.length - 1]);
  // "nov to feb 2025": November of the year before.
  if (from > to && ends[0].inherited) from = addPeriods(from, -12);
  return from <= to ? { from, to } : { from: to, to: from };
}

/** Relative phrases: "last month", "this month", "last year", "this year", "ytd". */
function relativeAtom(words: string[], i: number, now: Date): { atom: Atom; used: number } | undefined {
  const p = thisPeriod(now);
  const year = now.getUTCFullYear();
  const w = words[i]?.toLowerCase();
  const next = words[i + 1]?.toLowerCase().replace(/[.,;!?]+$/, '');
  if (w === 'ytd') return { atom: { kind: 'relative', from: year * 100 + 1, to: addPeriods(p, -1) < year * 100 + 1 ? p : addPeriods(p, -1), at: i }, used: 1 };
  if ((w === 'last' || w === 'previous' || w === 'prior') && next === 'month') return { atom: { kind: 'relative', from: addPeriods(p, -1), to: addPeriods(p, -1), at: i }, used: 2 };
  if (w === 'this' && next === 'month') return { atom: { kind: 'relative', from: p, to: p, at: i }, used: 2 };
  if ((w === 'last' || w === 'previous' || w === 'prior') && next === 'year') return { atom: { kind: 'relative', from: (year - 1) * 100 + 1, to: (year - 1) * 100 + 12, at: i }, used: 2 };
  if (w === 'this' && next === 'year') return { atom: { kind: 'relative', from: year * 100 + 1, to: year * 100 + 12, at: i }, used: 2 };
  return undefined;
}

/** Split into words, keeping `name="two words"` together. */
function words(text: string): string[] {
  return [...text.matchAll(/[^\s=]+=(?:"[^"]*"|'[^']*'|\S*)|"[^"]*"|\S+/g)].map((m) => m[0]);
}

/**
 * Read the words after a report's name for parameter values: `name=value` and `name value`, values
 * of choice parameters (e.g. a PCN), periods ("jan to mar 2025", "2025", "q1 2025", "last month",
 * "202501-202503") for the report's period parameters (first = start, second = end), and a boolean
 * parameter whose label is written out ("include inactive"). Anything else is listed as ignored.
 */
export function understand(report: Pick<Report, 'parameters'>, text: string, opts: UnderstandOptions = {}): Understanding {
  const now = opts.now ?? new Date();
  const params = report.parameters;
  const values: Record<string, string | string[]> = {};
  const understood: { label: string; value: string }[] = [];
  const list = words(text);
  const used = new Set<number>();
  const byName = (n: string): ParameterDef | undefined => {
    const k = normalise(n).replace(/ /g, '');
    return params.find((p) => p.name.toLowerCase() === k || normalise(labelOf(p)).replace(/ /g, '') === k);
  };
  const set = (p: ParameterDef, value: string) => {
    if (p.type === 'multichoice') {
      const prev = (values[p.name] as string[] | undefined) ?? [];
      if (!prev.includes(value)) values[p.name] = [...prev, value];
    } else {
      values[p.name] = value;
    }
  };

  // name=value, and a parameter's name or label followed by its value ("account 10001").
  list.forEach((w, i) => {
    const m = /^([^=]+)=(.*)$/.exec(w);
    if (m) {
      const p = byName(m[1]);
      if (p) {
        set(p, m[2].replace(/^["']|["']$/g, ''));
        used.add(i);
      }
      return;
    }
    const p = byName(w);
    const next = list[i + 1];
    if (p && next !== undefined && !used.has(i) && p.type !== 'period' && p.type !== 'boolean' && !/=/.test(next)
      && !STOPWORDS.has(next.toLowerCase()) && dateAtoms(next, i + 1) === undefined) {
      const value = next.replace(/^["']|["']$/g, '').replace(/[,;]+$/, '');
      if (p.type === 'choice' || p.type === 'multichoice') {
        if (!choicesOf(p, opts).some((c) => c.value === value)) return;
      }
      set(p, value);
      used.add(i).add(i + 1);
    }
  });

  // Values of choice parameters, wherever they stand ("for 900101 and 900202").
  const choiceParams = params.filter((p) => p.type === 'choice' || p.type === 'multichoice');
  list.forEach((w, i) => {
    if (used.has(i)) return;
    const word = w.replace(/^[(,;]+|[),;.!?]+$/g, '').toLowerCase();
    for (const p of choiceParams) {
      const hit = choicesOf(p, opts).find((c) => c.value.toLowerCase() === word);
      if (hit && (p.type === 'multichoice' || values[p.name] === undefined)) {
        set(p, hit.value);
        used.add(i);
        return;
      }
    }
  });

  // Booleans whose label is written out: "include inactive" for "Include inactive accounts".
  const plain = list.map((w) => normalise(w));
  for (const p of params.filter((x) => x.type === 'boolean')) {
    const key = normalise(labelOf(p)).split(' ').slice(0, 2);
    for (let i = 0; i + key.length <= plain.length; i++) {
      if (key.every((k, j) => plain[i + j] === k || (j === 0 && plain[i + j].startsWith(k.slice(0, -1))))) {
        values[p.name] = 'true';
        key.forEach((_, j) => used.add(i + j));
        break;
      }
    }
  }

  // Periods.
  const atoms: Atom[] = [];
  const dateWords = new Set<number>();
  for (let i = 0; i < list.length; i++) {
    if (used.has(i)) continue;
    const rel = relativeAtom(list, i, now);
    if (rel) {
      atoms.push(rel.atom);
      for (let j = 0; j < rel.used; j++) dateWords.add(i + j);
      i += rel.used - 1;
      continue;
    }
    const a = dateAtoms(list[i], i);
    if (a) {
      atoms.push(...a);
      dateWords.add(i);
    }
  }
  const periodParams = params.filter((p) => p.type === 'period');
  const range = atoms.some((a) => a.kind !== 'range') && periodParams.length ? readPeriods(atoms, now) : undefined;
  if (range) {
    dateWords.forEach((i) => used.add(i));
    if (periodParams.length >= 2) {
      values[periodParams[0].name] = String(range.from);
      values[periodParams[1].name] = String(range.to);
    } else {
      values[periodParams[0].name] = String(range.to);
    }
  }

  for (const p of params) {
    const v = values[p.name];
    if (v === undefined) continue;
    const shown = Array.isArray(v) ? v.join(', ') : p.type === 'boolean' ? (v === 'true' ? 'yes' : 'no') : v;
    understood.push({ label: labelOf(p), value: shown });
  }
  const ignored = list.filter((w, i) => !used.has(i) && !STOPWORDS.has(w.toLowerCase().replace(/[,;.!?]+$/, '')) && !RANGE_WORDS.has(w.toLowerCase()));
  return { values, understood, ignored };
}
