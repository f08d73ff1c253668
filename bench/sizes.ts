/**
 * Sizes of what the log serves, against baselines in the same run: snapshot bytes per record
 * (and its state and provenance sections) vs the same state as gzip'd NDJSON; entry-bundle
 * bytes per minimal entry; inclusion proof bytes vs 32·⌈log2 N⌉.
 *
 *   npx tsx bench/sizes.ts [--records N] [--json]
 * @module
 */
import { constants, createGzip } from 'node:zlib'
import { e164Of, encodeEntry } from '../src/protocol/entry.ts'
import { encodeSnapshot, gzip } from '../src/protocol/snapshot.ts'
import { encodeBundle, TILE_WIDTH } from '../src/protocol/tiles.ts'
import { appId, generateDataset, type Dataset } from './dataset.ts'

/** Bundles sampled for the bundle size (each gzip'd alone, as served). */
const SAMPLE_BUNDLES = 200

/**
 * Measures sizes for a dataset; every figure is bytes per record or per entry. Pass the
 * snapshot's encoding when it is at hand (the benchmark log has it) to skip encoding it again.
 */
export async function measureSizes(
  ds: Dataset,
  encoded?: { bytes: Uint8Array; stateBytes: Uint8Array; provenanceBytes: Uint8Array; data?: Uint8Array },
) {
  const records = ds.records.length
  const snapshot =
    encoded ??
    (() => {
      const apps = Array.from({ length: ds.appCount }, (_, i) => ({ num: i + 1, id: appId(i + 1), revoked: false }))
      const e = encodeSnapshot({ treeSize: ds.entryCount, rightEdge: [], apps, records: ds.records })
      return { bytes: e.bytes, stateBytes: e.sections.state, provenanceBytes: e.sections.provenance, data: undefined }
    })()
  // The gzips run in zlib's thread pool while this thread writes the NDJSON: started together.
  // The state section (numbers → apps) and the provenance section (times, log indexes), each alone.
  const [snapshotGz, stateGz, provenanceGz, ndjsonGz] = await Promise.all([
    snapshot.data ? Promise.resolve(snapshot.data.length) : gzip(snapshot.bytes).then((g) => g.length),
    gzip(snapshot.stateBytes).then((g) => g.length),
    gzip(snapshot.provenanceBytes).then((g) => g.length),
    ndjsonGzipBytes(ds),
  ])

  // Bundles of minimal adds in log order, 256 entries each, gzip'd one by one as served.
  let bundleRaw = 0
  let bundleGz = 0
  const sampleBundles = Math.max(1, Math.min(SAMPLE_BUNDLES, Math.floor(ds.order.length / TILE_WIDTH)))
  const stride = Math.max(1, Math.floor(ds.order.length / TILE_WIDTH / sampleBundles))
  let sampled = 0
  for (let i = 0; i < sampleBundles; i++) {
    const start = i * stride * TILE_WIDTH
    const entries: Uint8Array[] = []
    for (let k = start; k < Math.min(ds.order.length, start + TILE_WIDTH); k++) {
      const r = ds.records[ds.order[k]!]!
      const b = r.bindings[ds.orderBinding[k]!]!
      entries.push(encodeEntry({ kind: 'add', subject: r.subject, app: b.app, time: b.verifiedAt, ttlDays: b.ttlDays }))
    }
    const bundle = encodeBundle(entries)
    bundleRaw += bundle.length
    bundleGz += (await gzip(bundle)).length
    sampled += entries.length
  }

  // An inclusion proof in a tree of the dataset's size (its length does not depend on the hashes).
  const n = ds.entryCount
  const proofHashes = proofLength(n, Math.floor(n / 3))

  return {
    records,
    bindings: ds.order.length,
    snapshot_bytes_per_record: snapshotGz / records,
    snapshot_state_bytes_per_record: stateGz / records,
    snapshot_provenance_bytes_per_record: provenanceGz / records,
    snapshot_provenance_bound_bytes_per_record: log2Factorial(ds.order.length) / 8 / records,
    ndjson_gzip_bytes_per_record: ndjsonGz / records,
    snapshot_vs_ndjson: snapshotGz / ndjsonGz,
    bundle_raw_bytes_per_entry: bundleRaw / sampled,
    bundle_bytes_per_entry: bundleGz / sampled,
    proof_bytes: proofHashes * 32,
    proof_bound_bytes: 32 * Math.ceil(Math.log2(n)),
  }
}

/**
 * log2(n!) (Stirling): the fewest bits that say which of n bindings went to which of n log
 * positions. A snapshot in number order that gives every binding its log index cannot code
 * those indexes in less, whatever the coding.
 */
export function log2Factorial(n: number): number {
  if (n < 2) return 0
  return (n * Math.log(n) - n + 0.5 * Math.log(2 * Math.PI * n) + 1 / (12 * n)) / Math.LN2
}

/** Hashes in the RFC 6962 inclusion proof of record `m` in a tree of `n` records. */
export function proofLength(n: number, m: number): number {
  let length = 0
  let lo = 0
  let hi = n
  while (hi - lo > 1) {
    let k = 1
    while (k * 2 < hi - lo) k *= 2
    if (m < lo + k) hi = lo + k
    else lo += k
    length++
  }
  return length
}

/**
 * Bytes of the dataset's state as gzip'd NDJSON, one `{phone, apps:[{app, verifiedAt,
 * expiresAt, index}]}` line per number, streamed through zlib (the text of ten million lines
 * would not fit one JavaScript string). zlib's default level, as `CompressionStream` uses.
 */
export async function ndjsonGzipBytes(ds: Dataset): Promise<number> {
  const gz = createGzip({ level: constants.Z_DEFAULT_COMPRESSION })
  let bytes = 0
  gz.on('data', (chunk: Buffer) => (bytes += chunk.length))
  const done = new Promise<void>((resolve, reject) => {
    gz.on('end', resolve)
    gz.on('error', reject)
  })
  let lines: string[] = []
  const flush = async () => {
    if (!gz.write(lines.join(''))) await new Promise((resolve) => gz.once('drain', resolve))
    lines = []
  }
  for (const r of ds.records) {
    lines.push(
      JSON.stringify({
        phone: e164Of(r.subject),
        apps: r.bindings.map((b) => ({ app: appId(b.app), verifiedAt: b.verifiedAt, expiresAt: b.verifiedAt + b.ttlDays * 86400, index: b.index })),
      }) + '\n',
    )
    if (lines.length === 10_000) await flush()
  }
  await flush()
  gz.end()
  await done
  return bytes
}


if (import.meta.url === `file://${process.argv[1]}`) {
  const at = process.argv.indexOf('--records')
  const n = at > 0 ? Number(process.argv[at + 1]) : 1_000_000
  const result = await measureSizes(generateDataset(n))
  if (process.argv.includes('--json')) console.log(JSON.stringify(result))
  else for (const [k, v] of Object.entries(result)) console.log(`${k.padEnd(40)} ${typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(3) : v}`)
}
