/**
 * The log's signing key, parsed once per isolate.
 * @module
 */
import { ConfigError } from './core/refusals.ts'
import { noteSignerFromKey, verifierKeyOf, type NoteSigner } from './protocol/note.ts'

const cache = new Map<string, Promise<NoteSigner>>()

/** The note signer for LOG_SIGNING_KEY; a {@link ConfigError} when it is malformed. */
export function logSigner(signerKey: string): Promise<NoteSigner> {
  let hit = cache.get(signerKey)
  if (!hit) {
    hit = noteSignerFromKey(signerKey).catch((err: unknown) => {
      throw new ConfigError(`LOG_SIGNING_KEY: ${(err as Error).message}`)
    })
    hit.catch(() => cache.delete(signerKey))
    cache.set(signerKey, hit)
  }
  return hit
}

/** The C2SP verifier key string of LOG_SIGNING_KEY. */
export async function logVerifierKey(signerKey: string): Promise<string> {
  return verifierKeyOf(await logSigner(signerKey))
}
