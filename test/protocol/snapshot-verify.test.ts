import { describe, expect, it } from 'vitest'
import { leafHash, RightEdge } from '../../src/protocol/merkle.ts'
import { parseVerifierKey } from '../../src/protocol/note-keys.ts'
import { noteSignerFromKey, signNote, verifierKeyOf } from '../../src/protocol/note.ts'
import { encodeSnapshot, formatManifest, gzip, snapshotDigest, type SnapshotContent } from '../../src/protocol/snapshot.ts'
import { openSnapshot, SnapshotError } from '../../src/protocol/snapshot-verify.ts'

const SIGNER = 'PRIVATE+KEY+whodis.localhost/log+d137ea6d+AQECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g'
const OTHER = 'PRIVATE+KEY+whodis.localhost/log+5b221d9a+ASAfHh0cGxoZGBcWFRQTEhEQDw4NDAsKCQgHBgUEAwIB'

async function fixture(signerKey = SIGNER, edit: (m: ReturnType<typeof baseManifest>) => void = () => {}) {
  const signer = await noteSignerFromKey(signerKey)
  const edge = new RightEdge()
  for (let i = 0; i < 5; i++) edge.append(leafHash(Uint8Array.of(i)))
  const content: SnapshotContent = {
    treeSize: 5,
    rightEdge: edge.hashes,
    apps: [{ num: 1, id: 'appa', revoked: false }],
    records: [{ subject: 16505550011, bindings: [{ app: 1, index: 1, verifiedAt: 1_764_000_000, ttlDays: 365 }] }],
  }
  const data = await gzip(encodeSnapshot(content).bytes)
  const m = baseManifest(edge.root(), data)
  edit(m)
  return { content, data, note: await signNote(formatManifest(m), signer), key: parseVerifierKey(verifierKeyOf(signer)) }
}

function baseManifest(root: Uint8Array, data: Uint8Array) {
  return { origin: 'whodis.localhost/log', treeSize: 5, rootHash: root, records: 1, bytes: data.length, sha256: snapshotDigest(data) }
}

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p
  } catch (err) {
    expect(err).toBeInstanceOf(SnapshotError)
    return (err as SnapshotError).code
  }
  throw new Error('expected a SnapshotError')
}

describe('openSnapshot', () => {
  it('opens a genuine snapshot', async () => {
    const f = await fixture()
    const { manifest, content } = await openSnapshot(f.note, f.data, f.key)
    expect(content).toEqual(f.content)
    expect(manifest.treeSize).toBe(5)
  })

  it('refuses a forged or altered manifest, or one signed by another key', async () => {
    const f = await fixture()
    const body = f.note.replace('records 1', 'records 2')
    expect(await code(openSnapshot(body, f.data, f.key))).toBe('bad_manifest')
    const other = await fixture(OTHER)
    expect(await code(openSnapshot(other.note, other.data, f.key))).toBe('bad_manifest')
  })

  it('refuses data that does not match its manifest', async () => {
    const f = await fixture()
    const flipped = f.data.slice()
    flipped[20]! ^= 1
    expect(await code(openSnapshot(f.note, flipped, f.key))).toBe('mismatch')
    expect(await code(openSnapshot(f.note, f.data.subarray(0, f.data.length - 1), f.key))).toBe('mismatch')
  })

  it('refuses a signed manifest whose root, size or count disagrees with the data', async () => {
    const f = await fixture()
    expect(await code(openSnapshot((await fixture(SIGNER, (m) => (m.rootHash = new Uint8Array(32)))).note, f.data, f.key))).toBe('mismatch')
    expect(await code(openSnapshot((await fixture(SIGNER, (m) => (m.treeSize = 6))).note, f.data, f.key))).toBe('mismatch')
    expect(await code(openSnapshot((await fixture(SIGNER, (m) => (m.records = 2))).note, f.data, f.key))).toBe('mismatch')
    expect(await code(openSnapshot((await fixture(SIGNER, (m) => (m.origin = 'other.example/log'))).note, f.data, f.key))).toBe('wrong_log')
  })

  it('refuses a signed, hash-matching file that is not a snapshot or inflates past the cap', async () => {
    const junk = await gzip(new Uint8Array(10_000))
    const f = await fixture(SIGNER, (m) => Object.assign(m, { bytes: junk.length, sha256: snapshotDigest(junk) }))
    expect(await code(openSnapshot(f.note, junk, f.key))).toBe('bad_data')
    expect(await code(openSnapshot(f.note, junk, f.key, 1000))).toBe('bad_data')
  })
})
