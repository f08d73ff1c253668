/**
 * The directory's log endpoints as the mirror reads them, with the size limits each response
 * must respect. Nothing returned here is verified yet: callers check signatures and hashes.
 * @module
 */
import { MirrorError } from './errors.ts'
import { HttpClient, type HttpOptions } from './http.ts'
import { MAX_NOTE_BYTES } from '../../src/protocol/note.ts'
import { decodeBundle, entriesPath, tilePath, TILE_WIDTH, type Tile } from '../../src/protocol/tiles.ts'
import { HASH_SIZE } from '../../src/protocol/merkle.ts'
import { fromBase64 } from '../../src/protocol/bytes.ts'

/** `/.well-known/whodis`. */
export interface WellKnown {
  origin: string
  logKey: string
}

// Version-2 entries are at most 49 bytes (add with a key) or 73 (app-register with a 64-char id).
const MAX_ENTRY_BYTES = 128
const MAX_BUNDLE_BYTES = TILE_WIDTH * (2 + MAX_ENTRY_BYTES)
const MAX_CHECKPOINT_BYTES = 64 * 1024

/** Reads the directory's public and app-only log endpoints. */
export class LogClient {
  readonly http: HttpClient

  constructor(
    readonly url: string,
    options: HttpOptions = {},
  ) {
    this.http = new HttpClient(url, options)
  }

  /** The directory's metadata: the log key to pin and its origin. */
  async wellKnown(): Promise<WellKnown> {
    const text = await this.http.getText('/.well-known/whodis', { maxBytes: 64 * 1024 })
    let body: unknown
    try {
      body = JSON.parse(text!)
    } catch {
      throw new MirrorError('malformed', `${this.url}/.well-known/whodis is not JSON`)
    }
    const { origin, logKey } = (body ?? {}) as Record<string, unknown>
    if (typeof origin !== 'string' || typeof logKey !== 'string') {
      throw new MirrorError('malformed', `${this.url}/.well-known/whodis lacks origin and logKey`)
    }
    return { origin, logKey }
  }

  /** The latest signed checkpoint note (needs the app token, as everything under /log/ does). */
  async checkpoint(): Promise<string> {
    return (await this.http.getText('/log/checkpoint', { auth: true, maxBytes: MAX_CHECKPOINT_BYTES }))!
  }

  /** A hash tile; its length is checked (a whole tile of `tile.width` hashes). */
  async tile(tile: Tile): Promise<Uint8Array> {
    const path = `/log/${tilePath(tile.level, tile.index, tile.width)}`
    const body = (await this.http.get(path, { auth: true, maxBytes: TILE_WIDTH * HASH_SIZE }))!
    if (body.length !== tile.width * HASH_SIZE) {
      throw new MirrorError('malformed', `${path} is ${body.length} bytes, expected ${tile.width * HASH_SIZE}`, { path })
    }
    return body
  }

  /**
   * Bundle `index` of `width` entries (needs the app token): its bytes as served and its entries
   * (views into them); the count is checked.
   */
  async bundle(index: number, width: number): Promise<{ bytes: Uint8Array; entries: Uint8Array[] }> {
    const path = `/log/${entriesPath(index, width)}`
    const body = (await this.http.get(path, { auth: true, maxBytes: MAX_BUNDLE_BYTES }))!
    try {
      return { bytes: body, entries: decodeBundle(body, width) }
    } catch (err) {
      throw new MirrorError('malformed', `${path}: ${(err as Error).message}`, { path }, { cause: err })
    }
  }

  /**
   * App `id`'s registration as the directory serves it (`GET /v1/apps/{id}`, needs the app
   * token): the index and bytes of its app-register entry; null when the directory knows no such app.
   */
  async appRegistration(id: string): Promise<{ index: number; entry: Uint8Array } | null> {
    const path = `/v1/apps/${encodeURIComponent(id)}`
    const text = await this.http.getText(path, { auth: true, maxBytes: 64 * 1024, allow404: true })
    if (text === null) return null
    let body: { index?: unknown; entry?: unknown }
    let entry: Uint8Array
    try {
      body = JSON.parse(text) as typeof body
      entry = fromBase64(String(body.entry))
    } catch {
      throw new MirrorError('malformed', `${this.url}${path} is not an app registration`, { path })
    }
    if (!Number.isSafeInteger(body.index) || (body.index as number) < 0) throw new MirrorError('malformed', `${this.url}${path} names no log index`, { path })
    return { index: body.index as number, entry }
  }

  /** The newest snapshot's signed manifest, or null when the directory has none yet. */
  async latestManifest(): Promise<string | null> {
    return this.http.getText('/log/snapshot/latest', { auth: true, maxBytes: MAX_NOTE_BYTES, allow404: true })
  }

  /** The gzip'd snapshot file at `size` (needs the app token), at most `maxBytes`; null if gone. */
  async snapshotData(size: number, maxBytes: number): Promise<Uint8Array | null> {
    return this.http.get(`/log/snapshot/${size}/data`, { auth: true, maxBytes, allow404: true })
  }
}

/** Reads a peer mirror's held checkpoint (`GET <peer>/log/checkpoint`). */
export async function peerCheckpoint(url: string, options: HttpOptions = {}): Promise<string> {
  return (await new HttpClient(url, options).getText('/log/checkpoint', { maxBytes: MAX_CHECKPOINT_BYTES }))!
}
