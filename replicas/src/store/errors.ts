/**
 * The store's one error type, with a stable string code.
 * @module
 */

/**
 * Why a store operation failed:
 * - `corrupt`: committed bytes fail their checksum or framing; the store refuses to open.
 * - `locked`: another live process holds the store directory.
 * - `invalid`: the caller passed malformed data (nothing was written).
 * - `stale`: the commit would decrease treeSize.
 * - `pinned`: the store is already pinned to different values.
 * - `closed`: the store was closed, or failed mid-commit and must be reopened.
 * - `io`: the file system failed; the store is closed and must be reopened.
 */
export type StoreErrorCode = 'corrupt' | 'locked' | 'invalid' | 'stale' | 'pinned' | 'closed' | 'io'

/** A store failure with a stable `code`. */
export class StoreError extends Error {
  override readonly name = 'StoreError'
  constructor(
    readonly code: StoreErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }
}
