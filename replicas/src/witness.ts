/**
 * A C2SP tlog-witness (https://c2sp.org/tlog-witness): `POST /add-checkpoint` verifies a log's
 * checkpoint against the pinned log keys and a consistency proof from the latest checkpoint it
 * cosigned for that origin, then returns its `cosignature/v1` line; `GET /<sha256(origin)
 * hex>/checkpoint` serves that latest cosigned checkpoint.
 *
 * Storage contract: per origin, `<state>/<sha256(origin) hex>.checkpoint` holds the latest
 * cosigned checkpoint (the log's verified signature lines and this witness's cosignature). It
 * is replaced atomically (temp file, fsync, rename, fsync directory) BEFORE a cosignature is
 * returned, and requests for one origin run one at a time, so that the check of `old` against
 * the latest size and its update are one step: after any crash the file names the last tree
 * the witness vouched for, and it never cosigns a tree inconsistent with it. A file that does
 * not verify stops the witness from starting (falling back to size 0 would let it sign a fork).
 * `<state>/LOCK` keeps a second process off the directory. A checkpoint of the cosigned size
 * with another root, both signed by the log, is a fork: `<state>/misbehaviour-fork-*.json`
 * keeps the two notes.
 * @module
 */
import { mkdir, readFile } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { createHash } from 'node:crypto'
import { constantTimeEqual, toHex } from '../../src/protocol/bytes.ts'
import { decodeHash, parseCheckpoint, type Checkpoint } from '../../src/protocol/checkpoint.ts'
import { cosign, type CosignatureSigner } from '../../src/protocol/cosignature.ts'
import { checkTree, EMPTY_ROOT } from '../../src/protocol/merkle.ts'
import { NoteError, openNote, splitNote } from '../../src/protocol/note.ts'
import { formatVerifierKey, type NoteVerifierKey } from '../../src/protocol/note-keys.ts'
import { MAX_PROOF_HASHES } from '../../src/protocol/tlog-proof.ts'
import { writeEvidence } from './evidence.ts'
import { replaceFile } from './store/fsutil.ts'
import { acquireLock, type Lock } from './store/lock.ts'

/** Largest add-checkpoint body read. */
export const MAX_ADD_CHECKPOINT_BYTES = 64 * 1024

/** Content type of a 409 body (the latest size and a newline). */
export const TLOG_SIZE_CONTENT_TYPE = 'text/x.tlog.size'

/** How a witness is set up. */
export interface WitnessOptions {
  /** Pinned log keys; each key's name is the origin it signs for. */
  logKeys: readonly NoteVerifierKey[]
  signer: CosignatureSigner
  /** Directory of the durable state (created if missing). */
  stateDir: string
  /** The clock, in milliseconds (default Date.now); cosignatures carry it in seconds. */
  now?: () => number
  /**
   * An extra check of a checkpoint that passed the spec's checks (a mirror comparing it with
   * its own verified view); a string refuses it with 422 and that reason.
   */
  extraCheck?: (checkpoint: Checkpoint) => string | null
}

/** An HTTP answer: status, content type and body. */
export interface WitnessResponse {
  status: number
  contentType: string
  body: string
}

/** The latest checkpoint cosigned for an origin. */
export interface WitnessedTree {
  size: number
  rootHash: Uint8Array
  /** The checkpoint with the log's signatures and this witness's cosignature. */
  note: string
  /** That cosignature's timestamp (POSIX seconds). */
  time: number
}

/** A running witness over one state directory. */
export class Witness {
  private readonly latest = new Map<string, WitnessedTree>()
  private readonly queues = new Map<string, Promise<unknown>>()
  private closed = false

  private constructor(
    private readonly options: WitnessOptions,
    private readonly keysByOrigin: Map<string, NoteVerifierKey[]>,
    private readonly lock: Lock,
  ) {}

  /** Opens the state in `options.stateDir`, taking its lock and checking each stored checkpoint. */
  static async open(options: WitnessOptions): Promise<Witness> {
    if (options.logKeys.length === 0) throw new Error('a witness needs at least one log key')
    const keysByOrigin = new Map<string, NoteVerifierKey[]>()
    for (const key of options.logKeys) keysByOrigin.set(key.name, [...(keysByOrigin.get(key.name) ?? []), key])
    await mkdir(options.stateDir, { recursive: true })
    const lock = acquireLock(join(options.stateDir, 'LOCK'))
    const witness = new Witness(options, keysByOrigin, lock)
    try {
      for (const [origin, keys] of keysByOrigin) {
        let text: string
        try {
          text = await readFile(witness.pathOf(origin), 'utf8')
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue
          throw err
        }
        const opened = await openNote(text, keys).catch((err: unknown) => {
          throw new Error(`witness state for ${origin} does not verify with its log key (${(err as Error).message}); refusing to start`)
        })
        const c = parseCheckpoint(opened.text)
        if (c.origin !== origin) throw new Error(`witness state ${witness.pathOf(origin)} is for ${c.origin}, not ${origin}`)
        witness.latest.set(origin, { size: c.size, rootHash: c.rootHash, note: text, time: ownTimestamp(text, options.signer) })
      }
    } catch (err) {
      lock.release()
      throw err
    }
    return witness
  }

  /** The witness's name (its key name). */
  get name(): string {
    return this.options.signer.name
  }

  /** The witness's signer (for its verifier key). */
  get signer(): CosignatureSigner {
    return this.options.signer
  }

  /** The latest tree cosigned for `origin`, or null if none. */
  tree(origin: string): WitnessedTree | null {
    return this.latest.get(origin) ?? null
  }

  /** `GET <prefix>/<originHashHex>/checkpoint`: the latest cosigned checkpoint of that log, or 404. */
  checkpointByOriginHash(originHashHex: string): WitnessResponse {
    for (const [origin, tree] of this.latest) {
      if (originHash(origin) === originHashHex) return { status: 200, contentType: 'text/plain; charset=utf-8', body: tree.note }
    }
    return text(404, 'no checkpoint cosigned for that log')
  }

  /** `POST <prefix>/add-checkpoint` with `body`; never throws for bad input (a 4xx answer). */
  async addCheckpoint(body: Uint8Array | string): Promise<WitnessResponse> {
    if (this.closed) return text(503, 'witness is closed')
    const parsed = parseRequest(body)
    if ('status' in parsed) return parsed
    const origin = parsed.note.slice(0, parsed.note.indexOf('\n'))
    const keys = this.keysByOrigin.get(origin)
    if (!keys) return text(404, 'unknown log origin')
    let opened
    try {
      opened = await openNote(parsed.note, keys)
    } catch (err) {
      if (err instanceof NoteError && (err.code === 'unverified' || err.code === 'bad_signature')) return text(403, err.message)
      if (err instanceof NoteError) return text(400, err.message)
      throw err
    }
    let checkpoint: Checkpoint
    try {
      checkpoint = parseCheckpoint(opened.text)
    } catch (err) {
      return text(400, (err as Error).message)
    }
    if (parsed.oldSize > checkpoint.size) return text(400, `old size ${parsed.oldSize} is larger than the checkpoint size ${checkpoint.size}`)
    const logLines = logSignatureLines(parsed.note, opened.verified)
    return this.serialized(origin, () => this.advance(checkpoint, opened.text, logLines, parsed.oldSize, parsed.proof))
  }

  /** Stops answering and releases the lock (after the requests in flight). */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await Promise.allSettled([...this.queues.values()])
    this.lock.release()
  }

  // The check of `old` against the latest size, and the durable update, for one origin at a time.
  private async advance(c: Checkpoint, noteText: string, logLines: string, oldSize: number, proof: Uint8Array[]): Promise<WitnessResponse> {
    const known = this.latest.get(c.origin) ?? null
    const knownSize = known?.size ?? 0
    if (oldSize !== knownSize) return { status: 409, contentType: TLOG_SIZE_CONTENT_TYPE, body: `${knownSize}\n` }
    if (c.size === 0 && !constantTimeEqual(c.rootHash, EMPTY_ROOT)) return text(422, 'a checkpoint of size 0 must have the root of the empty tree')
    if (oldSize === 0) {
      if (proof.length > 0) return text(422, 'the consistency proof from size 0 must be empty')
    } else if (oldSize === c.size && constantTimeEqual(c.rootHash, known!.rootHash)) {
      if (proof.length > 0) return text(422, 'the consistency proof between equal sizes must be empty')
    } else if (oldSize !== c.size) {
      if (!checkTree(proof, c.size, c.rootHash, oldSize, known!.rootHash)) return text(422, `the consistency proof from size ${oldSize} does not verify`)
    } else {
      // Two roots signed by the log for one size: proof of a fork, kept for anyone to check.
      const path = writeEvidence(
        this.options.stateDir,
        {
          kind: 'fork',
          held: { source: `the checkpoint ${this.name} cosigned`, note: known!.note, size: known!.size, rootHash: known!.rootHash },
          served: { source: 'an add-checkpoint request', note: `${noteText}\n${logLines}`, size: c.size, rootHash: c.rootHash },
          explanation: `the log signed two different roots for tree size ${c.size}`,
        },
        this.keyTextOf(c.origin),
        (this.options.now ?? Date.now)(),
      )
      return text(422, `the root differs from the one cosigned at this size (a fork: evidence kept as ${basename(path)})`)
    }
    const refusal = this.options.extraCheck?.(c) ?? null
    if (refusal) return text(422, refusal)
    // Never earlier than the last cosignature: a larger tree dated before a smaller one would
    // contradict "the largest tree as of that time" (a clock stepped back).
    const time = Math.max(Math.floor((this.options.now ?? Date.now)() / 1000), known?.time ?? 0)
    const line = await cosign(noteText, this.options.signer, time)
    const stored = `${noteText}\n${logLines}${line}`
    await replaceFile(this.pathOf(c.origin), stored) // durable before the cosignature leaves
    this.latest.set(c.origin, { size: c.size, rootHash: c.rootHash, note: stored, time })
    return { status: 200, contentType: 'text/plain; charset=utf-8', body: line }
  }

  private serialized<T>(origin: string, step: () => Promise<T>): Promise<T> {
    const previous = this.queues.get(origin) ?? Promise.resolve()
    const next = previous.then(step, step)
    const settled = next.catch(() => undefined)
    this.queues.set(origin, settled)
    void settled.then(() => {
      if (this.queues.get(origin) === settled) this.queues.delete(origin)
    })
    return next
  }

  private keyTextOf(origin: string): string {
    return this.keysByOrigin.get(origin)!.map((k) => formatVerifierKey(k.name, k.publicKey)).join(',')
  }

  private pathOf(origin: string): string {
    return join(this.options.stateDir, `${originHash(origin)}.checkpoint`)
  }
}

/** A parsed add-checkpoint body, or the 400 answer to it. */
function parseRequest(body: Uint8Array | string): { oldSize: number; proof: Uint8Array[]; note: string } | WitnessResponse {
  let textBody: string
  if (typeof body === 'string') {
    if (body.length > MAX_ADD_CHECKPOINT_BYTES) return text(413, `request body is larger than ${MAX_ADD_CHECKPOINT_BYTES} bytes`)
    textBody = body
  } else {
    if (body.length > MAX_ADD_CHECKPOINT_BYTES) return text(413, `request body is larger than ${MAX_ADD_CHECKPOINT_BYTES} bytes`)
    try {
      textBody = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(body)
    } catch {
      return text(400, 'request body is not UTF-8')
    }
  }
  const cut = textBody.indexOf('\n\n')
  if (cut < 0) return text(400, 'request body has no empty line before the checkpoint')
  const [oldLine, ...proofLines] = textBody.slice(0, cut).split('\n')
  const old = /^old (0|[1-9][0-9]*)$/.exec(oldLine ?? '')
  if (!old || !Number.isSafeInteger(Number(old[1]))) return text(400, 'the first line must be "old <size>", in decimal without leading zeros')
  if (proofLines.length > MAX_PROOF_HASHES) return text(400, `more than ${MAX_PROOF_HASHES} consistency proof lines`)
  const proof: Uint8Array[] = []
  for (const line of proofLines) {
    const hash = decodeHash(line)
    if (!hash) return text(400, 'a consistency proof line is not the base64 of a 32-byte hash')
    proof.push(hash)
  }
  const note = textBody.slice(cut + 2)
  if (!note.includes('\n')) return text(400, 'request has no checkpoint after the empty line')
  return { oldSize: Number(old[1]), proof, note }
}

// The signature lines of the note made by the log keys that verified it, each once.
function logSignatureLines(note: string, verified: readonly NoteVerifierKey[]): string {
  const seen = new Set<string>()
  let out = ''
  for (const sig of splitNote(note).signatures) {
    const line = `\u2014 ${sig.name} ${sig.base64}\n`
    if (seen.has(line) || !verified.some((k) => k.name === sig.name && toHex(k.keyId) === toHex(sig.keyId))) continue
    seen.add(line)
    out += line
  }
  return out
}

// The timestamp of this witness's own cosignature in a stored note (0 if none).
function ownTimestamp(note: string, signer: CosignatureSigner): number {
  let latest = 0
  for (const sig of splitNote(note).signatures) {
    if (sig.name !== signer.name || toHex(sig.keyId) !== toHex(signer.keyId) || sig.signature.length !== 72) continue
    latest = Math.max(latest, Number(new DataView(sig.signature.buffer, sig.signature.byteOffset, 8).getBigUint64(0)))
  }
  return latest
}

// The lowercase hex SHA-256 of an origin: the monitoring URL's path segment and the state file's name.
function originHash(origin: string): string {
  return createHash('sha256').update(origin, 'utf8').digest('hex')
}

function text(status: number, message: string): WitnessResponse {
  return { status, contentType: 'text/plain; charset=utf-8', body: `${message}\n` }
}
