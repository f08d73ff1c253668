/**
 * The mirror an app embeds: {@link openMirror} opens a data directory (the store plus the
 * Merkle hashes), and the returned {@link Mirror} answers lookups from the committed state,
 * with or without proofs, and syncs from the directory one verified step at a time.
 * @module
 */
import { join } from 'node:path'
import { subjectOf } from '../../src/protocol/entry.ts'
import { lookupBody, lookupResult, type LookupBinding, type LookupBody } from '../../src/protocol/lookup.ts'
import { RightEdge, storedHashCount, treeHash } from '../../src/protocol/merkle.ts'
import type { NoteVerifierKey } from '../../src/protocol/note-keys.ts'
import { normalizePhone } from '../../src/protocol/phone.ts'
import { expiresAt } from '../../src/protocol/state.ts'
import { toBase64 } from '../../src/protocol/bytes.ts'
import { asMirrorError, MirrorError } from './errors.ts'
import { HashFile } from './hashes.ts'
import type { HttpOptions, RetryPolicy } from './http.ts'
import { LogClient } from './log-client.ts'
import { silentLogger, type Logger } from './logger.ts'
import { checkPeers, type PeerReport } from './peers.ts'
import { proveBinding } from './proofs.ts'
import { openStore, type MirrorStore } from './store/index.ts'
import { syncStep, type CommitEvent, type SyncResult } from './sync.ts'
import { verifyCosignatures, type Cosigner } from '../../src/protocol/cosignature.ts'
import { parseLogKey, parseWitnessPolicy, verifyCheckpoint, type VerifiedCheckpoint, type WitnessPolicy } from './trust.ts'
import { verifyHeld, type VerifyReport } from './verify.ts'
import { writeEvidence, type SnapshotOrigin } from './evidence.ts'
import { receiptFor } from './proofs.ts'
import { clearSnapshotOrigin, endReplay, replayUnderWay, startReplay, type ReplayReason } from './replay.ts'
import { TILE_WIDTH } from '../../src/protocol/tiles.ts'
import { sameBytes } from './verify-range.ts'

/** Options of {@link openMirror}. Only `sync` and peer checks need the directory. */
export interface MirrorOptions {
  /** The directory's base URL (default: the one pinned at the first sync). */
  directory?: string
  /** An app token: entry bundles and snapshot data need one. */
  token?: string
  /** The log verifier key to pin (default: the directory's `/.well-known/whodis`); must equal a pinned one. */
  logKey?: string
  /** Entries per store commit when catching up (default 65,536). */
  chunkEntries?: number
  /** Bootstrap an empty store from the newest snapshot (default true); false replays from entry 0. */
  snapshots?: boolean
  /**
   * When an entry is refused over a state that came from a snapshot, replay the log from entry 0
   * (verifying everything) to tell a bad snapshot from a bad entry (default true). With false,
   * the refusal says which command does it.
   */
  replay?: boolean
  /** Largest decompressed snapshot accepted (default 2 GiB). */
  maxSnapshotBytes?: number
  /** HTTP retries and timeouts. */
  retry?: Partial<RetryPolicy>
  /** A fetch implementation to use instead of the default node:http(s) keep-alive client. */
  fetch?: typeof fetch
  logger?: Logger
  /** The clock for expiry, in ms (default Date.now). */
  now?: () => number
  /** Witness verifier keys (type 0x04): a served checkpoint needs `witnessThreshold` of their cosignatures. */
  witnessKeys?: string[]
  /** Cosignatures required of `witnessKeys` (default: all of them). */
  witnessThreshold?: number
  /** A cosignature older than this many seconds does not count toward the threshold (default: no limit). */
  witnessMaxAgeSeconds?: number
}

/** Counters a server or monitor reads. */
export interface MirrorStatus {
  treeSize: number
  checkpointSize: number
  /** Largest verified tree size seen at the directory. */
  directorySize: number
  /** When a sync last proved the held checkpoint current (ms), null before the first. */
  lastVerifiedAt: number | null
  syncs: number
  syncErrors: number
  lastError: { code: string; message: string; at: number } | null
}

/** See the module comment; create with {@link openMirror}. */
export class Mirror {
  readonly dir: string
  #store: MirrorStore
  #hashes: HashFile
  #options: MirrorOptions
  #witnesses: WitnessPolicy | null
  #logger: Logger
  #now: () => number
  #key: NoteVerifierKey | null
  #keyText: string | null
  #keyChecked = false
  #held: VerifiedCheckpoint | null
  #client: LogClient | null = null
  #names: { size: number; checkpoint: string; byNum: Map<number, string> } | null = null
  #running: Promise<unknown> = Promise.resolve()
  #listeners = new Set<(event: CommitEvent) => void>()
  #closed = false
  #slots: Int32Array | null = null
  #status: MirrorStatus

  /** @internal Use {@link openMirror}. */
  constructor(dir: string, store: MirrorStore, hashes: HashFile, held: VerifiedCheckpoint | null, key: NoteVerifierKey | null, options: MirrorOptions) {
    this.dir = dir
    this.#store = store
    this.#hashes = hashes
    this.#held = held
    this.#key = key
    this.#keyText = store.pinned?.logKey ?? null
    this.#options = options
    this.#logger = options.logger ?? silentLogger
    this.#now = options.now ?? Date.now
    this.#witnesses = parseWitnessPolicy(options.witnessKeys ?? [], options.witnessThreshold, this.#now, options.witnessMaxAgeSeconds)
    this.#status = {
      treeSize: store.treeSize,
      checkpointSize: held?.size ?? 0,
      directorySize: held?.size ?? 0,
      lastVerifiedAt: null,
      syncs: 0,
      syncErrors: 0,
      lastError: null,
    }
  }

  /** The held signed checkpoint (note and parsed fields), or null before the first sync. */
  get checkpoint(): VerifiedCheckpoint | null {
    return this.#held
  }

  /** Tree size of the applied state (equal to the checkpoint's except while catching up). */
  get treeSize(): number {
    return this.#store.treeSize
  }

  /** The pinned log verifier key, or null before the first sync stored anything. */
  get logKey(): string | null {
    return this.#store.pinned?.logKey ?? null
  }

  /** The root of the tree of `size` from the verified Merkle hashes held, or null when they do not reach it. */
  rootAt(size: number): Uint8Array | null {
    if (!this.#held || !Number.isSafeInteger(size) || size < 0 || size > this.#held.size) return null
    if (this.#hashes.validCount < storedHashCount(size)) return null
    return treeHash(size, this.#hashes.reader)
  }

  /** The witness policy served checkpoints must meet, or null. */
  get witnessPolicy(): WitnessPolicy | null {
    return this.#witnesses
  }

  /** Sync and error counters. */
  get status(): MirrorStatus {
    return { ...this.#status, treeSize: this.#store.treeSize, checkpointSize: this.#held?.size ?? 0 }
  }

  /** Records (numbers) in the applied state. */
  get records(): number {
    return this.#store.index.size
  }

  /** The id of app `num`, if registered. */
  appId(num: number): string | undefined {
    return this.#appNames().get(num)
  }

  /** The num of app `id`, if registered. */
  appNum(id: string): number | undefined {
    for (const [num, name] of this.#appNames()) if (name === id) return num
    return undefined
  }

  /**
   * The directory's answer for `phone` from the applied state: `{phone, apps}` as
   * `GET /v1/numbers/:phone` returns it, or null (the directory's 404). Throws
   * InvalidPhoneError for input that is not a valid number.
   *
   * Input already in E.164 form that the state holds is answered without libphonenumber (about
   * 25 µs a call): the directory validated that number when it bound it. Anything else is
   * normalised first, exactly as the directory does.
   */
  lookup(phone: string): LookupBody | null {
    this.#open()
    const subject = e164Subject(phone)
    if (subject > 0) {
      const slot = this.#store.index.find(subject)
      if (slot >= 0) return lookupBody(phone, this.#slotBindings(slot), this.#now() / 1000)
    }
    const e164 = normalizePhone(phone).e164
    return lookupBody(e164, this.#bindings(e164, false), this.#now() / 1000)
  }

  /**
   * The apps `phone` is bound to and that have not expired, as app nums ({@link appId} names
   * them), ascending: writes up to `out.length` of them to `out` and returns how many there are
   * (0: none, the directory's 404). Allocates nothing: this is the call for hot paths.
   *
   * `phone` is the number's E.164 digits as an integer (`16505550011`) or its E.164 string
   * (`'+16505550011'`); a number in E.164 form is looked up as it is (one the directory could
   * not have bound is simply absent), any other string is normalised like {@link lookup} would
   * (InvalidPhoneError when it is no valid number).
   */
  apps(phone: number | string, out: Uint16Array | number[]): number {
    this.#open()
    let subject: number
    if (typeof phone === 'number') subject = phone
    else {
      subject = e164Subject(phone)
      if (subject <= 0) subject = subjectOf(normalizePhone(phone).e164)
    }
    const index = this.#store.index
    const slot = index.find(subject)
    if (slot < 0) return 0
    const now = this.#now() / 1000
    const first = index.first(slot)
    const end = first + index.count(slot)
    const room = out.length
    let n = 0
    for (let p = first; p < end; p++) {
      if (index.expiresAt(p) > now) {
        if (n < room) out[n] = index.app(p)
        n++
      }
    }
    return n
  }

  /**
   * {@link apps} for many numbers at once (contact discovery): for each `subjects[k]` (E.164
   * digits as integers), `counts[k]` is how many live apps it has and `out[k × stride ...]`
   * holds up to `stride` of their nums. Overlaps the memory misses of many lookups, so it is
   * faster per number than calling {@link apps} in a loop. Allocates nothing after its first call.
   */
  appsMany(subjects: Float64Array, counts: Uint8Array | Uint16Array, out: Uint16Array, stride = 4): void {
    this.#open()
    if (counts.length < subjects.length || out.length < subjects.length * stride) throw new RangeError('appsMany: counts or out is too short')
    const index = this.#store.index
    const now = this.#now() / 1000
    const slots = (this.#slots ??= new Int32Array(BATCH))
    let touch = 0
    for (let from = 0; from < subjects.length; from += BATCH) {
      const chunk = subjects.subarray(from, Math.min(subjects.length, from + BATCH))
      index.findMany(chunk, slots)
      for (let group = 0; group < chunk.length; group += TOUCH_GROUP) {
        const to = Math.min(chunk.length, group + TOUCH_GROUP)
        // Each number's bindings are a second memory miss after its slot: load a group's first
        // words together so the misses overlap, then read them (the slots are in cache already).
        for (let k = group; k < to; k++) {
          const slot = slots[k]!
          if (slot >= 0) touch ^= index.app(index.first(slot))
        }
        for (let k = group; k < to; k++) {
          const slot = slots[k]!
          let n = 0
          if (slot >= 0) {
            const first = index.first(slot)
            const end = first + index.count(slot)
            const at = (from + k) * stride
            for (let p = first; p < end; p++) {
              if (index.expiresAt(p) > now) {
                if (n < stride) out[at + n] = index.app(p)
                n++
              }
            }
          }
          counts[from + k] = n
        }
      }
    }
    if (touch === 0.5) throw new Error('unreachable') // keeps the touching loads alive
  }

  /** Bytes of the in-memory state: the lookup index (hash table), the binding payload and key fingerprints. */
  get memory(): { index: number; payload: number; fingerprints: number } {
    return this.#store.index.memoryBytes()
  }

  /**
   * Like {@link lookup}, with each binding's index, entry and receipt (C2SP tlog-proof against
   * the held checkpoint), as `?proof=1` answers; computed locally, nothing is fetched. Throws
   * MirrorError `no_data` before the first sync, `proof_unavailable` while hashes are rebuilt.
   */
  lookupWithProof(phone: string): LookupBody | null {
    const e164 = normalizePhone(phone).e164
    return lookupBody(e164, this.#bindings(e164, true), this.#now() / 1000)
  }

  /**
   * The answer of `POST /v1/lookups` for `phones`, from the applied state: one result per
   * number, in order, `apps: []` for a number with none, exactly as the directory builds it.
   * With `proof`, every binding carries its entry and a receipt against the held checkpoint (as
   * {@link lookupWithProof}). Throws InvalidPhoneError for the first input that is no number.
   */
  lookupMany(phones: readonly string[], proof = false): LookupBody[] {
    this.#open()
    const e164s = phones.map((phone) => (e164Subject(phone) > 0 && this.#store.index.find(e164Subject(phone)) >= 0 ? phone : normalizePhone(phone).e164))
    const now = this.#now() / 1000
    return e164s.map((e164) => lookupResult(e164, this.#bindings(e164, proof), now))
  }

  /**
   * One verified sync step (see sync.ts). Concurrent calls run one after another.
   *
   * When an entry is refused over a state that came from a snapshot, the snapshot is the
   * suspect (it may lack a binding the entry removes). Unless `replay` is false, the mirror then
   * starts over from entry 0 in the same step, verifying every entry: if the replay accepts the
   * entry, the snapshot was not the log's state (evidence `incomplete-snapshot`); if it refuses
   * it too, the entry is to blame (evidence `invalid-entry`, suspect `entry`). While it replays,
   * lookups answer from the verified prefix replayed so far.
   */
  sync(): Promise<SyncResult> {
    return this.#exclusive(async () => {
      try {
        const result = await this.#syncOrReplay()
        this.#status.syncs++
        this.#status.lastVerifiedAt = this.#now()
        this.#status.directorySize = Math.max(this.#status.directorySize, result.checkpointSize)
        return result
      } catch (err) {
        const e = asMirrorError(err)
        this.#status.syncErrors++
        this.#status.lastError = { code: e.code, message: e.message, at: this.#now() }
        throw e
      }
    })
  }

  /** Cross-checks the checkpoints peer mirrors serve against the held one; throws `fork` on an inconsistent pair. */
  checkPeers(urls: readonly string[]): Promise<PeerReport[]> {
    return this.#exclusive(async () => {
      if (!this.#held || !this.#key || !this.#keyText) return urls.map((url) => ({ url, status: 'undecided' as const, error: 'nothing held yet' }))
      if (this.#hashes.validCount < storedHashCount(this.#held.size)) {
        return urls.map((url) => ({ url, status: 'undecided' as const, error: 'the local Merkle hashes are being rebuilt' }))
      }
      const client = this.#options.directory || this.#store.pinned ? this.#logClient() : null
      return checkPeers({ dir: this.dir, key: this.#key, keyText: this.#keyText, hashes: this.#hashes, held: this.#held, client, http: this.#http() }, urls)
    })
  }

  /** Replays and checks everything held against the held checkpoint (no network). */
  verify(): Promise<VerifyReport> {
    return this.#exclusive(async () => verifyHeld(this.#store, this.#hashes, this.#held, this.#logger))
  }

  /** Calls `listener` after every commit, with the entries it applied; returns an unsubscribe function. */
  onCommit(listener: (event: CommitEvent) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  /** The raw entries held (those since the last bootstrap), with their log indexes. */
  *heldEntries(): Generator<{ index: number; bytes: Uint8Array }> {
    for (const batch of this.#store.entryBatches()) {
      const first = batch.treeSize - batch.entries.length
      for (let i = 0; i < batch.entries.length; i++) yield { index: first + i, bytes: batch.entries[i]! }
    }
  }

  /** Log index of the first held entry (the snapshot's size after a snapshot bootstrap). */
  get heldEntriesFrom(): number {
    return this.#store.entriesFrom
  }

  /** Waits for a running sync, then closes the store and releases its lock. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.#running.catch(() => {})
    this.#hashes.close()
    await this.#store.close()
  }

  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#running.then(() => {
      if (this.#closed) throw new MirrorError('usage', 'the mirror is closed')
      return fn()
    })
    this.#running = run.catch(() => {})
    return run
  }

  /**
   * Replays the log from entry 0 on the next sync, without any snapshot: the state is emptied
   * now (what `whodis-mirror sync --replay` does). Lookups answer from the replayed prefix
   * until the replay reaches the checkpoint.
   */
  replayFromZero(): Promise<void> {
    return this.#exclusive(() => this.#restart({ startedAt: new Date(this.#now()).toISOString() }))
  }

  async #syncOrReplay(): Promise<SyncResult> {
    try {
      return await this.#sync()
    } catch (err) {
      const e = asMirrorError(err)
      if (e.code !== 'entry_refused' || e.details.suspect !== 'snapshot') throw e
      const command = `whodis-mirror sync --data ${this.dir} --replay`
      if (this.#options.replay === false) {
        throw new MirrorError('entry_refused', `${e.message}. This mirror does not replay on its own (--no-replay); to replay the log from entry 0 and check everything, run: ${command}`, { ...e.details, command }, { cause: e })
      }
      await this.#checkReplayable(e, command)
      const snapshot = e.details.snapshot as SnapshotOrigin
      this.#logger.warn('replaying', { from: 0, snapshot: snapshot.treeSize, refused: e.details.index, evidence: e.details.evidence })
      const cause = e.cause instanceof Error ? e.cause.message : e.message
      await this.#restart({ snapshot, refused: { index: e.details.index as number, reason: cause }, startedAt: new Date(this.#now()).toISOString() })
      return await this.#sync()
    }
  }

  /** Throws, changing nothing, when the directory does not serve the log's first entries (a replay could not start). */
  async #checkReplayable(refusal: MirrorError, command: string): Promise<void> {
    const client = this.#logClient()
    try {
      await client.bundle(0, Math.min(TILE_WIDTH, this.#held?.size ?? (refusal.details.index as number) + 1))
    } catch (err) {
      const e = asMirrorError(err)
      if (e.transient) throw e
      throw new MirrorError(
        'entry_refused',
        `${refusal.message}. Replaying needs the log's entries from 0, which ${client.url} does not serve (${e.message}); ` +
          `keep the evidence, tell the directory's operator, and once it serves them run: ${command}`,
        { ...refusal.details, command },
        { cause: refusal },
      )
    }
  }

  /** Marks a replay from entry 0 as under way and empties the state (one atomic store switch). */
  async #restart(reason: ReplayReason): Promise<void> {
    await startReplay(this.dir, reason)
    await this.#store.restart()
    await clearSnapshotOrigin(this.dir)
    this.#held = null
    this.#names = null
  }

  /** Once a replay reaches the checkpoint: writes down what it showed about the suspect snapshot, and ends it. */
  async #endReplay(reason: ReplayReason, result: SyncResult): Promise<SyncResult> {
    const held = this.#held!
    let evidence: string | undefined
    const refused = reason.refused
    if (reason.snapshot && refused && refused.index < this.#store.treeSize) {
      let entry: Uint8Array | undefined
      for (const e of this.heldEntries()) {
        if (e.index === refused.index) {
          entry = e.bytes
          break
        }
      }
      if (entry) {
        evidence = writeEvidence(
          this.dir,
          {
            kind: 'incomplete-snapshot',
            snapshot: reason.snapshot,
            index: refused.index,
            entry,
            reason: refused.reason,
            receipt: receiptFor(refused.index, held, this.#hashes),
            explanation: `entry ${refused.index} was refused over the state of the signed snapshot at tree size ${reason.snapshot.treeSize}, and accepted when every entry from 0 was replayed: the snapshot is not the log's state at its size`,
          },
          this.#keyText!,
        )
        this.#logger.error('snapshot_incomplete', { snapshot: reason.snapshot.treeSize, entry: refused.index, evidence })
      }
    }
    await endReplay(this.dir)
    this.#logger.info('replayed', { treeSize: this.#store.treeSize })
    return { ...result, replayed: { from: 0, ...(reason.snapshot ? { snapshotSize: reason.snapshot.treeSize } : {}), ...(evidence ? { evidence } : {}) } }
  }

  async #sync(): Promise<SyncResult> {
    const replay = replayUnderWay(this.dir)
    // A replay marked but not begun (a crash in between): empty the snapshot's state first.
    if (replay && this.#store.entriesFrom > 0) await this.#restart(replay)
    const client = this.#logClient()
    if (!this.#store.pinned) {
      // Until something is stored, the key is derived (and checked) afresh on every attempt.
      this.#key = null
      this.#keyText = null
    }
    const key = await this.#ensureKey(client)
    const keyText = this.#keyText!
    let result = await syncStep({
      dir: this.dir,
      store: this.#store,
      hashes: this.#hashes,
      key,
      keyText,
      client,
      logger: this.#logger,
      chunkEntries: this.#options.chunkEntries ?? 65_536,
      useSnapshots: (this.#options.snapshots ?? true) && !replay,
      // Replaying, commit right before the entry the snapshot's state refused: refusing it again keeps all before it.
      ...(replay?.refused ? { chunkBreaks: [replay.refused.index] } : {}),
      maxSnapshotBytes: this.#options.maxSnapshotBytes ?? 2 ** 31,
      witnesses: this.#witnesses,
      held: () => this.#held,
      beforeWrite: () => this.#pin(client, keyText),
      committed: (event) => {
        this.#held = event.checkpoint
        for (const listener of this.#listeners) {
          try {
            listener(event)
          } catch (err) {
            this.#logger.error('listener_failed', { error: String(err) })
          }
        }
      },
    })
    if (replay && this.#held && this.#store.treeSize === this.#held.size) result = await this.#endReplay(replay, result)
    if (result.status !== 'up-to-date') this.#logger.info('synced', { ...result })
    if (this.#store.stats().shouldCompact) {
      // The journal has grown past its share of the base: rewrite the base (lookups continue).
      const started = this.#now()
      await this.#store.compact()
      this.#logger.info('compacted', { treeSize: this.#store.treeSize, ms: this.#now() - started })
    }
    return result
  }

  /**
   * The key to verify with. On the first sync it comes from `logKey` or the directory's
   * `/.well-known/whodis` (which must agree), and is pinned just before the first store write,
   * so a refused first sync pins nothing. Afterwards the directory must still advertise it.
   */
  async #ensureKey(client: LogClient): Promise<NoteVerifierKey> {
    const wanted = this.#options.logKey?.trim()
    if (this.#key && this.#keyText) {
      if (!this.#keyChecked) {
        const advertised = (await client.wellKnown()).logKey.trim()
        if (advertised !== this.#keyText) {
          throw new MirrorError(
            'key_mismatch',
            `${client.url} now advertises log key ${advertised}, but this mirror is pinned to ${this.#keyText}; refusing (a new key needs a new data directory)`,
          )
        }
        this.#keyChecked = true
      }
      return this.#key
    }
    const advertised = (await client.wellKnown()).logKey.trim()
    if (wanted && wanted !== advertised) {
      throw new MirrorError('key_mismatch', `${client.url} advertises log key ${advertised}, not the expected ${wanted}`)
    }
    const keyText = wanted ?? advertised
    const key = parseLogKey(keyText, wanted ? '--log-key' : `${client.url}/.well-known/whodis`)
    this.#key = key
    this.#keyText = keyText
    this.#keyChecked = true
    return key
  }

  /** Pins the key in use, once, before the store is first written. */
  async #pin(client: LogClient, logKey: string): Promise<void> {
    if (this.#store.pinned) return
    await this.#store.pin({ logKey, directoryUrl: client.url })
    this.#logger.info('pinned', { logKey, directory: client.url })
  }

  #logClient(): LogClient {
    if (this.#client) return this.#client
    const url = this.#options.directory ?? this.#store.pinned?.directoryUrl
    if (!url) throw new MirrorError('usage', 'no directory to sync from: pass --directory (or WHODIS_DIRECTORY)')
    this.#client = new LogClient(url, this.#http())
    return this.#client
  }

  #http(): HttpOptions {
    return {
      ...(this.#options.token ? { token: this.#options.token } : {}),
      ...(this.#options.retry ? { retry: this.#options.retry } : {}),
      ...(this.#options.fetch ? { fetch: this.#options.fetch } : {}),
      onRetry: (info) => this.#logger.warn('retry', info),
    }
  }

  #appNames(): Map<number, string> {
    const store = this.#store
    if (!this.#names || this.#names.size !== store.treeSize || this.#names.checkpoint !== store.checkpoint) {
      this.#names = { size: store.treeSize, checkpoint: store.checkpoint, byNum: new Map(store.apps.map((a) => [a.num, a.id])) }
    }
    return this.#names.byNum
  }

  #open(): void {
    if (this.#closed) throw new MirrorError('usage', 'the mirror is closed')
  }

  /** The bindings of the record in `slot` as the lookup answer needs them, read straight from the index. */
  #slotBindings(slot: number): LookupBinding[] {
    const index = this.#store.index
    const names = this.#appNames()
    const first = index.first(slot)
    const end = first + index.count(slot)
    const out: LookupBinding[] = []
    for (let p = first; p < end; p++) {
      const app = index.app(p)
      out.push({ app: names.get(app) ?? `app-${app}`, verifiedAt: index.verifiedAt(p), expiresAt: index.expiresAt(p) })
    }
    return out
  }

  #bindings(e164: string, withProof: boolean): LookupBinding[] {
    this.#open()
    const subject = subjectOf(e164)
    const bindings = this.#store.get(subject) ?? []
    if (bindings.length === 0) return []
    const names = this.#appNames()
    const held = this.#held
    if (withProof) {
      if (!held) throw new MirrorError('no_data', 'no verified checkpoint is held yet: sync first')
      if (this.#hashes.validCount < storedHashCount(held.size)) {
        throw new MirrorError('proof_unavailable', 'the local Merkle hashes are incomplete; the next sync rebuilds them')
      }
    }
    const nowSeconds = this.#now() / 1000
    return bindings.map((b) => {
      const out: LookupBinding = { app: names.get(b.app) ?? `app-${b.app}`, verifiedAt: b.verifiedAt, expiresAt: expiresAt(b) }
      if (withProof && out.expiresAt > nowSeconds) {
        const proof = proveBinding(subject, b, held!, this.#hashes)
        out.proof = { index: proof.index, entry: toBase64(proof.entry), receipt: proof.receipt }
      }
      return out
    })
  }
}

/** Numbers per {@link Mirror.appsMany} batch (the index's findMany). */
const BATCH = 1024
/** Numbers whose bindings {@link Mirror.appsMany} loads together. */
const TOUCH_GROUP = 32

/**
 * The subject of `text` when it is in E.164 form (`+` and 2 to 15 digits, no leading zero), else
 * 0. Equivalent to `subjectOf` for such input, without a regular expression or a slice.
 */
function e164Subject(text: string): number {
  const length = text.length
  if (length < 3 || length > 16 || text.charCodeAt(0) !== 43 /* + */) return 0
  let subject = 0
  for (let i = 1; i < length; i++) {
    const digit = text.charCodeAt(i) - 48
    if (digit < 0 || digit > 9 || (i === 1 && digit === 0)) return 0
    subject = subject * 10 + digit
  }
  return subject
}

/**
 * Opens the mirror in `dir` (created if missing): takes the store's lock, checks the held
 * checkpoint's signature with the pinned key and that the Merkle hashes match the stored edge.
 */
export async function openMirror(dir: string, options: MirrorOptions = {}): Promise<Mirror> {
  const witnesses = parseWitnessPolicy(options.witnessKeys ?? [], options.witnessThreshold) // a bad policy fails before the store is opened
  let store: MirrorStore
  try {
    store = await openStore(dir)
  } catch (err) {
    throw asMirrorError(err)
  }
  let hashes: HashFile | null = null
  try {
    const pinned = store.pinned
    const wanted = options.logKey?.trim()
    if (wanted && pinned && wanted !== pinned.logKey) {
      throw new MirrorError('key_mismatch', `${dir} is pinned to log key ${pinned.logKey}, not ${wanted}`)
    }
    const key = pinned ? parseLogKey(pinned.logKey, `${dir}/HEAD`) : null
    let held: VerifiedCheckpoint | null = null
    if (store.checkpoint) {
      if (!key) throw new MirrorError('store', `${dir} holds a checkpoint but no pinned key: the store is corrupt`)
      try {
        held = await verifyCheckpoint(store.checkpoint, key, `${dir}/HEAD`)
      } catch (err) {
        throw new MirrorError('store', `the held checkpoint does not verify with the pinned key (${asMirrorError(err).message}): the store was altered`)
      }
      if (held.size < store.treeSize) throw new MirrorError('store', `the store is at tree size ${store.treeSize}, past its checkpoint ${held.size}`)
    } else if (store.treeSize !== 0) {
      throw new MirrorError('store', `${dir} is at tree size ${store.treeSize} without a checkpoint`)
    }
    hashes = HashFile.open(join(dir, 'hashes.bin'), storedHashCount(held?.size ?? 0))
    if (held && hashes.validCount === storedHashCount(held.size)) {
      const fromHashes = RightEdge.fromStoredHashes(store.treeSize, hashes.reader)
      const stored = new RightEdge(store.treeSize, store.rightEdge)
      if (!sameBytes(fromHashes.root(), stored.root())) {
        throw new MirrorError('store', `hashes.bin and the store disagree at tree size ${store.treeSize}: the data directory is corrupt`)
      }
    } else if (held) {
      ;(options.logger ?? silentLogger).warn('hashes_incomplete', { dir, held: held.size, note: 'proofs are unavailable until the next sync rebuilds hashes.bin' })
    }
    if (held && witnesses) held = { ...held, cosigners: await heldCosigners(held.note, witnesses, options.now) }
    return new Mirror(dir, store, hashes, held, key, options)
  } catch (err) {
    hashes?.close()
    await store.close()
    throw asMirrorError(err)
  }
}

// The trusted cosigners of a checkpoint already held (it met the policy in force when taken, if any).
async function heldCosigners(note: string, policy: WitnessPolicy, now?: () => number): Promise<Cosigner[]> {
  try {
    return (await verifyCosignatures(note, policy.keys, { threshold: 0, ...(now ? { now } : {}) })).cosigners
  } catch {
    return []
  }
}
