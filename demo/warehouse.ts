/**
 * The demo warehouse: the Plex-shaped demo dataset of `generator.ts` (chart of accounts, periods,
 * journals and closed-period balances for two fake PCNs under the Plex ODBC view names) at the path the
 * local stack and the test harness use. This module keeps the names they import.
 *
 * Usage: tsx demo/warehouse.ts [path] [accountsPerPcn]
 */
import { pathToFileURL } from 'node:url';
import { DEMO_SIZES, generateDemo } from './generator.ts';

export { DEMO_PCNS, chartOfAccounts } from './generator.ts';
export type { DemoAccount } from './generator.ts';

/** Options of {@link buildWarehouse}. */
export interface WarehouseOptions {
  /** Accounts per PCN (default 400). */
  accountsPerPcn?: number;
  seed?: number;
  /** Target journal lines over both PCNs (default {@link DEMO_SIZES}.medium, what `npm start` gets). */
  journalLines?: number;
}

/** (Re)build the demo warehouse at `path`, with its golden file next to it. Returns the number of accounts per PCN. */
export function buildWarehouse(path: string, opts: WarehouseOptions = {}): Record<number, number> {
  return generateDemo(path, {
    accountsPerPcn: opts.accountsPerPcn,
    seed: opts.seed,
    journalLines: opts.journalLines ?? DEMO_SIZES.medium,
  }).accounts;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const path = process.argv[2] ?? '.data/warehouse.sqlite';
  const counts = buildWarehouse(path, { accountsPerPcn: process.argv[3] ? Number(process.argv[3]) : undefined });
  console.log(`demo warehouse written to ${path}:`, counts);
}
