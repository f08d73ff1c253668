/**
 * The {@link ObjectStore} over an R2 bucket: the log's public objects, under the keys of their
 * public paths below `/log/`. R2 is strongly consistent, so an object is readable everywhere once
 * its `put` resolves, as the port requires.
 * @module
 */
import type { ObjectStore } from '../core/ports.ts'

/** See the module comment. */
export class R2ObjectStore implements ObjectStore {
  constructor(private readonly bucket: R2Bucket) {}

  async get(key: string): Promise<Uint8Array | null> {
    const object = await this.bucket.get(key)
    return object ? new Uint8Array(await object.arrayBuffer()) : null
  }

  async put(key: string, data: Uint8Array | string): Promise<void> {
    await this.bucket.put(key, data)
  }

  async delete(keys: string[]): Promise<void> {
    await this.bucket.delete(keys)
  }

  async startUpload(key: string): Promise<string> {
    return (await this.bucket.createMultipartUpload(key)).uploadId
  }

  async putPart(key: string, id: string, part: number, data: Uint8Array): Promise<string> {
    return (await this.bucket.resumeMultipartUpload(key, id).uploadPart(part, data)).etag
  }

  async completeUpload(key: string, id: string, parts: { part: number; tag: string }[]): Promise<void> {
    await this.bucket.resumeMultipartUpload(key, id).complete(parts.map((p) => ({ partNumber: p.part, etag: p.tag })))
  }

  async abortUpload(key: string, id: string): Promise<void> {
    await this.bucket.resumeMultipartUpload(key, id).abort()
  }
}
