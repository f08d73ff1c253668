/**
 * C2SP tlog-tiles (https://c2sp.org/tlog-tiles): tile and entry-bundle paths, entry bundles,
 * which tiles a new tree publishes, and reading hashes back out of tiles, modelled on Go's
 * `sumdb/tlog` tile code with height 8. Pure: runs in workerd and Node.
 *
 * Two differences from Go worth knowing: Go's tile paths carry the height (`tile/8/0/000`) and
 * call record data `data` (`tile/8/data/000`), where C2SP has `tile/0/000` and
 * `tile/entries/000`; and Go's entry data is newline-separated text, not uint16-prefixed bundles.
 * @module
 */
import {
  EMPTY_ROOT,
  HASH_SIZE,
  type Hash,
  type HashReader,
  nodeHash,
  recordProofFromHashes,
  recordProofIndexes,
  splitStoredHashIndex,
  storedHashIndex,
  treeHashFromHashes,
  treeHashIndexes,
  treeProofFromHashes,
  treeProofIndexes,
} from './merkle.ts'

/** Tree levels per tile. */
export const TILE_HEIGHT = 8
/** Hashes in a full tile, and entries in a full bundle. */
export const TILE_WIDTH = 256
/** Largest tile level a path may name. */
export const MAX_TILE_LEVEL = 63
/** Largest entry a bundle can hold (its length prefix is a uint16). */
export const MAX_ENTRY_SIZE = 0xffff

/** A hash tile: `width` (1..256) consecutive hashes at tree level 8·`level`, starting at 256·`index`. */
export interface Tile {
  level: number
  index: number
  width: number
}

/** What {@link parseTilePath} recognises. */
export type TilePathInfo = ({ kind: 'hash' } & Tile) | { kind: 'entries'; index: number; width: number }

/** Fetches a tile's bytes (concatenated hashes), e.g. GET `<prefix>/` + {@link tilePath}. */
export type TileFetcher = (tile: Tile) => Promise<Uint8Array>

/** Like {@link HashReader}, for hashes that must be fetched. */
export type AsyncHashReader = (indexes: number[]) => Promise<Hash[]>

// ---- Paths ----

/** The path of a hash tile, `tile/<L>/<N>[.p/<W>]` (no `.p/W` for a full tile). */
export function tilePath(level: number, index: number, width: number = TILE_WIDTH): string {
  if (!Number.isSafeInteger(level) || level < 0 || level > MAX_TILE_LEVEL) {
    throw new RangeError(`tile level must be an integer in 0..${MAX_TILE_LEVEL}, got ${level}`)
  }
  return `tile/${level}/${indexAndWidth(index, width)}`
}

/** The path of an entry bundle, `tile/entries/<N>[.p/<W>]` (no `.p/W` for a full bundle). */
export function entriesPath(index: number, width: number = TILE_WIDTH): string {
  return `tile/entries/${indexAndWidth(index, width)}`
}

const TILE_PATH = /^tile\/(entries|0|[1-9][0-9]?)\/((?:x[0-9]{3}\/)*[0-9]{3})(?:\.p\/([1-9][0-9]{0,2}))?$/

/**
 * Parses a tile or entry-bundle path (relative to the log prefix). Null for anything that is not
 * exactly the canonical form: leading zeros, an `x000/` lead group, width 0 or ≥ 256, level > 63.
 */
export function parseTilePath(path: string): TilePathInfo | null {
  const match = TILE_PATH.exec(path)
  if (!match) return null
  const [, levelText, indexText, widthText] = match as unknown as [string, string, string, string | undefined]
  let index = 0
  for (const group of indexText.split('/')) {
    index = index * 1000 + Number(group.replace('x', ''))
    if (!Number.isSafeInteger(index)) return null
  }
  const width = widthText === undefined ? TILE_WIDTH : Number(widthText)
  if (widthText !== undefined && width >= TILE_WIDTH) return null
  if (levelText === 'entries') {
    return entriesPath(index, width) === path ? { kind: 'entries', index, width } : null
  }
  const level = Number(levelText)
  if (level > MAX_TILE_LEVEL || tilePath(level, index, width) !== path) return null
  return { kind: 'hash', level, index, width }
}

function indexAndWidth(index: number, width: number): string {
  if (!Number.isSafeInteger(index) || index < 0) throw new RangeError(`tile index must be a non-negative safe integer, got ${index}`)
  if (!Number.isSafeInteger(width) || width < 1 || width > TILE_WIDTH) {
    throw new RangeError(`tile width must be an integer in 1..${TILE_WIDTH}, got ${width}`)
  }
  // Three digits a path element, all but the last prefixed with x: 1234067 → x001/x234/067.
  let text = String(index % 1000).padStart(3, '0')
  for (let rest = Math.floor(index / 1000); rest > 0; rest = Math.floor(rest / 1000)) {
    text = `x${String(rest % 1000).padStart(3, '0')}/${text}`
  }
  return width === TILE_WIDTH ? text : `${text}.p/${width}`
}

// ---- Entry bundles ----

/** Encodes up to 256 entries as a bundle: each entry prefixed with its big-endian uint16 length. */
export function encodeBundle(entries: readonly Uint8Array[]): Uint8Array {
  if (entries.length > TILE_WIDTH) throw new RangeError(`a bundle holds at most ${TILE_WIDTH} entries, got ${entries.length}`)
  let size = 0
  for (const entry of entries) {
    if (entry.length > MAX_ENTRY_SIZE) throw new RangeError(`entry of ${entry.length} bytes exceeds ${MAX_ENTRY_SIZE}`)
    size += 2 + entry.length
  }
  const out = new Uint8Array(size)
  let at = 0
  for (const entry of entries) {
    out[at] = entry.length >> 8
    out[at + 1] = entry.length & 0xff
    out.set(entry, at + 2)
    at += 2 + entry.length
  }
  return out
}

/**
 * Splits a bundle into its entries: views into `bytes`, not copies (a mirror replays millions).
 * Throws on a truncated prefix or entry, more than 256 entries, or, when `expectedCount` is
 * given, any other number of entries.
 */
export function decodeBundle(bytes: Uint8Array, expectedCount?: number): Uint8Array[] {
  const entries: Uint8Array[] = []
  let at = 0
  while (at < bytes.length) {
    if (entries.length === TILE_WIDTH) throw new Error(`bundle holds more than ${TILE_WIDTH} entries`)
    if (at + 2 > bytes.length) throw new Error(`bundle truncated in the length of entry ${entries.length}`)
    const length = (bytes[at]! << 8) | bytes[at + 1]!
    at += 2
    if (at + length > bytes.length) throw new Error(`bundle truncated in entry ${entries.length}`)
    entries.push(bytes.subarray(at, at + length))
    at += length
  }
  if (expectedCount !== undefined && entries.length !== expectedCount) {
    throw new Error(`bundle holds ${entries.length} entries, expected ${expectedCount}`)
  }
  return entries
}

// ---- Tiles of a tree ----

/** The width of the partial tile at `level` in a tree of `size` records: floor(size / 256^level) mod 256 (0: none). */
export function partialTileWidth(size: number, level: number): number {
  return Math.floor(size / TILE_WIDTH ** level) % TILE_WIDTH
}

/** The width tile (`level`, `index`) has in a tree of `size` records: 256 if full, 0 if it does not exist yet. */
export function tileWidthAt(level: number, index: number, size: number): number {
  const hashesAtLevel = Math.floor(size / TILE_WIDTH ** level)
  return Math.max(0, Math.min(TILE_WIDTH, hashesAtLevel - index * TILE_WIDTH))
}

/**
 * The tiles a log publishes when its tree grows from `oldSize` to `newSize`: each tile that is
 * full now and was not before, and at each level whose hash count changed, the new partial tile.
 * Unlike Go's NewTiles it omits the intermediate partial widths no checkpoint needs.
 */
export function newTiles(oldSize: number, newSize: number): Tile[] {
  if (!Number.isSafeInteger(oldSize) || !Number.isSafeInteger(newSize) || oldSize < 0 || oldSize > newSize) {
    throw new RangeError(`cannot grow a tree from size ${oldSize} to ${newSize}`)
  }
  const tiles: Tile[] = []
  for (let level = 0; Math.floor(newSize / TILE_WIDTH ** level) > 0; level++) {
    const oldCount = Math.floor(oldSize / TILE_WIDTH ** level)
    const newCount = Math.floor(newSize / TILE_WIDTH ** level)
    if (newCount === oldCount) continue
    const lastFull = Math.floor(newCount / TILE_WIDTH)
    for (let index = Math.floor(oldCount / TILE_WIDTH); index < lastFull; index++) {
      tiles.push({ level, index, width: TILE_WIDTH })
    }
    const width = newCount % TILE_WIDTH
    if (width > 0) tiles.push({ level, index: lastFull, width })
  }
  return tiles
}

/** A tile's bytes (its hashes concatenated), read from stored hashes. */
export function readTileData(tile: Tile, read: HashReader): Uint8Array {
  requireTile(tile)
  const first = tile.index * TILE_WIDTH
  const indexes = Array.from({ length: tile.width }, (_, i) => storedHashIndex(TILE_HEIGHT * tile.level, first + i))
  const hashes = read(indexes)
  if (hashes.length !== indexes.length) {
    throw new Error(`hash reader returned ${hashes.length} hashes for ${indexes.length} indexes`)
  }
  const out = new Uint8Array(tile.width * HASH_SIZE)
  hashes.forEach((h, i) => {
    if (h.length !== HASH_SIZE) throw new Error(`hash reader returned a hash that is not ${HASH_SIZE} bytes`)
    out.set(h, i * HASH_SIZE)
  })
  return out
}

/** A tile's bytes split into its hashes. Throws unless the length is a whole number of hashes. */
export function splitTile(data: Uint8Array): Hash[] {
  if (data.length % HASH_SIZE !== 0) throw new Error(`tile of ${data.length} bytes is not a whole number of hashes`)
  return Array.from({ length: data.length / HASH_SIZE }, (_, i) => data.slice(i * HASH_SIZE, (i + 1) * HASH_SIZE))
}

// ---- Reading hashes from tiles ----

/** The root of the tree of `size` records, computed from its tiles (compare it with a signed checkpoint). */
export async function treeHashFromTiles(size: number, fetchTile: TileFetcher): Promise<Hash> {
  if (size === 0) return EMPTY_ROOT.slice()
  return treeHashFromHashes(size, await readHashesFromTiles(size, treeHashIndexes(size), fetchTile))
}

/** The inclusion proof for record `n` in the tree of size `t`, from tiles. Trust it only once checkRecord accepts it. */
export async function proveRecordFromTiles(t: number, n: number, fetchTile: TileFetcher): Promise<Hash[]> {
  const indexes = recordProofIndexes(t, n)
  return recordProofFromHashes(t, n, await readHashesFromTiles(t, indexes, fetchTile))
}

/** The consistency proof from tree `n` to tree `t`, from tiles. Trust it only once checkTree accepts it. */
export async function proveTreeFromTiles(t: number, n: number, fetchTile: TileFetcher): Promise<Hash[]> {
  const indexes = treeProofIndexes(t, n)
  return treeProofFromHashes(t, n, await readHashesFromTiles(t, indexes, fetchTile))
}

/**
 * Reads stored hashes of the tree of `size` records from the tiles holding them (full tiles
 * where complete, `.p/W` where not), fetching each tile once and checking its length. The hashes
 * are not authenticated: use {@link tileHashReader} for that, or check what they prove.
 */
export async function readHashesFromTiles(size: number, indexes: number[], fetchTile: TileFetcher): Promise<Hash[]> {
  const plan = new TilePlan(size, fetchTile)
  const slots = indexes.map((x) => plan.add(tileInTree(tileForStoredHash(requireInTree(x, size)).tile, size)!))
  const data = await plan.fetchAll()
  return indexes.map((x, i) => hashFromTile(plan.tiles[slots[i]!]!, data[slots[i]!]!, x))
}

/**
 * A reader of the tree of `size` records with root `root` that fetches tiles and authenticates
 * them before serving hashes, like Go's TileHashReader: the tiles covering the whole tree must
 * hash to `root`, and every other full tile must hash to its entry in its parent tile. It
 * throws when they do not. Tiles are fetched once per reader and re-authenticated on every read.
 */
export function tileHashReader(size: number, root: Hash, fetchTile: TileFetcher): AsyncHashReader {
  const cache = new Map<string, Promise<Uint8Array>>()
  return async (indexes) => {
    for (const x of indexes) requireInTree(x, size)
    if (indexes.length === 0) return []
    const plan = new TilePlan(size, fetchTile, cache)
    // The tiles that make up the whole tree come first: they are authenticated by the root.
    const rootParts = treeHashIndexes(size)
    const rootSlots = rootParts.map((x) => plan.add(tileInTree(tileForStoredHash(x).tile, size)!))
    const rootTileCount = plan.tiles.length
    // Then each requested hash's tile, preceded by any ancestors not yet planned, so that
    // every tile after the root tiles has its parent planned before it.
    const slots = indexes.map((x) => {
      const tile = tileForStoredHash(x).tile
      let up = 0
      while (!plan.has(tileAncestor(tile, up, size))) {
        if (++up > MAX_TILE_LEVEL) throw new Error(`no planned ancestor for stored hash ${x}`)
      }
      for (up--; up >= 0; up--) plan.add(tileAncestor(tile, up, size)!)
      return plan.add(tileInTree(tile, size)!)
    })
    const data = await plan.fetchAll()

    let computed = hashFromTile(plan.tiles[rootSlots.at(-1)!]!, data[rootSlots.at(-1)!]!, rootParts.at(-1)!)
    for (let i = rootParts.length - 2; i >= 0; i--) {
      computed = nodeHash(hashFromTile(plan.tiles[rootSlots[i]!]!, data[rootSlots[i]!]!, rootParts[i]!), computed)
    }
    if (!sameHash(computed, root)) throw new Error('tiles do not hash to the tree root')
    for (let i = rootTileCount; i < plan.tiles.length; i++) {
      const tile = plan.tiles[i]!
      if (tile.width !== TILE_WIDTH) throw new Error(`partial ${keyOf(tile)} has no parent to check it against`)
      const parent = tileAncestor(tile, 1, size)!
      const parentData = data[plan.slot(parent)]!
      const expected = hashFromTile(parent, parentData, storedHashIndex(TILE_HEIGHT * parent.level, tile.index))
      if (!sameHash(subtreeOfHashes(data[i]!), expected)) {
        throw new Error(`${tilePath(tile.level, tile.index, tile.width)} does not match its parent tile`)
      }
    }
    return indexes.map((x, i) => hashFromTile(plan.tiles[slots[i]!]!, data[slots[i]!]!, x))
  }
}

// The distinct tiles a read needs, in planning order, fetched in parallel with lengths checked.
class TilePlan {
  readonly tiles: Tile[] = []
  readonly #slots = new Map<string, number>()
  readonly #size: number
  readonly #fetchTile: TileFetcher
  readonly #cache: Map<string, Promise<Uint8Array>> | undefined

  constructor(size: number, fetchTile: TileFetcher, cache?: Map<string, Promise<Uint8Array>>) {
    this.#size = size
    this.#fetchTile = fetchTile
    this.#cache = cache
  }

  has(tile: Tile | null): boolean {
    return tile !== null && this.#slots.has(keyOf(tile))
  }

  slot(tile: Tile): number {
    const slot = this.#slots.get(keyOf(tile))
    if (slot === undefined) throw new Error(`tile ${keyOf(tile)} was not planned`)
    return slot
  }

  add(tile: Tile): number {
    const key = keyOf(tile)
    let slot = this.#slots.get(key)
    if (slot === undefined) {
      slot = this.tiles.push(tile) - 1
      this.#slots.set(key, slot)
    }
    return slot
  }

  fetchAll(): Promise<Uint8Array[]> {
    return Promise.all(this.tiles.map((tile) => this.#fetch(tile)))
  }

  #fetch(tile: Tile): Promise<Uint8Array> {
    const key = keyOf(tile)
    const cached = this.#cache?.get(key)
    if (cached) return cached
    const pending = this.#fetchTile({ ...tile }).then((data) => {
      if (!(data instanceof Uint8Array) || data.length !== tile.width * HASH_SIZE) {
        throw new Error(`${key} for tree size ${this.#size} is ${data?.length} bytes, expected ${tile.width * HASH_SIZE}`)
      }
      return data
    })
    this.#cache?.set(key, pending)
    pending.catch(() => this.#cache?.delete(key))
    return pending
  }
}

// The narrowest tile holding stored hash `index` (Go's tileForIndex), and where in it the hash's
// subtree lies, in hashes: the hash is the subtree root over [start, end).
function tileForStoredHash(index: number): { tile: Tile; start: number; end: number } {
  const { level, n } = splitStoredHashIndex(index)
  const tileLevel = Math.floor(level / TILE_HEIGHT)
  const span = 2 ** (level - tileLevel * TILE_HEIGHT) // hashes of the tile's bottom row under this hash
  const tileIndex = Math.floor((n * span) / TILE_WIDTH)
  const nInTile = n - (tileIndex * TILE_WIDTH) / span
  const start = nInTile * span
  return { tile: { level: tileLevel, index: tileIndex, width: start + span }, start, end: start + span }
}

// The hash at stored `index`, from `data` of a tile that is (a widening of) its narrowest tile.
function hashFromTile(tile: Tile, data: Uint8Array, index: number): Hash {
  const { tile: home, start, end } = tileForStoredHash(index)
  if (tile.level !== home.level || tile.index !== home.index || tile.width < home.width) {
    throw new Error(`stored hash ${index} is not in ${keyOf(tile)}`)
  }
  if (data.length < tile.width * HASH_SIZE) throw new Error(`${keyOf(tile)} data is too short`)
  return subtreeOfHashes(data.subarray(start * HASH_SIZE, end * HASH_SIZE))
}

// The Merkle subtree hash over a power-of-two run of concatenated hashes.
function subtreeOfHashes(data: Uint8Array): Hash {
  if (data.length === HASH_SIZE) return data.slice()
  const half = data.length / 2
  return nodeHash(subtreeOfHashes(data.subarray(0, half)), subtreeOfHashes(data.subarray(half)))
}

// `tile` at the width it has in a tree of `size`, or null if it does not exist there.
function tileInTree(tile: Tile, size: number): Tile | null {
  const width = tileWidthAt(tile.level, tile.index, size)
  return width === 0 ? null : { level: tile.level, index: tile.index, width }
}

// The tile `up` levels above the tile holding `tile`, at its width in a tree of `size` (Go's tileParent).
function tileAncestor(tile: Tile, up: number, size: number): Tile | null {
  return tileInTree({ level: tile.level + up, index: Math.floor(tile.index / TILE_WIDTH ** up), width: TILE_WIDTH }, size)
}

function requireInTree(index: number, size: number): number {
  if (!Number.isSafeInteger(index) || index < 0 || index >= storedHashIndex(0, size)) {
    throw new RangeError(`stored hash ${index} is not in a tree of size ${size}`)
  }
  return index
}

function requireTile(tile: Tile): void {
  tilePath(tile.level, tile.index, tile.width)
}

function keyOf(tile: Tile): string {
  return tilePath(tile.level, tile.index, tile.width)
}

function sameHash(a: Hash, b: Hash): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i])
}
