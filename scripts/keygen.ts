/**
 * `npm run keygen -- <log origin>`: prints a new Ed25519 log key pair in the C2SP signed-note
 * text forms, named after the log origin: the directory refuses to run with a key whose name is
 * not LOG_ORIGIN (witnesses require them equal). The signer key goes to `wrangler secret put
 * LOG_SIGNING_KEY`; the verifier key is what mirrors pin (also published at /.well-known/whodis).
 */
import { randomSeed, signerFromSeed } from '../src/protocol/ed25519.ts'
import { formatSignerKey, formatVerifierKey, isValidKeyName } from '../src/protocol/note-keys.ts'

const name = process.argv[2]
if (!name || !isValidKeyName(name)) {
  console.error('usage: npm run keygen -- <LOG_ORIGIN, e.g. whodis.example/log>  (the key is named after it; the two must be equal)')
  process.exit(2)
}
const seed = randomSeed()
const signer = await signerFromSeed(seed)
console.log(`LOG_SIGNING_KEY (secret): ${formatSignerKey(name, seed, signer.publicKey)}`)
console.log(`verifier key (public):    ${formatVerifierKey(name, signer.publicKey)}`)
console.log(`LOG_ORIGIN must be exactly: ${name}`)
