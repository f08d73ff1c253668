/**
 * The split OPRF over loopback HTTP, as a client runs it: the real directory and the real key
 * holder (each its own Worker, its own share, its own app tokens), one blinding sent to both,
 * each answer checked against the key its operator publishes, the two added and unblinded. The
 * labels equal those of the whole key k1 + k2; an answer checked against the other operator's
 * key, or one operator's answer used twice, does not give them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fromBase64, fromHex, toBase64Url } from '../../src/protocol/bytes.ts'
import { addShares, blindNumbers, finalizeSplit, keyShareFromSecret, labelWithKey, OprfError, verifyEvaluation } from '../../src/protocol/oprf.ts'
import { DIRECTORY_TEST_SHARE, KEYHOLDER_TEST_SHARE } from '../oprf-shares.ts'
import { client, startDirectory, startKeyholder, type RunningDirectory } from './directory.ts'

let directory: RunningDirectory
let keyholder: RunningDirectory
beforeAll(async () => {
  // One after the other: two local runtimes starting at once can race for ports.
  directory = await startDirectory()
  keyholder = await startKeyholder()
})
afterAll(async () => {
  await Promise.all([directory?.stop(), keyholder?.stop()])
})

/** Registers `id` with an operator and returns a client with its token. */
async function appAt(operator: RunningDirectory, id: string) {
  const { status, body } = await client(operator.url, operator.adminToken)('POST', '/v1/admin/apps', { id, name: id })
  expect(status).toBe(201)
  return client(operator.url, body.token)
}

describe('a split evaluation over both operators', () => {
  it('gives each number the label of k1 + k2, from answers that verify against each published key', async () => {
    const id = `split-${Date.now()}`
    const operators = [directory, keyholder]
    const apps = await Promise.all(operators.map((operator) => appAt(operator, id)))
    const keys = await Promise.all(operators.map(async (operator) => fromHex((await client(operator.url)('GET', '/.well-known/whodis-oprf')).body.publicKey)))
    const phones = ['+16505550011', '+447911123456', '+33612345678']
    const blinded = blindNumbers(phones)
    const elements = blinded.map((b) => toBase64Url(b.element))
    const answers = await Promise.all(apps.map((app) => app('POST', '/v1/evaluate', { elements })))
    const evaluations = answers.map(({ status, body }) => {
      expect(status).toBe(200)
      return (body.evaluations as string[]).map(fromBase64)
    })
    const proofs = answers.map(({ body }) => fromBase64(body.proof))
    for (const i of [0, 1]) verifyEvaluation(blinded, evaluations[i]!, proofs[i]!, keys[i]!)
    // Each proof binds its own operator's key.
    expect(() => verifyEvaluation(blinded, evaluations[0]!, proofs[0]!, keys[1]!)).toThrow(OprfError)
    expect(() => verifyEvaluation(blinded, evaluations[1]!, proofs[1]!, keys[0]!)).toThrow(OprfError)
    const labels = finalizeSplit(blinded, evaluations[0]!, evaluations[1]!)
    const whole = addShares(keyShareFromSecret(DIRECTORY_TEST_SHARE).secretKey, keyShareFromSecret(KEYHOLDER_TEST_SHARE).secretKey)
    expect(labels).toEqual(phones.map((phone) => labelWithKey(whole, phone)))
    // One operator's answer twice is 2·k1, not k1 + k2.
    expect(finalizeSplit(blinded, evaluations[0]!, evaluations[0]!)).not.toEqual(labels)
    // Each operator metered its own budget.
    for (const { headers } of answers) expect(headers.get('X-Evaluations-Remaining')).toBe(String(50_000 - phones.length))
  })

  it("does not take one operator's app token at the other", async () => {
    const id = `cross-${Date.now()}`
    const atDirectory = await client(directory.url, directory.adminToken)('POST', '/v1/admin/apps', { id, name: id })
    const elements = blindNumbers(['+16505550011']).map((b) => toBase64Url(b.element))
    const res = await client(keyholder.url, atDirectory.body.token)('POST', '/v1/evaluate', { elements })
    expect(res.status).toBe(401)
    expect(res.body.error.code).toBe('unauthorized')
  })
})
