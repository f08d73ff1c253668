/**
 * Schema migrations for SQLite-backed Durable Objects. `PRAGMA user_version` is not available
 * there, so each object keeps its applied version in a one-row table.
 * @module
 */

/** Applies `steps[v..]` in order, once each, recording the version after every step. */
export function migrate(sql: SqlStorage, steps: string[]): void {
  sql.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)')
  const row = sql.exec<{ version: number }>('SELECT version FROM schema_version').toArray()[0]
  let version = row?.version ?? 0
  if (!row) sql.exec('INSERT INTO schema_version (version) VALUES (0)')
  for (; version < steps.length; version++) {
    sql.exec(steps[version]!)
    sql.exec('UPDATE schema_version SET version = ?', version + 1)
  }
}
