/**
 * The Sequencer Durable Object (one per log, name `log`): a thin shell over the core's
 * {@link LogSequencer}. It wires the core to this object's SQLite, to R2 and KV, and to the
 * binding shards, turns thrown configuration errors into typed refusals, and runs the core's
 * alarm. Every rule and every step of a round is in src/core/.
 * @module
 */
import { DurableObject } from 'cloudflare:workers'
import { KvTokens } from '../adapters/directory-kv.ts'
import { R2ObjectStore } from '../adapters/r2-object-store.ts'
import { SqliteLogStore } from '../adapters/sqlite-log-store.ts'
import { LogSequencer } from '../core/log-sequencer.ts'
import type { ShardClient } from '../core/ports.ts'
import { ConfigError, isRefusal, refuse, type Refusal } from '../core/refusals.ts'
import { readLogConfig, type Vars } from '../env.ts'
import { createLogger } from '../log.ts'
import { platformTimers, signerFrom } from './platform.ts'
import { shardStub, type SequencerRpc } from './rpc.ts'

/** The bindings the sequencer uses. */
export interface SequencerEnv extends Vars {
  LOG: R2Bucket
  DIRECTORY: KVNamespace
  SHARDS: DurableObjectNamespace
}

const SHARDS_KEY = 'shards'

export class Sequencer extends DurableObject<SequencerEnv> implements SequencerRpc {
  readonly #core: LogSequencer

  constructor(ctx: DurableObjectState, env: SequencerEnv) {
    super(ctx, env)
    const store = new SqliteLogStore(ctx.storage)
    const shards: ShardClient = {
      get count() {
        return shardCount(env, store)
      },
      async removeApp(shard, app, limit) {
        const r = await shardStub(env.SHARDS, shard).removeApp(shard, app, limit)
        return isRefusal(r) ? { code: r.code, message: r.message } : { removed: r.removed, more: r.more }
      },
      recordsAsOf: (shard, size, after, limit) => shardStub(env.SHARDS, shard).recordsAsOf(shard, size, after, limit),
      bindingsByIndexAsOf: (shard, size, after, limit) => shardStub(env.SHARDS, shard).bindingsByIndexAsOf(shard, size, after, limit),
    }
    this.#core = new LogSequencer({
      store,
      objects: new R2ObjectStore(env.LOG),
      tokens: new KvTokens(env.DIRECTORY),
      shards,
      config: () => {
        const config = readLogConfig(env)
        const count = shardCount(env, store)
        if (config.shards !== count) throw new ConfigError(`BINDING_SHARDS is ${config.shards}, but this log was created with ${count} shards; it cannot change`)
        return config
      },
      signer: () => signerFrom(env),
      clock: () => Date.now(),
      timers: platformTimers(ctx),
      log: createLogger({ component: 'sequencer' }),
    })
  }

  registerApp(id: string, name: string, tokenHash: string) {
    return guard(() => this.#core.registerApp(id, name, tokenHash))
  }

  revokeApp(id: string) {
    return guard(() => this.#core.revokeApp(id))
  }

  async apps() {
    return this.#core.apps()
  }

  /** The names of the apps `ids` name (ids not registered are left out). */
  async appNames(ids: string[]): Promise<Record<string, string>> {
    const wanted = new Set(ids)
    return Object.fromEntries(this.#core.apps().filter((a) => wanted.has(a.id)).map((a) => [a.id, a.name]))
  }

  appRegistration(id: string) {
    return guard(() => this.#core.appRegistration(id))
  }

  async append(source: number, seq: number, entries: Uint8Array[]) {
    return this.#core.append(source, seq, entries)
  }

  sequenced(indexes: number[]) {
    return this.#core.sequenced(indexes)
  }

  checkpointNote() {
    return guard(() => this.#core.checkpointNote())
  }

  entries(from: number, limit: number) {
    return this.#core.entries(from, limit)
  }

  snapshot() {
    return guard(() => this.#core.snapshot())
  }

  async snapshotSizes() {
    return this.#core.snapshotSizes()
  }

  override async alarm(): Promise<void> {
    await this.#core.tick()
  }
}

// The shard count is fixed when a log first reads it; a later BINDING_SHARDS must agree.
function shardCount(env: SequencerEnv, store: SqliteLogStore): number {
  const stored = store.meta(SHARDS_KEY)
  if (stored !== null) return Number(stored)
  const count = readLogConfig(env).shards
  store.setMeta(SHARDS_KEY, String(count))
  return count
}

// A configuration error inside the object crosses RPC as a typed refusal.
async function guard<T>(fn: () => Promise<T>): Promise<T | Refusal> {
  try {
    return await fn()
  } catch (err) {
    if (err instanceof ConfigError) return refuse('not_configured', err.message)
    throw err
  }
}
