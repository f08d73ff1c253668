/**
 * The directory's OPRF routes (src/routes/evaluate.ts, with the directory's app tokens): the
 * shared guarantees of test/evaluation-suite.ts, with the key holder's half computed in-process.
 */
import { describe, expect, it } from 'vitest'
import { evaluationSuite } from '../evaluation-suite.ts'
import { DIRECTORY_TEST_SHARE, KEYHOLDER_TEST_SHARE } from '../oprf-shares.ts'
import { admin, call, declaredCodes, expectError, registerApp, testEnv } from './helpers.ts'

evaluationSuite('directory', {
  call,
  registerApp,
  async revokeApp(id) {
    expect((await call('DELETE', `/v1/admin/apps/${id}`, { token: admin() })).status).toBe(200)
  },
  expectError,
  meter: (appId) => testEnv.METER.getByName(appId),
  ownShare: DIRECTORY_TEST_SHARE,
  otherShare: KEYHOLDER_TEST_SHARE,
})

describe('directory: the OPRF routes in /openapi.json', () => {
  it('declare their codes, the well-known route without a token', async () => {
    expect(declaredCodes('POST', '/v1/evaluate', 429)).toEqual(['evaluations_exhausted'])
    expect(declaredCodes('POST', '/v1/evaluate', 400)).toEqual(['invalid_request', 'malformed_json', 'invalid_element'])
    const doc = (await (await call('GET', '/openapi.json')).json()) as { paths: Record<string, Record<string, { security?: unknown[]; responses: Record<string, { headers?: object }> }>> }
    expect(doc.paths['/.well-known/whodis-oprf']!.get!.security).toEqual([])
    expect(doc.paths['/v1/evaluate']!.post!.security).toEqual([{ appToken: [] }])
    expect(doc.paths['/v1/evaluate']!.post!.responses['429']!.headers).toHaveProperty('Retry-After')
  })
})
