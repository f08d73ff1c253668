/**
 * The log's signing key, checked against the log's origin and parsed once per isolate. Its name
 * must be LOG_ORIGIN: a checkpoint's signature line should carry the origin as its key name
 * (C2SP tlog-checkpoint), and witnesses and trust policies look a log's key up by its origin
 * (C2SP tlog-witness, tlog-policy), so a key named otherwise makes a log no witness can follow.
 * @module
 */
import { ConfigError } from './core/refusals.ts'
import { parseSignerKey } from './protocol/note-keys.ts'
import { noteSignerFromKey, verifierKeyOf, type NoteSigner } from './protocol/note.ts'

const cache = new Map<string, Promise<NoteSigner>>()

/**
 * Why LOG_SIGNING_KEY cannot sign the log named LOG_ORIGIN (either is missing, the key is not
 * a signer key, or its name is not the origin), or null. The key id is checked by {@link logSigner}.
 */
export function logKeyProblem(signerKey: string | undefined, origin: string | undefined): string | null {
  if (!origin) return 'LOG_ORIGIN is not set'
  if (!signerKey) return 'LOG_SIGNING_KEY is not set (wrangler secret put LOG_SIGNING_KEY)'
  let name: string
  try {
    name = parseSignerKey(signerKey).name
  } catch (err) {
    return `LOG_SIGNING_KEY: ${(err as Error).message}`
  }
  if (name === origin) return null
  return (
    `LOG_SIGNING_KEY is the key of ${JSON.stringify(name)} but LOG_ORIGIN is ${JSON.stringify(origin)}: ` +
    `the key's name must equal the log origin, as witnesses require (make one with npm run keygen -- ${origin})`
  )
}

/** The note signer for LOG_SIGNING_KEY, which must be named LOG_ORIGIN; otherwise a {@link ConfigError} saying why. */
export function logSigner(signerKey: string | undefined, origin: string | undefined): Promise<NoteSigner> {
  const problem = logKeyProblem(signerKey, origin)
  if (problem) return Promise.reject(new ConfigError(problem))
  const id = `${origin}\n${signerKey}`
  let hit = cache.get(id)
  if (!hit) {
    hit = noteSignerFromKey(signerKey!).catch((err: unknown) => {
      throw new ConfigError(`LOG_SIGNING_KEY: ${(err as Error).message}`)
    })
    hit.catch(() => cache.delete(id))
    cache.set(id, hit)
  }
  return hit
}

/** The C2SP verifier key string of LOG_SIGNING_KEY (checked as {@link logSigner} does). */
export async function logVerifierKey(signerKey: string | undefined, origin: string | undefined): Promise<string> {
  return verifierKeyOf(await logSigner(signerKey, origin))
}
