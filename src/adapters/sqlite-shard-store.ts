/**
 * A binding shard's {@link ShardStore} in its Durable Object's SQLite. The schema is this file's
 * (docs/storage.md lists it). Bindings are versioned rows: replacing or removing one sets
 * `ended` to the log index that did it, and a read "as of size N" takes the rows with
 * `idx < N` that had not ended before N. Partial indexes keep the current rows cheap to scan by
 * expiry and by app.
 * @module
 */
import { fromBase64, toBase64 } from '../protocol/bytes.ts'
import { decodeEntry, type Subject } from '../protocol/entry.ts'
import { DAY_SECONDS } from '../protocol/state.ts'
import type { HistoryItem, Intent, ShardStore, StoredBinding, SubjectRecord } from '../core/ports.ts'
import { migrate } from './sql.ts'

const SCHEMA = [
  `CREATE TABLE bindings (subject INTEGER NOT NULL, app INTEGER NOT NULL, idx INTEGER NOT NULL, verified_at INTEGER NOT NULL,
    ttl_days INTEGER NOT NULL, expires_at INTEGER NOT NULL, fingerprint BLOB, public_key TEXT, renewed INTEGER NOT NULL,
    ended INTEGER, PRIMARY KEY (subject, app, idx))`,
  'CREATE INDEX bindings_due ON bindings (expires_at) WHERE ended IS NULL',
  'CREATE INDEX bindings_by_app ON bindings (app, subject) WHERE ended IS NULL',
  'CREATE INDEX bindings_by_index ON bindings (idx)',
  'CREATE INDEX bindings_ended ON bindings (ended) WHERE ended IS NOT NULL',
  'CREATE TABLE history (subject INTEGER NOT NULL, idx INTEGER NOT NULL, entry BLOB NOT NULL, PRIMARY KEY (subject, idx))',
  'CREATE TABLE verifications (id TEXT PRIMARY KEY, idx INTEGER NOT NULL, at INTEGER NOT NULL)',
  'CREATE INDEX verifications_by_time ON verifications (at)',
  'CREATE TABLE pending (subject INTEGER PRIMARY KEY, idx INTEGER NOT NULL)',
  'CREATE INDEX pending_by_index ON pending (idx)',
  'CREATE TABLE intent (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, changes TEXT NOT NULL)',
  'CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)',
]

type BindingRow = {
  subject: number
  app: number
  idx: number
  verified_at: number
  ttl_days: number
  fingerprint: ArrayBuffer | null
  public_key: string | null
  renewed: number
}

const COLUMNS = 'subject, app, idx, verified_at, ttl_days, fingerprint, public_key, renewed'

/** See the module comment. */
export class SqliteShardStore implements ShardStore {
  readonly #sql: SqlStorage
  readonly #storage: DurableObjectStorage

  constructor(storage: DurableObjectStorage) {
    this.#storage = storage
    this.#sql = storage.sql
    migrate(this.#sql, SCHEMA)
  }

  transaction<T>(fn: () => T): T {
    return this.#storage.transactionSync(fn)
  }

  record(subject: Subject): StoredBinding[] {
    return this.#sql.exec<BindingRow>(`SELECT ${COLUMNS} FROM bindings WHERE subject = ? AND ended IS NULL ORDER BY app`, subject).toArray().map(fromRow)
  }

  putBinding(subject: Subject, b: StoredBinding): void {
    this.#sql.exec('UPDATE bindings SET ended = ? WHERE subject = ? AND app = ? AND ended IS NULL', b.index, subject, b.app)
    this.#sql.exec(
      `INSERT INTO bindings (subject, app, idx, verified_at, ttl_days, expires_at, fingerprint, public_key, renewed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      subject,
      b.app,
      b.index,
      b.verifiedAt,
      b.ttlDays,
      b.verifiedAt + b.ttlDays * DAY_SECONDS,
      b.keyFingerprint ?? null,
      b.publicKey,
      b.renewed ? 1 : 0,
    )
  }

  removeBinding(subject: Subject, app: number, index: number): void {
    this.#sql.exec('UPDATE bindings SET ended = ? WHERE subject = ? AND app = ? AND ended IS NULL', index, subject, app)
  }

  due(nowSeconds: number, limit: number): { subject: Subject; binding: StoredBinding }[] {
    return this.#sql
      .exec<BindingRow>(`SELECT ${COLUMNS} FROM bindings WHERE ended IS NULL AND expires_at <= ? ORDER BY expires_at, subject, app LIMIT ?`, nowSeconds, limit)
      .toArray()
      .map((r) => ({ subject: r.subject, binding: fromRow(r) }))
  }

  ofApp(app: number, limit: number): { subject: Subject; binding: StoredBinding }[] {
    return this.#sql
      .exec<BindingRow>(`SELECT ${COLUMNS} FROM bindings WHERE ended IS NULL AND app = ? ORDER BY app, subject LIMIT ?`, app, limit)
      .toArray()
      .map((r) => ({ subject: r.subject, binding: fromRow(r) }))
  }

  recordsAsOf(size: number, after: Subject | null, limit: number): SubjectRecord[] {
    // A page of subjects first, then their rows: LIMIT counts subjects, not bindings.
    const subjects = this.#sql
      .exec<{ subject: number }>(
        `SELECT DISTINCT subject FROM bindings WHERE subject > ? AND idx < ? AND (ended IS NULL OR ended >= ?) ORDER BY subject LIMIT ?`,
        after ?? -1,
        size,
        size,
        limit,
      )
      .toArray()
    if (subjects.length === 0) return []
    const last = subjects[subjects.length - 1]!.subject
    const rows = this.#sql
      .exec<BindingRow>(
        `SELECT ${COLUMNS} FROM bindings WHERE subject > ? AND subject <= ? AND idx < ? AND (ended IS NULL OR ended >= ?) ORDER BY subject, app`,
        after ?? -1,
        last,
        size,
        size,
      )
      .toArray()
    const out: SubjectRecord[] = []
    for (const r of rows) {
      if (out.at(-1)?.subject !== r.subject) out.push({ subject: r.subject, bindings: [] })
      out.at(-1)!.bindings.push(fromRow(r))
    }
    return out
  }

  bindingsByIndexAsOf(size: number, after: number, limit: number): StoredBinding[] {
    return this.#sql
      .exec<BindingRow>(`SELECT ${COLUMNS} FROM bindings WHERE idx > ? AND idx < ? AND (ended IS NULL OR ended >= ?) ORDER BY idx LIMIT ?`, after, size, size, limit)
      .toArray()
      .map(fromRow)
  }

  prune(before: number, limit: number): number {
    return this.#sql.exec('DELETE FROM bindings WHERE rowid IN (SELECT rowid FROM bindings WHERE ended IS NOT NULL AND ended < ? LIMIT ?)', before, limit).rowsWritten
  }

  counts(): { subjects: number; bindings: number } {
    return this.#sql.exec<{ subjects: number; bindings: number }>('SELECT COUNT(DISTINCT subject) AS subjects, COUNT(*) AS bindings FROM bindings WHERE ended IS NULL').one()
  }

  addHistory(subject: Subject, index: number, entry: Uint8Array): void {
    this.#sql.exec('INSERT OR REPLACE INTO history (subject, idx, entry) VALUES (?, ?, ?)', subject, index, entry)
  }

  history(subject: Subject, limit: number): HistoryItem[] {
    return this.#sql
      .exec<{ idx: number; entry: ArrayBuffer }>('SELECT idx, entry FROM history WHERE subject = ? ORDER BY idx DESC LIMIT ?', subject, limit)
      .toArray()
      .map((r) => ({ index: r.idx, entry: decodeEntry(new Uint8Array(r.entry)) }))
  }

  verification(id: string): number | null {
    return this.#sql.exec<{ idx: number }>('SELECT idx FROM verifications WHERE id = ?', id).toArray()[0]?.idx ?? null
  }

  putVerification(id: string, index: number, at: number): void {
    this.#sql.exec('INSERT OR REPLACE INTO verifications (id, idx, at) VALUES (?, ?, ?)', id, index, at)
  }

  pruneVerifications(before: number): void {
    this.#sql.exec('DELETE FROM verifications WHERE at < ?', before)
  }

  markPending(subject: Subject, index: number): void {
    this.#sql.exec('INSERT INTO pending (subject, idx) VALUES (?, ?) ON CONFLICT (subject) DO UPDATE SET idx = excluded.idx', subject, index)
  }

  pending(size: number, limit: number): { subject: Subject; index: number }[] {
    return this.#sql
      .exec<{ subject: number; idx: number }>('SELECT subject, idx FROM pending WHERE idx < ? ORDER BY idx LIMIT ?', size, limit)
      .toArray()
      .map((r) => ({ subject: r.subject, index: r.idx }))
  }

  clearPending(index: number): void {
    this.#sql.exec('DELETE FROM pending WHERE idx <= ?', index)
  }

  pendingCount(): number {
    return this.#sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM pending').one().n
  }

  intent(): Intent | null {
    const row = this.#sql.exec<{ seq: number; changes: string }>('SELECT seq, changes FROM intent WHERE id = 1').toArray()[0]
    if (!row) return null
    const changes = (JSON.parse(row.changes) as { entry: string; publicKey: string | null; verificationId: string | null; at: number }[]).map((c) => ({ ...c, entry: fromBase64(c.entry) }))
    return { seq: row.seq, changes }
  }

  setIntent(intent: Intent | null): void {
    if (!intent) {
      this.#sql.exec('DELETE FROM intent')
      return
    }
    const changes = JSON.stringify(intent.changes.map((c) => ({ ...c, entry: toBase64(c.entry) })))
    this.#sql.exec('INSERT INTO intent (id, seq, changes) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, changes = excluded.changes', intent.seq, changes)
  }

  meta(key: string): string | null {
    return this.#sql.exec<{ value: string }>('SELECT value FROM meta WHERE key = ?', key).toArray()[0]?.value ?? null
  }

  setMeta(key: string, value: string | null): void {
    if (value === null) this.#sql.exec('DELETE FROM meta WHERE key = ?', key)
    else this.#sql.exec('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value', key, value)
  }
}

function fromRow(r: BindingRow): StoredBinding {
  const b: StoredBinding = { app: r.app, index: r.idx, verifiedAt: r.verified_at, ttlDays: r.ttl_days, publicKey: r.public_key, renewed: r.renewed === 1 }
  if (r.fingerprint) b.keyFingerprint = new Uint8Array(r.fingerprint)
  return b
}
