/** Helpers for Worker tests: requests through the real app with real bindings. */
import { env } from 'cloudflare:workers'
import { expect } from 'vitest'
import { appClient, type CallOptions } from '../app-client.ts'
import { createApp } from '../../src/app.ts'
import { bindAll, sequencer } from '../../src/directory.ts'
import { shardStub } from '../../src/durable-objects/rpc.ts'
import { readLogConfig, type Env } from '../../src/env.ts'
import { e164Of } from '../../src/protocol/entry.ts'

export const app = createApp()
export const testEnv = env as unknown as Env
export const BASE = 'http://whodis.test'

/** A random client address, as Cloudflare would put in CF-Connecting-IP. */
export function randomClient(): string {
  const [a, b, c] = crypto.getRandomValues(new Uint8Array(3))
  return `10.${a}.${b}.${c}`
}

const client = appClient<Env, CallOptions<Env> & { client?: string | null }>(
  app,
  testEnv,
  BASE,
  // Each request comes from a fresh client address unless `client` names one (null: no address).
  (opts): Record<string, string> => {
    const address = opts.client === undefined ? randomClient() : opts.client
    return address === null ? {} : { 'CF-Connecting-IP': address }
  },
  (template) => template.startsWith('/log/tile/'),
)

/** Sends a request through the app; `env` overrides let a test change limits or providers. */
export const call = client.call
/** The codes /openapi.json declares for the operation that serves `method path` under `status`. */
export const declaredCodes = client.declaredCodes
/** Asserts the uniform error shape, a code of ERRORS its route declares; returns the body. */
export const expectError = client.expectError

export const admin = () => testEnv.ADMIN_TOKEN!

let appCounter = 0
/** Registers an app with a fresh id (unless given) and returns its id and token. */
export function registerApp(id = `app${++appCounter}-${crypto.randomUUID().slice(0, 8)}`, name = `App ${id}`) {
  return client.registerAppWith(admin(), id, name)
}

/** The newest code sent to `phone` through the outbox. */
export async function latestCode(phone: string): Promise<string> {
  const res = await call('GET', `/dev/outbox?phone=${encodeURIComponent(phone)}`, { token: admin() })
  expect(res.status).toBe(200)
  const { messages } = (await res.json()) as { messages: { body: string }[] }
  const last = messages.at(-1)
  if (!last) throw new Error(`no message to ${phone}`)
  return last.body.match(/(\d{6})$/)![1]!
}

/** Starts a verification and returns its id. */
export async function startVerification(token: string, phone: string, extra: Record<string, unknown> = {}) {
  const res = await call('POST', '/v1/verifications', { token, json: { phone, ...extra } })
  expect(res.status).toBe(201)
  return ((await res.json()) as { id: string; expiresAt: string }).id
}

/** Runs the whole verification of `phone` for the app holding `token`; returns the check response body. */
export async function verify(token: string, phone: string, extra: Record<string, unknown> = {}) {
  const id = await startVerification(token, phone, extra)
  const e164 = phone.replace(/[^\d+]/g, '')
  const res = await call('POST', `/v1/verifications/${id}/check`, { token, json: { code: await latestCode(e164) } })
  expect(res.status).toBe(200)
  return (await res.json()) as { binding: Record<string, string>; index: number; credential: string; receipt: string }
}

let numberCounter = 0
/** A fresh valid US number for each call (area code 650, 555-01xx range and beyond). */
export function freshPhone(): string {
  numberCounter++
  return `+1650${String(2000000 + numberCounter * 7919 + Math.floor(Math.random() * 1000)).padStart(7, '0')}`
}

/** The app number of a registered app id. */
export async function appNum(id: string): Promise<number> {
  const app = (await sequencer(testEnv).apps()).find((a) => a.id === id)
  if (!app) throw new Error(`no app ${id}`)
  return app.num
}

/** Records a binding as a verification with id `verificationId` would, at any time (straight to its shard). */
export async function bindDirect(b: { phone: string; app: string; now: number; ttlDays: number; publicKey?: string | null; verificationId?: string }) {
  const [outcome] = await bindAll(testEnv, [
    {
      phone: b.phone,
      app: await appNum(b.app),
      appId: b.app,
      publicKey: b.publicKey ?? null,
      verificationId: b.verificationId ?? `test-${crypto.randomUUID()}`,
      now: b.now,
      ttlDays: b.ttlDays,
    },
  ])
  return outcome!
}

/** Every log entry so far, described (`phone` null for app entries; `at` in epoch ms). */
export async function logChanges(): Promise<{ index: number; op: string; phone: string | null; app: string; at: number; reason: string | null }[]> {
  const apps = new Map((await sequencer(testEnv).apps()).map((a) => [a.num, a.id]))
  return (await sequencer(testEnv).entries(0, 1_000_000)).map(({ index, entry }) => ({
    index,
    op: entry.kind,
    phone: 'subject' in entry ? e164Of(entry.subject) : null,
    app: apps.get(entry.app)!,
    at: entry.time * 1000,
    reason: entry.kind === 'remove' ? entry.reason : null,
  }))
}

/** Subjects whose projection is not yet written, across every shard. */
export async function pendingProjections(): Promise<number> {
  let n = 0
  for (let shard = 0; shard < readLogConfig(testEnv).shards; shard++) n += await shardStub(testEnv.SHARDS, shard).pendingProjections(shard)
  return n
}
