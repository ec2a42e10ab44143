/**
 * Converting source values to the types an extract step declares. Plex web services return every
 * value as a string; money must stay exact, so `cents` turns a decimal into integer cents without
 * float math. The parsing rules live with the Plex connector (convertPlexValue); this adds the
 * column and row to the message and accepts the numbers other sources return.
 */
import { ConnectorError } from '../../core/errors.ts';
import { convertPlexValue, type PlexValueType } from '../connectors/plex.ts';

export type ValueType = PlexValueType;

/** Convert one value to `type`; null and '' become null. `where` names the column and row for errors. */
export function convertValue(value: unknown, type: ValueType, where: string): unknown {
  if (value === null || value === undefined || value === '') return null;
  if (typeof value === 'boolean') value = value ? '1' : '0';
  try {
    const converted = convertPlexValue(typeof value === 'string' ? value : String(value), type);
    return typeof converted === 'boolean' ? (converted ? 1 : 0) : converted;
  } catch (err) {
    throw new ConnectorError('convert', `${where}: ${(err as Error).message}`, { cause: err });
  }
}
