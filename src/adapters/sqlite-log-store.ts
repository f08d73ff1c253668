/**
 * The sequencer's {@link LogStore} in its Durable Object's SQLite. The schema is this file's
 * (docs/storage.md lists it): the pool, the committed tree with its right edge, partial tiles
 * and partial bundle, the registry, one row per shard for repeated batches, and small values.
 * Nothing here grows with the log: sequenced entries live in the object store.
 * @module
 */
import { decodeBundle, encodeBundle } from '../protocol/tiles.ts'
import { EMPTY_ROOT, HASH_SIZE } from '../protocol/merkle.ts'
import { ConfigError } from '../core/refusals.ts'
import { TreeMovedError, type AppRecord, type LogStore, type SourceRecord, type TreeState } from '../core/ports.ts'
import { migrate } from './sql.ts'

const SCHEMA = [
  'CREATE TABLE pool (idx INTEGER PRIMARY KEY, entry BLOB NOT NULL)',
  `CREATE TABLE tree (id INTEGER PRIMARY KEY CHECK (id = 1), size INTEGER NOT NULL, root BLOB NOT NULL, note TEXT,
    edge BLOB NOT NULL, partial_bundle BLOB NOT NULL, stored_at INTEGER NOT NULL)`,
  'CREATE TABLE partial_tiles (level INTEGER PRIMARY KEY, hashes BLOB NOT NULL)',
  `CREATE TABLE apps (num INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, name TEXT NOT NULL, token_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL, status TEXT NOT NULL, bindings INTEGER NOT NULL, registered_index INTEGER NOT NULL, revoked_index INTEGER)`,
  'CREATE TABLE sources (source INTEGER PRIMARY KEY, seq INTEGER NOT NULL, results TEXT NOT NULL)',
  'CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)',
]

type TreeRow = { size: number; root: ArrayBuffer; note: string | null; edge: ArrayBuffer; partial_bundle: ArrayBuffer }
type AppRow = {
  num: number
  id: string
  name: string
  token_hash: string
  created_at: number
  status: AppRecord['status']
  bindings: number
  registered_index: number
  revoked_index: number | null
}

/** See the module comment. */
export class SqliteLogStore implements LogStore {
  readonly #sql: SqlStorage
  readonly #storage: DurableObjectStorage

  constructor(storage: DurableObjectStorage) {
    this.#storage = storage
    this.#sql = storage.sql
    // The Sequencer of entry version 2 kept entries and bindings in its own tables.
    if (this.#sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'entries'").toArray().length > 0) {
      throw new ConfigError('this log was written by an older whodis (its sequencer keeps entries itself); start a new one (locally: rm -rf .wrangler/state)')
    }
    migrate(this.#sql, SCHEMA)
  }

  transaction<T>(fn: () => T): T {
    return this.#storage.transactionSync(fn)
  }

  tree(): TreeState {
    const row = this.#row()
    if (!row) return { size: 0, root: EMPTY_ROOT, note: null, edge: [], partialTiles: [], partialBundle: [] }
    const edgeBytes = new Uint8Array(row.edge)
    const edge = Array.from({ length: edgeBytes.length / HASH_SIZE }, (_, i) => edgeBytes.slice(i * HASH_SIZE, (i + 1) * HASH_SIZE))
    const partialTiles = this.#sql
      .exec<{ hashes: ArrayBuffer }>('SELECT hashes FROM partial_tiles ORDER BY level')
      .toArray()
      .map((r) => new Uint8Array(r.hashes))
    return { size: row.size, root: new Uint8Array(row.root), note: row.note, edge, partialTiles, partialBundle: decodeBundle(new Uint8Array(row.partial_bundle)).map((e) => e.slice()) }
  }

  commitTree(expectedSize: number, next: TreeState): void {
    const current = this.#row()?.size ?? 0
    if (current !== expectedSize) throw new TreeMovedError(`the tree moved from ${expectedSize} to ${current} during a round`)
    const edge = new Uint8Array(next.edge.length * HASH_SIZE)
    next.edge.forEach((h, i) => edge.set(h, i * HASH_SIZE))
    this.#sql.exec(
      `INSERT INTO tree (id, size, root, note, edge, partial_bundle, stored_at) VALUES (1, ?, ?, NULL, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET size = excluded.size, root = excluded.root, note = NULL, edge = excluded.edge,
         partial_bundle = excluded.partial_bundle, stored_at = excluded.stored_at`,
      next.size,
      next.root,
      edge,
      encodeBundle(next.partialBundle),
      Date.now(),
    )
    this.#sql.exec('DELETE FROM partial_tiles')
    next.partialTiles.forEach((hashes, level) => this.#sql.exec('INSERT INTO partial_tiles (level, hashes) VALUES (?, ?)', level, hashes))
    this.#sql.exec('DELETE FROM pool WHERE idx < ?', next.size)
  }

  setNote(size: number, note: string): void {
    this.#sql.exec('UPDATE tree SET note = ? WHERE id = 1 AND size = ?', note, size)
  }

  nextIndex(): number {
    const pooled = this.#sql.exec<{ n: number | null }>('SELECT MAX(idx) + 1 AS n FROM pool').one().n
    return Math.max(pooled ?? 0, this.#row()?.size ?? 0)
  }

  pushPool(index: number, entry: Uint8Array): void {
    const next = this.nextIndex()
    if (index !== next) throw new Error(`pool index ${index} is not the next, ${next}`)
    this.#sql.exec('INSERT INTO pool (idx, entry) VALUES (?, ?)', index, entry)
  }

  pool(from: number, limit: number): { index: number; entry: Uint8Array }[] {
    return this.#sql
      .exec<{ idx: number; entry: ArrayBuffer }>('SELECT idx, entry FROM pool WHERE idx >= ? ORDER BY idx LIMIT ?', from, limit)
      .toArray()
      .map((r) => ({ index: r.idx, entry: new Uint8Array(r.entry) }))
  }

  apps(): AppRecord[] {
    return this.#sql
      .exec<AppRow>('SELECT * FROM apps ORDER BY num')
      .toArray()
      .map((r) => ({
        num: r.num,
        id: r.id,
        name: r.name,
        tokenHash: r.token_hash,
        createdAt: r.created_at,
        status: r.status,
        bindings: r.bindings,
        registeredIndex: r.registered_index,
        revokedIndex: r.revoked_index,
      }))
  }

  putApp(a: AppRecord): void {
    this.#sql.exec(
      `INSERT INTO apps (num, id, name, token_hash, created_at, status, bindings, registered_index, revoked_index)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (num) DO UPDATE SET status = excluded.status, bindings = excluded.bindings, revoked_index = excluded.revoked_index`,
      a.num,
      a.id,
      a.name,
      a.tokenHash,
      a.createdAt,
      a.status,
      a.bindings,
      a.registeredIndex,
      a.revokedIndex,
    )
  }

  source(source: number): SourceRecord | null {
    const row = this.#sql.exec<{ seq: number; results: string }>('SELECT seq, results FROM sources WHERE source = ?', source).toArray()[0]
    return row ? { seq: row.seq, results: JSON.parse(row.results) } : null
  }

  putSource(source: number, record: SourceRecord): void {
    this.#sql.exec(
      'INSERT INTO sources (source, seq, results) VALUES (?, ?, ?) ON CONFLICT (source) DO UPDATE SET seq = excluded.seq, results = excluded.results',
      source,
      record.seq,
      JSON.stringify(record.results),
    )
  }

  meta(key: string): string | null {
    return this.#sql.exec<{ value: string }>('SELECT value FROM meta WHERE key = ?', key).toArray()[0]?.value ?? null
  }

  setMeta(key: string, value: string | null): void {
    if (value === null) this.#sql.exec('DELETE FROM meta WHERE key = ?', key)
    else this.#sql.exec('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value', key, value)
  }

  #row(): TreeRow | undefined {
    return this.#sql.exec<TreeRow>('SELECT size, root, note, edge, partial_bundle FROM tree WHERE id = 1').toArray()[0]
  }
}
