/**
 * What the core tests share: a {@link MemoryDirectory} on a clock the test moves, an observer of
 * its append path that folds every entry as it is pooled, the log read back from the object
 * store and the pool, and the checks that the directory's shards, projection and registry equal
 * the fold of that log and that every checkpoint it ever published is consistent with every other.
 * @module
 */
import { expect } from 'vitest'
import { bindingEntry } from '../../src/core/binding-shard.ts'
import { MEMORY_SIGNER_KEY, MemoryDirectory, type MemoryDirectoryOptions } from '../../src/core/memory/directory.ts'
import { shardOf } from '../../src/core/shards.ts'
import { parseCheckpoint } from '../../src/protocol/checkpoint.ts'
import { decodeEntry, type Subject } from '../../src/protocol/entry.ts'
import { checkTree } from '../../src/protocol/merkle.ts'
import { noteSignerFromKey, openNote, verifierKeyOf } from '../../src/protocol/note.ts'
import { parseVerifierKey } from '../../src/protocol/note-keys.ts'
import { expiresAt, DirectoryState, FoldError, MapRecordTable, type StateBinding } from '../../src/protocol/state.ts'
import { decodeBundle, entriesPath, proveTreeFromTiles, tilePath, TILE_WIDTH } from '../../src/protocol/tiles.ts'

/** A clock the test moves by hand (epoch ms). */
export interface TestClock {
  now: number
}

/** The start of every test's time: 2027-01-15. */
export const T0 = 1_800_000_000_000

/** A directory on a hand-moved clock, observed: every pooled entry folded, every published checkpoint kept. */
export interface Observed {
  d: MemoryDirectory
  clock: TestClock
  /** Entries the fold refused as they were pooled (must stay empty). */
  refusedAppends: { index: number; error: string }[]
  /** Every checkpoint note the directory stored or published, in order. */
  checkpoints: string[]
}

/** A {@link MemoryDirectory} with the observers of {@link Observed}. */
export function observedDirectory(options: MemoryDirectoryOptions = {}): Observed {
  const clock: TestClock = { now: T0 }
  const d = new MemoryDirectory({ shards: 3, clock: () => clock.now, ...options })
  const refusedAppends: Observed['refusedAppends'] = []
  const checkpoints: string[] = []

  // The append path: every entry reaches the log through the store's pool. The entries below
  // `index` are the log's at that moment (a rolled-back transaction gives its indexes back), so
  // the fold of them must accept the new one.
  const pooled: Uint8Array[] = []
  let fold = new DirectoryState()
  const pushPool = d.logStore.pushPool.bind(d.logStore)
  d.logStore.pushPool = (index, entry) => {
    if (index < pooled.length) {
      pooled.length = index
      fold = foldEntries(pooled)
    }
    try {
      fold.apply(decodeEntry(entry), index)
    } catch (err) {
      if (!(err instanceof FoldError)) throw err
      refusedAppends.push({ index, error: err.message })
    }
    pooled.push(entry.slice())
    pushPool(index, entry)
  }

  const setNote = d.logStore.setNote.bind(d.logStore)
  d.logStore.setNote = (size, note) => {
    checkpoints.push(note)
    setNote(size, note)
  }
  const put = d.objects.put.bind(d.objects)
  d.objects.put = async (key, data) => {
    await put(key, data)
    if (key === 'checkpoint') checkpoints.push(typeof data === 'string' ? data : new TextDecoder().decode(data))
  }
  return { d, clock, refusedAppends, checkpoints }
}

/** The fold of `entries` from entry 0. */
export function foldEntries(entries: readonly Uint8Array[]): DirectoryState {
  const state = new DirectoryState()
  entries.forEach((e, i) => state.apply(decodeEntry(e), i))
  return state
}

/**
 * The log as it stands: the committed tree's entries from its bundles in the object store (the
 * authority once a round commits), then the pool. Read past the fault injection.
 */
export function logEntries(d: MemoryDirectory): Uint8Array[] {
  const tree = d.logStore.tree()
  const out: Uint8Array[] = []
  for (let b = 0; b * TILE_WIDTH < tree.size; b++) {
    const width = Math.min(TILE_WIDTH, tree.size - b * TILE_WIDTH)
    const data = d.objects.objects.get(entriesPath(b, width))
    if (!data) throw new Error(`bundle ${entriesPath(b, width)} is missing`)
    out.push(...decodeBundle(data, width))
  }
  for (const p of d.logStore.pool(tree.size, Number.MAX_SAFE_INTEGER)) out.push(p.entry)
  expect(out.length).toBe(d.logStore.nextIndex())
  return out
}

const fields = (b: StateBinding) => ({ app: b.app, index: b.index, verifiedAt: b.verifiedAt, ttlDays: b.ttlDays, keyFingerprint: b.keyFingerprint ? [...b.keyFingerprint] : null })

/**
 * Requires the directory to hold exactly the fold of its log: every subject's record in the
 * shard that owns it (and nowhere else), the projection of every subject in `subjects` (with
 * the entry bytes that made each binding), and the registry's apps and their binding counts.
 * Returns the fold.
 */
export function expectStateIsFold(o: Observed, subjects: Iterable<Subject>, projection = true): DirectoryState {
  const { d } = o
  expect(o.refusedAppends).toEqual([])
  const entries = logEntries(d)
  const fold = foldEntries(entries)
  const records = (fold.records as MapRecordTable).map
  // Counts first: no shard holds a subject or binding the fold does not.
  const counts = d.shardStores.map((s) => s.counts())
  expect(counts.reduce((n, c) => n + c.subjects, 0)).toBe(records.size)
  expect(counts.reduce((n, c) => n + c.bindings, 0)).toBe([...records.values()].reduce((n, r) => n + r.length, 0))
  const appIds = new Map([...fold.apps.values()].map((a) => [a.num, a.id]))
  for (const subject of new Set([...subjects, ...records.keys()])) {
    const want = records.get(subject) ?? []
    const owner = shardOf(subject, d.shardStores.length)
    const held = d.shardStores[owner]!.record(subject)
    expect(held.map(fields), `shard ${owner}, subject ${subject}`).toEqual(want.map(fields))
    for (const b of held) expect(bindingEntry(subject, b), `the entry of ${subject}'s binding ${b.index}`).toEqual(entries[b.index])
    if (!projection) continue
    const projected = d.projection.values.get(subject) ?? []
    expect(
      projected.map((p) => ({ ...p, entry: [...p.entry] })),
      `projection of ${subject}`,
    ).toEqual(want.map((b) => ({ app: b.app, appId: appIds.get(b.app), verifiedAt: b.verifiedAt, expiresAt: expiresAt(b), index: b.index, entry: [...entries[b.index]!] })))
  }
  expect(
    d.sequencer.apps().map((a) => ({ num: a.num, id: a.id, revoked: a.status === 'revoked', bindings: a.bindings })),
  ).toEqual([...fold.apps.values()].sort((a, b) => a.num - b.num).map((a) => ({ ...a })))
  return fold
}

let verifier: ReturnType<typeof parseVerifierKey> | null = null

/**
 * Requires every checkpoint in `notes` to verify, and every two to be consistent: the same root
 * at the same size, and an RFC 6962 consistency proof (from the tiles in the object store now)
 * from the smaller to the larger. Returns the sizes seen.
 */
export async function expectCheckpointsConsistent(d: MemoryDirectory, notes: readonly string[]): Promise<number[]> {
  verifier ??= parseVerifierKey(verifierKeyOf(await noteSignerFromKey(MEMORY_SIGNER_KEY)))
  const bySize = new Map<number, Uint8Array>()
  for (const note of new Set(notes)) {
    const { text } = await openNote(note, [verifier])
    const c = parseCheckpoint(text)
    const seen = bySize.get(c.size)
    if (seen) expect([...c.rootHash], `two roots at size ${c.size}`).toEqual([...seen])
    else bySize.set(c.size, c.rootHash)
  }
  const fetch = async (t: { level: number; index: number; width: number }) => {
    const data = d.objects.objects.get(tilePath(t.level, t.index, t.width))
    if (!data) throw new Error(`tile ${tilePath(t.level, t.index, t.width)} is missing`)
    return data
  }
  const sizes = [...bySize.keys()].sort((a, b) => a - b).filter((s) => s > 0)
  for (let i = 0; i < sizes.length; i++) {
    for (let j = i + 1; j < sizes.length; j++) {
      const [m, n] = [sizes[i]!, sizes[j]!]
      const proof = await proveTreeFromTiles(n, m, fetch)
      expect(checkTree(proof, n, bySize.get(n)!, m, bySize.get(m)!), `checkpoint ${m} is a prefix of ${n}`).toBe(true)
    }
  }
  return sizes
}

/** Lets every pending callback and timer of the in-memory directory run. */
export async function flush(times = 5): Promise<void> {
  for (let i = 0; i < times; i++) await new Promise((r) => setTimeout(r, 0))
}

/** Runs the alarms until nothing is left to do: rounds signed, intents sent, projections written. */
export async function settle(d: MemoryDirectory): Promise<void> {
  for (let i = 0; i < 2; i++) {
    await flush(2)
    await d.tick()
  }
  await flush(2)
}

/** A verification command for `subject` (a number from 1 650 555 0000 on). */
export function bindCommand(subject: Subject, app: { num: number; id: string }, vid: string, now: number, ttlDays = 365, publicKey: string | null = null) {
  return { subject, phone: `+${subject}`, app: app.num, appId: app.id, publicKey, verificationId: vid, now, ttlDays }
}
