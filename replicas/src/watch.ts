/**
 * `whodis-mirror watch`: the log entries that touch one number or one app, as readable records,
 * so a person or an app notices a binding nobody asked for (misissuance), like a CT monitor.
 * @module
 */
import { toHex } from '../../src/protocol/bytes.ts'
import { decodeEntry, e164Of, type LogEntry } from '../../src/protocol/entry.ts'
import { isoSeconds } from '../../src/protocol/lookup.ts'
import { DAY_SECONDS } from '../../src/protocol/state.ts'

/** What to watch: a number (its subject), an app (its id), or both. */
export interface WatchFilter {
  subject?: number
  appId?: string
}

/** One watched entry, as printed (one JSON object a line). */
export interface WatchRecord {
  index: number
  kind: LogEntry['kind']
  phone?: string
  app: string
  time: string
  ttlDays?: number
  expiresAt?: string
  keyFingerprint?: string
  reason?: string
}

/** True when `entry` touches the filter's number or app; `appId` names app nums. */
export function entryMatches(entry: LogEntry, filter: WatchFilter, appId: (num: number) => string | undefined): boolean {
  if (filter.appId !== undefined) {
    const id = entry.kind === 'app-register' ? entry.id : appId(entry.app)
    if (id === filter.appId) return true
  }
  if (filter.subject !== undefined && 'subject' in entry && entry.subject === filter.subject) return true
  return false
}

/** Decodes entry `index` and describes it if it matches, else null. App names come from `appId`. */
export function watchRecord(bytes: Uint8Array, index: number, filter: WatchFilter, appId: (num: number) => string | undefined): WatchRecord | null {
  const entry = decodeEntry(bytes)
  if (!entryMatches(entry, filter, appId)) return null
  const record: WatchRecord = {
    index,
    kind: entry.kind,
    app: entry.kind === 'app-register' ? entry.id : (appId(entry.app) ?? `app-${entry.app}`),
    time: isoSeconds(entry.time),
  }
  if ('subject' in entry) record.phone = e164Of(entry.subject)
  if (entry.kind === 'add' || entry.kind === 'renew') {
    record.ttlDays = entry.ttlDays
    record.expiresAt = isoSeconds(entry.time + entry.ttlDays * DAY_SECONDS)
    if (entry.keyFingerprint) record.keyFingerprint = toHex(entry.keyFingerprint)
  }
  if (entry.kind === 'remove') record.reason = entry.reason
  return record
}
