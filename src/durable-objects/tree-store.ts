/**
 * The Merkle tree in the Sequencer's SQLite storage: every stored hash of Go's `tlog` layout
 * (`tree_hashes`, keyed by stored-hash index) and the one checkpoint row, which is the
 * authority for what the log has committed to. Reads are synchronous, as the tree code expects.
 * @module
 */
import { EMPTY_ROOT, type Hash, type HashReader } from '../protocol/merkle.ts'

/** The committed checkpoint: size and root, and the signed note once signed. */
export interface StoredCheckpoint {
  size: number
  root: Hash
  note: string | null
}

/** Schema steps for the tree tables, appended to the Sequencer's migrations. */
export const TREE_SCHEMA = [
  'CREATE TABLE tree_hashes (id INTEGER PRIMARY KEY, hash BLOB NOT NULL)',
  `CREATE TABLE checkpoint (id INTEGER PRIMARY KEY CHECK (id = 1), size INTEGER NOT NULL, root BLOB NOT NULL,
    note TEXT, stored_at INTEGER NOT NULL)`,
]

/** Most stored hashes kept in memory (~5 MB). */
const CACHE_LIMIT = 65_536

export class TreeStore {
  // Stored hashes never change once written, so a cache of them can never be stale. Receipts
  // and tile reads hit the same upper-level hashes again and again.
  private readonly cache = new Map<number, Hash>()

  constructor(private readonly sql: SqlStorage) {}

  /** The committed checkpoint; the empty tree before the first round. */
  checkpoint(): StoredCheckpoint {
    const row = this.sql
      .exec<{ size: number; root: ArrayBuffer; note: string | null }>('SELECT size, root, note FROM checkpoint WHERE id = 1')
      .toArray()[0]
    return row ? { size: row.size, root: new Uint8Array(row.root), note: row.note } : { size: 0, root: EMPTY_ROOT, note: null }
  }

  /**
   * Reads stored hashes; indexes at or after `pending.base` come from `pending.hashes` (computed
   * in this round, not yet stored). Throws if a hash is missing: that is a corrupt store.
   */
  reader(pending?: { base: number; hashes: Hash[] }): HashReader {
    return (indexes) => {
      const wanted = indexes.filter((i) => (!pending || i < pending.base) && !this.cache.has(i))
      const found = new Map<number, Hash>()
      // One JSON parameter instead of many: Durable Object SQL caps bound parameters per query.
      for (let i = 0; i < wanted.length; i += 4096) {
        const cursor = this.sql.exec<{ id: number; hash: ArrayBuffer }>(
          'SELECT id, hash FROM tree_hashes WHERE id IN (SELECT value FROM json_each(?))',
          JSON.stringify(wanted.slice(i, i + 4096)),
        )
        for (const row of cursor) found.set(row.id, new Uint8Array(row.hash))
      }
      const hashes = indexes.map((i) => {
        const h = pending && i >= pending.base ? pending.hashes[i - pending.base] : (this.cache.get(i) ?? found.get(i))
        if (!h) throw new Error(`stored hash ${i} is missing`)
        return h
      })
      for (const [id, hash] of found) this.remember(id, hash)
      return hashes
    }
  }

  /**
   * Commits a new tree size: its new stored hashes (from `base` on) and checkpoint, in one
   * transaction. Refuses unless the stored checkpoint is still `expectedSize`, so two rounds
   * can never both extend the same tree.
   */
  commit(expectedSize: number, size: number, root: Hash, base: number, hashes: Hash[], now: number): void {
    const current = this.checkpoint().size
    if (current !== expectedSize) throw new Error(`checkpoint moved from ${expectedSize} to ${current} during a round`)
    for (let i = 0; i < hashes.length; i++) {
      this.sql.exec('INSERT OR REPLACE INTO tree_hashes (id, hash) VALUES (?, ?)', base + i, hashes[i]!)
    }
    this.sql.exec(
      `INSERT INTO checkpoint (id, size, root, note, stored_at) VALUES (1, ?, ?, NULL, ?)
       ON CONFLICT (id) DO UPDATE SET size = excluded.size, root = excluded.root, note = NULL, stored_at = excluded.stored_at`,
      size,
      root,
      now,
    )
  }

  private remember(id: number, hash: Hash): void {
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear()
    this.cache.set(id, hash)
  }

  /** Records the signed note of the committed checkpoint of `size`. */
  setNote(size: number, note: string): void {
    this.sql.exec('UPDATE checkpoint SET note = ? WHERE id = 1 AND size = ?', note, size)
  }
}
