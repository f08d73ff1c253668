/**
 * An {@link ObjectStore} in memory, with R2's rules for multipart uploads (equal parts but the
 * last) and injected failures (port `objects`).
 * @module
 */
import { utf8 } from '../../protocol/bytes.ts'
import type { ObjectStore } from '../ports.ts'
import { Faults } from './faults.ts'

/** See the module comment. */
export class MemoryObjectStore implements ObjectStore {
  readonly objects = new Map<string, Uint8Array>()
  readonly #uploads = new Map<string, { key: string; parts: Map<number, Uint8Array> }>()
  #nextUpload = 0
  /** Counts of operations, by name (for cost figures). */
  readonly ops = { get: 0, put: 0, delete: 0, parts: 0 }

  constructor(
    readonly faults = new Faults(),
    /** Smallest size of every part but the last (R2: 5 MiB). */
    readonly minPartBytes = 5 * 1024 * 1024,
  ) {}

  async get(key: string): Promise<Uint8Array | null> {
    this.faults.check('objects', 'get', key)
    this.ops.get++
    return this.objects.get(key) ?? null
  }

  async put(key: string, data: Uint8Array | string): Promise<void> {
    this.faults.check('objects', 'put', key)
    this.ops.put++
    this.objects.set(key, typeof data === 'string' ? utf8(data) : data.slice())
  }

  async delete(keys: string[]): Promise<void> {
    for (const key of keys) this.faults.check('objects', 'delete', key)
    this.ops.delete++
    for (const key of keys) this.objects.delete(key)
  }

  async startUpload(key: string): Promise<string> {
    this.faults.check('objects', 'startUpload', key)
    const id = `upload-${++this.#nextUpload}`
    this.#uploads.set(id, { key, parts: new Map() })
    return id
  }

  async putPart(key: string, id: string, part: number, data: Uint8Array): Promise<string> {
    this.faults.check('objects', 'putPart', key)
    const upload = this.#uploads.get(id)
    if (!upload || upload.key !== key) throw new Error(`no upload ${id} of ${key}`)
    this.ops.parts++
    upload.parts.set(part, data.slice())
    return `${id}/${part}/${data.length}`
  }

  async completeUpload(key: string, id: string, parts: { part: number; tag: string }[]): Promise<void> {
    this.faults.check('objects', 'completeUpload', key)
    const upload = this.#uploads.get(id)
    if (!upload || upload.key !== key) throw new Error(`no upload ${id} of ${key}`)
    const datas = parts.map(({ part, tag }, i) => {
      if (part !== i + 1) throw new Error('parts must be numbered 1, 2, ... in order')
      const data = upload.parts.get(part)
      if (!data || tag !== `${id}/${part}/${data.length}`) throw new Error(`part ${part} of ${key} does not match its tag`)
      return data
    })
    for (let i = 0; i < datas.length - 1; i++) {
      if (datas[i]!.length !== datas[0]!.length || datas[i]!.length < this.minPartBytes) throw new Error('every part but the last must have the same size, at least the minimum')
    }
    if (datas.length > 1 && datas.at(-1)!.length > datas[0]!.length) throw new Error('the last part must not be larger than the others')
    const out = new Uint8Array(datas.reduce((n, d) => n + d.length, 0))
    let at = 0
    for (const d of datas) {
      out.set(d, at)
      at += d.length
    }
    this.objects.set(key, out)
    this.#uploads.delete(id)
  }

  async abortUpload(key: string, id: string): Promise<void> {
    this.faults.check('objects', 'abortUpload', key)
    this.#uploads.delete(id)
  }
}
