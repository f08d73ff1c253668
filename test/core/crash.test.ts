/**
 * Failures at every step of a round, an app registration, a revocation and the expiry sweep
 * (see steps.ts); and a replaced sequencer's round, which the tree's compare-and-swap refuses.
 */
import { describe, expect, it } from 'vitest'
import { isRefusal } from '../../src/core/refusals.ts'
import { shardOf } from '../../src/core/shards.ts'
import { bindCommand, expectCheckpointsConsistent, expectStateIsFold, flush, observedDirectory, settle } from './harness.ts'
import { APPA, atEveryStep, bindAll, subjectsFrom } from './steps.ts'

describe('a failure at every step', { timeout: 300_000 }, () => { // a safety net: these enumerate hundreds of runs, slow on a loaded machine
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
})

describe('a round of a sequencer that was replaced', { timeout: 300_000 }, () => {
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
