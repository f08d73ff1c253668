/**
 * A snapshot signed by the log key that omits one binding bootstraps a mirror (detecting the
 * omission needs a commitment to the state, which the log does not carry yet). When the honest
 * log later removes that binding, the removal is refused over the snapshot's state: the mirror
 * must name the snapshot as the suspect, not the entry, and recover by replaying the log from
 * entry 0; only when the replay refuses the entry too is the entry to blame.
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest'
import { fromBase64 } from '../../src/protocol/bytes.ts'
import { e164Of } from '../../src/protocol/entry.ts'
import { parseVerifierKey } from '../../src/protocol/note-keys.ts'
import { signNote } from '../../src/protocol/note.ts'
import { verifyReceipt } from '../../src/protocol/receipt.ts'
import { encodeSnapshot, formatManifest, gzip, snapshotDigest, type SnapshotContent } from '../../src/protocol/snapshot.ts'
import { runCli } from '../src/commands.ts'
import type { Mirror } from '../src/mirror.ts'
import { FakeDirectory, FAKE_TOKEN } from './fixtures/fake-directory.ts'
import { buildLog, type FakeLog } from './fixtures/fake-log.ts'
import { cleanupTemp, evidenceFiles, expectedLookup, mirrorOf, poolNumbers, storedFingerprint, tempDir } from './fixtures/helpers.ts'

const SNAPSHOT = 400

let fake: FakeDirectory
let log: FakeLog
let dir: string
const open: Mirror[] = []

beforeEach(async () => {
  log = await buildLog(600, { seed: 21 })
  fake = await FakeDirectory.start(log)
  dir = tempDir()
})
afterEach(async () => {
  for (const m of open.splice(0)) await m.close()
  await fake.stop()
})
afterAll(cleanupTemp)

/** A binding held at the snapshot's size and untouched since (so still held at the log's end). */
function untouchedBinding(): { subject: number; app: number } {
  const end = log.stateAt()
  for (const [subject, bindings] of (end.records as unknown as { map: Map<number, { app: number; index: number }[]> }).map) {
    const b = bindings.find((x) => x.index < SNAPSHOT)
    if (b) return { subject, app: b.app }
  }
  throw new Error('no binding untouched since the snapshot')
}

/** Serves, signed by the log key, a snapshot at SNAPSHOT lacking the binding of `subject` to `app`. */
async function serveSnapshotWithout(subject: number, app: number): Promise<{ manifest: string; sha256: string }> {
  const { content } = await log.snapshot(SNAPSHOT)
  const lacking: SnapshotContent = structuredClone(content)
  lacking.records = lacking.records
    .map((r) => (r.subject === subject ? { ...r, bindings: r.bindings.filter((b) => b.app !== app) } : r))
    .filter((r) => r.bindings.length > 0)
  const data = await gzip(encodeSnapshot(lacking).bytes)
  const manifest = await signNote(
    formatManifest({ origin: log.origin, treeSize: SNAPSHOT, rootHash: log.rootAt(SNAPSHOT), records: lacking.records.length, bytes: data.length, sha256: snapshotDigest(data) }),
    log.signer,
  )
  fake.snapshotSize = SNAPSHOT
  fake.hook = (path) => (path === '/log/snapshot/latest' || path === `/log/snapshot/${SNAPSHOT}/manifest` ? { body: manifest } : path === `/log/snapshot/${SNAPSHOT}/data` ? { body: data } : undefined)
  return { manifest, sha256: createHash('sha256').update(data).digest('base64') }
}

async function mirrorOn(options: Parameters<typeof mirrorOf>[2] = {}): Promise<Mirror> {
  const mirror = await mirrorOf(fake, dir, options)
  open.push(mirror)
  return mirror
}

function evidence(kind: string): Record<string, any>[] {
  return evidenceFiles(dir)
    .filter((f) => f.startsWith(`misbehaviour-${kind}-`))
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')))
}

/** Bootstraps from the snapshot lacking one binding, then the honest log removes that binding. */
async function omittedThenRemoved(options: Parameters<typeof mirrorOf>[2] = {}) {
  const { subject, app } = untouchedBinding()
  const served = await serveSnapshotWithout(subject, app)
  const mirror = await mirrorOn(options)
  expect(await mirror.sync()).toMatchObject({ status: 'bootstrapped', snapshotSize: SNAPSHOT, treeSize: 600 })
  // The omission goes unseen: the mirror lacks the binding the log holds.
  expect(mirror.lookup(e164Of(subject))).not.toEqual(expectedLookup(log, e164Of(subject)))
  log.append({ kind: 'remove', subject, app, time: Math.floor(Date.now() / 1000), reason: 'holder' })
  return { mirror, subject, served }
}

describe('an entry refused over a snapshot that lacks a binding', () => {
  it('names the snapshot as the suspect, replays from entry 0, and then serves the log exactly', async () => {
    const { mirror, served } = await omittedThenRemoved()
    const result = await mirror.sync()
    expect(result).toMatchObject({ status: 'applied', treeSize: 601, replayed: { from: 0, snapshotSize: SNAPSHOT } })

    // The refusal's evidence blames the snapshot (its size, manifest and SHA-256), not the entry.
    const refusal = evidence('invalid-entry')[0]!
    expect(refusal).toMatchObject({ index: 600, suspect: 'snapshot', snapshot: { treeSize: SNAPSHOT, manifest: served.manifest, sha256: served.sha256 } })
    // The replay accepted the entry: the snapshot was not the log's state, and that is written down.
    const incomplete = evidence('incomplete-snapshot')[0]!
    expect(incomplete).toMatchObject({ index: 600, snapshot: { treeSize: SNAPSHOT, manifest: served.manifest, sha256: served.sha256 } })
    expect(incomplete.reason).toMatch(/remove of a binding that does not exist/)
    expect((await verifyReceipt(incomplete.receipt, fromBase64(incomplete.entry), parseVerifierKey(log.logKey))).index).toBe(600)
    expect(result.replayed!.evidence).toMatch(/misbehaviour-incomplete-snapshot-/)

    for (const phone of poolNumbers()) expect(mirror.lookup(phone)).toEqual(expectedLookup(log, phone))
    expect(await mirror.verify()).toMatchObject({ originSize: 0, entriesReplayed: 601, treeSize: 601 })
    // Later syncs go on from there, from a state replayed from entry 0.
    expect(await mirror.sync()).toMatchObject({ status: 'up-to-date' })
    expect(mirror.heldEntriesFrom).toBe(0)
  })

  it('with replay off, changes nothing and names the command that recovers', async () => {
    const { mirror } = await omittedThenRemoved({ replay: false })
    const before = storedFingerprint(dir)
    const err = await mirror.sync().catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'entry_refused', details: { index: 600, suspect: 'snapshot', snapshot: { treeSize: SNAPSHOT } } })
    const command = `whodis-mirror sync --data ${dir} --replay`
    expect((err as Error).message).toContain(command)
    expect((err as Error).message).toMatch(/the snapshot is the suspect/)
    expect(storedFingerprint(dir)).toEqual(before)
    await mirror.close()

    // The command it names, as the operator runs it.
    const stdout: string[] = []
    const io = { env: {}, stdout: { write: (t: string) => stdout.push(t) }, stderr: { write: () => true } } as never
    const code = await runCli(['sync', '--data', dir, '--directory', fake.url, '--token', FAKE_TOKEN, '--replay', '--log-format', 'json'], io)
    expect(code).toBe(0)
    expect(JSON.parse(stdout.join(''))).toMatchObject({ treeSize: 601, replayed: { from: 0 } })
    const reopened = await mirrorOn()
    for (const phone of poolNumbers()) expect(reopened.lookup(phone)).toEqual(expectedLookup(log, phone))
  })

  it('tells the operator how when the directory no longer serves the first entries, and changes nothing', async () => {
    const { mirror } = await omittedThenRemoved()
    const hook = fake.hook!
    fake.hook = (path, body) => (path.startsWith('/log/tile/entries/000') ? { status: 404, body: '{"error":{"code":"not_found","message":"gone"}}' } : hook(path, body))
    const before = storedFingerprint(dir)
    const err = await mirror.sync().catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'entry_refused', details: { suspect: 'snapshot', command: `whodis-mirror sync --data ${dir} --replay` } })
    expect((err as Error).message).toMatch(/does not serve/)
    expect(storedFingerprint(dir)).toEqual(before)
    expect(mirror.treeSize).toBe(600)
  })

  it('blames the entry when the replay from entry 0 refuses it too, and keeps every entry before it', async () => {
    fake.snapshotSize = SNAPSHOT // an honest snapshot
    const mirror = await mirrorOn()
    expect(await mirror.sync()).toMatchObject({ status: 'bootstrapped', treeSize: 600 })
    // A signed remove of a binding that never existed: wrong whatever the state came from.
    log.append({ kind: 'remove', subject: 19995550000, app: 1, time: Math.floor(Date.now() / 1000), reason: 'app' })
    const err = await mirror.sync().catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'entry_refused', details: { index: 600, suspect: 'entry' } })
    expect((err as Error).message).toMatch(/the fold of every entry from 0 refuses it/)
    const suspects = evidence('invalid-entry').map((e) => e.suspect).sort()
    expect(suspects).toEqual(['entry', 'snapshot'])
    expect(evidence('incomplete-snapshot')).toEqual([])
    // The replay committed everything before the refused entry, verified from entry 0.
    expect(mirror.treeSize).toBe(600)
    expect(mirror.heldEntriesFrom).toBe(0)
    for (const phone of poolNumbers()) expect(mirror.lookup(phone)).toEqual(expectedLookup(log, phone, 600))
    expect(await mirror.verify()).toMatchObject({ originSize: 0, entriesReplayed: 600 })
    // And the next run stops at the same entry, blaming it.
    expect(await mirror.sync().catch((e: unknown) => e)).toMatchObject({ code: 'entry_refused', details: { index: 600, suspect: 'entry' } })
  })

  it('resumes a replay cut short (the network fails, the process ends) in a later run, and still writes down what it showed', async () => {
    const { mirror, served } = await omittedThenRemoved({ chunkEntries: 100 })
    // The replay's bundles fail part of the way: the sync stops with the replay under way.
    const hook = fake.hook!
    fake.hook = (path, body) => (path.startsWith('/log/tile/entries/001') ? { status: 503, body: 'busy' } : hook(path, body))
    expect(await mirror.sync().catch((e: unknown) => e)).toMatchObject({ code: 'unavailable' })
    await mirror.close()
    fake.hook = hook
    const reopened = await mirrorOn({ chunkEntries: 100 })
    expect(await reopened.sync()).toMatchObject({ treeSize: 601, replayed: { from: 0, snapshotSize: SNAPSHOT } })
    expect(evidence('incomplete-snapshot')).toMatchObject([{ index: 600, snapshot: { sha256: served.sha256 } }])
    for (const phone of poolNumbers()) expect(reopened.lookup(phone)).toEqual(expectedLookup(log, phone))
  })
})
