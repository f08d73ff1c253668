/**
 * The mirror's embedded store: a compact in-memory lookup index over a durable, crash-safe
 * directory of files. See docs/mirror-store.md.
 * @module
 */
export { type BuildOrder } from './base-file.ts'
export { StoreError, type StoreErrorCode } from './errors.ts'
export { type EntryBatch } from './journal-codec.ts'
export { MirrorStore, openStore, type OpenOptions, type StoreStats } from './store.ts'
export { DEFAULT_LOAD, IndexBuilder, type IndexMemory, type IndexParts, type LoadPolicy, type ReadonlyIndex, SubjectIndex } from './subject-index.ts'
export { type AppInfo, type Binding, type CommitMeta, DAY, MAX_BINDINGS, MAX_SUBJECT, type Pinned, type SubjectChange, type SubjectRecord } from './types.ts'
