/**
 * The whole write path in one process, over the in-memory backends: a sequencer and its binding
 * shards wired to each other directly (where production has Durable Object RPC), with one
 * {@link Faults} for every port. {@link MemoryDirectory.restart} drops every core and builds new
 * ones over the same stores, which is what a crash and a cold start look like; tests and the
 * benchmarks run the real core this way, in Node, without the Workers runtime.
 * @module
 */
import type { Subject } from '../../protocol/entry.ts'
import { noteSignerFromKey, type NoteSigner } from '../../protocol/note.ts'
import { BindingShard } from '../binding-shard.ts'
import { LogSequencer, type SequencerConfig } from '../log-sequencer.ts'
import type { EntryLog, Logger, ProjectedBinding, ProjectionSink, ShardClient, Timers, TokenSink } from '../ports.ts'
import { isRefusal } from '../refusals.ts'
import { shardOf } from '../shards.ts'
import { Faults } from './faults.ts'
import { MemoryLogStore } from './log-store.ts'
import { MemoryObjectStore } from './object-store.ts'
import { MemoryShardStore } from './shard-store.ts'

/** The lookup projection in memory (port `projection`). */
export class MemoryProjection implements ProjectionSink {
  readonly values = new Map<Subject, ProjectedBinding[]>()
  puts = 0
  constructor(readonly faults: Faults) {}
  async put(subject: Subject, bindings: ProjectedBinding[]): Promise<void> {
    this.faults.check('projection', 'put', String(subject))
    this.puts++
    if (bindings.length === 0) this.values.delete(subject)
    else this.values.set(subject, bindings)
  }
}

/** Published app tokens in memory (port `tokens`). */
export class MemoryTokens implements TokenSink {
  readonly tokens = new Map<string, { id: string; name: string; num: number }>()
  constructor(readonly faults: Faults) {}
  async put(tokenHash: string, app: { id: string; name: string; num: number }): Promise<void> {
    this.faults.check('tokens', 'put', tokenHash)
    this.tokens.set(tokenHash, app)
  }
  async delete(tokenHash: string): Promise<void> {
    this.faults.check('tokens', 'delete', tokenHash)
    this.tokens.delete(tokenHash)
  }
}

/** Real timers; alarms (`wakeAt`) are only recorded, and run by {@link MemoryDirectory.tick}. */
export class MemoryTimers implements Timers {
  readonly #handles = new Set<ReturnType<typeof setTimeout>>()
  alarm: number | null = null
  after(ms: number, fn: () => void): unknown {
    const h = setTimeout(() => {
      this.#handles.delete(h)
      fn()
    }, ms)
    this.#handles.add(h)
    return h
  }
  cancel(handle: unknown): void {
    clearTimeout(handle as ReturnType<typeof setTimeout>)
    this.#handles.delete(handle as ReturnType<typeof setTimeout>)
  }
  async wakeAt(at: number): Promise<void> {
    this.alarm = this.alarm === null ? at : Math.min(this.alarm, at)
  }
  /** Cancels every pending timer (a crash). */
  stopAll(): void {
    for (const h of this.#handles) clearTimeout(h)
    this.#handles.clear()
  }
}

/** A fixed test signing key (seed 0x01..0x20), as the Worker tests use. */
export const MEMORY_SIGNER_KEY = 'PRIVATE+KEY+whodis.localhost/log+d137ea6d+AQECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g'

/** Options of a {@link MemoryDirectory}. */
export interface MemoryDirectoryOptions {
  shards?: number
  config?: Partial<SequencerConfig>
  signerKey?: string
  clock?: () => number
  log?: Logger
  /** Smallest multipart part the object store accepts (R2: 5 MiB). */
  minPartBytes?: number
  /** Bytes of the snapshot writer's parts. */
  partBytes?: number
  /** Bindings a revocation removes per call to a shard. */
  revokeBatch?: number
}

const QUIET: Logger = { info() {}, warn() {}, error() {} }

/** See the module comment. */
export class MemoryDirectory {
  readonly faults = new Faults()
  readonly objects: MemoryObjectStore
  readonly logStore: MemoryLogStore
  readonly shardStores: MemoryShardStore[]
  readonly projection: MemoryProjection
  readonly tokens: MemoryTokens
  readonly timers = new MemoryTimers()
  readonly config: SequencerConfig
  readonly clock: () => number
  sequencer!: LogSequencer
  shards!: BindingShard[]
  readonly #options: MemoryDirectoryOptions
  #signer: Promise<NoteSigner> | null = null

  constructor(options: MemoryDirectoryOptions = {}) {
    this.#options = options
    const count = options.shards ?? 4
    this.objects = new MemoryObjectStore(this.faults, options.minPartBytes ?? 5 * 1024 * 1024)
    this.logStore = new MemoryLogStore(this.faults)
    this.shardStores = Array.from({ length: count }, () => new MemoryShardStore(this.faults))
    this.projection = new MemoryProjection(this.faults)
    this.tokens = new MemoryTokens(this.faults)
    this.clock = options.clock ?? (() => Date.now())
    this.config = { origin: 'whodis.localhost/log', roundMs: 0, snapshotEveryEntries: 1e12, snapshotsKept: 3, ...options.config }
    this.#build()
  }

  /** The shard that owns `subject`. */
  shardFor(subject: Subject): BindingShard {
    return this.shards[shardOf(subject, this.shards.length)]!
  }

  /** Drops every core (pending timers included) and builds new ones over the same stores. */
  restart(): void {
    this.timers.stopAll()
    this.#build()
  }

  /** Runs the alarms of the sequencer and of every shard, as the platform would. */
  async tick(): Promise<void> {
    this.timers.alarm = null
    await this.sequencer.tick()
    for (const s of this.shards) await s.tick()
  }

  #build(): void {
    const signer = () => (this.#signer ??= noteSignerFromKey(this.#options.signerKey ?? MEMORY_SIGNER_KEY))
    const log = this.#options.log ?? QUIET
    const self = this
    const shardClient: ShardClient = {
      count: this.shardStores.length,
      async removeApp(shard, app, limit) {
        self.faults.check('sequencer', 'removeApp', String(shard))
        const r = await self.shards[shard]!.removeApp(app, limit, self.clock())
        return isRefusal(r) ? { code: r.code, message: r.message } : { removed: r.removed, more: r.more }
      },
      recordsAsOf: (shard, size, after, limit) => this.shards[shard]!.recordsAsOf(size, after, limit),
      bindingsByIndexAsOf: (shard, size, after, limit) => this.shards[shard]!.bindingsByIndexAsOf(size, after, limit),
    }
    this.sequencer = new LogSequencer({
      store: this.logStore,
      objects: this.objects,
      tokens: this.tokens,
      shards: shardClient,
      config: () => this.config,
      signer,
      clock: this.clock,
      timers: this.timers,
      log,
      ...(this.#options.partBytes ? { partBytes: this.#options.partBytes } : {}),
      ...(this.#options.revokeBatch ? { revokeBatch: this.#options.revokeBatch } : {}),
    })
    const entryLog: EntryLog = {
      append: async (source, seq, entries) => {
        this.faults.check('rpc', 'append', String(source))
        const result = this.sequencer.append(source, seq, entries)
        this.faults.check('rpc', 'appended', String(source))
        return result
      },
      sequenced: (indexes) => this.sequencer.sequenced(indexes),
    }
    this.shards = this.shardStores.map(
      (store, id) =>
        new BindingShard({
          id,
          store,
          log: entryLog,
          projection: this.projection,
          signer,
          origin: () => this.config.origin,
          clock: this.clock,
          timers: this.timers,
          logger: log,
        }),
    )
  }
}
