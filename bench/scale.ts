/**
 * The storage budget and the platform operations of the write path, measured on the real core
 * (src/core/) over the production adapters: the sequencer's and each binding shard's SQLite
 * (src/adapters/sqlite-*.ts on better-sqlite3, {@link DoSqliteStorage}), the KV projection
 * (src/adapters/directory-kv.ts over a KV namespace that records what it is given) and an object
 * store with R2's rules (the in-memory one, which counts operations). Verifications go through
 * `BindingShard.bind` exactly as the route's `bindAll` sends them, so every byte stored is what
 * production would store. docs/scale.md projects the figures to 10⁸ and 10⁹ bindings.
 *
 *   npx tsx bench/scale.ts --records 100000 [--shards 4] [--keys 1]
 *
 * Two phases: the bulk (every binding of a `--records` dataset, in log order, 2,048
 * verifications in flight: rounds of up to 4,096 entries, as under load), then `--single`
 * verifications one at a time (a round each: the cost of a verification when the directory is
 * quiet). `--keys 1` binds a public key with every binding (a 32-byte Ed25519 key: its
 * fingerprint in the entry, the key itself in the shard); `--keys 0` none.
 * @module
 */
import { SqliteLogStore } from '../src/adapters/sqlite-log-store.ts'
import { SqliteShardStore } from '../src/adapters/sqlite-shard-store.ts'
import { KvProjection } from '../src/adapters/directory-kv.ts'
import { BindingShard, type BindCommand } from '../src/core/binding-shard.ts'
import { LogSequencer } from '../src/core/log-sequencer.ts'
import { MemoryObjectStore } from '../src/core/memory/object-store.ts'
import { MemoryTimers, MemoryTokens, MEMORY_SIGNER_KEY } from '../src/core/memory/directory.ts'
import { Faults } from '../src/core/memory/faults.ts'
import type { EntryLog, ShardClient } from '../src/core/ports.ts'
import { isRefusal } from '../src/core/refusals.ts'
import { shardOf } from '../src/core/shards.ts'
import { toBase64Url } from '../src/protocol/bytes.ts'
import { e164Of } from '../src/protocol/entry.ts'
import { noteSignerFromKey } from '../src/protocol/note.ts'
import { numberFlag } from './args.ts'
import { appId, DATASET_START, generateDataset, prng } from './dataset.ts'
import { DoSqliteStorage } from './do-sqlite.ts'

/** A KV namespace that keeps the latest value of each key and counts writes. */
class RecordingKv {
  readonly values = new Map<string, string>()
  puts = 0
  deletes = 0
  async put(key: string, value: string): Promise<void> {
    this.puts++
    this.values.set(key, value)
  }
  async delete(key: string): Promise<void> {
    this.deletes++
    this.values.delete(key)
  }
}

/** The operations one phase did, from the counters of every port. */
export interface PhaseOps {
  verifications: number
  rounds: number
  r2Puts: number
  r2Gets: number
  kvPuts: number
  shardCalls: number
  appendCalls: number
  sequencedCalls: number
  shardRowsWritten: number
  sequencerRowsWritten: number
  shardRowsRead: number
  sequencerRowsRead: number
}

/** Runs the measurement; see the module comment. */
export async function measureScale(o: { records: number; shards: number; keys: number; single: number; inFlight: number; log?: (line: string) => void }) {
  const log = o.log ?? (() => {})
  const ds = generateDataset(o.records, 1)
  let now = (DATASET_START - 60) * 1000
  const clock = () => now
  const faults = new Faults()
  const objects = new MemoryObjectStore(faults)
  const kv = new RecordingKv()
  const projection = new KvProjection(kv as unknown as KVNamespace)
  const tokens = new MemoryTokens(faults)
  const timers = new MemoryTimers()
  const logStorage = new DoSqliteStorage()
  const shardStorages = Array.from({ length: o.shards }, () => new DoSqliteStorage())
  const logStore = new SqliteLogStore(logStorage as unknown as DurableObjectStorage)
  const shardStores = shardStorages.map((s) => new SqliteShardStore(s as unknown as DurableObjectStorage))
  const emptyShardSchemaBytes = shardStorages[0]!.bytes()
  const signer = noteSignerFromKey(MEMORY_SIGNER_KEY)
  const quiet = { info() {}, warn() {}, error() {} }
  let rounds = 0
  const calls = { shard: 0, append: 0, sequenced: 0 }
  const shards: BindingShard[] = []
  const shardClient: ShardClient = {
    count: o.shards,
    async removeApp(shard, app, limit) {
      const r = await shards[shard]!.removeApp(app, limit, clock())
      return isRefusal(r) ? { code: r.code, message: r.message } : { removed: r.removed, more: r.more }
    },
    recordsAsOf: (shard, size, after, limit) => shards[shard]!.recordsAsOf(size, after, limit),
    bindingsByIndexAsOf: (shard, size, after, limit) => shards[shard]!.bindingsByIndexAsOf(size, after, limit),
  }
  const sequencer = new LogSequencer({
    store: logStore,
    objects,
    tokens,
    shards: shardClient,
    config: () => ({ origin: 'whodis.localhost/log', roundMs: 0, snapshotEveryEntries: 1e12, snapshotsKept: 3 }),
    signer: () => signer,
    clock,
    timers,
    log: { ...quiet, info: (event: string) => void (event === 'round' && rounds++) },
  })
  const entryLog: EntryLog = {
    append: async (source, seq, entries) => {
      calls.append++
      return sequencer.append(source, seq, entries)
    },
    sequenced: (indexes) => {
      calls.sequenced++
      return sequencer.sequenced(indexes)
    },
  }
  shardStores.forEach((store, id) =>
    shards.push(new BindingShard({ id, store, log: entryLog, projection, signer: () => signer, origin: () => 'whodis.localhost/log', clock, timers, logger: quiet })),
  )
  for (let app = 1; app <= ds.appCount; app++) {
    const r = await sequencer.registerApp(appId(app), `App ${app}`, app.toString(16).padStart(64, '0'))
    if (isRefusal(r)) throw new Error(r.message)
  }

  const rnd = prng(7)
  const key = () => (o.keys > 0 && rnd() < o.keys ? toBase64Url(Uint8Array.from({ length: 32 }, () => Math.floor(rnd() * 256))) : null)
  let verification = 0
  const command = (subject: number, app: number, at: number): BindCommand => ({
    subject,
    phone: e164Of(subject),
    app,
    appId: appId(app),
    publicKey: key(),
    verificationId: (verification++).toString(16).padStart(96, '0'),
    now: at,
    ttlDays: 365,
  })
  const bind = async (cmds: BindCommand[]) => {
    const byShard = new Map<number, BindCommand[]>()
    for (const c of cmds) {
      const s = shardOf(c.subject, o.shards)
      byShard.set(s, [...(byShard.get(s) ?? []), c])
    }
    const out = await Promise.all(
      [...byShard].map(([s, group]) => {
        calls.shard++
        return shards[s]!.bind(group)
      }),
    )
    for (const r of out.flat()) if (!r.ok) throw new Error(`bind refused: ${r.code} ${r.message}`)
  }
  const counters = (): Omit<PhaseOps, 'verifications'> => ({
    rounds,
    r2Puts: objects.ops.put + objects.ops.parts,
    r2Gets: objects.ops.get,
    kvPuts: kv.puts + kv.deletes,
    shardCalls: calls.shard,
    appendCalls: calls.append,
    sequencedCalls: calls.sequenced,
    shardRowsWritten: shardStorages.reduce((n, s) => n + s.counts.rowsWritten, 0),
    sequencerRowsWritten: logStorage.counts.rowsWritten,
    shardRowsRead: shardStorages.reduce((n, s) => n + s.counts.rowsRead, 0),
    sequencerRowsRead: logStorage.counts.rowsRead,
  })
  const phase = async (verifications: number, run: () => Promise<void>): Promise<PhaseOps> => {
    const before = counters()
    await run()
    const after = counters()
    const d = Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - before[k as keyof typeof before]])) as Omit<PhaseOps, 'verifications'>
    return { verifications, ...d }
  }

  // Bulk: every binding of the dataset, in log order, `inFlight` at a time.
  const t0 = performance.now()
  const bulk = await phase(ds.order.length, async () => {
    for (let k = 0; k < ds.order.length; k += o.inFlight) {
      const cmds: BindCommand[] = []
      for (let j = k; j < Math.min(ds.order.length, k + o.inFlight); j++) {
        const r = ds.records[ds.order[j]!]!
        const b = r.bindings[ds.orderBinding[j]!]!
        cmds.push(command(r.subject, b.app, b.verifiedAt * 1000))
      }
      now = cmds.at(-1)!.now
      await bind(cmds)
      if ((k / o.inFlight) % 20 === 0) log(`  ${k} / ${ds.order.length} bindings (${((performance.now() - t0) / 1000).toFixed(0)} s)`)
    }
  })
  const stored = storedFigures()

  // Quiet: one verification at a time (renewals of bound numbers), a round each.
  const single = await phase(o.single, async () => {
    for (let i = 0; i < o.single; i++) {
      const r = ds.records[Math.floor(rnd() * ds.records.length)]!
      now += 1000
      await bind([command(r.subject, r.bindings[0]!.app, now)])
    }
  })

  function storedFigures() {
    const bindings = ds.order.length
    const entries = sequencer.apps().length + bindings
    const shardBytes = shardStorages.map((s) => s.bytes())
    const byName = new Map<string, number>()
    for (const s of shardStorages) for (const [name, b] of s.bytesByName()) byName.set(name, (byName.get(name) ?? 0) + b)
    const rows = (t: string) => shardStorages.reduce((n, s) => n + s.rows(t), 0)
    const r2 = { tiles: 0, partialTiles: 0, bundles: 0, partialBundles: 0, other: 0, objects: objects.objects.size }
    for (const [k, v] of objects.objects) {
      if (k.startsWith('tile/entries/')) r2[k.includes('.p/') ? 'partialBundles' : 'bundles'] += v.length
      else if (k.startsWith('tile/')) r2[k.includes('.p/') ? 'partialTiles' : 'tiles'] += v.length
      else r2.other += v.length
    }
    let kvBytes = 0
    let kvValueBytes = 0
    let kvLargest = 0
    for (const [k, v] of kv.values) {
      kvBytes += k.length + v.length
      kvValueBytes += v.length
      kvLargest = Math.max(kvLargest, v.length)
    }
    return {
      records: ds.records.length,
      bindings,
      entries,
      shards: o.shards,
      emptyShardBytes: emptyShardSchemaBytes,
      shardBytes: shardBytes.reduce((a, b) => a + b, 0),
      largestShardBytes: Math.max(...shardBytes),
      shardBytesByName: Object.fromEntries([...byName].sort((a, b) => b[1] - a[1])),
      shardRows: { bindings: rows('bindings'), history: rows('history'), verifications: rows('verifications'), pending: rows('pending') },
      sequencerBytes: logStorage.bytes(),
      sequencerBytesByName: Object.fromEntries(logStorage.bytesByName()),
      poolRows: logStorage.rows('pool'),
      r2,
      kv: { keys: kv.values.size, bytes: kvBytes, valueBytes: kvValueBytes, largestValue: kvLargest },
      largestBoundValue: Math.max(logStorage.counts.largestValue, ...shardStorages.map((s) => s.counts.largestValue)),
      mostBoundParameters: Math.max(logStorage.counts.mostParameters, ...shardStorages.map((s) => s.counts.mostParameters)),
    }
  }
  return { stored, bulk, single, seconds: (performance.now() - t0) / 1000 }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const argv = process.argv
  const result = await measureScale({
    records: numberFlag(argv, 'records', 100_000),
    shards: numberFlag(argv, 'shards', 4),
    keys: numberFlag(argv, 'keys', 1),
    single: numberFlag(argv, 'single', 200),
    inFlight: numberFlag(argv, 'in-flight', 2048),
    log: (l) => process.stderr.write(`${l}\n`),
  })
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`)
}
