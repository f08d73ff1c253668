/**
 * Reads of the log's objects in R2, for the `/log/` routes. Keys mirror the public paths under
 * `/log/`: `checkpoint`, `tile/<L>/<N>[.p/<W>]`, `tile/entries/<N>[.p/<W>]`,
 * `snapshot/<size>/manifest`, `snapshot/<size>/data`, and `snapshot/latest` (a copy of the newest
 * manifest). The write path (src/core/) names and writes them.
 * @module
 */
export { CHECKPOINT_KEY } from '../core/log-sequencer.ts'
export { LATEST_SNAPSHOT_KEY, snapshotDataKey, snapshotManifestKey } from '../core/snapshot-job.ts'

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
