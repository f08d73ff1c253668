/**
 * The development SMS provider's mailbox: messages "sent" with SMS_PROVIDER=outbox are kept
 * here (the newest 1,000) and listed at GET /dev/outbox.
 * @module
 */
import { DurableObject } from 'cloudflare:workers'
import { migrate } from '../adapters/sql.ts'

/** One message in the outbox. */
export interface OutboxMessage {
  id: number
  to: string
  body: string
  sentAt: string
}

const KEEP = 1000

export class DevOutbox extends DurableObject<object> {
  private readonly sql = this.ctx.storage.sql

  constructor(ctx: DurableObjectState, env: object) {
    super(ctx, env)
    migrate(this.sql, [
      'CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT, to_phone TEXT NOT NULL, body TEXT NOT NULL, sent_at INTEGER NOT NULL)',
    ])
  }

  /** Stores a message and returns its id. */
  record(to: string, body: string, now: number): number {
    const id = this.sql
      .exec<{ id: number }>('INSERT INTO messages (to_phone, body, sent_at) VALUES (?, ?, ?) RETURNING id', to, body, now)
      .one().id
    this.sql.exec('DELETE FROM messages WHERE id <= ?', id - KEEP)
    return id
  }

  /** Messages, oldest first and newest last, optionally only those sent to `phone`. */
  list(phone?: string): OutboxMessage[] {
    const rows = phone
      ? this.sql.exec<Row>('SELECT * FROM messages WHERE to_phone = ? ORDER BY id', phone)
      : this.sql.exec<Row>('SELECT * FROM messages ORDER BY id')
    return rows.toArray().map((r) => ({ id: r.id, to: r.to_phone, body: r.body, sentAt: new Date(r.sent_at).toISOString() }))
  }
}

type Row = { id: number; to_phone: string; body: string; sent_at: number }
