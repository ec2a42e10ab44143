/**
 * Converting source values to declared types. Plex web services return every value as a string;
 * money must stay exact, so `cents` parses a decimal string into integer cents without float math.
 */
import { ConnectorError } from '../../core/errors.ts';

export type ValueType = 'string' | 'integer' | 'decimal' | 'cents' | 'date' | 'boolean';

/** "1234.5" → 123450, "-0.07" → -7, "12" → 1200. Throws on more than 2 decimals that are not zeros. */
export function toCents(text: string): number {
  const m = /^\s*([+-])?(\d*)(?:\.(\d*))?\s*$/.exec(text);
  if (!m || (m[2] === '' && (m[3] ?? '') === '')) throw new Error(`"${text}" is not a decimal amount`);
  const [, sign, whole, frac = ''] = m;
  if (/[1-9]/.test(frac.slice(2))) throw new Error(`"${text}" has more than 2 decimals`);
  const cents = Number(whole || '0') * 100 + Number((frac + '00').slice(0, 2));
  if (!Number.isSafeInteger(cents)) throw new Error(`"${text}" is too large`);
  return sign === '-' ? -cents : cents;
}

/** Convert one value to `type`; null and '' stay null. `where` names the column for errors. */
export function convertValue(value: unknown, type: ValueType, where: string): unknown {
  if (value === null || value === undefined || value === '') return null;
  const text = typeof value === 'string' ? value : String(value);
  try {
    switch (type) {
      case 'string': return text;
      case 'integer': {
        const n = Number(text);
        if (!Number.isSafeInteger(n)) throw new Error(`"${text}" is not a whole number`);
        return n;
      }
      case 'decimal': {
        const n = Number(text);
        if (!Number.isFinite(n)) throw new Error(`"${text}" is not a number`);
        return n;
      }
      case 'cents': return typeof value === 'number' && Number.isInteger(value * 100) ? Math.round(value * 100) : toCents(text);
      case 'date': {
        const d = new Date(text);
        if (Number.isNaN(d.getTime())) throw new Error(`"${text}" is not a date`);
        return d.toISOString();
      }
      case 'boolean': return /^(1|true|yes|y)$/i.test(text) ? 1 : 0;
    }
  } catch (err) {
    throw new ConnectorError('convert', `${where}: ${(err as Error).message}`, { cause: err });
  }
}
