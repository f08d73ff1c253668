/**
 * A background snapshot never takes more than one step of one invocation: a round starts it,
 * it runs one step and sets the alarm, and each alarm runs the next, so no invocation's CPU
 * grows with the state. The file it ends with is the one an uninterrupted run writes.
 */
import { describe, expect, it } from 'vitest'
import { MemoryDirectory } from '../../src/core/memory/directory.ts'
import { BACKGROUND_STEPS } from '../../src/core/snapshot-job.ts'
import { decodeSnapshot, gunzip } from '../../src/protocol/snapshot.ts'

const NOW = 1_800_000_000_000

async function bindAll(d: MemoryDirectory, subjects: number[]): Promise<void> {
  for (const [i, subject] of subjects.entries()) {
    const [out] = await d.shardFor(subject).bind([
      { subject, phone: `+${subject}`, app: 1, appId: 'appa', publicKey: null, verificationId: `v${i}`, now: NOW, ttlDays: 365 },
    ])
    expect(out).toMatchObject({ ok: true })
  }
}

/** Waits until nothing the last call started is still running (the job's step, its alarm request). */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r))
}

describe('a background snapshot', () => {
  it('runs one step per invocation, each asking for the next by the alarm, and ends with the file an explicit run writes', async () => {
    expect(BACKGROUND_STEPS).toBe(1)
    const subjects = [16505550011, 16505550012, 14155550022, 442071234567, 33123456789]
    const d = new MemoryDirectory({ shards: 3, config: { snapshotEveryEntries: subjects.length + 1 } })
    expect(await d.sequencer.registerApp('appa', 'App A', 'h1')).toEqual({ ok: true, num: 1 })
    await bindAll(d, subjects)
    await settle()

    // The round that reached the threshold ran the job's first step only, and set the alarm.
    expect(d.sequencer.snapshotSizes()).toEqual([])
    expect(d.timers.alarm).not.toBeNull()
    let invocations = 1
    while (d.sequencer.snapshotSizes().length === 0) {
      expect(d.timers.alarm, `alarm set before invocation ${invocations + 1}`).not.toBeNull()
      await d.tick()
      await settle()
      invocations++
      expect(invocations).toBeLessThan(20)
    }
    // Measure the records, measure the times, write: one invocation each.
    expect(invocations).toBe(3)
    const size = subjects.length + 1
    expect(d.sequencer.snapshotSizes()).toEqual([size])
    const background = (await d.objects.get(`snapshot/${size}/data`))!

    // The same state written in one explicit run gives the same snapshot.
    const e = new MemoryDirectory({ shards: 3 })
    await e.sequencer.registerApp('appa', 'App A', 'h1')
    await bindAll(e, subjects)
    expect(await e.sequencer.snapshot()).toMatchObject({ size, records: subjects.length })
    const explicit = (await e.objects.get(`snapshot/${size}/data`))!
    expect(await gunzip(background)).toEqual(await gunzip(explicit))
    expect(decodeSnapshot(await gunzip(background)).records.length).toBe(subjects.length)
  })
})
