/**
 * The log's signing key, parsed once per isolate.
 * @module
 */
import { ApiError } from './errors.ts'
import { signerFromSeed, type Ed25519Signer } from './protocol/ed25519.ts'
import { formatVerifierKey, parseSignerKey, type NoteSignerKey } from './protocol/note-keys.ts'

const cache = new Map<string, Promise<{ key: NoteSignerKey; signer: Ed25519Signer }>>()

/** The parsed signer for LOG_SIGNING_KEY; `503 not_configured` when it is malformed. */
export function logSigner(signerKey: string): Promise<{ key: NoteSignerKey; signer: Ed25519Signer }> {
  let hit = cache.get(signerKey)
  if (!hit) {
    hit = (async () => {
      let key: NoteSignerKey
      try {
        key = parseSignerKey(signerKey)
      } catch (err) {
        throw new ApiError(503, 'not_configured', `LOG_SIGNING_KEY: ${(err as Error).message}`)
      }
      return { key, signer: await signerFromSeed(key.seed) }
    })()
    hit.catch(() => cache.delete(signerKey))
    cache.set(signerKey, hit)
  }
  return hit
}

/** The C2SP verifier key string of LOG_SIGNING_KEY. */
export async function logVerifierKey(signerKey: string): Promise<string> {
  const { key, signer } = await logSigner(signerKey)
  return formatVerifierKey(key.name, signer.publicKey)
}
