/**
 * Where verified-but-not-yet-applied entries wait between the two passes of a sync (see
 * sync.ts): in memory for a range of up to one chunk, in a temporary file (`sync-spool.bin` in
 * the data directory) beyond that, so a bootstrap of millions of entries runs in bounded memory.
 * File blocks carry their SHA-256, checked when read back.
 * @module
 */
import { createHash } from 'node:crypto'
import { closeSync, openSync, readSync, rmSync, writeSync } from 'node:fs'
import { decodeBundle, encodeBundle } from '../../src/protocol/tiles.ts'
import { MirrorError } from './errors.ts'

/** Entries in log order, written once, read once. */
export interface Spool {
  /** Appends entries (in order). */
  add(entries: readonly Uint8Array[]): void
  /** Reads everything added, in order. */
  entries(): Generator<Uint8Array>
  /** Frees memory or removes the file. */
  dispose(): void
}

/** A spool in memory. */
export class MemorySpool implements Spool {
  #entries: Uint8Array[] = []
  add(entries: readonly Uint8Array[]): void {
    for (const e of entries) this.#entries.push(e)
  }
  *entries(): Generator<Uint8Array> {
    yield* this.#entries
  }
  dispose(): void {
    this.#entries = []
  }
}

/** A spool in a file: each `add` is one block (a bundle encoding) with its digest kept in memory. */
export class FileSpool implements Spool {
  readonly #path: string
  readonly #fd: number
  readonly #blocks: { at: number; length: number; digest: string }[] = []
  #end = 0
  #disposed = false

  constructor(path: string) {
    this.#path = path
    this.#fd = openSync(path, 'w+')
  }

  add(entries: readonly Uint8Array[]): void {
    for (let i = 0; i < entries.length; i += 256) {
      const block = encodeBundle(entries.slice(i, i + 256))
      let done = 0
      while (done < block.length) done += writeSync(this.#fd, block, done, block.length - done, this.#end + done)
      this.#blocks.push({ at: this.#end, length: block.length, digest: createHash('sha256').update(block).digest('hex') })
      this.#end += block.length
    }
  }

  *entries(): Generator<Uint8Array> {
    for (const b of this.#blocks) {
      const buf = new Uint8Array(b.length)
      let done = 0
      while (done < b.length) {
        const n = readSync(this.#fd, buf, done, b.length - done, b.at + done)
        if (n === 0) break
        done += n
      }
      if (done !== b.length || createHash('sha256').update(buf).digest('hex') !== b.digest) {
        throw new MirrorError('store', `${this.#path} changed on disk during the sync`)
      }
      yield* decodeBundle(buf)
    }
  }

  dispose(): void {
    if (this.#disposed) return
    this.#disposed = true
    closeSync(this.#fd)
    rmSync(this.#path, { force: true })
  }
}
