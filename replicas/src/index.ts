/**
 * whodis-mirror as a library: what an app embeds to answer lookups locally, from a verified
 * copy of the directory.
 *
 * ```ts
 * import { openMirror } from 'whodis/replicas/src/index.ts'
 * const mirror = await openMirror('/var/lib/whodis', { directory: 'https://dir.example', token })
 * await mirror.sync()                      // one verified step; call it every few seconds
 * mirror.lookup('+1 650 555 0011')         // {phone, apps:[...]} or null, as the directory answers
 * await mirror.close()
 * ```
 * @module
 */
export { openMirror, Mirror, type MirrorOptions, type MirrorStatus } from './mirror.ts'
export type { CommitEvent, SyncResult } from './sync.ts'
export type { VerifiedCheckpoint } from './trust.ts'
export type { VerifyReport } from './verify.ts'
export type { PeerReport } from './peers.ts'
export { follow, type FollowOptions } from './follow.ts'
export { startServer, type MirrorServer, type ServeOptions } from './server.ts'
export { MirrorError, EXIT_CODES, EXIT_CODE_HELP, REFUSALS, type MirrorErrorCode } from './errors.ts'
export { createLogger, silentLogger, type Logger, type Progress } from './logger.ts'
export { InvalidPhoneError } from '../../src/protocol/phone.ts'
export type { LookupBody, LookupEntry, LookupsBody } from '../../src/protocol/lookup.ts'
export type { Evidence, SnapshotOrigin } from './evidence.ts'
export { Witness, type WitnessOptions, type WitnessResponse, type WitnessedTree } from './witness.ts'
export { handleWitnessRequest, startWitnessServer, type WitnessServer } from './witness-server.ts'
export type { WitnessPolicy } from './trust.ts'
