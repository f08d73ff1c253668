/** Helpers for the key holder's tests: requests through its real app with its real bindings. */
import { env } from 'cloudflare:workers'
import { appClient } from '../app-client.ts'
import type { KeyholderBindings } from '../../keyholder/src/env.ts'
import { createKeyholderApp } from '../../keyholder/src/app.ts'

export const app = createKeyholderApp()
export const keyholderEnv = env as unknown as KeyholderBindings
export const BASE = 'http://keyholder.test'

const client = appClient<KeyholderBindings>(app, keyholderEnv, BASE)

/** Sends a request through the key holder's app; `env` overrides its settings. */
export const call = client.call
/** The codes the key holder's /openapi.json declares for `method path` under `status`. */
export const declaredCodes = client.declaredCodes
/** Asserts the uniform error shape, a code of ERRORS its route declares; returns the body. */
export const expectError = client.expectError

export const admin = () => keyholderEnv.ADMIN_TOKEN!

let appCounter = 0
/** Registers an app with a fresh id and returns its id and token. */
export function registerApp(id = `app${++appCounter}-${crypto.randomUUID().slice(0, 8)}`, name = `App ${id}`) {
  return client.registerAppWith(admin(), id, name)
}
