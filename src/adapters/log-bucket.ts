/**
 * The log's objects in R2. Tiles and entry bundles are immutable once written (a partial tile
 * `.p/W` is immutable too: a wider one gets a new key), so every write here is idempotent and a
 * round that is retried after a crash rewrites identical bytes. R2 is a cache of what the
 * Sequencer's storage holds; the Sequencer can regenerate any object the checkpoint covers.
 *
 * Keys mirror the public paths under `/log/`: `checkpoint`, `tile/<L>/<N>[.p/<W>]`,
 * `tile/entries/<N>[.p/<W>]`, `snapshot/<size>/manifest`, `snapshot/<size>/data`, and
 * `snapshot/latest` (a copy of the newest manifest).
 * @module
 */

/** R2 key of the latest signed checkpoint. */
export const CHECKPOINT_KEY = 'checkpoint'
/** R2 key of the newest snapshot manifest. */
export const LATEST_SNAPSHOT_KEY = 'snapshot/latest'
/** R2 key of the signed manifest of the snapshot at `size`. */
export const snapshotManifestKey = (size: number) => `snapshot/${size}/manifest`
/** R2 key of the gzip'd snapshot file at `size`. */
export const snapshotDataKey = (size: number) => `snapshot/${size}/data`

const PARALLEL_PUTS = 16

/** Writes objects, at most {@link PARALLEL_PUTS} at a time; rejects if any write fails. */
export async function putAll(bucket: R2Bucket, objects: { key: string; data: Uint8Array | string }[]): Promise<void> {
  for (let i = 0; i < objects.length; i += PARALLEL_PUTS) {
    await Promise.all(objects.slice(i, i + PARALLEL_PUTS).map((o) => bucket.put(o.key, o.data)))
  }
}

/** An object's bytes, or null when absent. */
export async function getBytes(bucket: R2Bucket, key: string): Promise<Uint8Array<ArrayBuffer> | null> {
  const object = await bucket.get(key)
  return object ? new Uint8Array(await object.arrayBuffer()) : null
}

/** An object's text, or null when absent. */
export async function getText(bucket: R2Bucket, key: string): Promise<string | null> {
  const object = await bucket.get(key)
  return object ? object.text() : null
}
