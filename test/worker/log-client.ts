/** Reads the log through the Worker's routes, as a client would, and checks what it reads. */
import { expect } from 'vitest'
import { openCheckpoint, type Checkpoint } from '../../src/protocol/checkpoint.ts'
import { decodeEntry } from '../../src/protocol/entry.ts'
import { parseVerifierKey, type NoteVerifierKey } from '../../src/protocol/note-keys.ts'
import { DirectoryState } from '../../src/protocol/state.ts'
import { decodeBundle, entriesPath, tilePath, TILE_WIDTH, type Tile } from '../../src/protocol/tiles.ts'
import { call } from './helpers.ts'

/** The pinned log key, from /.well-known/whodis. */
export async function pinnedKey(): Promise<NoteVerifierKey> {
  const res = await call('GET', '/.well-known/whodis')
  return parseVerifierKey(((await res.json()) as { logKey: string }).logKey)
}

/** The latest checkpoint, verified (read with an app token, as everything under /log/ is). */
export async function latestCheckpoint(key: NoteVerifierKey, token: string): Promise<{ note: string; checkpoint: Checkpoint }> {
  const res = await call('GET', '/log/checkpoint', { token })
  expect(res.status).toBe(200)
  const note = await res.text()
  return { note, checkpoint: await openCheckpoint(note, key) }
}

/** Fetches hash tiles through the routes with an app token. */
export function tileFetcher(token: string): (tile: Tile) => Promise<Uint8Array> {
  return async (tile) => {
    const res = await call('GET', `/log/${tilePath(tile.level, tile.index, tile.width)}`, { token })
    if (res.status !== 200) throw new Error(`tile ${tilePath(tile.level, tile.index, tile.width)}: ${res.status}`)
    return new Uint8Array(await res.arrayBuffer())
  }
}

/** Every entry in [from, size), read from the bundles with an app token. */
export async function fetchEntries(token: string, size: number, from = 0): Promise<Uint8Array[]> {
  const out: Uint8Array[] = []
  for (let b = Math.floor(from / TILE_WIDTH); b * TILE_WIDTH < size; b++) {
    const width = Math.min(TILE_WIDTH, size - b * TILE_WIDTH)
    const res = await call('GET', `/log/${entriesPath(b, width)}`, { token })
    expect(res.status).toBe(200)
    const entries = decodeBundle(new Uint8Array(await res.arrayBuffer()), width)
    out.push(...entries.slice(Math.max(0, from - b * TILE_WIDTH)))
  }
  return out
}

/** Folds entries onto a state (a fresh one by default). */
export function fold(entries: Uint8Array[], state = new DirectoryState()): DirectoryState {
  for (const e of entries) state.apply(decodeEntry(e), state.size)
  return state
}
