/**
 * A snapshot failed at every step (see steps.ts) and crashed at every upload and save of a
 * multi-step write: resumed, it writes the same bytes as a run without a failure.
 */
import { sha256 } from '@noble/hashes/sha2.js'
import { describe, expect, it } from 'vitest'
import { shardOf } from '../../src/core/shards.ts'
import { snapshotDataKey, snapshotManifestKey, LATEST_SNAPSHOT_KEY } from '../../src/core/snapshot-job.ts'
import { toBase64Url, utf8 } from '../../src/protocol/bytes.ts'
import type { Subject } from '../../src/protocol/entry.ts'
import { decodeSnapshot, gunzip } from '../../src/protocol/snapshot.ts'
import { snapshotRecords, type MapRecordTable } from '../../src/protocol/state.ts'
import { bindCommand, expectCheckpointsConsistent, expectStateIsFold, flush, observedDirectory, settle, type Observed } from './harness.ts'
import { APPA, answered, atEveryStep, bindAll, subjectsFrom } from './steps.ts'

describe('a failure at every step of a snapshot', { timeout: 300_000 }, () => { // a safety net: these enumerate hundreds of runs, slow on a loaded machine
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

describe('a snapshot written in several steps', { timeout: 300_000 }, () => {
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
