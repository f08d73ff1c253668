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
import { closeSync, fdatasyncSync, fstatSync, ftruncateSync, openSync, readSync, write, writeSync } from 'node:fs'
import { HASH_SIZE, type Hash, type HashReader } from '../../src/protocol/merkle.ts'
import { MirrorError } from './errors.ts'

// Writes go out in 8 MiB runs: about twice the throughput of 1 MiB runs into the page cache here.
const FLUSH_BYTES = 8 << 20

/** An open `hashes.bin`. */
export class HashFile {
  readonly #fd: number
  /** Hashes on disk that are verified (the committed checkpoint's tree). */
  #valid: number
  /** Hashes written (on disk or pending), verified or not. */
  #written: number
  /** Hashes not yet written to the file: `#pending[0 .. #pendingBytes)`, from stored index `#pendingStart`. */
  #pending: Uint8Array = new Uint8Array(FLUSH_BYTES)
  #pendingStart = 0
  #pendingBytes = 0
  #closed = false
  /**
   * Full runs being written in the background (libuv's thread pool), so that a bulk writer
   * (a bootstrap writes a gigabyte) hashes while the kernel copies: see {@link drain}.
   */
  #inFlight = 0
  #writeError: unknown = null
  #drained: (() => void)[] = []
  readonly #spare: Uint8Array[] = []

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
    for (let k = 0; k < hashes.length; k++) this.writeRun(start + k, hashes[k]!, 0, 1)
  }

  /**
   * Writes `count` hashes lying contiguously in `run` from byte `at`, from stored index `start`
   * on; `start` must not leave a gap. Buffered (copied), so `run` may be reused at once. Every
   * full 8 MiB run is written in the background: a caller of this must `await drain()` before
   * anything else touches the file (the synchronous methods refuse while writes are in flight).
   */
  writeRun(start: number, run: Uint8Array, at: number, count: number): void {
    if (start > this.#written) throw new MirrorError('internal', `hash write at ${start} leaves a gap after ${this.#written}`)
    if (this.#pendingBytes > 0 && start !== this.#pendingStart + this.#pendingBytes / HASH_SIZE) this.flush()
    if (this.#pendingBytes === 0) this.#pendingStart = start
    let from = at
    let left = count * HASH_SIZE
    while (left > 0) {
      const n = Math.min(left, this.#pending.length - this.#pendingBytes)
      this.#pending.set(run.subarray(from, from + n), this.#pendingBytes)
      this.#pendingBytes += n
      from += n
      left -= n
      if (this.#pendingBytes === this.#pending.length) {
        const next = this.#pendingStart + this.#pendingBytes / HASH_SIZE
        this.#writeInBackground()
        this.#pendingStart = next
      }
    }
    this.#written = Math.max(this.#written, start + count)
  }

  /** Resolves once every background write is done; rejects with the first that failed. */
  async drain(): Promise<void> {
    if (this.#inFlight > 0) await new Promise<void>((resolve) => this.#drained.push(resolve))
    if (this.#writeError) {
      const err = this.#writeError
      this.#writeError = null
      throw err
    }
  }

  /** Hands the full pending run to the thread pool and takes a fresh buffer. */
  #writeInBackground(): void {
    const buf = this.#pending
    const length = this.#pendingBytes
    const position = this.#pendingStart * HASH_SIZE
    this.#pending = this.#spare.pop() ?? new Uint8Array(FLUSH_BYTES)
    this.#pendingBytes = 0
    this.#inFlight++
    const done = (err: unknown) => {
      this.#writeError ??= err
      this.#spare.push(buf)
      if (--this.#inFlight === 0) for (const resolve of this.#drained.splice(0)) resolve()
    }
    const writeFrom = (offset: number) =>
      write(this.#fd, buf, offset, length - offset, position + offset, (err, n) => {
        if (err) return done(err)
        if (offset + n < length) return writeFrom(offset + n)
        done(null)
      })
    writeFrom(0)
  }

  /** Throws unless no background write is in flight. */
  #settled(): void {
    if (this.#inFlight > 0) throw new MirrorError('internal', 'hashes.bin has writes in flight (await drain() first)')
    if (this.#writeError) {
      const err = this.#writeError
      this.#writeError = null
      throw err
    }
  }

  /** Writes pending hashes to the file (no fsync). */
  flush(): void {
    this.#settled()
    if (this.#pendingBytes === 0) return
    const buf = this.#pending
    let done = 0
    const position = this.#pendingStart * HASH_SIZE
    while (done < this.#pendingBytes) done += writeSync(this.#fd, buf, done, this.#pendingBytes - done, position + done)
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
    this.#settled()
    this.#pendingBytes = 0
    if (this.#written === this.#valid) return
    ftruncateSync(this.#fd, this.#valid * HASH_SIZE)
    this.#written = this.#valid
  }

  /** Empties the file (before rebuilding it from tiles). */
  reset(): void {
    this.#settled()
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
