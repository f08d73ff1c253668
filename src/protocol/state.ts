/**
 * The directory state as the deterministic fold of log entries. The Sequencer writes entries
 * that obey these rules, and a mirror replaying the log applies them with this same code, so
 * both hold the same state at every tree size; an entry that breaks a rule is evidence of a
 * misbehaving log and is refused.
 *
 * Rules: indexes are consecutive from 0; an app is registered once (num and id unique) before
 * it binds anything; `add` needs no binding of that (number, app), `renew`, `remove` and
 * `expire` need one; `expire` is only valid at or after the binding's expiry; a revoked app binds
 * nothing and is revoked only once its bindings are gone.
 * @module
 */
import type { LogEntry, Subject } from './entry.ts'
import type { SnapshotContent, SnapshotRecord } from './snapshot.ts'

/** A binding held in state; `index` is the log index of the entry that last added or renewed it. */
export interface StateBinding {
  app: number
  index: number
  verifiedAt: number
  ttlDays: number
  keyFingerprint?: Uint8Array
}

/** A registered app. */
export interface StateApp {
  num: number
  id: string
  revoked: boolean
  /** Bindings it holds now. */
  bindings: number
}

/** Where the fold keeps records: subject → bindings sorted by app num. Setting `[]` deletes. */
export interface RecordTable {
  get(subject: Subject): readonly StateBinding[] | undefined
  set(subject: Subject, bindings: StateBinding[]): void
  readonly size: number
}

/** An entry that the fold refuses; `index` is its log index. */
export class FoldError extends Error {
  override readonly name = 'FoldError'
  constructor(
    readonly index: number,
    message: string,
  ) {
    super(`log entry ${index}: ${message}`)
  }
}

/** Seconds in a day: expiry is `verifiedAt + ttlDays × DAY_SECONDS`. */
export const DAY_SECONDS = 86_400

/** When a binding expires, in seconds. */
export const expiresAt = (b: StateBinding) => b.verifiedAt + b.ttlDays * DAY_SECONDS

const NONE: readonly StateBinding[] = []

/** A {@link RecordTable} in a Map; fine for tests and small logs. */
export class MapRecordTable implements RecordTable {
  readonly map = new Map<Subject, StateBinding[]>()
  get(subject: Subject) {
    return this.map.get(subject)
  }
  set(subject: Subject, bindings: StateBinding[]) {
    if (bindings.length === 0) this.map.delete(subject)
    else this.map.set(subject, bindings)
  }
  get size() {
    return this.map.size
  }
}

/** The fold: apps, records and how many entries have been applied. */
export class DirectoryState {
  size: number

  constructor(
    readonly records: RecordTable = new MapRecordTable(),
    readonly apps = new Map<number, StateApp>(),
    size = 0,
  ) {
    this.size = size
  }

  /** The app with id `id`, if registered. */
  appById(id: string): StateApp | undefined {
    for (const app of this.apps.values()) if (app.id === id) return app
    return undefined
  }

  /**
   * Applies entry `index` (which must be {@link size}); returns the subject it touched, or null
   * for app entries. Throws {@link FoldError}, changing nothing, when the entry breaks a rule.
   */
  apply(entry: LogEntry, index: number): Subject | null {
    if (index !== this.size) throw new FoldError(index, `expected entry ${this.size}`)
    const app = checkAppRules(this.apps, entry, index)
    if (entry.kind === 'app-register' || entry.kind === 'app-revoke') {
      applyAppRules(this.apps, app, entry)
      this.size++
      return null
    }
    const next = nextRecord(this.records.get(entry.subject) ?? NONE, entry, index)
    applyAppRules(this.apps, app, entry)
    this.records.set(entry.subject, next)
    this.size++
    return entry.subject
  }

  /** The bindings of `subject` unexpired at `nowSeconds`, sorted by app num. */
  lookup(subject: Subject, nowSeconds: number): StateBinding[] {
    return (this.records.get(subject) ?? []).filter((b) => expiresAt(b) > nowSeconds)
  }
}

/** An entry that changes one subject's record. */
export type BindingEntry = Extract<LogEntry, { subject: Subject }>

/**
 * The record rules of the fold: the bindings of a subject (sorted by app num) after binding
 * entry `entry` at log index `index`, as a new array (`current` is never modified). Throws
 * {@link FoldError} when the entry breaks a rule. The directory runs this on a subject's record
 * before it writes an entry, and every mirror runs it on replay: one rule set.
 */
export function nextRecord(current: readonly StateBinding[], entry: BindingEntry, index: number): StateBinding[] {
  // No closures here: a mirror replays millions of entries through this function, and a
  // bundler's keepNames (tsx's, wrangler's) makes every closure created per call cost a
  // defineProperty.
  let at = -1
  for (let i = 0; i < current.length; i++) {
    if (current[i]!.app === entry.app) {
      at = i
      break
    }
  }
  let next: StateBinding[]
  switch (entry.kind) {
    case 'add':
    case 'renew': {
      if (entry.kind === 'add' && at >= 0) throw new FoldError(index, 'add of a binding that exists')
      if (entry.kind === 'renew' && at < 0) throw new FoldError(index, 'renew of a binding that does not exist')
      const binding: StateBinding = { app: entry.app, index, verifiedAt: entry.time, ttlDays: entry.ttlDays }
      if (entry.keyFingerprint) binding.keyFingerprint = entry.keyFingerprint
      next = current.slice()
      if (at >= 0) next[at] = binding
      else {
        // Sorted by app num: insert in place.
        let i = next.length
        next.push(binding)
        while (i > 0 && next[i - 1]!.app > binding.app) {
          next[i] = next[i - 1]!
          i--
        }
        next[i] = binding
      }
      return next
    }
    case 'remove':
    case 'expire': {
      if (at < 0) throw new FoldError(index, `${entry.kind} of a binding that does not exist`)
      if (entry.kind === 'expire' && entry.time < expiresAt(current[at]!)) throw new FoldError(index, 'expire before the binding expires')
      next = current.slice()
      next.splice(at, 1)
      return next
    }
  }
}

/**
 * The app rules of the fold, checked without changing anything: the app an entry names must be
 * registered (once, with a unique id and num) before it binds; a revoked app binds nothing and
 * is revoked once, when it holds no bindings. Returns the entry's app (undefined for a new
 * registration). Throws {@link FoldError}.
 */
export function checkAppRules(apps: ReadonlyMap<number, StateApp>, entry: LogEntry, index: number): StateApp | undefined {
  if (entry.kind === 'app-register') {
    if (apps.has(entry.app)) throw new FoldError(index, `app ${entry.app} is already registered`)
    for (const app of apps.values()) if (app.id === entry.id) throw new FoldError(index, `app id ${entry.id} is already registered`)
    return undefined
  }
  const app = apps.get(entry.app)
  if (!app) throw new FoldError(index, `app ${entry.app} is not registered`)
  if (entry.kind === 'app-revoke') {
    if (app.revoked) throw new FoldError(index, `app ${app.id} is already revoked`)
    if (app.bindings > 0) throw new FoldError(index, `app ${app.id} is revoked while it still holds ${app.bindings} bindings`)
  } else if ((entry.kind === 'add' || entry.kind === 'renew') && app.revoked) {
    throw new FoldError(index, `app ${app.id} is revoked`)
  }
  return app
}

/**
 * Applies an entry that {@link checkAppRules} (and, for a binding entry, {@link nextRecord})
 * accepted to the app table: registers, revokes, or counts the binding it adds or removes.
 */
export function applyAppRules(apps: Map<number, StateApp>, app: StateApp | undefined, entry: LogEntry): void {
  switch (entry.kind) {
    case 'app-register':
      apps.set(entry.app, { num: entry.app, id: entry.id, revoked: false, bindings: 0 })
      return
    case 'app-revoke':
      app!.revoked = true
      return
    case 'add':
      app!.bindings++
      return
    case 'remove':
    case 'expire':
      app!.bindings--
      return
  }
}

/** The state a snapshot holds, ready to continue folding from its tree size. */
export function stateFromSnapshot(content: SnapshotContent): DirectoryState {
  const table = new MapRecordTable()
  const apps = new Map<number, StateApp>(content.apps.map((a) => [a.num, { num: a.num, id: a.id, revoked: a.revoked, bindings: 0 }]))
  for (const r of content.records) {
    table.set(
      r.subject,
      r.bindings.map((b) => {
        apps.get(b.app)!.bindings++
        return { ...b }
      }),
    )
  }
  return new DirectoryState(table, apps, content.treeSize)
}

/** The records of a Map-backed state, sorted as a snapshot lists them. */
export function snapshotRecords(table: MapRecordTable): SnapshotRecord[] {
  return [...table.map.entries()]
    .sort(([a], [b]) => a - b)
    .map(([subject, bindings]) => ({ subject, bindings: bindings.map((b) => ({ ...b })) }))
}
