/** Maps a connection URL's scheme to its connector. Adding a data source is adding a line here. */
import type { ChoiceLoader, Suggestion } from '../../core/choices.ts';
import { ConnectorError } from '../../core/errors.ts';
import { redactUrl } from '../../core/logger.ts';
import { mssqlConnector } from './mssql.ts';
import { odbcConnector } from './odbc.ts';
import { plexConnector } from './plex.ts';
import { sqliteConnector } from './sqlite.ts';
import type { Connector, ConnectorFactory } from './types.ts';

const factories: Readonly<Record<string, ConnectorFactory>> = {
  sqlite: sqliteConnector,
  mssql: mssqlConnector,
  odbc: odbcConnector,
  plex: plexConnector,
  plexs: plexConnector,
};

/** Create the connector for a named connection URL such as `sqlite:.data/warehouse.sqlite`. */
export function createConnector(name: string, url: string): Connector {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase();
  const factory = scheme ? factories[scheme] : undefined;
  if (!factory) {
    throw new ConnectorError(name, `connection "${name}" (${redactUrl(url)}) has an unsupported scheme; use one of ${Object.keys(factories).map((s) => `${s}:`).join(', ')}`);
  }
  return factory(name, url);
}

/**
 * The connections of one process, opened on first use and shared by all runs in it.
 * Closing closes them all.
 */
export class Connections {
  private readonly urls: Readonly<Record<string, string>>;
  private readonly open = new Map<string, Connector>();

  constructor(urls: Readonly<Record<string, string>>) {
    this.urls = urls;
  }

  get(name: string): Connector {
    let c = this.open.get(name);
    if (!c) {
      const url = this.urls[name];
      if (!url) throw new ConnectorError(name, `connection "${name}" is not configured (set CONNECTION_${name.toUpperCase()})`);
      c = createConnector(name, url);
      this.open.set(name, c);
    }
    return c;
  }

  names(): Set<string> {
    return new Set(Object.keys(this.urls));
  }

  async close(): Promise<void> {
    const all = [...this.open.values()];
    this.open.clear();
    await Promise.allSettled(all.map((c) => c.close()));
  }
}

/**
 * Runs choice-list queries (`value`, optional `title` columns, and the `filterColumn` of suggestion
 * lists narrowed by another parameter) for core/choices.ts.
 */
export function choiceLoader(connections: Connections): ChoiceLoader {
  return async (connection, sql, filterColumn) => {
    const result = await connections.get(connection).query(sql, {});
    const choices: Suggestion[] = [];
    try {
      for await (const row of result.rows) {
        if (row.value === null || row.value === undefined) continue;
        const choice: Suggestion = { value: String(row.value), title: row.title == null ? undefined : String(row.title) };
        if (filterColumn && row[filterColumn] != null) choice.filter = String(row[filterColumn]);
        choices.push(choice);
      }
    } finally {
      await result.release();
    }
    return choices;
  };
}
