/**
 * Report parameters: one list in report.yaml drives the card form, the validation, the text
 * command and the CLI. This file holds the parameter types and the validation built from them.
 */
import { z } from 'zod/v4';
import { ValidationError } from './errors.ts';

const choice = z.object({ value: z.coerce.string(), title: z.string().optional() });

/** Choices listed in the definition, or read from a query (columns `value` and optional `title`). */
const choiceQuery = z.object({
  connection: z.string().default('warehouse'),
  sql: z.string().min(1),
  /** How long the list may be served from cache. */
  cacheSeconds: z.number().int().min(0).default(300),
}).strict();

/**
 * Suggestions for a free-text parameter (typeahead in the form): rows with `value` and optional
 * `title`, cached like choice lists. When `filterBy` names another parameter, the query also returns
 * a column of that name and only rows matching that parameter's current value are offered. The
 * value typed is never restricted to the suggestions.
 */
const suggestQuery = choiceQuery.extend({ filterBy: z.string().optional() }).strict();

/** Relative defaults for periods, resolved when a form is shown or a request validated. */
export const RELATIVE_PERIODS = ['thisMonth', 'lastMonth', 'startOfYear', 'startOfLastYear'] as const;

const base = {
  name: z.string().regex(/^[a-zA-Z][a-zA-Z0-9_]*$/, 'must be an identifier (letters, digits, _)'),
  label: z.string().optional(),
  description: z.string().optional(),
  required: z.boolean().default(true),
};

/** The parameter definition format (a discriminated union on `type`). */
export const parameterSchema = z.discriminatedUnion('type', [
  z.object({ ...base, type: z.literal('string'), default: z.string().optional(), pattern: z.string().optional(), maxLength: z.number().int().positive().default(200), suggest: suggestQuery.optional() }),
  z.object({ ...base, type: z.literal('integer'), default: z.number().int().optional(), min: z.number().int().optional(), max: z.number().int().optional() }),
  z.object({ ...base, type: z.literal('number'), default: z.number().optional(), min: z.number().optional(), max: z.number().optional() }),
  z.object({ ...base, type: z.literal('date'), default: z.string().optional() }),
  z.object({ ...base, type: z.literal('period'), default: z.union([z.number().int(), z.enum(RELATIVE_PERIODS)]).optional(), min: z.number().int().optional(), max: z.number().int().optional() }),
  z.object({ ...base, type: z.literal('boolean'), default: z.boolean().optional(), required: z.boolean().default(false) }),
  z.object({ ...base, type: z.literal('choice'), default: z.coerce.string().optional(), choices: z.array(choice).min(1).optional(), query: choiceQuery.optional() }),
  z.object({ ...base, type: z.literal('multichoice'), default: z.array(z.coerce.string()).optional(), choices: z.array(choice).min(1).optional(), query: choiceQuery.optional(), maxItems: z.number().int().positive().optional() }),
]).refine((p) => !('choices' in p || 'query' in p) || (p.choices === undefined) !== (p.query === undefined), {
  message: 'a choice parameter needs exactly one of choices or query',
});

/** Cross-field rules of a report's parameters. */
export const ruleSchema = z.discriminatedUnion('type', [
  /** `second` must not come before `first` (periods, dates, numbers). */
  z.object({ type: z.literal('order'), first: z.string(), second: z.string(), message: z.string().optional() }).strict(),
  /** At most `max` periods (inclusive) between `from` and `to`; days for dates. */
  z.object({ type: z.literal('maxSpan'), from: z.string(), to: z.string(), max: z.number().int().positive(), message: z.string().optional() }).strict(),
]);
export type Rule = z.infer<typeof ruleSchema>;
export type Choice = z.infer<typeof choice>;

export type ParameterDef = z.infer<typeof parameterSchema>;
/** Multi-choice values are string lists; SQL gets them comma-joined (see bindable()). */
export type ParamValue = string | number | boolean | string[];
export type ParamValues = Record<string, ParamValue>;

const PERIOD = /^(\d{4})(0[1-9]|1[0-2])$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;

/** The human name of a parameter, for forms and messages. */
export function labelOf(p: ParameterDef): string {
  return p.label ?? p.name;
}

/** Options for validation: choice lists read from data, and the clock for relative defaults. */
export interface ValidateOptions {
  /** Choices for parameters defined with `query`, by parameter name. */
  choices?: Readonly<Record<string, readonly Choice[]>>;
  now?: Date;
}

/** YYYYMM arithmetic: `addPeriods(202501, -1)` = 202412. */
export function addPeriods(period: number, months: number): number {
  const index = Math.floor(period / 100) * 12 + (period % 100) - 1 + months;
  return Math.floor(index / 12) * 100 + (index % 12) + 1;
}

/** Periods from `from` to `to` inclusive (12-period fiscal years). */
export function periodRange(from: number, to: number): number[] {
  const out: number[] = [];
  for (let p = from; p <= to; p = addPeriods(p, 1)) out.push(p);
  return out;
}

/** A parameter's default for today: relative periods resolved against `now`. */
export function defaultOf(p: ParameterDef, now = new Date()): ParamValue | undefined {
  if (p.type === 'period' && typeof p.default === 'string') {
    const thisMonth = now.getUTCFullYear() * 100 + now.getUTCMonth() + 1;
    switch (p.default) {
      case 'thisMonth': return thisMonth;
      case 'lastMonth': return addPeriods(thisMonth, -1);
      case 'startOfYear': return now.getUTCFullYear() * 100 + 1;
      case 'startOfLastYear': return (now.getUTCFullYear() - 1) * 100 + 1;
    }
  }
  return p.default as ParamValue | undefined;
}

/** The choice list of a choice parameter: static, or read from data (passed in by the caller). */
export function choicesOf(p: ParameterDef, opts: ValidateOptions = {}): readonly Choice[] {
  if (p.type !== 'choice' && p.type !== 'multichoice') return [];
  return p.choices ?? opts.choices?.[p.name] ?? [];
}

/** Validate one raw value (from a card, a text command or JSON) against its definition. */
function check(p: ParameterDef, raw: unknown, opts: ValidateOptions): { value?: ParamValue; error?: string } {
  const text = typeof raw === 'string' ? raw.trim() : raw;
  if (text === undefined || text === null || text === '' || (Array.isArray(text) && text.length === 0)) {
    const fallback = defaultOf(p, opts.now);
    if (fallback !== undefined) return { value: fallback };
    if (p.type === 'boolean') return { value: false };
    return p.required ? { error: `${labelOf(p)} is required` } : {};
  }
  switch (p.type) {
    case 'string': {
      const s = String(text);
      if (s.length > p.maxLength) return { error: `${labelOf(p)} must be at most ${p.maxLength} characters` };
      if (p.pattern && !new RegExp(`^(?:${p.pattern})$`).test(s)) return { error: `${labelOf(p)} has the wrong format` };
      return { value: s };
    }
    case 'integer':
    case 'number': {
      const n = typeof text === 'number' ? text : Number(String(text).replace(/,/g, ''));
      if (!Number.isFinite(n) || (p.type === 'integer' && !Number.isInteger(n))) {
        return { error: `${labelOf(p)} must be ${p.type === 'integer' ? 'a whole number' : 'a number'}` };
      }
      if (p.min !== undefined && n < p.min) return { error: `${labelOf(p)} must be at least ${p.min}` };
      if (p.max !== undefined && n > p.max) return { error: `${labelOf(p)} must be at most ${p.max}` };
      return { value: n };
    }
    case 'period': {
      const s = String(text).replace(/^(\d{4})-(\d{2})$/, '$1$2');
      if (!PERIOD.test(s)) return { error: `${labelOf(p)} must be a period like 202503 (YYYYMM)` };
      const n = Number(s);
      if (p.min !== undefined && n < p.min) return { error: `${labelOf(p)} must be ${p.min} or later` };
      if (p.max !== undefined && n > p.max) return { error: `${labelOf(p)} must be ${p.max} or earlier` };
      return { value: n };
    }
    case 'date': {
      const s = String(text);
      const d = new Date(`${s}T00:00:00Z`);
      if (!DATE.test(s) || Number.isNaN(d.getTime()) || d.toISOString().slice(0, 10) !== s) {
        return { error: `${labelOf(p)} must be a date like 2025-03-31` };
      }
      return { value: s };
    }
    case 'boolean': {
      if (typeof text === 'boolean') return { value: text };
      const s = String(text).toLowerCase();
      if (['true', 'yes', 'y', '1', 'on'].includes(s)) return { value: true };
      if (['false', 'no', 'n', '0', 'off'].includes(s)) return { value: false };
      return { error: `${labelOf(p)} must be yes or no` };
    }
    case 'choice': {
      const s = String(text);
      const choices = choicesOf(p, opts);
      if (!choices.some((c) => c.value === s)) {
        return { error: `${labelOf(p)} must be one of ${listed(choices)}` };
      }
      return { value: s };
    }
    case 'multichoice': {
      const values = (Array.isArray(text) ? text.map(String) : String(text).split(/[,;\s]+/)).map((v) => v.trim()).filter(Boolean);
      const choices = choicesOf(p, opts);
      const unknown = values.filter((v) => !choices.some((c) => c.value === v));
      if (unknown.length) return { error: `${labelOf(p)}: ${unknown.join(', ')} ${unknown.length === 1 ? 'is' : 'are'} not one of ${listed(choices)}` };
      const unique = [...new Set(values)];
      if (p.maxItems !== undefined && unique.length > p.maxItems) return { error: `${labelOf(p)}: choose at most ${p.maxItems}` };
      return { value: unique };
    }
  }
}

function listed(choices: readonly Choice[]): string {
  if (choices.length === 0) return '(no choices available right now)';
  const shown = choices.slice(0, 12).map((c) => c.value).join(', ');
  return choices.length > 12 ? `${shown}, … (${choices.length} in all)` : shown;
}

/** Cross-field rules; returns per-field messages (empty when all hold). */
export function checkRules(defs: readonly ParameterDef[], rules: readonly Rule[], values: ParamValues): Record<string, string> {
  const fields: Record<string, string> = {};
  const label = (name: string) => { const d = defs.find((x) => x.name === name); return d ? labelOf(d) : name; };
  for (const rule of rules) {
    if (rule.type === 'order') {
      const [a, b] = [values[rule.first], values[rule.second]];
      if (a !== undefined && b !== undefined && b < a) {
        fields[rule.second] = rule.message ?? `${label(rule.second)} must not be before ${label(rule.first)}`;
      }
    } else {
      const [a, b] = [values[rule.from], values[rule.to]];
      if (a === undefined || b === undefined) continue;
      const span = typeof a === 'number' && typeof b === 'number'
        ? periodRange(a, b).length
        : Math.round((Date.parse(String(b)) - Date.parse(String(a))) / 86_400_000) + 1;
      if (span > rule.max) {
        fields[rule.to] = rule.message ?? `${label(rule.from)} to ${label(rule.to)} may span at most ${rule.max} ${typeof a === 'number' ? 'periods' : 'days'}`;
      }
    }
  }
  return fields;
}

/**
 * Validate a whole request against a report's parameters. Unknown names are errors, so a typo
 * never silently runs a report with defaults. Throws ValidationError listing every problem.
 */
export function validateParams(
  reportId: string, defs: readonly ParameterDef[], input: Record<string, unknown>, rules: readonly Rule[] = [], opts: ValidateOptions = {},
): ParamValues {
  const fields: Record<string, string> = {};
  const values: ParamValues = {};
  const known = new Set(defs.map((d) => d.name));
  for (const name of Object.keys(input)) {
    if (!known.has(name)) {
      fields[name] = `${reportId} has no parameter "${name}"` +
        (defs.length ? ` (it takes ${defs.map((d) => d.name).join(', ')})` : ' (it takes none)');
    }
  }
  for (const def of defs) {
    const { value, error } = check(def, input[def.name], opts);
    if (error) fields[def.name] = error;
    else if (value !== undefined) values[def.name] = value;
  }
  if (Object.keys(fields).length === 0) Object.assign(fields, checkRules(defs, rules, values));
  const problems = Object.values(fields);
  if (problems.length) throw new ValidationError(problems.join('; '), fields);
  return values;
}

/**
 * Parse the arguments of a text command: `name=value name="two words" flag=yes`.
 * Returns the pairs; a token without `=` is an error naming it.
 */
export function parseCommandArgs(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /\s*([^\s=]+)(?:=(?:"([^"]*)"|'([^']*)'|(\S*)))?/gy;
  let m: RegExpExecArray | null;
  const rest = text.trim();
  re.lastIndex = 0;
  while (re.lastIndex < rest.length && (m = re.exec(rest))) {
    const [, name, dq, sq, bare] = m;
    if (dq === undefined && sq === undefined && bare === undefined) {
      throw new ValidationError(`"${name}" is not a parameter; write name=value, e.g. pcn=900101`, { '': name });
    }
    if (name in out) throw new ValidationError(`parameter "${name}" is given twice`, { [name]: 'given twice' });
    out[name] = dq ?? sq ?? bare ?? '';
  }
  return out;
}

/** Render values for people: `pcn=900101, includeInactive=no`. */
export function describeParams(defs: readonly ParameterDef[], values: ParamValues): { name: string; label: string; value: string }[] {
  return defs.filter((d) => values[d.name] !== undefined).map((d) => {
    const v = values[d.name];
    const title = (x: string) => (('choices' in d && d.choices?.find((c) => c.value === x)?.title) || x);
    const shown = typeof v === 'boolean' ? (v ? 'yes' : 'no')
      : Array.isArray(v) ? v.map(title).join(', ')
        : d.type === 'choice' ? title(String(v)) : String(v);
    return { name: d.name, label: labelOf(d), value: shown };
  });
}

/** Values as SQL can bind them: lists comma-joined (`@pcns` = '900101,900202'), everything else as is. */
export function bindable(values: ParamValues): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const [k, v] of Object.entries(values)) out[k] = Array.isArray(v) ? v.join(',') : v;
  return out;
}
