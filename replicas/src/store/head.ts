/**
 * HEAD: the store's small manifest, replaced atomically on every commit. It names the files that
 * make up the committed state and how many of their bytes are committed, plus the commit
 * metadata. Text: one line of JSON, then a line `crc32 <8 hex digits>` over that JSON line.
 * @module
 */
import { readFileSync } from 'node:fs'
import { checksum } from './bytes.ts'
import { StoreError } from './errors.ts'
import { replaceFile } from './fsutil.ts'
import type { AppInfo, Pinned } from './types.ts'

/** The HEAD format version. */
export const HEAD_FORMAT = 1

/** A base file as HEAD names it. */
export interface BaseRef {
  file: string
  bytes: number
  treeSize: number
  records: number
}

/** The decoded HEAD. */
export interface Head {
  format: number
  /** Bumped by bootstrap and compaction; names the base and journal files. */
  generation: number
  /** The base file of the current generation (null: empty state at tree size 0). */
  base: BaseRef | null
  /** The base file written by the last bootstrap, kept for re-verification (null: synced from 0). */
  origin: BaseRef | null
  /** The journal: batches committed on top of `base`; `bytes` is the committed length. */
  journal: { file: string; bytes: number; commits: number }
  /** Raw log entries of every batch since `origin` (entry `from` is the first). */
  entries: { file: string; bytes: number; from: number }
  treeSize: number
  checkpoint: string
  /** Hex-encoded 32-byte hashes. */
  rightEdge: string[]
  apps: AppInfo[]
  pinned: Pinned | null
}

/** HEAD's bytes. */
export function encodeHead(head: Head): string {
  const json = JSON.stringify(head)
  return `${json}\ncrc32 ${checksum(new TextEncoder().encode(json)).toString(16).padStart(8, '0')}\n`
}

/** Parses HEAD text; anything malformed throws `StoreError('corrupt')`. */
export function decodeHead(text: string): Head {
  const m = /^(.*)\ncrc32 ([0-9a-f]{8})\n$/s.exec(text)
  if (!m) throw new StoreError('corrupt', 'HEAD is malformed')
  const json = m[1]!
  if (checksum(new TextEncoder().encode(json)).toString(16).padStart(8, '0') !== m[2]) throw new StoreError('corrupt', 'HEAD checksum mismatch')
  let head: Head
  try {
    head = JSON.parse(json) as Head
  } catch (err) {
    throw new StoreError('corrupt', 'HEAD is not JSON', { cause: err })
  }
  if (head.format !== HEAD_FORMAT) throw new StoreError('corrupt', `HEAD format ${head.format} is not ${HEAD_FORMAT}`)
  const isCount = (x: unknown): boolean => Number.isSafeInteger(x) && (x as number) >= 0
  const fileOk = (f: unknown): boolean => typeof f === 'string' && /^[a-z]+-\d+\.(bin|log)$/.test(f)
  const baseOk = (b: BaseRef | null): boolean => b === null || (fileOk(b.file) && isCount(b.bytes) && isCount(b.treeSize) && isCount(b.records))
  const ok =
    isCount(head.generation) &&
    baseOk(head.base) &&
    baseOk(head.origin) &&
    fileOk(head.journal?.file) &&
    isCount(head.journal.bytes) &&
    isCount(head.journal.commits) &&
    fileOk(head.entries?.file) &&
    isCount(head.entries.bytes) &&
    isCount(head.entries.from) &&
    isCount(head.treeSize) &&
    typeof head.checkpoint === 'string' &&
    Array.isArray(head.rightEdge) &&
    head.rightEdge.every((h) => typeof h === 'string' && /^[0-9a-f]{64}$/.test(h)) &&
    Array.isArray(head.apps) &&
    (head.pinned === null || (typeof head.pinned?.logKey === 'string' && typeof head.pinned.directoryUrl === 'string'))
  if (!ok) throw new StoreError('corrupt', 'HEAD has missing or malformed fields')
  return head
}

/** Reads `path`, or returns undefined when it does not exist. */
export function readHead(path: string): Head | undefined {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  return decodeHead(text)
}

/** Atomically replaces HEAD at `path` (temp file, fsync, rename, fsync dir). */
export async function writeHead(path: string, head: Head): Promise<void> {
  await replaceFile(path, encodeHead(head))
}

/** Hex of a hash. */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
}

/** Bytes of a hex string. */
export function fromHex(hex: string): Uint8Array {
  return new Uint8Array(Buffer.from(hex, 'hex'))
}
