/**
 * Sizes of what the log serves, against baselines in the same run: snapshot bytes per record
 * (and its state and provenance sections) vs the same state as gzip'd NDJSON; entry-bundle
 * bytes per minimal entry; inclusion proof bytes vs 32·⌈log2 N⌉.
 *
 *   npx tsx bench/sizes.ts [--records N] [--json]
 * @module
 */
import { encodeEntry, e164Of } from '../src/protocol/entry.ts'
import { leafHash, proveRecord, RightEdge, storedHashCount, type Hash } from '../src/protocol/merkle.ts'
import { encodeSnapshot, gzip } from '../src/protocol/snapshot.ts'
import { encodeBundle } from '../src/protocol/tiles.ts'
import { generateDataset, type Dataset } from './dataset.ts'

/** Measures sizes for a dataset; every figure is bytes per record or per entry. */
export async function measureSizes(ds: Dataset) {
  const records = ds.records.length
  const apps = Array.from({ length: ds.appCount }, (_, i) => ({ num: i + 1, id: `app${i + 1}`, revoked: false }))

  const { bytes, stats, sections } = encodeSnapshot({ treeSize: ds.entryCount, rightEdge: [], apps, records: ds.records })
  const snapshotGz = (await gzip(bytes)).length
  // The state section (numbers → apps) and the provenance section (times, log indexes), each alone.
  const stateGz = (await gzip(sections.state)).length
  const provenanceGz = (await gzip(sections.provenance)).length

  const ndjson = ds.records
    .map((r) =>
      JSON.stringify({
        phone: e164Of(r.subject),
        apps: r.bindings.map((b) => ({ app: `app${b.app}`, verifiedAt: b.verifiedAt, expiresAt: b.verifiedAt + b.ttlDays * 86400, index: b.index })),
      }),
    )
    .join('\n')
  const ndjsonGz = (await gzip(new TextEncoder().encode(ndjson))).length

  // Bundles of minimal adds in log order, 256 entries each, gzip'd one by one as served.
  const entries: Uint8Array[] = []
  for (let k = 0; k < ds.order.length; k++) {
    const r = ds.records[ds.order[k]!]!
    const b = r.bindings[ds.orderBinding[k]!]!
    entries.push(encodeEntry({ kind: 'add', subject: r.subject, app: b.app, time: b.verifiedAt, ttlDays: b.ttlDays }))
  }
  let bundleRaw = 0
  let bundleGz = 0
  const sampleBundles = Math.min(200, Math.floor(entries.length / 256))
  for (let i = 0; i < sampleBundles; i++) {
    const bundle = encodeBundle(entries.slice(i * 256, i * 256 + 256))
    bundleRaw += bundle.length
    bundleGz += (await gzip(bundle)).length
  }

  // An inclusion proof in a tree of the dataset's size.
  const edge = new RightEdge()
  const stored: Hash[] = []
  for (const e of entries) stored.push(...edge.append(leafHash(e)))
  const n = entries.length
  const proof = proveRecord(n, Math.floor(n / 3), (idx) => idx.map((i) => stored[i]!))
  void storedHashCount

  return {
    records,
    bindings: stats.bindings,
    snapshot_bytes_per_record: snapshotGz / records,
    snapshot_state_bytes_per_record: stateGz / records,
    snapshot_provenance_bytes_per_record: provenanceGz / records,
    ndjson_gzip_bytes_per_record: ndjsonGz / records,
    snapshot_vs_ndjson: snapshotGz / ndjsonGz,
    bundle_raw_bytes_per_entry: bundleRaw / (sampleBundles * 256),
    bundle_bytes_per_entry: bundleGz / (sampleBundles * 256),
    proof_bytes: proof.length * 32,
    proof_bound_bytes: 32 * Math.ceil(Math.log2(n)),
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const at = process.argv.indexOf('--records')
  const n = at > 0 ? Number(process.argv[at + 1]) : 1_000_000
  const result = await measureSizes(generateDataset(n))
  if (process.argv.includes('--json')) console.log(JSON.stringify(result))
  else for (const [k, v] of Object.entries(result)) console.log(`${k.padEnd(40)} ${typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(3) : v}`)
}
