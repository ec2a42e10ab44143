/**
 * Runs the shared connector conformance suite against every SQL connector that can run here:
 * sqlite (better-sqlite3), odbc with the PostgreSQL driver, odbc with the SQLite3 driver.
 * ODBC targets skip, with the reason, when the optional `odbc` module, the driver or the server
 * is missing. TEST_ODBC_POSTGRES overrides the admin connection string for the PostgreSQL target.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { connectorConformance } from './conformance.ts';
import { odbcConnector } from './odbc.ts';
import { sqliteConnector } from './sqlite.ts';
import type { Connector } from './types.ts';

const ansiTable = (table: string) => `create table ${table} (id int, name text, amount decimal(19,2), at timestamp)`;

async function tempDir(): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'conformance-'));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** Why an ODBC target cannot run, or undefined when `connector` answers. */
async function unreachable(connector: Connector): Promise<string | undefined> {
  try {
    await connector.testConnection();
    return undefined;
  } catch (err) {
    await connector.close();
    return (err as Error).message;
  }
}

connectorConformance({
  name: 'sqlite',
  dialect: { createTable: ansiTable },
  async setup() {
    const tmp = await tempDir();
    return { connector: sqliteConnector('conformance', `sqlite:${join(tmp.dir, 'conformance.sqlite')}`), cleanup: tmp.remove };
  },
});

const PG_ADMIN = process.env.TEST_ODBC_POSTGRES ??
  'Driver={PostgreSQL Unicode};Servername=127.0.0.1;Port=5432;Database=postgres;UID=postgres';

connectorConformance({
  name: 'odbc (PostgreSQL)',
  dialect: { createTable: ansiTable },
  async setup() {
    const admin = odbcConnector('conformance-admin', `odbc:${PG_ADMIN}`);
    const why = await unreachable(admin);
    if (why) return { skip: `PostgreSQL through ODBC is not available: ${why}` };
    const db = `rb_odbc_${randomBytes(6).toString('hex')}`;
    await admin.execute(`create database ${db}`);
    const url = `odbc:${PG_ADMIN.replace(/(^|;)\s*Database=[^;]*/i, `$1Database=${db}`)}`;
    return {
      connector: odbcConnector('conformance', url),
      async cleanup() {
        try {
          // Without FORCE first: a connection the connector failed to close makes this fail.
          await admin.execute(`drop database ${db}`);
        } catch (err) {
          await admin.execute(`drop database if exists ${db} with (force)`);
          throw new Error(`dropping ${db} failed, connections were left open: ${(err as Error).message}`, { cause: err });
        } finally {
          await admin.close();
        }
      },
    };
  },
});

connectorConformance({
  name: 'odbc (SQLite3 driver)',
  dialect: { createTable: ansiTable },
  async setup() {
    const tmp = await tempDir();
    const connector = odbcConnector('conformance', `odbc:Driver={SQLite3};Database=${join(tmp.dir, 'conformance.sqlite')}`);
    const why = await unreachable(connector);
    if (why) {
      await tmp.remove();
      return { skip: `the SQLite3 ODBC driver is not available: ${why}` };
    }
    return { connector, cleanup: tmp.remove };
  },
});
