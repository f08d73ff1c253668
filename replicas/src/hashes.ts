/**
 * The mirror's Merkle tree on disk: `hashes.bin`, every stored hash of Go's `tlog` layout
 * (hash with stored index i at byte 32·i), append-only. It lets the mirror build inclusion
 * proofs for `?proof=1` against its own checkpoint without asking anyone.
 *
 * Its valid length is not recorded separately: it is `storedHashCount(size)` hashes, where
 * `size` is the tree size of the checkpoint the store has committed. The sync engine writes and
 * fsyncs the hashes of a new range before the store commit that names the new checkpoint, so
 * after a crash the file is at least that long; bytes past it are an unfinished sync and are cut
 * on open.
 * @module
 */
import { closeSync, fdatasyncSync, fstatSync, ftruncateSync, openSync, readSync, writeSync } from 'node:fs'
import { HASH_SIZE, type Hash, type HashReader } from '../../src/protocol/merkle.ts'
import { MirrorError } from './errors.ts'

const FLUSH_BYTES = 1 << 20

/** An open `hashes.bin`. */
export class HashFile {
  readonly #fd: number
  /** Hashes on disk that are verified (the committed checkpoint's tree). */
  #valid: number
  /** Hashes written (on disk or pending), verified or not. */
  #written: number
  #pending: Uint8Array[] = []
  #pendingStart = 0
  #pendingBytes = 0
  #closed = false

  private constructor(fd: number, valid: number, written: number) {
    this.#fd = fd
    this.#valid = valid
    this.#written = written
  }

  /**
   * Opens (creating) the file and cuts anything past `validCount` hashes. When the file holds
   * fewer than `validCount`, `complete` is false and the caller must rebuild it.
   */
  static open(path: string, validCount: number): HashFile {
    const fd = openSync(path, 'a+')
    closeSync(fd)
    const rw = openSync(path, 'r+')
    const bytes = fstatSync(rw).size
    const have = Math.floor(bytes / HASH_SIZE)
    const keep = Math.min(have, validCount)
    if (bytes !== keep * HASH_SIZE) {
      ftruncateSync(rw, keep * HASH_SIZE)
      fdatasyncSync(rw)
    }
    return new HashFile(rw, keep, keep)
  }

  /** Verified hashes held. */
  get validCount(): number {
    return this.#valid
  }

  /** Hashes written so far, including an unverified tail. */
  get writtenCount(): number {
    return this.#written
  }

  /** A synchronous reader over every written hash (flushes pending writes first). */
  readonly reader: HashReader = (indexes) => {
    this.flush()
    const buf = new Uint8Array(HASH_SIZE)
    return indexes.map((i) => {
      if (!Number.isSafeInteger(i) || i < 0 || i >= this.#written) throw new MirrorError('internal', `stored hash ${i} is not held`)
      const n = readSync(this.#fd, buf, 0, HASH_SIZE, i * HASH_SIZE)
      if (n !== HASH_SIZE) throw new MirrorError('store', `hashes.bin is shorter than expected at hash ${i}`)
      return buf.slice()
    })
  }

  /** Writes `hashes` from stored index `start` on; `start` must not leave a gap. Buffered. */
  write(start: number, hashes: readonly Hash[]): void {
    if (start > this.#written) throw new MirrorError('internal', `hash write at ${start} leaves a gap after ${this.#written}`)
    if (this.#pending.length > 0 && start !== this.#pendingStart + this.#pendingBytes / HASH_SIZE) this.flush()
    if (this.#pending.length === 0) this.#pendingStart = start
    for (const h of hashes) {
      this.#pending.push(h)
      this.#pendingBytes += HASH_SIZE
    }
    this.#written = Math.max(this.#written, start + hashes.length)
    if (this.#pendingBytes >= FLUSH_BYTES) this.flush()
  }

  /** Writes pending hashes to the file (no fsync). */
  flush(): void {
    if (this.#pending.length === 0) return
    const buf = new Uint8Array(this.#pendingBytes)
    this.#pending.forEach((h, i) => buf.set(h, i * HASH_SIZE))
    let done = 0
    const position = this.#pendingStart * HASH_SIZE
    while (done < buf.length) done += writeSync(this.#fd, buf, done, buf.length - done, position + done)
    this.#pending = []
    this.#pendingBytes = 0
  }

  /** Flushes and fsyncs: after this the written hashes survive a crash. */
  sync(): void {
    this.flush()
    fdatasyncSync(this.#fd)
  }

  /** Marks the first `count` written hashes as verified (after the commit that names them). */
  markValid(count: number): void {
    if (count > this.#written) throw new MirrorError('internal', `cannot mark ${count} hashes valid: only ${this.#written} written`)
    this.#valid = count
  }

  /** Drops everything past the verified hashes (after a refused or failed sync). */
  discardUnverified(): void {
    this.#pending = []
    this.#pendingBytes = 0
    if (this.#written === this.#valid) return
    ftruncateSync(this.#fd, this.#valid * HASH_SIZE)
    this.#written = this.#valid
  }

  /** Empties the file (before rebuilding it from tiles). */
  reset(): void {
    this.#pending = []
    this.#pendingBytes = 0
    ftruncateSync(this.#fd, 0)
    this.#valid = 0
    this.#written = 0
  }

  /** Closes the file. Idempotent. */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    try {
      this.flush()
    } finally {
      closeSync(this.#fd)
    }
  }
}
