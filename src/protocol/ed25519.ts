/**
 * Ed25519 through WebCrypto, which workerd and Node 20 both provide as `crypto.subtle`.
 * @module
 */
import { concat, fromBase64, fromHex, owned } from './bytes.ts'

// DER header of a PKCS#8 Ed25519 private key; the 32-byte seed follows it.
const PKCS8_ED25519_PREFIX = fromHex('302e020100300506032b657004220420')

/** An Ed25519 signing key with its public half. */
export interface Ed25519Signer {
  publicKey: Uint8Array
  sign(message: Uint8Array): Promise<Uint8Array>
}

/** Builds a signer from a 32-byte seed (the form signed-note signer keys carry). */
export async function signerFromSeed(seed: Uint8Array): Promise<Ed25519Signer> {
  if (seed.length !== 32) throw new Error('Ed25519 seed must be 32 bytes')
  const key = await crypto.subtle.importKey('pkcs8', owned(concat(PKCS8_ED25519_PREFIX, seed)), { name: 'Ed25519' }, true, [
    'sign',
  ])
  const jwk = (await crypto.subtle.exportKey('jwk', key)) as JsonWebKey
  if (!jwk.x) throw new Error('Ed25519 key export did not include the public key')
  return {
    publicKey: fromBase64(jwk.x),
    async sign(message) {
      return new Uint8Array(await crypto.subtle.sign('Ed25519', key, owned(message)))
    },
  }
}

/** A fresh random 32-byte Ed25519 seed. */
export function randomSeed(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(32))
}

/** Verifies an Ed25519 signature; false for any malformed input rather than an exception. */
export async function verifyEd25519(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<boolean> {
  if (publicKey.length !== 32 || signature.length !== 64) return false
  try {
    const key = await crypto.subtle.importKey('raw', owned(publicKey), { name: 'Ed25519' }, false, ['verify'])
    return await crypto.subtle.verify('Ed25519', key, owned(signature), owned(message))
  } catch {
    return false
  }
}
