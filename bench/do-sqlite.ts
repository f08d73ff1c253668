/**
 * A Durable Object's SQLite storage (`ctx.storage.sql`, `transactionSync`) over better-sqlite3,
 * so that the production adapters (src/adapters/sqlite-*.ts) run unchanged in Node for the
 * storage measurements. It keeps to the platform's SQL limits and counts what the platform bills:
 * a statement with more than 100 bound parameters, or a string or BLOB over 2 MB, throws; rows
 * written are SQLite's own count of rows a statement changed, rows read the rows it returned
 * (a lower bound of what the platform counts: it also counts rows scanned).
 * @module
 */
import Database from 'better-sqlite3'

/** The platform's limits this storage enforces (developers.cloudflare.com/durable-objects/platform/limits/). */
export const DO_MAX_BOUND_PARAMETERS = 100
export const DO_MAX_VALUE_BYTES = 2 * 1000 * 1000

/** What a storage was asked to do, for the cost figures. */
export interface SqlCounts {
  statements: number
  rowsRead: number
  rowsWritten: number
  /** The largest value (string or BLOB) bound to any statement, in bytes. */
  largestValue: number
  /** Most parameters bound to one statement. */
  mostParameters: number
}

type Cursor<T> = { toArray(): T[]; one(): T; rowsRead: number; rowsWritten: number; [Symbol.iterator](): Iterator<T> }

/** See the module comment. `path` ':memory:' keeps the database in memory. */
export class DoSqliteStorage {
  readonly db: Database.Database
  readonly counts: SqlCounts = { statements: 0, rowsRead: 0, rowsWritten: 0, largestValue: 0, mostParameters: 0 }
  readonly #statements = new Map<string, Database.Statement>()
  readonly sql: { exec<T = Record<string, unknown>>(query: string, ...bindings: unknown[]): Cursor<T> }

  constructor(path = ':memory:') {
    this.db = new Database(path)
    this.sql = { exec: (query, ...bindings) => this.#exec(query, bindings) }
  }

  transactionSync<T>(fn: () => T): T {
    return this.db.transaction(fn)()
  }

  /** Bytes of the database file: pages in use or free, times the page size (SQLite's and a Durable Object's 4,096). */
  bytes(): number {
    const pages = this.db.pragma('page_count', { simple: true }) as number
    const size = this.db.pragma('page_size', { simple: true }) as number
    return pages * size
  }

  /** Bytes by table and index (SQLite's dbstat): what each holds, its share of the pages. */
  bytesByName(): Map<string, number> {
    const rows = this.db.prepare('SELECT name, SUM(pgsize) AS bytes FROM dbstat GROUP BY name').all() as { name: string; bytes: number }[]
    return new Map(rows.map((r) => [r.name, r.bytes]))
  }

  /** Rows of `table`. */
  rows(table: string): number {
    return (this.db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n
  }

  #exec<T>(query: string, bindings: unknown[]): Cursor<T> {
    if (bindings.length > DO_MAX_BOUND_PARAMETERS) throw new Error(`${bindings.length} bound parameters: a Durable Object allows ${DO_MAX_BOUND_PARAMETERS}`)
    const params = bindings.map((b) => {
      const size = typeof b === 'string' ? Buffer.byteLength(b) : b instanceof Uint8Array ? b.length : 0
      if (size > DO_MAX_VALUE_BYTES) throw new Error(`a ${size}-byte value: a Durable Object row or value holds at most 2 MB`)
      this.counts.largestValue = Math.max(this.counts.largestValue, size)
      return b instanceof Uint8Array && !Buffer.isBuffer(b) ? Buffer.from(b.buffer, b.byteOffset, b.byteLength) : b
    })
    this.counts.statements++
    this.counts.mostParameters = Math.max(this.counts.mostParameters, params.length)
    let stmt = this.#statements.get(query)
    if (!stmt) this.#statements.set(query, (stmt = this.db.prepare(query)))
    let rows: T[] = []
    let written = 0
    if (stmt.reader) rows = stmt.all(...params) as T[]
    else written = stmt.run(...params).changes
    this.counts.rowsRead += rows.length
    this.counts.rowsWritten += written
    return {
      toArray: () => rows,
      one: () => {
        if (rows.length !== 1) throw new Error(`expected one row, got ${rows.length}`)
        return rows[0]!
      },
      rowsRead: rows.length,
      rowsWritten: written,
      [Symbol.iterator]: () => rows[Symbol.iterator](),
    }
  }
}
