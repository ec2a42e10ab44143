/**
 * Report parameters: one list in report.yaml drives the card form, the validation, the text
 * command and the CLI. This file holds the parameter types and the validation built from them.
 */
import { z } from 'zod/v4';
import { ValidationError } from './errors.ts';

const choice = z.object({ value: z.string(), title: z.string().optional() });

const base = {
  name: z.string().regex(/^[a-zA-Z][a-zA-Z0-9_]*$/, 'must be an identifier (letters, digits, _)'),
  label: z.string().optional(),
  description: z.string().optional(),
  required: z.boolean().default(true),
};

/** The parameter definition format (a discriminated union on `type`). */
export const parameterSchema = z.discriminatedUnion('type', [
  z.object({ ...base, type: z.literal('string'), default: z.string().optional(), pattern: z.string().optional(), maxLength: z.number().int().positive().default(200) }),
  z.object({ ...base, type: z.literal('integer'), default: z.number().int().optional(), min: z.number().int().optional(), max: z.number().int().optional() }),
  z.object({ ...base, type: z.literal('number'), default: z.number().optional(), min: z.number().optional(), max: z.number().optional() }),
  z.object({ ...base, type: z.literal('date'), default: z.string().optional() }),
  z.object({ ...base, type: z.literal('period'), default: z.number().int().optional(), min: z.number().int().optional(), max: z.number().int().optional() }),
  z.object({ ...base, type: z.literal('boolean'), default: z.boolean().optional(), required: z.boolean().default(false) }),
  z.object({ ...base, type: z.literal('choice'), default: z.string().optional(), choices: z.array(choice).min(1) }),
]);

export type ParameterDef = z.infer<typeof parameterSchema>;
export type ParamValue = string | number | boolean;
export type ParamValues = Record<string, ParamValue>;

const PERIOD = /^(\d{4})(0[1-9]|1[0-2])$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;

/** The human name of a parameter, for forms and messages. */
export function labelOf(p: ParameterDef): string {
  return p.label ?? p.name;
}

/** Validate one raw value (from a card, a text command or JSON) against its definition. */
function check(p: ParameterDef, raw: unknown): { value?: ParamValue; error?: string } {
  const text = typeof raw === 'string' ? raw.trim() : raw;
  if (text === undefined || text === null || text === '') {
    if (p.default !== undefined) return { value: p.default };
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
      if (!p.choices.some((c) => c.value === s)) {
        return { error: `${labelOf(p)} must be one of ${p.choices.map((c) => c.value).join(', ')}` };
      }
      return { value: s };
    }
  }
}

/**
 * Validate a whole request against a report's parameters. Unknown names are errors, so a typo
 * never silently runs a report with defaults. Throws ValidationError listing every problem.
 */
export function validateParams(reportId: string, defs: readonly ParameterDef[], input: Record<string, unknown>): ParamValues {
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
    const { value, error } = check(def, input[def.name]);
    if (error) fields[def.name] = error;
    else if (value !== undefined) values[def.name] = value;
  }
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
    const shown = typeof v === 'boolean' ? (v ? 'yes' : 'no')
      : d.type === 'choice' ? (d.choices.find((c) => c.value === v)?.title ?? String(v)) : String(v);
    return { name: d.name, label: labelOf(d), value: shown };
  });
}
