/**
 * The write path as the routes reach it: which shard owns a number, the sequencer, and the few
 * operations that span shards (reassignment reports, the expiry sweep, seeding). Answers are the
 * core's typed results; the routes turn refusals into HTTP errors (src/errors.ts).
 * @module
 */
import { R2ObjectStore } from './adapters/r2-object-store.ts'
import type { BindCommand, BindOutcome } from './core/binding-shard.ts'
import { CHECKPOINT_KEY } from './core/log-sequencer.ts'
import { objectTileFetcher, receiptsFor, TileCache } from './core/receipts.ts'
import { isRefusal, type Refusal } from './core/refusals.ts'
import { shardOf } from './core/shards.ts'
import { sequencerStub, shardStub, type SequencerRpc, type ShardRpc } from './durable-objects/rpc.ts'
import { readLogConfig, type Env } from './env.ts'
import { orRefuse } from './errors.ts'
import { parseCheckpoint } from './protocol/checkpoint.ts'
import { subjectOf, type Subject } from './protocol/entry.ts'
import { splitNote } from './protocol/note.ts'

/** The one sequencer of the log. */
export function sequencer(env: Env): SequencerRpc {
  return sequencerStub(env.SEQUENCER)
}

/** The shard that owns `phone` (E.164), its number and its subject. */
export function shardFor(env: Env, phone: string): { rpc: ShardRpc; shard: number; subject: Subject } {
  const subject = subjectOf(phone)
  const shard = shardOf(subject, readLogConfig(env).shards)
  return { rpc: shardStub(env.SHARDS, shard), shard, subject }
}

/** Records verifications, each through the shard of its number, in parallel. */
export async function bindAll(env: Env, cmds: Omit<BindCommand, 'subject'>[]): Promise<BindOutcome[]> {
  const byShard = new Map<number, { rpc: ShardRpc; at: number[]; cmds: BindCommand[] }>()
  cmds.forEach((cmd, i) => {
    const { rpc, shard, subject } = shardFor(env, cmd.phone)
    let group = byShard.get(shard)
    if (!group) byShard.set(shard, (group = { rpc, at: [], cmds: [] }))
    group.at.push(i)
    group.cmds.push({ ...cmd, subject })
  })
  const out: BindOutcome[] = new Array(cmds.length)
  await Promise.all(
    [...byShard].map(async ([shard, group]) => {
      const results = await group.rpc.bind(shard, group.cmds)
      results.forEach((r, k) => (out[group.at[k]!] = r))
    }),
  )
  return out
}

/** Applies reassigned-number reports, each in the shard of its number; the first refusal stops it. */
export async function reassignAll(env: Env, reports: { phone: string; disconnectedAt: number }[], now: number): Promise<{ ok: true; removed: number } | Refusal> {
  let removed = 0
  for (const { phone, disconnectedAt } of reports) {
    const { rpc, shard, subject } = shardFor(env, phone)
    const r = await rpc.reassign(shard, subject, disconnectedAt, now)
    if (isRefusal(r)) return r
    removed += r.removed
  }
  return { ok: true, removed }
}

/** The hourly sweep: every shard expires what is due, in bounded batches. */
export async function expireAll(env: Env, now: number): Promise<{ ok: true; expired: number } | Refusal> {
  const { shards } = readLogConfig(env)
  let expired = 0
  for (let shard = 0; shard < shards; shard++) {
    const r = await shardStub(env.SHARDS, shard).sweep(shard, now)
    if (isRefusal(r)) return r
    expired += r.expired
  }
  return { ok: true, expired }
}

const tiles = new TileCache()

/**
 * Receipts for entries `indexes` against the latest published checkpoint, computed at the edge
 * from the tiles in R2: a lookup's proof never calls the sequencer (unless the published
 * checkpoint lags the entries, after a failed publish).
 */
export async function receiptsAt(env: Env, indexes: number[]): Promise<string[]> {
  const objects = new R2ObjectStore(env.LOG)
  let note = await objects.get(CHECKPOINT_KEY).then((b) => (b ? new TextDecoder().decode(b) : null))
  let size = note ? parseCheckpoint(splitNote(note).text).size : 0
  if (!note || indexes.some((i) => i >= size)) {
    note = orRefuse(await sequencer(env).checkpointNote())
    size = parseCheckpoint(splitNote(note).text).size
  }
  return receiptsFor(size, note, indexes, objectTileFetcher(objects, tiles))
}
