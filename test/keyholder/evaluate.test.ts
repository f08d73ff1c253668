/**
 * The key holder's OPRF routes (the directory's route module, with the key holder's own app
 * tokens and meter): the shared guarantees of test/evaluation-suite.ts, with the directory's
 * half computed in-process.
 */
import { expect } from 'vitest'
import { evaluationSuite } from '../evaluation-suite.ts'
import { DIRECTORY_TEST_SHARE, KEYHOLDER_TEST_SHARE } from '../oprf-shares.ts'
import { admin, call, expectError, keyholderEnv, registerApp } from './helpers.ts'

evaluationSuite('key holder', {
  call,
  registerApp,
  async revokeApp(id) {
    expect((await call('DELETE', `/v1/admin/apps/${id}`, { token: admin() })).status).toBe(200)
  },
  expectError,
  meter: (appId) => keyholderEnv.METER.getByName(appId),
  ownShare: KEYHOLDER_TEST_SHARE,
  otherShare: DIRECTORY_TEST_SHARE,
})
