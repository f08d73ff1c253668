/**
 * Failures at every step. Each scenario's operation runs once with the port calls recorded
 * (every call of every in-memory backend: tiles and bundles written, the log store's
 * transactions and compare-and-swap commit, the checkpoint stored and published, the projection
 * drained, the shards' intents, the sequencer's RPC...). Then, for each step k, a fresh
 * directory runs the same operation twice more:
 * - with step k failing once: the operation answers (a result, a typed refusal, or an error),
 *   and once the alarms have run, the directory holds the fold of its log (no half state);
 * - with a crash at step k (every call from k on fails, then the process is dropped and new
 *   cores start over the same stores).
 * Either way the operation is then retried, and the log must end as in the run without a
 * failure: the same entries before the operation, then the same entries of the operation, each
 * once (no entry lost or duplicated), the state must equal the fold, and every checkpoint
 * ever stored or published must be consistent with every other.
 */
import { describe, expect, it } from 'vitest'
import type { MemoryDirectoryOptions } from '../../src/core/memory/directory.ts'
import { isRefusal } from '../../src/core/refusals.ts'
import { shardOf } from '../../src/core/shards.ts'
import { snapshotDataKey, snapshotManifestKey, LATEST_SNAPSHOT_KEY } from '../../src/core/snapshot-job.ts'
import { sha256 } from '@noble/hashes/sha2.js'
import { toBase64Url, utf8 } from '../../src/protocol/bytes.ts'
import type { Subject } from '../../src/protocol/entry.ts'
import { decodeSnapshot, gunzip } from '../../src/protocol/snapshot.ts'
import { snapshotRecords, type MapRecordTable } from '../../src/protocol/state.ts'
import { bindCommand, expectCheckpointsConsistent, expectStateIsFold, flush, logEntries, observedDirectory, settle, type Observed } from './harness.ts'

interface Scenario {
  options?: MemoryDirectoryOptions
  subjects: Subject[]
  setup(o: Observed): Promise<void>
  /** The operation; run again as the retry. */
  op(o: Observed): Promise<unknown>
  /** Checks the retry's answer and what the operation leaves besides the log. */
  after?(o: Observed, retried: unknown): Promise<void> | void
}

const APPA = { num: 1, id: 'appa' }
const subjectsFrom = (start: number, count: number) => Array.from({ length: count }, (_, i) => start + i * 7919)

// Binds `subjects` to `app`, one call per shard (one batch each).
async function bindAll(o: Observed, subjects: readonly Subject[], app = APPA, ttlDays = 365): Promise<void> {
  const byShard = new Map<number, Subject[]>()
  for (const s of subjects) byShard.set(shardOf(s, o.d.shards.length), [...(byShard.get(shardOf(s, o.d.shards.length)) ?? []), s])
  for (const [shard, list] of byShard) {
    const out = await o.d.shards[shard]!.bind(list.map((s) => bindCommand(s, app, `setup-${app.id}-${s}`, o.clock.now, ttlDays)))
    for (const r of out) expect(r.ok).toBe(true)
  }
}

// An answer the caller can act on: a result, a typed refusal, or an error; never a hang.
async function answered(p: Promise<unknown>): Promise<unknown> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const hang = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('the operation never answered')), 15_000)))
  try {
    return await Promise.race([p.then((v) => v, (err: unknown) => (err instanceof Error ? err : new Error(String(err)))), hang])
  } finally {
    clearTimeout(timer)
  }
}

const sortedHex = (entries: readonly Uint8Array[]) => entries.map((e) => Buffer.from(e).toString('hex')).sort()

async function prepared(s: Scenario): Promise<Observed> {
  const o = observedDirectory({ shards: 3, ...s.options })
  await s.setup(o)
  await settle(o.d)
  o.d.faults.calls.length = 0
  return o
}

/** Runs `s` at every step; returns the steps, for the scenario's own checks. */
async function atEveryStep(s: Scenario): Promise<string[]> {
  const clean = await prepared(s)
  const sizeBefore = clean.d.logStore.nextIndex()
  clean.d.faults.recording = true
  const first = await s.op(clean)
  clean.d.faults.recording = false
  const steps = clean.d.faults.calls.slice()
  await settle(clean.d)
  const reference = logEntries(clean.d)
  await s.after?.(clean, first)
  expectStateIsFold(clean, s.subjects)
  expect(steps.length).toBeGreaterThan(3)

  for (let k = 0; k < steps.length; k++) {
    for (const mode of ['fails once', 'crashes'] as const) {
      const where = `step ${k} (${steps[k]}) ${mode}`
      const o = await prepared(s)
      const { d } = o
      d.faults.recording = true
      const lift = d.faults.inject({ port: '*', after: k, ...(mode === 'fails once' ? { times: 1 } : {}) })
      if (mode === 'fails once') {
        const answer = await answered(s.op(o))
        lift()
        d.faults.recording = false
        expect(d.faults.calls[k], where).toBe(steps[k])
        if (!(answer instanceof Error) && isRefusal(answer)) expect(answer.code, where).toMatch(/^(log_unavailable|not_configured)$/)
        await settle(d)
        expectStateIsFold(o, s.subjects)
      } else {
        void s.op(o).catch(() => {})
        while (d.faults.calls.length <= k) await flush(1)
        await flush()
        expect(d.faults.calls[k], where).toBe(steps[k])
        lift()
        d.faults.recording = false
        d.restart()
        await settle(d)
      }
      const retried = await answered(s.op(o))
      expect(retried, where).not.toBeInstanceOf(Error)
      await settle(d)
      // The log before the operation, then the operation's entries, each once (commands that
      // arrive together may be ordered differently when one of them failed and was retried).
      const log = logEntries(d)
      expect(log.slice(0, sizeBefore), where).toEqual(reference.slice(0, sizeBefore))
      expect(sortedHex(log.slice(sizeBefore)), where).toEqual(sortedHex(reference.slice(sizeBefore)))
      expectStateIsFold(o, s.subjects)
      await expectCheckpointsConsistent(d, o.checkpoints)
      try {
        await s.after?.(o, retried)
      } catch (err) {
        throw new Error(`${where}: ${String(err)}`)
      }
    }
  }
  return steps
}

describe('a failure at every step', () => {
  it('of a round that completes a tile and a bundle: tiles, bundles, the commit, the checkpoint, the projection', async () => {
    // 255 entries before the operation, whose two entries (one batch of one shard) complete tile 0 and bundle 0.
    const before = subjectsFrom(16_000_000_000, 400)
    const shard0 = before.filter((s) => shardOf(s, 3) === 0)
    const pair = shard0.slice(0, 2)
    const setupSubjects = before.filter((s) => !pair.includes(s)).slice(0, 254)
    const steps = await atEveryStep({
      subjects: [...pair, ...setupSubjects.slice(0, 20)],
      async setup(o) {
        await o.d.sequencer.registerApp('appa', 'App A', 'token-a')
        await bindAll(o, setupSubjects)
        expect(o.d.logStore.nextIndex()).toBe(255)
      },
      async op(o) {
        return o.d.shards[0]!.bind(pair.map((s) => bindCommand(s, APPA, `op-${s}`, o.clock.now + 1000)))
      },
      after(_o, retried) {
        expect((retried as { ok: boolean; index: number }[]).map((r) => [r.ok, r.index]).sort()).toEqual([
          [true, 255],
          [true, 256],
        ])
      },
    })
    for (const step of ['objects.put tile/0/000', 'objects.put tile/entries/000', 'objects.put tile/0/001.p/1', 'objects.put tile/1/000.p/1', 'log.commitTree', 'log.setNote', 'objects.put checkpoint', 'rpc.append 0', 'shard.setIntent'])
      expect(steps, step).toContain(step)
    expect(steps.some((s) => s.startsWith('projection.put'))).toBe(true)
  })

  it('of an app registration', async () => {
    await atEveryStep({
      subjects: [],
      async setup(o) {
        await o.d.sequencer.registerApp('appa', 'App A', 'token-a')
      },
      op: (o) => o.d.sequencer.registerApp('appb', 'App B', 'token-b'),
      after(o, retried) {
        // A retry after the entry is logged finds the app (and says so): either way it is registered once.
        expect(retried).toSatisfy((r: unknown) => JSON.stringify(r) === JSON.stringify({ ok: true, num: 2 }) || (isRefusal(r) && r.code === 'app_exists'))
        expect(o.d.tokens.tokens.get('token-b')).toEqual({ id: 'appb', name: 'App B', num: 2 })
      },
    })
  })

  it('of an app revocation in bounded batches, resumed after the failure', async () => {
    // Three bindings in shard 0 (two batches of two), one in each other shard; appb's stay.
    const pool = subjectsFrom(16_100_000_000, 60)
    const mine = [...pool.filter((s) => shardOf(s, 3) === 0).slice(0, 3), ...[1, 2].map((n) => pool.find((s) => shardOf(s, 3) === n)!)]
    const others = subjectsFrom(16_200_000_000, 2)
    await atEveryStep({
      options: { revokeBatch: 2 },
      subjects: [...mine, ...others],
      async setup(o) {
        await o.d.sequencer.registerApp('appa', 'App A', 'token-a')
        await o.d.sequencer.registerApp('appb', 'App B', 'token-b')
        await bindAll(o, mine)
        await bindAll(o, [...others, mine[0]!], { num: 2, id: 'appb' })
      },
      op: (o) => o.d.sequencer.revokeApp('appa'),
      after(o, retried) {
        expect(retried).toMatchObject({ ok: true })
        expect(o.d.sequencer.app('appa')?.status).toBe('revoked')
        // The token is withdrawn whatever step failed: a revoked app reads nothing more.
        expect(o.d.tokens.tokens.has('token-a')).toBe(false)
        expect(o.d.tokens.tokens.has('token-b')).toBe(true)
      },
    })
  })

  it('of the expiry sweep in bounded batches, finished by the alarm', async () => {
    const due = subjectsFrom(16_300_000_000, 7)
    const kept = subjectsFrom(16_400_000_000, 2)
    await atEveryStep({
      subjects: [...due, ...kept],
      async setup(o) {
        await o.d.sequencer.registerApp('appa', 'App A', 'token-a')
        await bindAll(o, due, APPA, 1)
        await bindAll(o, kept, APPA, 30)
        o.clock.now += 2 * 86_400_000
      },
      async op(o) {
        for (const shard of o.d.shards) {
          const r = await shard.sweep(o.clock.now, 2)
          if (!r.ok) return r
        }
        return { ok: true }
      },
      after(o) {
        expect(o.d.shardStores.reduce((n, s) => n + s.counts().bindings, 0)).toBe(kept.length)
      },
    })
  })

  it('of a snapshot: resumed, it writes the same bytes as a run without a failure', async () => {
    const subjects = subjectsFrom(16_500_000_000, 40)
    let reference: Map<string, Uint8Array> | null = null
    const snapshotObjects = (o: Observed) => {
      const size = o.d.logStore.tree().size
      return new Map([snapshotDataKey(size), snapshotManifestKey(size), LATEST_SNAPSHOT_KEY].map((k) => [k, o.d.objects.objects.get(k)!]))
    }
    await atEveryStep({
      // Parts of 64 bytes: a multipart upload of several parts, each step writing one.
      options: { minPartBytes: 64, partBytes: 64 },
      subjects,
      async setup(o) {
        await o.d.sequencer.registerApp('appa', 'App A', 'token-a')
        await bindAll(o, subjects)
        await o.d.shardFor(subjects[0]!).unbind(subjects[0]!, 'appa', 'holder', o.clock.now)
      },
      op: (o) => o.d.sequencer.snapshot(),
      async after(o) {
        const objects = snapshotObjects(o)
        for (const [k, v] of objects) expect(v, k).toBeInstanceOf(Uint8Array)
        if (!reference) {
          reference = objects
          const content = decodeSnapshot(await gunzip(objects.get(snapshotDataKey(o.d.logStore.tree().size))!))
          const fold = expectStateIsFold(o, subjects)
          expect(content.records).toEqual(snapshotRecords(fold.records as MapRecordTable))
          expect(content.treeSize).toBe(fold.size)
          expect(o.d.objects.ops.parts).toBeGreaterThan(2)
        }
        for (const [k, v] of reference) expect(objects.get(k), k).toEqual(v)
      },
    })
  })
})

describe('a snapshot written in several steps', () => {
  it('crashed at every upload and save, resumed after a restart, writes the same bytes', async () => {
    // Keyed bindings (fingerprints do not compress) and 4 KiB parts: several gzip members, each a step of its own.
    const subjects = subjectsFrom(16_600_000_000, 1000)
    const o = observedDirectory({ shards: 3, minPartBytes: 4096, partBytes: 4096 })
    await o.d.sequencer.registerApp('appa', 'App A', 'token-a')
    const byShard = new Map<number, Subject[]>()
    for (const s of subjects) byShard.set(shardOf(s, 3), [...(byShard.get(shardOf(s, 3)) ?? []), s])
    await Promise.all([...byShard].map(([shard, list]) => o.d.shards[shard]!.bind(list.map((s) => bindCommand(s, APPA, `v${s}`, o.clock.now, 365, toBase64Url(sha256(utf8(String(s)))))))))
    await settle(o.d)
    const size = o.d.logStore.tree().size
    const keys = [snapshotDataKey(size), snapshotManifestKey(size), LATEST_SNAPSHOT_KEY]
    // Forgets the snapshot written (objects and the job's records), so that the next run writes it anew.
    const forget = () => {
      for (const k of keys) o.d.objects.objects.delete(k)
      const count = Number(o.d.logStore.meta('snapshot:carry:count') ?? 0)
      for (let i = 0; i < count; i++) o.d.logStore.setMeta(`snapshot:carry:${i}`, null)
      for (const k of ['snapshot:job', 'snapshot:kept', 'snapshot:carry:count']) o.d.logStore.setMeta(k, null)
    }
    o.d.faults.calls.length = 0
    o.d.faults.recording = true
    const parts = o.d.objects.ops.parts
    expect(await o.d.sequencer.snapshot()).toMatchObject({ size, records: subjects.length })
    o.d.faults.recording = false
    expect(o.d.objects.ops.parts - parts).toBeGreaterThan(4)
    const reference = keys.map((k) => o.d.objects.objects.get(k)!)
    const steps = o.d.faults.calls.slice()
    const saves = steps.map((s, k) => [s, k] as const).filter(([s]) => s.startsWith('objects.') || s === 'log.transaction')
    // More than one write step saved between part uploads.
    expect(steps.filter((s) => s.startsWith('objects.putPart')).length).toBeGreaterThan(4)
    for (const [step, k] of saves) {
      forget()
      o.d.restart()
      o.d.faults.calls.length = 0
      o.d.faults.recording = true
      const lift = o.d.faults.inject({ port: '*', after: k })
      void o.d.sequencer.snapshot().catch(() => {})
      while (o.d.faults.calls.length <= k) await flush(1)
      await flush()
      expect(o.d.faults.calls[k], `step ${k}`).toBe(step)
      lift()
      o.d.faults.recording = false
      o.d.restart()
      // The alarm resumes a job that was saved; a snapshot asked for afterwards finds it written, or writes it.
      await settle(o.d)
      const retried = await answered(o.d.sequencer.snapshot())
      expect(retried === null || (retried as { size: number }).size === size, `step ${k} (${step}): ${String(retried)}`).toBe(true)
      keys.forEach((key, i) => expect(o.d.objects.objects.get(key), `${key} after a crash at step ${k} (${step})`).toEqual(reference[i]))
    }
    await expectCheckpointsConsistent(o.d, o.checkpoints)
  })
})

describe('a round of a sequencer that was replaced', () => {
  it('cannot commit over the new one: the tree compare-and-swap refuses it, and no inconsistent checkpoint is signed', async () => {
    const o = observedDirectory({ shards: 2 })
    const [s1, s2, s3] = subjectsFrom(16_700_000_000, 3)
    await o.d.sequencer.registerApp('appa', 'App A', 'token-a')
    await o.d.shardFor(s1!).bind([bindCommand(s1!, APPA, 'v1', o.clock.now)])
    await settle(o.d)
    // The next bundle write waits until released: the old process's round stops there.
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    let held = false
    const put = o.d.objects.put.bind(o.d.objects)
    o.d.objects.put = async (key, data) => {
      if (!held && key.startsWith('tile/entries/')) {
        held = true
        await gate
      }
      return put(key, data)
    }
    const moved: string[] = []
    const commitTree = o.d.logStore.commitTree.bind(o.d.logStore)
    o.d.logStore.commitTree = (expected, next) => {
      try {
        commitTree(expected, next)
      } catch (err) {
        moved.push(`${(err as Error).name}: ${expected} → ${next.size}`)
        throw err
      }
    }
    const stale = o.d.shardFor(s2!).bind([bindCommand(s2!, APPA, 'v2', o.clock.now)])
    while (!held) await flush(1)
    // A new process starts over the same stores while the old round waits; it sequences the pooled entry and more.
    o.d.restart()
    const [fresh] = await o.d.shardFor(s3!).bind([bindCommand(s3!, APPA, 'v3', o.clock.now)])
    expect(fresh).toMatchObject({ ok: true })
    const sizeThen = o.d.logStore.tree().size
    release()
    await stale.catch(() => {})
    await settle(o.d)
    expect(moved).toEqual([`TreeMovedError: 2 → 3`])
    expect(o.d.logStore.tree().size).toBe(sizeThen)
    expectStateIsFold(o, [s1!, s2!, s3!])
    expect(await expectCheckpointsConsistent(o.d, o.checkpoints)).toContain(sizeThen)
  })
})
