/**
 * One rule set: over random sequences of commands (adds and renews with and without keys,
 * verifications checked again, removals by the app and by the holder, reassigned numbers, the
 * expiry sweep in small batches after the clock moves on, app registrations and revocations,
 * commands sent together, restarts, and crashes at a random port call of a command), the directory's shards, projection and registry always
 * equal the fold mirrors run (`DirectoryState.apply`) of its whole log from entry 0, the fold
 * accepts every entry as it is appended, and each command's answer is the one the fold before
 * it implies.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { decodeEntry, encodeEntry, type Subject } from '../../src/protocol/entry.ts'
import { toBase64Url } from '../../src/protocol/bytes.ts'
import { expiresAt, type DirectoryState } from '../../src/protocol/state.ts'
import { bindCommand, expectCheckpointsConsistent, expectStateIsFold, flush, logEntries, observedDirectory, settle, type Observed } from './harness.ts'

const APP_IDS = ['appa', 'appb', 'appc']
const SUBJECTS: Subject[] = Array.from({ length: 6 }, (_, i) => 16505550000 + i * 7919)
const KEYS = [toBase64Url(new Uint8Array(32).fill(1)), toBase64Url(new Uint8Array(32).fill(2))]

type Single =
  | { kind: 'register'; app: number }
  | { kind: 'revoke'; app: number }
  | { kind: 'bind'; subject: number; app: number; ttlDays: number; key: number; replay: number | null }
  | { kind: 'unbind'; subject: number; app: number; by: 'app' | 'holder' }
  | { kind: 'reassign'; subject: number; backSeconds: number }
  | { kind: 'expire'; days: number; limit: number }
type Command = { wait: number } & (Single | { kind: 'together'; commands: Single[] } | { kind: 'restart' } | { kind: 'crash'; command: Single; after: number })

const single: fc.Arbitrary<Single> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('register' as const), app: fc.nat(APP_IDS.length - 1) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('revoke' as const), app: fc.nat(APP_IDS.length - 1) }) },
  {
    weight: 24,
    arbitrary: fc.record({
      kind: fc.constant('bind' as const),
      subject: fc.nat(SUBJECTS.length - 1),
      app: fc.nat(APP_IDS.length - 1),
      ttlDays: fc.constantFrom(1, 2, 30),
      key: fc.nat(KEYS.length),
      replay: fc.option(fc.nat(50), { freq: 4 }),
    }),
  },
  { weight: 9, arbitrary: fc.record({ kind: fc.constant('unbind' as const), subject: fc.nat(SUBJECTS.length - 1), app: fc.nat(APP_IDS.length - 1), by: fc.constantFrom('app' as const, 'holder' as const) }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('reassign' as const), subject: fc.nat(SUBJECTS.length - 1), backSeconds: fc.nat(40) }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('expire' as const), days: fc.nat(3), limit: fc.integer({ min: 1, max: 3 }) }) },
)
const command: fc.Arbitrary<Command> = fc.tuple(
  fc.nat(20_000),
  fc.oneof(
    { weight: 10, arbitrary: single },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('together' as const), commands: fc.array(single, { minLength: 2, maxLength: 6 }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('restart' as const) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('crash' as const), command: single, after: fc.nat(60) }) },
  ),
).map(([wait, c]) => ({ wait, ...c }) as Command)

/** Runs commands against one directory, checking after each. */
class Run {
  // Revocations remove two bindings a call, so that they run in several batches.
  readonly o: Observed = observedDirectory({ shards: 3, revokeBatch: 2 })
  readonly binds: ReturnType<typeof bindCommand>[] = []
  #vid = 0

  get d() {
    return this.o.d
  }

  // The app as the shards are told it: its registered num, or one no app has.
  #app(i: number) {
    return { num: this.d.sequencer.app(APP_IDS[i]!)?.num ?? 900 + i, id: APP_IDS[i]! }
  }

  async run(c: Single, fold: DirectoryState | null): Promise<void> {
    const { d, clock } = this.o
    const size = d.logStore.nextIndex()
    const grew = () => d.logStore.nextIndex() - size
    const now = clock.now
    switch (c.kind) {
      case 'register': {
        const r = await d.sequencer.registerApp(APP_IDS[c.app]!, APP_IDS[c.app]!.toUpperCase(), `token-${c.app}`)
        if (!fold) return
        if (fold.appById(APP_IDS[c.app]!)) expect(r).toMatchObject({ ok: false, code: 'app_exists' })
        else expect(r).toEqual({ ok: true, num: Math.max(0, ...fold.apps.keys()) + 1 })
        expect(grew()).toBe('code' in r ? 0 : 1)
        return
      }
      case 'revoke': {
        const r = await d.sequencer.revokeApp(APP_IDS[c.app]!)
        if (!fold) return
        const app = fold.appById(APP_IDS[c.app]!)
        if (!app) expect(r).toMatchObject({ ok: false, code: 'app_not_found' })
        else expect(r).toEqual({ ok: true, removed: app.revoked ? 0 : app.bindings })
        expect(grew()).toBe(!app || app.revoked ? 0 : app.bindings + 1)
        return
      }
      case 'bind': {
        const earlier = c.replay === null ? undefined : this.binds[c.replay % Math.max(1, this.binds.length)]
        const app = this.#app(c.app)
        const cmd = earlier ?? bindCommand(SUBJECTS[c.subject]!, app, `v${++this.#vid}`, now, c.ttlDays, c.key === KEYS.length ? null : KEYS[c.key]!)
        const [r] = await d.shardFor(cmd.subject).bind([cmd])
        if (r!.ok && !earlier) this.binds.push(cmd)
        if (!fold) return
        if (earlier) {
          // Checked again: what the verification made, if it still stands, and no new entry
          // (unless the shard has forgotten it, a day on, and it is a verification again).
          if (r!.ok) expect(fold.records.get(cmd.subject)?.some((b) => b.app === cmd.app && b.index === r!.index) || r!.index >= size).toBe(true)
          else expect(r).toMatchObject({ code: expect.stringMatching(/^(binding_removed|app_revoked|app_not_found)$/) })
          return
        }
        const registered = fold.apps.get(app.num)
        if (!registered) expect(r).toMatchObject({ ok: false, code: 'app_not_found' })
        else if (registered.revoked) expect(r).toMatchObject({ ok: false, code: 'app_revoked' })
        else {
          const op = fold.records.get(cmd.subject)?.some((b) => b.app === app.num) ? 'renew' : 'add'
          expect(r).toMatchObject({ ok: true, op, index: size, binding: { app: app.id, publicKey: cmd.publicKey, verifiedAt: Math.floor(now / 1000) * 1000 } })
        }
        expect(grew()).toBe(r!.ok ? 1 : 0)
        return
      }
      case 'unbind': {
        const subject = SUBJECTS[c.subject]!
        const r = await d.shardFor(subject).unbind(subject, APP_IDS[c.app]!, c.by, now)
        if (!fold) return
        const num = fold.appById(APP_IDS[c.app]!)?.num
        const bound = fold.records.get(subject)?.some((b) => b.app === num)
        expect(r).toEqual(bound ? { ok: true, index: size } : expect.objectContaining({ ok: false, code: 'binding_not_found' }))
        expect(grew()).toBe(bound ? 1 : 0)
        return
      }
      case 'reassign': {
        const subject = SUBJECTS[c.subject]!
        const disconnectedAt = now - c.backSeconds * 1000
        const r = await d.shardFor(subject).reassign(subject, disconnectedAt, now)
        if (!fold) return
        const stale = (fold.records.get(subject) ?? []).filter((b) => b.verifiedAt * 1000 < disconnectedAt).length
        expect(r).toEqual({ ok: true, removed: stale })
        expect(grew()).toBe(stale)
        return
      }
      case 'expire': {
        clock.now += c.days * 86_400_000
        let expired = 0
        for (const shard of d.shards) {
          const r = await shard.sweep(clock.now, c.limit)
          expect(r.ok).toBe(true)
          if (r.ok) expired += r.expired
        }
        if (!fold) return
        let due = 0
        for (const s of SUBJECTS) due += (fold.records.get(s) ?? []).filter((b) => expiresAt(b) <= Math.floor(clock.now / 1000)).length
        expect(expired).toBe(due)
        expect(grew()).toBe(due)
        return
      }
    }
  }

  // Runs `command` until its port call `after`, then every call fails (the process dies), and a
  // new process starts over the same stores and runs its alarms.
  async crash(command: Single, after: number): Promise<void> {
    const { faults } = this.d
    faults.calls.length = 0
    faults.recording = true
    const lift = faults.inject({ port: '*', after })
    let done = false
    void this.run(command, null)
      .catch(() => {})
      .finally(() => (done = true))
    while (!done && faults.calls.length <= after) await flush(1)
    await flush()
    lift()
    faults.recording = false
    faults.calls.length = 0
    this.d.restart()
    await settle(this.d)
  }

  async step(c: Command): Promise<void> {
    this.o.clock.now += c.wait
    if (c.kind === 'restart') this.d.restart()
    else if (c.kind === 'crash') await this.crash(c.command, c.after)
    else if (c.kind === 'together') await Promise.all(c.commands.map((x) => this.run(x, null)))
    else await this.run(c, expectStateIsFold(this.o, SUBJECTS))
    expectStateIsFold(this.o, SUBJECTS)
  }
}

describe('the directory state is the fold of its log', { timeout: 300_000 }, () => { // a safety net: these enumerate hundreds of runs, slow on a loaded machine
  const seen = new Set<string>()
  it('after every command of random sequences, across three shards', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(command, { minLength: 10, maxLength: 60, size: 'max' }), async (commands) => {
        const run = new Run()
        // Apps first, most of the time, so that most bindings are accepted.
        await run.run({ kind: 'register', app: 0 }, null)
        await run.run({ kind: 'register', app: 1 }, null)
        for (const c of commands) await run.step(c)
        await expectCheckpointsConsistent(run.d, run.o.checkpoints)
        // What every verification checked again answers now agrees with the fold too.
        for (const cmd of run.binds.slice(-5)) {
          const [r] = await run.d.shardFor(cmd.subject).bind([cmd])
          if (r!.ok) expect(logEntries(run.d)[r!.index]).toBeDefined()
        }
        expectStateIsFold(run.o, SUBJECTS)
        for (const bytes of logEntries(run.d)) {
          const e = decodeEntry(bytes)
          seen.add(e.kind === 'remove' ? `remove:${e.reason}` : e.kind)
        }
      }),
      { numRuns: 50 },
    )
    // The sequences reached every kind of entry (else the property says little).
    expect([...seen].sort()).toEqual(['add', 'app-register', 'app-revoke', 'expire', 'remove:app', 'remove:app_revoked', 'remove:holder', 'remove:reassigned', 'renew'])
  })
})

describe('the checks catch a directory that breaks the rule', { timeout: 300_000 }, () => {
  it('an entry the fold refuses, appended past the shards', async () => {
    const o = observedDirectory()
    await o.d.sequencer.registerApp('appa', 'A', 't')
    const index = o.d.logStore.nextIndex()
    o.d.logStore.transaction(() => o.d.logStore.pushPool(index, encodeEntry({ kind: 'renew', subject: SUBJECTS[0]!, app: 1, time: 1_800_000_000, ttlDays: 1 })))
    expect(o.refusedAppends).toEqual([{ index, error: 'log entry 1: renew of a binding that does not exist' }])
    expect(() => expectStateIsFold(o, SUBJECTS)).toThrow()
  })

  it('a shard that holds what the log does not say, or a stale projection', async () => {
    const o = observedDirectory()
    await o.d.sequencer.registerApp('appa', 'A', 't')
    const subject = SUBJECTS[0]!
    await o.d.shardFor(subject).bind([bindCommand(subject, { num: 1, id: 'appa' }, 'v1', o.clock.now)])
    expectStateIsFold(o, SUBJECTS)
    const kept = o.d.projection.values.get(subject)!
    o.d.projection.values.delete(subject)
    expect(() => expectStateIsFold(o, SUBJECTS)).toThrow(/projection/)
    o.d.projection.values.set(subject, kept)
    const store = o.d.shardStores.find((s) => s.record(subject).length > 0)!
    store.transaction(() => store.removeBinding(subject, 1, 99))
    expect(() => expectStateIsFold(o, SUBJECTS)).toThrow()
  })
})
