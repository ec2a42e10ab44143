/**
 * The shared connector conformance suite against a real SQL Server or Azure SQL, when
 * MSSQL_TEST_URL names one: an `mssql:` URL (either form, see mssql.ts) whose login may create a
 * database. The suite runs in a scratch database made for the run and dropped after it; the
 * database in the URL is not touched. On Azure SQL Database the scratch database is created as
 * the Basic edition (the cheapest; Azure bills by the hour) — a SQL Server container in CI costs
 * nothing, e.g. MSSQL_TEST_URL='mssql://sa:<password>@127.0.0.1:1433/master?trustServerCertificate=true'.
 *
 * Without MSSQL_TEST_URL the suite registers one test, skipped with the reason: no SQL Server can
 * run on the project's machines, and nothing here stands in for one.
 */
import { randomBytes } from 'node:crypto';
import sql from 'mssql';
import { connectorConformance } from './conformance.ts';
import { mapMssqlError, mssqlConnector, parseMssqlUrl } from './mssql.ts';

const TEST_URL = process.env.MSSQL_TEST_URL;

/** `url` with its database replaced by `database`. */
function withDatabase(url: string, database: string): string {
  if (/^mssql:\/\//i.test(url)) {
    const u = new URL(url);
    u.pathname = `/${encodeURIComponent(database)}`;
    return u.toString();
  }
  const rest = url.replace(/^mssql:/i, '').replace(/(^|;)\s*(?:Database|Initial Catalog)\s*=[^;]*/gi, '').replace(/;*\s*$/, '');
  return `mssql:${rest};Database=${database}`;
}

/** Run T-SQL on the admin pool, with mapped errors (never the password). */
async function admin(pool: sql.ConnectionPool, text: string, password: string | undefined): Promise<sql.IResult<Record<string, unknown>>> {
  try {
    return await pool.request().batch(text);
  } catch (err) {
    throw mapMssqlError(err, 'conformance-admin', password ? [password] : []);
  }
}

connectorConformance({
  name: 'mssql (SQL Server)',
  dialect: {
    // nvarchar(400) rather than (max): the suite's text is short, and it keeps bulk load on sized types.
    createTable: (table) => `create table ${table} (id int, name nvarchar(400), amount decimal(19,2), at datetime2)`,
  },
  async setup() {
    if (!TEST_URL) return { skip: 'skipped: no SQL Server (set MSSQL_TEST_URL)' };
    const config = parseMssqlUrl(TEST_URL, 'conformance-admin');
    // CREATE DATABASE runs in master on Azure SQL; SQL Server accepts it anywhere.
    const pool = new sql.ConnectionPool({ ...config, database: 'master' });
    pool.on('error', () => {});
    try {
      await pool.connect();
    } catch (err) {
      throw mapMssqlError(err, 'conformance-admin', config.password ? [config.password] : []);
    }
    const db = `rb_mssql_${randomBytes(6).toString('hex')}`;
    try {
      const edition = await admin(pool, "select cast(serverproperty('EngineEdition') as int) as edition", config.password);
      const azure = edition.recordset[0]?.edition === 5;
      await admin(pool, `create database [${db}]${azure ? " (edition = 'Basic', service_objective = 'Basic')" : ''}`, config.password);
    } catch (err) {
      await pool.close();
      throw err;
    }
    return {
      connector: mssqlConnector('conformance', withDatabase(TEST_URL, db)),
      async cleanup() {
        try {
          // Plain DROP first: it fails if the connector left a connection open, which is a bug to report.
          await admin(pool, `drop database [${db}]`, config.password);
        } catch (err) {
          await admin(pool, `if db_id('${db}') is not null begin alter database [${db}] set single_user with rollback immediate; drop database [${db}]; end`, config.password)
            .catch(() => {});
          throw new Error(`dropping ${db} failed, connections were left open: ${(err as Error).message}`, { cause: err });
        } finally {
          await pool.close();
        }
      },
    };
  },
});
