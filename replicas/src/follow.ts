/**
 * Keeping a mirror current: one verified sync step every `intervalMs`, peers cross-checked every
 * `peerIntervalMs`, and after a failure a doubling delay up to `maxBackoffMs`. Which failures
 * end the loop is the caller's choice (`stopOn`): `sync --follow` stops on any refusal, `serve`
 * keeps serving the last verified state and stops syncing only on a fork.
 * @module
 */
import { asMirrorError, type MirrorError } from './errors.ts'
import type { Mirror } from './mirror.ts'
import type { PeerReport } from './peers.ts'
import type { SyncResult } from './sync.ts'

/** Options of {@link follow}. */
export interface FollowOptions {
  /** Delay between successful steps (default 3000 ms). */
  intervalMs?: number
  /** Longest delay after failures (default 60000 ms). */
  maxBackoffMs?: number
  /** Peer mirrors to cross-check. */
  peers?: readonly string[]
  /** Delay between peer checks (default 60000 ms). */
  peerIntervalMs?: number
  /** Stops the loop (follow resolves). */
  signal?: AbortSignal
  /** Failures that end the loop (follow rejects with them). Default: all but `unavailable`. */
  stopOn?: (err: MirrorError) => boolean
  onSync?: (result: SyncResult) => void
  onPeers?: (reports: PeerReport[]) => void
  onError?: (err: MirrorError, retryInMs: number) => void
}

/** Syncs `mirror` until `signal` aborts (resolves) or a `stopOn` failure (rejects). */
export async function follow(mirror: Mirror, options: FollowOptions = {}): Promise<void> {
  const interval = options.intervalMs ?? 3000
  const maxBackoff = Math.max(interval, options.maxBackoffMs ?? 60_000)
  const peerInterval = options.peerIntervalMs ?? 60_000
  const stopOn = options.stopOn ?? ((err: MirrorError) => !err.transient)
  const peers = options.peers ?? []
  let failures = 0
  let lastPeerCheck = -Infinity
  while (!options.signal?.aborted) {
    let delay = interval
    try {
      // Not `onSync?.(await mirror.sync())`: an absent onSync would skip evaluating the sync.
      const result = await mirror.sync()
      options.onSync?.(result)
      if (peers.length > 0 && Date.now() - lastPeerCheck >= peerInterval) {
        lastPeerCheck = Date.now()
        const reports = await mirror.checkPeers(peers)
        options.onPeers?.(reports)
      }
      failures = 0
    } catch (err) {
      const e = asMirrorError(err)
      if (stopOn(e)) throw e
      failures++
      delay = Math.min(maxBackoff, interval * 2 ** failures)
      options.onError?.(e, delay)
    }
    await sleep(delay, options.signal)
  }
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve()
    const timer = setTimeout(done, ms)
    function done() {
      clearTimeout(timer)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    signal?.addEventListener('abort', done, { once: true })
  })
}
