/**
 * What the SDK checks before it says an answer is proven, and the one error it refuses with.
 *
 * A receipt proves that a log entry was appended to the log: the entry is in the tree, at the
 * receipt's index, under a checkpoint signed by the pinned log key. For a binding, that shows the
 * binding was added (or renewed) at that time. It does not show that the binding still stands: a
 * later entry may have removed or renewed it, and nothing in an answer proves the current state.
 *
 * So a proven answer is checked field by field against the entries its receipts prove: each
 * entry must be an add or renew of the answer's number, for the answer's app, at its
 * `verifiedAt`, with a TTL that gives its `expiresAt`, at its `index`. Entries name an app by its
 * number (u16); the app's own app-register entry, proven the same way, ties that number to the
 * id the answer names ({@link AppRegistry}).
 * @module
 */
import { fromBase64 } from '../protocol/bytes.ts'
import type { Checkpoint } from '../protocol/checkpoint.ts'
import { decodeEntry, e164Of, type LogEntry } from '../protocol/entry.ts'
import { isoSeconds, type LookupBody } from '../protocol/lookup.ts'
import type { NoteVerifierKey } from '../protocol/note-keys.ts'
import { verifyReceipt } from '../protocol/receipt.ts'
import { DAY_SECONDS } from '../protocol/state.ts'

/** Why an answer, a receipt or a registration was refused. */
export type ProofErrorCode =
  /** A binding carries no index, entry or receipt (ask with `proof: true`). */
  | 'no_proof'
  /** An entry or receipt that does not parse, or an answer of the wrong shape. */
  | 'malformed'
  /** A receipt whose signature or inclusion proof does not hold under the pinned key. */
  | 'bad_receipt'
  /** The entry is not of the kind the claim needs (an add or renew; an app-register). */
  | 'kind_mismatch'
  /** The entry, or the answer, is for another number than the one claimed or asked. */
  | 'phone_mismatch'
  /** The entry is for another app than the one the answer names. */
  | 'app_mismatch'
  /** The entry's time or TTL does not give the answer's `verifiedAt` or `expiresAt`. */
  | 'time_mismatch'
  /** The receipt proves another index than the answer's (or the credential's). */
  | 'index_mismatch'
  /** One answer lists the same app twice. */
  | 'duplicate_app'
  /** A binding in the answer has expired. */
  | 'expired'
  /** One answer's receipts are against different checkpoints. */
  | 'mixed_checkpoints'
  /** The receipt's checkpoint is older than the newest this client has verified. */
  | 'stale_checkpoint'
  /** The receipt's checkpoint has the size of one already verified but another root: the log forked. */
  | 'fork'
  /** The directory knows no registration of the app the answer names. */
  | 'unknown_app'
  /** Two proven registrations give one app number two ids, or one id two numbers. */
  | 'registry_conflict'

/** A proof that does not show what the answer says. */
export class ProofError extends Error {
  override readonly name = 'ProofError'
  constructor(
    readonly code: ProofErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }
}

/** One binding of an answer, as its entry and receipt proved it. Times are seconds since the epoch. */
export interface ProvenBinding {
  app: string
  /** The app's number in the log's entries. */
  appNum: number
  kind: 'add' | 'renew'
  index: number
  verifiedAt: number
  expiresAt: number
}

/** A lookup answer whose every binding was proven; `checkpoint` is the one its receipts prove against (null when it lists none). */
export interface ProvenLookup {
  phone: string
  checkpoint: Checkpoint | null
  apps: ProvenBinding[]
}

/** An entry proven in the log by its receipt. */
export interface ProvenEntry {
  entry: LogEntry
  index: number
  checkpoint: Checkpoint
}

/** Opened checkpoint notes, by their text: one signature check for many receipts. */
export type OpenedCheckpoints = Map<string, Promise<Checkpoint>>

/** Verifies `receipt` for `entry` (base64 or bytes) and decodes the entry; ProofError otherwise. */
export async function proveEntry(entry: string | Uint8Array, receipt: string, key: NoteVerifierKey, opened?: OpenedCheckpoints): Promise<ProvenEntry> {
  let bytes: Uint8Array
  let decoded: LogEntry
  try {
    bytes = typeof entry === 'string' ? fromBase64(entry) : entry
    decoded = decodeEntry(bytes)
  } catch (err) {
    throw new ProofError('malformed', `the entry does not decode: ${(err as Error).message}`, { cause: err })
  }
  try {
    const { index, checkpoint } = await verifyReceipt(receipt, bytes, key, opened)
    return { entry: decoded, index, checkpoint }
  } catch (err) {
    throw new ProofError('bad_receipt', `the receipt does not prove the entry under the pinned log key: ${(err as Error).message}`, { cause: err })
  }
}

/**
 * Checks every binding of `body` against the entry its receipt proves (see the module comment),
 * except the app, which needs the registry: each binding comes back with its entry's app number.
 * The receipts must all be against one checkpoint, which is returned (null for no binding).
 */
export async function proveLookup(body: LookupBody, key: NoteVerifierKey, nowSeconds: number, opened: OpenedCheckpoints = new Map()): Promise<ProvenLookup> {
  if (typeof body !== 'object' || body === null || typeof body.phone !== 'string' || !Array.isArray(body.apps)) {
    throw new ProofError('malformed', 'not a lookup answer ({phone, apps})')
  }
  const seen = new Set<string>()
  const apps: ProvenBinding[] = []
  let checkpoint: Checkpoint | null = null
  for (const b of body.apps) {
    if (typeof b?.app !== 'string') throw new ProofError('malformed', 'a binding names no app')
    const where = `the binding of ${body.phone} to ${b.app}`
    if (seen.has(b.app)) throw new ProofError('duplicate_app', `the answer lists ${b.app} twice`)
    seen.add(b.app)
    if (typeof b.entry !== 'string' || typeof b.receipt !== 'string' || typeof b.index !== 'number') {
      throw new ProofError('no_proof', `${where} carries no index, entry and receipt (ask with proof)`)
    }
    const proven = await proveEntry(b.entry, b.receipt, key, opened)
    const e = proven.entry
    if (e.kind !== 'add' && e.kind !== 'renew') throw new ProofError('kind_mismatch', `${where}: its entry is ${e.kind === 'app-register' || e.kind === 'app-revoke' ? `an ${e.kind}` : `a ${e.kind}`}, not an add or renew`)
    if (e164Of(e.subject) !== body.phone) throw new ProofError('phone_mismatch', `${where}: its entry binds ${e164Of(e.subject)}`)
    if (proven.index !== b.index) throw new ProofError('index_mismatch', `${where}: the receipt proves entry ${proven.index}, the answer says ${b.index}`)
    const expiresAt = e.time + e.ttlDays * DAY_SECONDS
    if (isoSeconds(e.time) !== b.verifiedAt) throw new ProofError('time_mismatch', `${where}: its entry was verified at ${isoSeconds(e.time)}, the answer says ${b.verifiedAt}`)
    if (isoSeconds(expiresAt) !== b.expiresAt) throw new ProofError('time_mismatch', `${where}: its entry expires at ${isoSeconds(expiresAt)}, the answer says ${b.expiresAt}`)
    if (expiresAt <= nowSeconds) throw new ProofError('expired', `${where} expired at ${b.expiresAt}`)
    if (checkpoint && (checkpoint.size !== proven.checkpoint.size || !sameBytes(checkpoint.rootHash, proven.checkpoint.rootHash))) {
      throw new ProofError('mixed_checkpoints', `the answer's receipts are against trees of size ${checkpoint.size} and ${proven.checkpoint.size}`)
    }
    checkpoint = proven.checkpoint
    apps.push({ app: b.app, appNum: e.app, kind: e.kind, index: proven.index, verifiedAt: e.time, expiresAt })
  }
  return { phone: body.phone, checkpoint, apps }
}

/**
 * The app registrations of one log that this client has proven: app number ↔ id. A log
 * registers each number and each id once (the fold refuses a second), so a proven registration
 * holds forever, and two that disagree are proof that the log misbehaved.
 */
export class AppRegistry {
  readonly #byNum = new Map<number, string>()
  readonly #byId = new Map<string, number>()

  /** The number of app `id`, if its registration was proven. */
  numOf(id: string): number | undefined {
    return this.#byId.get(id)
  }

  /** The id of app number `num`, if its registration was proven. */
  idOf(num: number): string | undefined {
    return this.#byNum.get(num)
  }

  /** Records a proven registration; ProofError `registry_conflict` when it contradicts one already held. */
  add(num: number, id: string): void {
    const heldId = this.#byNum.get(num)
    const heldNum = this.#byId.get(id)
    if ((heldId !== undefined && heldId !== id) || (heldNum !== undefined && heldNum !== num)) {
      throw new ProofError('registry_conflict', `the log registered app ${num} as ${heldId ?? id} and ${id} as app ${heldNum ?? num}: two registrations disagree`)
    }
    this.#byNum.set(num, id)
    this.#byId.set(id, num)
  }
}

/** An app's registration as `GET /v1/apps/{id}` answers it. */
export interface AppRegistrationBody {
  app: string
  index: number
  entry: string
  receipt: string
}

/** Checks that `body` proves app `id`'s registration; returns the app number and the checkpoint. */
export async function proveRegistration(id: string, body: AppRegistrationBody, key: NoteVerifierKey): Promise<{ num: number; checkpoint: Checkpoint }> {
  if (typeof body !== 'object' || body === null || typeof body.entry !== 'string' || typeof body.receipt !== 'string' || typeof body.index !== 'number') {
    throw new ProofError('malformed', `the registration of ${id} is not {app, index, entry, receipt}`)
  }
  const proven = await proveEntry(body.entry, body.receipt, key)
  const e = proven.entry
  if (e.kind !== 'app-register') throw new ProofError('kind_mismatch', `the registration of ${id} is a ${e.kind} entry`)
  if (e.id !== id || body.app !== id) throw new ProofError('app_mismatch', `the registration asked for ${id} registers ${e.id}`)
  if (proven.index !== body.index) throw new ProofError('index_mismatch', `the registration's receipt proves entry ${proven.index}, it says ${body.index}`)
  return { num: e.app, checkpoint: proven.checkpoint }
}

/**
 * The newest checkpoint this client verified, and the rule that keeps answers from going back:
 * a fresh answer (a lookup, the latest checkpoint) must be proven against a tree at least as
 * large; any checkpoint of the same size must have the same root. Older receipts of lasting
 * facts (a registration, a presented credential's) are checked for a fork only.
 */
export class CheckpointMark {
  #newest: Checkpoint | null = null

  /** The newest checkpoint verified so far, or null. */
  get newest(): Checkpoint | null {
    return this.#newest
  }

  /** Throws `fork` or (when `fresh`) `stale_checkpoint`, changing nothing. */
  check(checkpoint: Checkpoint, fresh: boolean): void {
    const newest = this.#newest
    if (!newest) return
    if (checkpoint.size === newest.size && !sameBytes(checkpoint.rootHash, newest.rootHash)) {
      throw new ProofError('fork', `the log signed two trees of size ${newest.size} with different roots`)
    }
    if (fresh && checkpoint.size < newest.size) {
      throw new ProofError('stale_checkpoint', `the answer is proven against tree size ${checkpoint.size}, older than the ${newest.size} already verified`)
    }
  }

  /** Records a checkpoint that passed {@link check} with `fresh`. */
  advance(checkpoint: Checkpoint): void {
    if (!this.#newest || checkpoint.size > this.#newest.size) this.#newest = checkpoint
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!
  return diff === 0
}
