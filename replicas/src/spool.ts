/**
 * Where verified-but-not-yet-applied entries wait between the two passes of a sync (see
 * sync.ts): the entry bundles as served, in memory up to a budget, then in a temporary file
 * (`sync-spool.bin` in the data directory), so a bootstrap of millions of entries runs in
 * bounded memory while a typical catch-up never touches the disk. A bundle is one object however
 * many entries it holds (a replay of millions would otherwise keep millions alive until its
 * fold, and the garbage collector would copy them again and again). File blocks carry their
 * SHA-256, checked when read back.
 * @module
 */
import { createHash } from 'node:crypto'
import { closeSync, openSync, readSync, rmSync, writeSync } from 'node:fs'
import { decodeBundle } from '../../src/protocol/tiles.ts'
import { MirrorError } from './errors.ts'

/** Bytes of bundles a spool keeps in memory before it writes to its file (64 MiB). */
export const SPOOL_MEMORY_BYTES = 64 * 2 ** 20

/** Entry bundles in log order, written once, read once; see the module comment. */
export class Spool {
  readonly #path: string
  readonly #memoryBytes: number
  readonly #memory: { bytes: Uint8Array; skip: number }[] = []
  #held = 0
  #fd: number | null = null
  readonly #blocks: { at: number; length: number; skip: number; digest: string }[] = []
  #end = 0
  #disposed = false

  /** A spool whose file, if it needs one, is `path`; at most `memoryBytes` are held in memory. */
  constructor(path: string, memoryBytes = SPOOL_MEMORY_BYTES) {
    this.#path = path
    this.#memoryBytes = memoryBytes
  }

  /**
   * Appends a bundle (its bytes as served, already checked to decode) whose first `skip` entries
   * are not part of the range. Once one goes to the file, every later one does.
   */
  add(bundle: Uint8Array, skip = 0): void {
    if (this.#fd === null) {
      if (this.#held + bundle.length <= this.#memoryBytes) {
        this.#memory.push({ bytes: bundle, skip })
        this.#held += bundle.length
        return
      }
      this.#fd = openSync(this.#path, 'w+')
    }
    let done = 0
    while (done < bundle.length) done += writeSync(this.#fd, bundle, done, bundle.length - done, this.#end + done)
    this.#blocks.push({ at: this.#end, length: bundle.length, skip, digest: createHash('sha256').update(bundle).digest('hex') })
    this.#end += bundle.length
  }

  /** Reads every entry added, in order (views into the bundles). */
  *entries(): Generator<Uint8Array> {
    for (const { bytes, skip } of this.#memory) yield* entriesOf(bytes, skip)
    for (const b of this.#blocks) {
      const buf = new Uint8Array(b.length)
      let done = 0
      while (done < b.length) {
        const n = readSync(this.#fd!, buf, done, b.length - done, b.at + done)
        if (n === 0) break
        done += n
      }
      if (done !== b.length || createHash('sha256').update(buf).digest('hex') !== b.digest) {
        throw new MirrorError('store', `${this.#path} changed on disk during the sync`)
      }
      yield* entriesOf(buf, b.skip)
    }
  }

  /** Frees the memory and removes the file (also one a crash left behind). */
  dispose(): void {
    if (this.#disposed) return
    this.#disposed = true
    this.#memory.length = 0
    if (this.#fd !== null) closeSync(this.#fd)
    rmSync(this.#path, { force: true })
  }
}

function entriesOf(bundle: Uint8Array, skip: number): Uint8Array[] {
  const entries = decodeBundle(bundle)
  return skip === 0 ? entries : entries.slice(skip)
}
