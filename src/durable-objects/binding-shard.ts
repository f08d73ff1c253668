/**
 * A binding-shard Durable Object (names `shard-0` … `shard-<n-1>`): a thin shell over the core's
 * {@link BindingShard}, wired to this object's SQLite, the sequencer and the KV projection. Each
 * call names its shard number, which the object keeps on first use (an object cannot read the
 * name it was reached by).
 * @module
 */
import { DurableObject } from 'cloudflare:workers'
import { KvProjection } from '../adapters/directory-kv.ts'
import { SqliteShardStore } from '../adapters/sqlite-shard-store.ts'
import { BindingShard, type BindCommand } from '../core/binding-shard.ts'
import type { Subject } from '../protocol/entry.ts'
import { readLogConfig, type Vars } from '../env.ts'
import { createLogger } from '../log.ts'
import { platformTimers, signerFrom } from './platform.ts'
import { sequencerStub, type ShardRpc } from './rpc.ts'

/** The bindings a shard uses. */
export interface ShardEnv extends Vars {
  DIRECTORY: KVNamespace
  SEQUENCER: DurableObjectNamespace
}

const SHARD_KEY = 'shard'

export class BindingShardObject extends DurableObject<ShardEnv> implements ShardRpc {
  readonly #store: SqliteShardStore
  #core: BindingShard | null = null

  constructor(ctx: DurableObjectState, env: ShardEnv) {
    super(ctx, env)
    this.#store = new SqliteShardStore(ctx.storage)
  }

  bind(shard: number, cmds: BindCommand[]) {
    return this.#shard(shard).bind(cmds)
  }

  unbind(shard: number, subject: Subject, appId: string, reason: 'app' | 'holder', now: number) {
    return this.#shard(shard).unbind(subject, appId, reason, now)
  }

  reassign(shard: number, subject: Subject, disconnectedAt: number, now: number) {
    return this.#shard(shard).reassign(subject, disconnectedAt, now)
  }

  sweep(shard: number, now: number) {
    return this.#shard(shard).sweep(now)
  }

  removeApp(shard: number, app: number, limit: number) {
    return this.#shard(shard).removeApp(app, limit)
  }

  async bindingsOf(shard: number, subject: Subject, phone: string) {
    return this.#shard(shard).bindingsOf(subject, phone)
  }

  async history(shard: number, subject: Subject, limit: number) {
    return this.#shard(shard).history(subject, limit)
  }

  recordsAsOf(shard: number, size: number, after: Subject | null, limit: number) {
    return this.#shard(shard).recordsAsOf(size, after, limit)
  }

  bindingsByIndexAsOf(shard: number, size: number, after: number, limit: number) {
    return this.#shard(shard).bindingsByIndexAsOf(size, after, limit)
  }

  async pendingProjections(shard: number) {
    return this.#shard(shard).pendingProjections()
  }

  override async alarm(): Promise<void> {
    const shard = this.#store.meta(SHARD_KEY)
    if (shard !== null) await this.#shard(Number(shard)).tick()
  }

  // The core for shard `shard`; an object answers for one shard only.
  #shard(shard: number): BindingShard {
    if (this.#core) {
      if (this.#store.meta(SHARD_KEY) !== String(shard)) throw new Error(`this object is shard ${this.#store.meta(SHARD_KEY)}, not ${shard}`)
      return this.#core
    }
    const held = this.#store.meta(SHARD_KEY)
    if (held !== null && held !== String(shard)) throw new Error(`this object is shard ${held}, not ${shard}`)
    if (held === null) this.#store.setMeta(SHARD_KEY, String(shard))
    const env = this.env
    // A fresh stub per call: a stub to an object that was reset stays broken.
    this.#core = new BindingShard({
      id: shard,
      store: this.#store,
      log: {
        append: (source, seq, entries) => sequencerStub(env.SEQUENCER).append(source, seq, entries),
        sequenced: (indexes) => sequencerStub(env.SEQUENCER).sequenced(indexes),
      },
      projection: new KvProjection(env.DIRECTORY),
      signer: () => signerFrom(env),
      origin: () => readLogConfig(env).origin,
      clock: () => Date.now(),
      timers: platformTimers(this.ctx),
      logger: createLogger({ component: 'shard', shard }),
    })
    return this.#core
  }
}
