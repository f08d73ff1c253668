/**
 * The sync spool: entries come back in the order their bundles went in (less the skipped ones),
 * from memory and then from the file once the memory budget is spent; a file changed under the
 * sync is refused.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { encodeBundle } from '../../src/protocol/tiles.ts'
import { Spool } from '../src/spool.ts'

const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})
const tempPath = () => {
  const d = mkdtempSync(join(tmpdir(), 'whodis-spool-'))
  dirs.push(d)
  return join(d, 'sync-spool.bin')
}
/** `count` distinct entries of 1 to 40 bytes, the k-th starting at `first`. */
const entries = (first: number, count: number) =>
  Array.from({ length: count }, (_, i) => Uint8Array.from({ length: 1 + ((first + i) % 40) }, (_, j) => (first + i + j) & 0xff))

describe('Spool', () => {
  it('keeps a small range in memory and never creates its file', () => {
    const path = tempPath()
    const spool = new Spool(path)
    const first = entries(0, 200)
    const second = entries(200, 256)
    spool.add(encodeBundle(first), 50)
    spool.add(encodeBundle(second))
    expect([...spool.entries()]).toEqual([...first.slice(50), ...second])
    expect(existsSync(path)).toBe(false)
    spool.dispose()
  })

  it('spills to its file past the memory budget, in order, and removes the file when disposed', () => {
    const path = tempPath()
    const spool = new Spool(path, 4000)
    const all: Uint8Array[] = []
    for (let k = 0; k < 20; k++) {
      const batch = entries(k * 100, 100)
      all.push(...batch.slice(k % 3))
      spool.add(encodeBundle(batch), k % 3)
    }
    expect(existsSync(path)).toBe(true)
    expect([...spool.entries()]).toEqual(all)
    spool.dispose()
    expect(existsSync(path)).toBe(false)
  })

  it('refuses a file changed on disk between the passes', () => {
    const path = tempPath()
    const spool = new Spool(path, 0)
    spool.add(encodeBundle(entries(0, 256)))
    const bytes = readFileSync(path)
    bytes[bytes.length - 3]! ^= 1
    writeFileSync(path, bytes)
    expect(() => [...spool.entries()]).toThrow(/changed on disk/)
    spool.dispose()
  })
})
