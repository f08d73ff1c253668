/**
 * The transparency log over HTTP, in the C2SP tlog-tiles layout under `/log/`: the checkpoint,
 * hash tiles and entry bundles, and snapshots. Everything but the checkpoint and the latest
 * snapshot manifest is immutable and cached for a year.
 *
 * Every route here needs an app token, and every answer is `Cache-Control: private`. Entry
 * bundles and snapshot data name numbers. A hash is no safer: a leaf is SHA-256 of about 17
 * bytes of low-entropy fields (number, app, time, kind), so a new partial tile, or a checkpoint
 * whose tree is known subtrees plus a few new leaves, gives its bindings to a brute force.
 * The log becomes public once its entries carry OPRF labels instead of numbers (docs/storage.md).
 *
 * Tiles and bundles are authoritative in R2: the sequencer writes them there before it commits
 * the tree that names them, and keeps no other copy. Both hold bundles uncompressed; a bundle is
 * gzip'd on the way out to a client that accepts gzip (C2SP tlog-tiles: entry bundles SHOULD be
 * compressed at the HTTP layer), the bytes it decompresses to being exactly the stored ones.
 * @module
 */
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi'
import type { Context } from 'hono'
import { CHECKPOINT_KEY, getBytes, getText, LATEST_SNAPSHOT_KEY, snapshotDataKey, snapshotManifestKey } from '../adapters/log-bucket.ts'
import { sequencer } from '../directory.ts'
import type { AppEnv } from '../env.ts'
import { ApiError, orRefuse } from '../errors.ts'
import { requireApp } from '../middleware/auth.ts'
import { gzip } from '../protocol/snapshot.ts'
import { parseTilePath } from '../protocol/tiles.ts'
import { errors } from './schemas.ts'
import { validationHook } from './validation.ts'

export const log = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
log.use('/log/*', requireApp)

const IMMUTABLE = 'max-age=31536000, immutable'
const NOTE_TYPE = 'text/plain; charset=utf-8'
const text = (description: string) => ({ description, content: { [NOTE_TYPE]: { schema: z.string() } } })
const binary = (description: string) => ({
  description,
  content: { 'application/octet-stream': { schema: z.string().openapi({ format: 'binary' }) } },
})

log.openapi(
  createRoute({
    method: 'get',
    path: '/log/checkpoint',
    operationId: 'getCheckpoint',
    tags: ['log'],
    security: [{ appToken: [] }],
    summary: 'The latest signed checkpoint (C2SP tlog-checkpoint in signed-note form)',
    responses: { 200: text('the checkpoint note'), ...errors('unauthorized', 'not_configured') },
  }),
  async (c) => {
    const note = (await getText(c.env.LOG, CHECKPOINT_KEY)) ?? orRefuse(await sequencer(c.env).checkpointNote())
    return c.text(note, 200, { 'Cache-Control': 'private, max-age=2' })
  },
)

log.get('/log/tile/*', async (c) => {
  const path = c.req.path.slice('/log/'.length)
  const tile = parseTilePath(path)
  if (!tile) throw new ApiError(404, 'not_found', `${path} is not a tile path`)
  // Tiles and bundles live in R2 alone: a path not there is not in the published tree.
  const data = await getBytes(c.env.LOG, path)
  if (!data) throw new ApiError(404, 'not_found', `${path} is beyond the current tree`)
  if (tile.kind === 'hash') return c.body(data, 200, { 'Content-Type': 'application/octet-stream', 'Cache-Control': `private, ${IMMUTABLE}` })
  const headers = { 'Content-Type': 'application/octet-stream', 'Cache-Control': `private, ${IMMUTABLE}`, Vary: 'Accept-Encoding' }
  if (!acceptsGzip(clientAcceptEncoding(c.req.raw))) return c.body(data, 200, headers)
  // Compressed here and sent as is ("manual"): the runtime would otherwise gzip it again.
  return new Response(await gzip(data), { status: 200, headers: { ...headers, 'Content-Encoding': 'gzip' }, encodeBody: 'manual' })
})

/**
 * The `Accept-Encoding` the client sent. On Cloudflare (and under wrangler) the Worker's own
 * header is rewritten to `br, gzip` whatever the client asked, and the client's is kept as
 * `request.cf.clientAcceptEncoding`; a request without `cf` (a test calling the app) is the client's own.
 */
function clientAcceptEncoding(req: Request): string | undefined {
  const cf = (req as { cf?: { clientAcceptEncoding?: unknown } }).cf
  return typeof cf?.clientAcceptEncoding === 'string' ? cf.clientAcceptEncoding : (req.headers.get('Accept-Encoding') ?? undefined)
}

/** Whether an `Accept-Encoding` header accepts gzip (by name or `*`, with a non-zero q). */
export function acceptsGzip(header: string | undefined): boolean {
  const q = new Map<string, number>()
  for (const part of (header ?? '').split(',')) {
    const [coding, ...params] = part.split(';').map((s) => s.trim().toLowerCase())
    if (!coding) continue
    const weight = params.find((p) => p.startsWith('q='))
    q.set(coding, weight === undefined ? 1 : Number(weight.slice(2)) || 0)
  }
  const named = q.get('gzip') ?? q.get('x-gzip')
  return (named ?? q.get('*') ?? 0) > 0
}
log.openAPIRegistry.registerPath({
  method: 'get',
  path: '/log/tile/{level}/{index}',
  operationId: 'getHashTile',
  tags: ['log'],
  security: [{ appToken: [] }],
  summary: 'A hash tile, `tile/<L>/<N>[.p/<W>]` (C2SP tlog-tiles, height 8); `<N>` may span several path segments',
  request: { params: z.object({ level: z.string(), index: z.string() }) },
  responses: { 200: binary('the tile: concatenated 32-byte hashes'), ...errors('unauthorized', 'not_found') },
})
log.openAPIRegistry.registerPath({
  method: 'get',
  path: '/log/tile/entries/{index}',
  operationId: 'getEntryBundle',
  tags: ['log'],
  summary: 'An entry bundle, `tile/entries/<N>[.p/<W>]`: entries with a big-endian uint16 length prefix each (gzip-encoded when Accept-Encoding allows)',
  security: [{ appToken: [] }],
  request: { params: z.object({ index: z.string() }) },
  responses: { 200: binary('the entry bundle'), ...errors('unauthorized', 'not_found') },
})

const SnapshotSize = z.object({ size: z.string().regex(/^(0|[1-9][0-9]{0,15})$/).openapi({ example: '10000' }) })

log.openapi(
  createRoute({
    method: 'get',
    path: '/log/snapshot/latest',
    operationId: 'getLatestSnapshotManifest',
    tags: ['log'],
    security: [{ appToken: [] }],
    summary: 'The signed manifest (whodis.snapshot/v1) of the newest snapshot',
    responses: { 200: text('the manifest note'), ...errors('unauthorized', 'snapshot_not_found') },
  }),
  // No longer-lived than the checkpoint's cache: a mirror must never see a snapshot newer than the checkpoint.
  async (c) => note(c, LATEST_SNAPSHOT_KEY, 'private, max-age=2'),
)

log.openapi(
  createRoute({
    method: 'get',
    path: '/log/snapshot/{size}/manifest',
    operationId: 'getSnapshotManifest',
    tags: ['log'],
    security: [{ appToken: [] }],
    summary: 'The signed manifest of the snapshot at a tree size',
    request: { params: SnapshotSize },
    responses: { 200: text('the manifest note'), ...errors('invalid_request', 'unauthorized', 'snapshot_not_found') },
  }),
  async (c) => note(c, snapshotManifestKey(Number(c.req.valid('param').size)), `private, ${IMMUTABLE}`),
)

log.openapi(
  createRoute({
    method: 'get',
    path: '/log/snapshot/{size}/data',
    operationId: 'getSnapshotData',
    tags: ['log'],
    summary: 'A snapshot file (gzip of the whodis snapshot v1 format); check it against its manifest',
    security: [{ appToken: [] }],
    request: { params: SnapshotSize },
    responses: { 200: binary('the gzip-compressed snapshot'), ...errors('invalid_request', 'unauthorized', 'snapshot_not_found') },
  }),
  async (c) => {
    const data = await getBytes(c.env.LOG, snapshotDataKey(Number(c.req.valid('param').size)))
    if (!data) throw new ApiError(404, 'snapshot_not_found', 'no snapshot at this size (only the last few are kept)')
    return c.body(data, 200, { 'Content-Type': 'application/octet-stream', 'Cache-Control': `private, ${IMMUTABLE}` })
  },
)

async function note(c: Context<AppEnv>, key: string, cache: string) {
  const body = await getText(c.env.LOG, key)
  if (body === null) throw new ApiError(404, 'snapshot_not_found', 'no snapshot at this size (only the last few are kept)')
  return c.text(body, 200, { 'Cache-Control': cache })
}
