/**
 * `npm run keygen -- <log origin>`: prints a new Ed25519 log key pair in the C2SP signed-note
 * text forms, named after the log origin: the directory refuses to run with a key whose name is
 * not LOG_ORIGIN (witnesses require them equal). The signer key goes to `wrangler secret put
 * LOG_SIGNING_KEY`; the verifier key is what mirrors pin (also published at /.well-known/whodis).
 *
 * `npm run keygen -- --oprf`: prints a new OPRF key share (a ristretto255 scalar) for
 * `wrangler secret put OPRF_KEY_SHARE`, the directory's k1 or the key holder's k2 (each
 * operator draws its own; neither ever sees the other's), and its public key, which the
 * operator publishes at /.well-known/whodis-oprf.
 */
import { randomSeed, signerFromSeed } from '../src/protocol/ed25519.ts'
import { formatSignerKey, formatVerifierKey, isValidKeyName } from '../src/protocol/note-keys.ts'
import { generateKeyShare } from '../src/protocol/oprf.ts'

const name = process.argv[2]
if (name === '--oprf') {
  const { secretHex, publicKeyHex } = generateKeyShare()
  console.log(`OPRF_KEY_SHARE (secret): ${secretHex}`)
  console.log(`public key (published):  ${publicKeyHex}`)
  process.exit(0)
}
if (!name || !isValidKeyName(name)) {
  console.error('usage: npm run keygen -- <LOG_ORIGIN, e.g. whodis.example/log>  (the key is named after it; the two must be equal)')
  console.error('       npm run keygen -- --oprf  (an OPRF key share: OPRF_KEY_SHARE)')
  process.exit(2)
}
const seed = randomSeed()
const signer = await signerFromSeed(seed)
console.log(`LOG_SIGNING_KEY (secret): ${formatSignerKey(name, seed, signer.publicKey)}`)
console.log(`verifier key (public):    ${formatVerifierKey(name, signer.publicKey)}`)
console.log(`LOG_ORIGIN must be exactly: ${name}`)
