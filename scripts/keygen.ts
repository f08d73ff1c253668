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
 *
 * `npm run keygen -- --witness <witness name>`: prints a new witness key pair (cosignature/v1,
 * type 0x04): the signer key for `whodis-mirror witness --key` / `serve --witness`, and the
 * verifier key that logs and mirrors pin with `--witness-key`.
 */
import { cosignatureVerifierKeyOf, formatCosignatureSignerKey } from '../src/protocol/cosignature.ts'
import { randomSeed, signerFromSeed } from '../src/protocol/ed25519.ts'
import { formatSignerKey, formatVerifierKey, isValidKeyName, noteKeyId } from '../src/protocol/note-keys.ts'
import { generateKeyShare } from '../src/protocol/oprf.ts'

if (process.argv[2] === '--oprf') {
  const { secretHex, publicKeyHex } = generateKeyShare()
  console.log(`OPRF_KEY_SHARE (secret): ${secretHex}`)
  console.log(`public key (published):  ${publicKeyHex}`)
  process.exit(0)
}
const witness = process.argv[2] === '--witness'
const name = process.argv[witness ? 3 : 2]
if (!name || !isValidKeyName(name)) {
  console.error('usage: npm run keygen -- <LOG_ORIGIN, e.g. whodis.example/log>  (the key is named after it; the two must be equal)')
  console.error('       npm run keygen -- --oprf  (an OPRF key share: OPRF_KEY_SHARE)')
  console.error('       npm run keygen -- --witness <witness name, e.g. witness.example/w1>')
  process.exit(2)
}
const seed = randomSeed()
const signer = await signerFromSeed(seed)
if (witness) {
  const keyId = noteKeyId(name, signer.publicKey, 'cosignature/v1')
  console.log(`WHODIS_WITNESS_SIGNING_KEY (secret): ${formatCosignatureSignerKey(name, seed, signer.publicKey)}`)
  console.log(`witness verifier key (public):      ${cosignatureVerifierKeyOf({ name, keyId, publicKey: signer.publicKey, sign: signer.sign })}`)
} else {
  console.log(`LOG_SIGNING_KEY (secret): ${formatSignerKey(name, seed, signer.publicKey)}`)
  console.log(`verifier key (public):    ${formatVerifierKey(name, signer.publicKey)}`)
  console.log(`LOG_ORIGIN must be exactly: ${name}`)
}
