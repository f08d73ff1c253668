/**
 * EvaluationMeter: one app's OPRF evaluation budget, the token bucket of src/core/meter.ts kept
 * in the object's SQLite storage (one object per app, named by the app id; the directory and
 * the key holder each keep their own). A take reads, decides and writes with no await between,
 * so concurrent requests of one app are judged one at a time and the bucket is exact; the new
 * state is durable before the take's answer leaves the object (the output gate holds it until
 * the write commits).
 * @module
 */
import { DurableObject } from 'cloudflare:workers'
import { migrate } from '../adapters/sql.ts'
import { TokenBucket, type MeterConfig, type MeterState, type MeterTake } from '../core/meter.ts'

export class EvaluationMeter extends DurableObject<object> {
  private readonly sql = this.ctx.storage.sql

  constructor(ctx: DurableObjectState, env: object) {
    super(ctx, env)
    migrate(this.sql, ['CREATE TABLE bucket (id INTEGER PRIMARY KEY CHECK (id = 0), credit INTEGER NOT NULL, updated_at INTEGER NOT NULL)'])
  }

  /**
   * Takes `n` evaluations at `now` under `config`, all or none (see {@link TokenBucket.take});
   * the config is the caller's, so a changed setting applies from the next take.
   */
  take(config: MeterConfig, n: number, now: number): MeterTake {
    const bucket = new TokenBucket(config)
    const out = bucket.take(this.state(), n, now)
    if (out.ok) {
      this.sql.exec(
        'INSERT INTO bucket (id, credit, updated_at) VALUES (0, ?, ?) ON CONFLICT (id) DO UPDATE SET credit = excluded.credit, updated_at = excluded.updated_at',
        out.state.credit,
        out.state.updatedAt,
      )
    }
    return out
  }

  private state(): MeterState | null {
    const row = this.sql.exec<{ credit: number; updated_at: number }>('SELECT credit, updated_at FROM bucket').toArray()[0]
    return row ? { credit: row.credit, updatedAt: row.updated_at } : null
  }
}
