/**
 * Cross-checking peer mirrors (`--peer URL`): each peer serves the checkpoint it holds at
 * `/log/checkpoint`. A peer's checkpoint that is inconsistent with the held one is a fork (the
 * log showed two views), handled like any fork: evidence written, refusal raised. A peer that
 * is unreachable or serves something unsigned is only reported: it says nothing about the log.
 * @module
 */
import type { NoteVerifierKey } from '../../src/protocol/note-keys.ts'
import { checkLargerTree, checkSmallerTree, forkRefusal, type SignedTree } from './consistency.ts'
import { asMirrorError, MirrorError } from './errors.ts'
import type { HashFile } from './hashes.ts'
import { checkBaseUrl, type HttpOptions } from './http.ts'
import { peerCheckpoint, type LogClient } from './log-client.ts'
import { verifyCheckpoint, type VerifiedCheckpoint } from './trust.ts'

/** How one peer compared. */
export interface PeerReport {
  url: string
  /**
   * `consistent`: its checkpoint agrees with the held tree; `unreachable`, `invalid`: nothing
   * checked (see `error`); `undecided`: it is ahead and the directory's tiles do not cover its tree.
   */
  status: 'consistent' | 'unreachable' | 'invalid' | 'undecided'
  size?: number
  error?: string
}

/** What a peer check needs. */
export interface PeerContext {
  dir: string
  key: NoteVerifierKey
  keyText: string
  hashes: HashFile
  held: VerifiedCheckpoint
  /** The directory, for tiles proving a peer's larger tree (optional). */
  client: LogClient | null
  http?: HttpOptions
}

/** Compares each peer's checkpoint with the held one; throws the `fork` refusal on an inconsistent pair. */
export async function checkPeers(ctx: PeerContext, urls: readonly string[]): Promise<PeerReport[]> {
  // A malformed URL is the caller's mistake (usage), not an unreachable peer.
  for (const url of urls) checkBaseUrl(url, 'peer')
  const reports: PeerReport[] = []
  for (const url of urls) reports.push(await checkPeer(ctx, url))
  return reports
}

async function checkPeer(ctx: PeerContext, url: string): Promise<PeerReport> {
  let note: string
  try {
    note = await peerCheckpoint(url, { ...ctx.http, retry: { retries: 1, ...ctx.http?.retry } })
  } catch (err) {
    return { url, status: 'unreachable', error: asMirrorError(err).message }
  }
  let peer: VerifiedCheckpoint
  try {
    peer = await verifyCheckpoint(note, ctx.key, `peer ${url}`)
  } catch (err) {
    return { url, status: 'invalid', error: asMirrorError(err).message }
  }
  const held: SignedTree = { source: 'the held checkpoint', ...ctx.held }
  const theirs: SignedTree = { source: `peer ${url}`, ...peer }
  if (peer.size <= held.size) {
    const verdict = checkSmallerTree(held, theirs, ctx.hashes)
    if (!verdict.consistent) throw forkRefusal(ctx.dir, ctx.keyText, verdict.evidence)
    return { url, status: 'consistent', size: peer.size }
  }
  if (!ctx.client || held.size === 0) return { url, status: 'undecided', size: peer.size, error: 'the peer is ahead; compared on a later round' }
  try {
    const verdict = await checkLargerTree(held, theirs, ctx.client)
    if (!verdict.consistent) throw forkRefusal(ctx.dir, ctx.keyText, verdict.evidence)
    return { url, status: 'consistent', size: peer.size }
  } catch (err) {
    if (err instanceof MirrorError && err.code === 'fork') throw err
    return { url, status: 'undecided', size: peer.size, error: asMirrorError(err).message }
  }
}
