/**
 * Witness cosignatures, `cosignature/v1` (https://c2sp.org/tlog-cosignature): a note signature
 * line `— <witness name> base64(key id || timestamp || signature)` on a checkpoint, where
 * - the key id is SHA-256(<name> || "\n" || 0x04 || Ed25519 public key)[:4];
 * - the timestamp is 8 bytes big-endian, POSIX seconds, at most 2^63 - 1 (a witness never
 *   writes 0);
 * - the signature is Ed25519 over `cosignature/v1\ntime <timestamp>\n` followed by the
 *   checkpoint's note body.
 *
 * The spec's text signs the whole body, extension lines included, and so does {@link cosign}.
 * torchwood (litewitness) signs the first three lines only (origin, size, root), as C2SP issue
 * #238 proposes for everyone. Both forms make the same statement, which is about those three
 * lines only, so a verifier accepts either and reports which one it got.
 * @module
 */
import { concat, fromStdBase64, toBase64, toHex, utf8 } from './bytes.ts'
import { parseCheckpoint, type Checkpoint } from './checkpoint.ts'
import { signerFromSeed, verifyEd25519 } from './ed25519.ts'
import { splitNote } from './note.ts'
import { ALG_COSIGNATURE_V1, formatVerifierKey, isValidKeyName, noteKeyId, type CosignatureVerifierKey } from './note-keys.ts'

/** The header line of the signed message. */
export const COSIGNATURE_V1_HEADER = 'cosignature/v1'

/** Largest timestamp the spec allows. */
const MAX_SPEC_TIMESTAMP = 2n ** 63n - 1n

/** Bytes of a cosignature after the key id: timestamp (8) and Ed25519 signature (64). */
export const COSIGNATURE_BYTES = 8 + 64

const SIGNATURE_PREFIX = '\u2014 '

/** A witness's signing key. */
export interface CosignatureSigner {
  name: string
  /** SHA-256(name || "\n" || 0x04 || publicKey)[:4]. */
  keyId: Uint8Array
  publicKey: Uint8Array
  sign(message: Uint8Array): Promise<Uint8Array>
}

/** Why cosignatures were refused. */
export type CosignatureErrorCode = 'malformed' | 'bad_cosignature' | 'future_timestamp' | 'below_threshold'

/** A checkpoint whose cosignatures are malformed, invalid, from the future, or too few. */
export class CosignatureError extends Error {
  override name = 'CosignatureError'
  constructor(
    readonly code: CosignatureErrorCode,
    message: string,
  ) {
    super(message)
  }
}

/**
 * cosignatureMessage: the bytes a witness signs at `time` for checkpoint note text
 * `checkpointText`: the whole body (scope 'body', the spec's text) or its first three lines
 * (scope 'tree', torchwood's).
 */
export function cosignatureMessage(checkpointText: string, time: number | bigint, scope: 'body' | 'tree' = 'body'): Uint8Array {
  if (typeof time === 'number') checkTimestamp(time)
  else if (time < 0n || time > MAX_SPEC_TIMESTAMP) throw new Error('cosignature timestamp must be from 0 to 2^63 - 1')
  const body = scope === 'body' ? checkpointText : checkpointText.split('\n').slice(0, 3).join('\n') + '\n'
  return utf8(`${COSIGNATURE_V1_HEADER}\ntime ${time}\n${body}`)
}

/**
 * cosign: the cosignature line (`— <name> <base64>\n`) of `signer` at `time` (POSIX seconds,
 * ≥ 1) on a checkpoint, given as a signed note or as bare note text. The text must parse as a
 * checkpoint (else CheckpointError); no signature on it is checked here.
 */
export async function cosign(checkpointNote: string, signer: CosignatureSigner, time: number): Promise<string> {
  if (time < 1) throw new Error('a witness cosignature carries a timestamp of at least 1')
  const text = checkpointNote.includes('\n\n') ? splitNote(checkpointNote).text : checkpointNote
  parseCheckpoint(text)
  const signature = await signer.sign(cosignatureMessage(text, time))
  return `${SIGNATURE_PREFIX}${signer.name} ${toBase64(concat(signer.keyId, timestampBytes(time), signature))}\n`
}

/** addCosignatures: the signed note `note` with signature `lines` appended after its own. */
export function addCosignatures(note: string, lines: string): string {
  splitNote(note)
  if (lines === '') return note
  const extended = note + lines
  splitNote(extended)
  return extended
}

/** One witness that cosigned, as {@link verifyCosignatures} found it. */
export interface Cosigner {
  key: CosignatureVerifierKey
  /** Its latest valid cosignature's time, POSIX seconds. */
  timestamp: number
  /** Whether that signature also covers the extension lines (false: only origin, size, root). */
  coversExtensions: boolean
}

/** Options of {@link verifyCosignatures}. */
export interface CosignaturePolicy {
  /** Distinct witnesses required (0 ≤ k ≤ number of keys). */
  threshold: number
  /** The clock, in milliseconds (default Date.now). */
  now?: () => number
  /** How far in the future a timestamp may be, in seconds (default 300). */
  maxSkewSeconds?: number
  /** A cosignature older than this many seconds does not count (default: no limit). */
  maxAgeSeconds?: number
}

/** The outcome of {@link verifyCosignatures}. */
export interface CosignatureCheck {
  checkpoint: Checkpoint
  /** The witnesses whose cosignature verified and is recent enough, once each. */
  cosigners: Cosigner[]
  /** Witnesses whose cosignatures verified but are older than maxAgeSeconds. */
  stale: Cosigner[]
}

/**
 * verifyCosignatures: which of `witnessKeys` cosigned the checkpoint `note`. Lines by other
 * keys are ignored (the log's own signature is not checked here: open the note with the log
 * key first). Throws CosignatureError
 * - 'malformed' if the note or checkpoint does not parse, or a known witness's line is not
 *   key id || 8-byte timestamp || 64-byte signature;
 * - 'bad_cosignature' if a known witness's line does not verify over this checkpoint (another
 *   tree, another origin, altered extension lines), even when another line of it does;
 * - 'future_timestamp' past `maxSkewSeconds` ahead of `now`;
 * - 'below_threshold' when fewer than `threshold` distinct witnesses count.
 * Throws a plain Error on a bad policy: a threshold out of range, or two keys sharing a public
 * key (the signed message does not name the witness, so one signature would count twice).
 */
export async function verifyCosignatures(
  note: string | Uint8Array,
  witnessKeys: readonly CosignatureVerifierKey[],
  policy: CosignaturePolicy,
): Promise<CosignatureCheck> {
  const { threshold } = policy
  if (!Number.isSafeInteger(threshold) || threshold < 0 || threshold > witnessKeys.length) {
    throw new Error(`witness threshold ${threshold} must be an integer from 0 to the ${witnessKeys.length} witness keys`)
  }
  const publicKeys = new Set<string>()
  for (const key of witnessKeys) {
    if (key.type !== 'cosignature/v1') throw new Error(`${key.name} is not a cosignature/v1 witness key`)
    if (publicKeys.has(toHex(key.publicKey))) throw new Error(`two witness keys share the public key of ${key.name}`)
    publicKeys.add(toHex(key.publicKey))
  }
  let split, checkpoint: Checkpoint
  try {
    split = splitNote(note)
    checkpoint = parseCheckpoint(split.text)
  } catch (err) {
    throw new CosignatureError('malformed', `checkpoint note: ${(err as Error).message}`)
  }
  const nowSeconds = Math.floor((policy.now ?? Date.now)() / 1000)
  const maxSkew = policy.maxSkewSeconds ?? 300
  const found = new Map<CosignatureVerifierKey, Cosigner>()
  for (const line of split.signatures) {
    const key = witnessKeys.find((k) => k.name === line.name && toHex(k.keyId) === toHex(line.keyId))
    if (!key) continue
    const id = `${key.name}+${toHex(key.keyId)}`
    if (line.signature.length !== COSIGNATURE_BYTES) throw new CosignatureError('malformed', `cosignature by ${id} is not a timestamp and an Ed25519 signature`)
    const stamp = new DataView(line.signature.buffer, line.signature.byteOffset, 8).getBigUint64(0)
    if (stamp > MAX_SPEC_TIMESTAMP) throw new CosignatureError('malformed', `cosignature by ${id} has a timestamp above 2^63 - 1`)
    const signature = line.signature.subarray(8)
    let coversExtensions = true
    if (!(await verifyEd25519(key.publicKey, cosignatureMessage(split.text, stamp, 'body'), signature))) {
      coversExtensions = false
      const treeOnly = checkpoint.extensions.length > 0 && (await verifyEd25519(key.publicKey, cosignatureMessage(split.text, stamp, 'tree'), signature))
      if (!treeOnly) throw new CosignatureError('bad_cosignature', `cosignature by ${id} does not verify for this checkpoint`)
    }
    if (stamp > BigInt(nowSeconds + maxSkew)) {
      throw new CosignatureError('future_timestamp', `cosignature by ${id} is dated ${stamp - BigInt(nowSeconds)} s in the future`)
    }
    const timestamp = Number(stamp)
    const previous = found.get(key)
    if (!previous || previous.timestamp < timestamp) found.set(key, { key, timestamp, coversExtensions })
  }
  const all = [...found.values()]
  const fresh = policy.maxAgeSeconds === undefined ? all : all.filter((c) => nowSeconds - c.timestamp <= policy.maxAgeSeconds!)
  const stale = all.filter((c) => !fresh.includes(c))
  if (fresh.length < threshold) {
    const staleNote = stale.length > 0 ? ` (${stale.length} more older than ${policy.maxAgeSeconds} s)` : ''
    throw new CosignatureError(
      'below_threshold',
      `checkpoint ${checkpoint.origin} @ ${checkpoint.size} has ${fresh.length} of the ${threshold} witness cosignatures required${staleNote}`,
    )
  }
  return { checkpoint, cosigners: fresh, stale }
}

/** Builds a witness signer from a `PRIVATE+KEY+<name>+<hex keyid>+<base64 0x04||seed>` string. */
export async function cosignatureSignerFromKey(signerKey: string): Promise<CosignatureSigner> {
  const parts = signerKey.split('+')
  // The base64 at the end may itself contain '+'.
  const [private_, key_, name, idHex] = parts
  const keyB64 = parts.slice(4).join('+')
  if (parts.length < 5 || private_ !== 'PRIVATE' || key_ !== 'KEY') throw new Error('witness signer key must be PRIVATE+KEY+<name>+<hex keyid>+<base64 key>')
  if (!isValidKeyName(name!)) throw new Error('witness signer key has an invalid name')
  if (!/^[0-9a-f]{8}$/.test(idHex!)) throw new Error('witness signer key id must be 8 lowercase hex digits')
  let raw: Uint8Array
  try {
    raw = fromStdBase64(keyB64)
  } catch {
    throw new Error('witness signer key is not standard base64')
  }
  if (raw.length !== 33) throw new Error('witness signer key is not a 32-byte Ed25519 seed')
  if (raw[0] !== ALG_COSIGNATURE_V1) throw new Error(`witness signer key has type 0x${raw[0]!.toString(16).padStart(2, '0')}, not 0x04 (cosignature/v1)`)
  const { publicKey, sign } = await signerFromSeed(raw.subarray(1))
  const keyId = noteKeyId(name!, publicKey, 'cosignature/v1')
  if (toHex(keyId) !== idHex) throw new Error('witness signer key id does not match its key')
  return { name: name!, keyId, publicKey, sign }
}

/** formatCosignatureSignerKey: the signer key string of a witness (type byte 0x04, like its vkey). */
export function formatCosignatureSignerKey(name: string, seed: Uint8Array, publicKey: Uint8Array): string {
  if (!isValidKeyName(name)) throw new Error(`invalid witness name ${JSON.stringify(name)}`)
  return `PRIVATE+KEY+${name}+${toHex(noteKeyId(name, publicKey, 'cosignature/v1'))}+${toBase64(concat(Uint8Array.of(ALG_COSIGNATURE_V1), seed))}`
}

/** cosignatureVerifierKeyOf: the vkey (`<name>+<keyid>+<base64 0x04||pubkey>`) of a witness signer. */
export function cosignatureVerifierKeyOf(signer: CosignatureSigner): string {
  return formatVerifierKey(signer.name, signer.publicKey, 'cosignature/v1')
}

function timestampBytes(time: number): Uint8Array {
  checkTimestamp(time)
  const out = new Uint8Array(8)
  new DataView(out.buffer).setBigUint64(0, BigInt(time))
  return out
}

function checkTimestamp(time: number): void {
  if (!Number.isSafeInteger(time) || time < 0) throw new Error('cosignature timestamp must be a non-negative safe integer (POSIX seconds)')
}

// ---- The log's side of C2SP tlog-witness add-checkpoint ----

/**
 * formatAddCheckpointRequest: the body of `POST <witness>/add-checkpoint`: `old <oldSize>`, the
 * consistency proof from `oldSize` to the checkpoint's size (empty from 0 or the same size),
 * an empty line, and the signed checkpoint note.
 */
export function formatAddCheckpointRequest(oldSize: number, proof: readonly Uint8Array[], checkpointNote: string): string {
  if (!Number.isSafeInteger(oldSize) || oldSize < 0) throw new Error('old size must be a non-negative safe integer')
  if (proof.length > 63) throw new Error('a witness takes at most 63 consistency proof hashes')
  if (proof.some((h) => h.length !== 32)) throw new Error('consistency proof hashes are 32 bytes')
  return `old ${oldSize}\n${proof.map((h) => `${toBase64(h)}\n`).join('')}\n${checkpointNote}`
}

/** parseTlogSize: the size in a witness's 409 body (`text/x.tlog.size`: a decimal and a newline), or null. */
export function parseTlogSize(body: string): number | null {
  const m = /^(0|[1-9][0-9]*)\n$/.exec(body)
  return m && Number.isSafeInteger(Number(m[1])) ? Number(m[1]) : null
}

/**
 * acceptCosignature: `checkpointNote` with the lines of a witness's 200 body that are
 * cosignatures by `witnessKey`, after checking that they verify for it (CosignatureError
 * otherwise, or 'below_threshold' if the body holds none; lines by other keys are dropped).
 */
export async function acceptCosignature(checkpointNote: string, responseBody: string, witnessKey: CosignatureVerifierKey, now?: () => number): Promise<string> {
  const lines = responseBody.split('\n').filter((l) => l !== '').map((l) => `${l}\n`)
  const own = lines.filter((l) => {
    const [, name, b64] = /^\u2014 (\S+) (\S+)$/.exec(l.trimEnd()) ?? []
    if (name !== witnessKey.name || !b64) return false
    try {
      return toHex(fromStdBase64(b64).subarray(0, 4)) === toHex(witnessKey.keyId)
    } catch {
      return false
    }
  })
  const note = addCosignatures(checkpointNote, own.join(''))
  await verifyCosignatures(note, [witnessKey], { threshold: 1, ...(now ? { now } : {}) })
  return note
}
