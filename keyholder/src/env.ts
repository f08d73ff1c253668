/**
 * The key holder's bindings and what its requests carry.
 * @module
 */
import type { EvaluationMeter } from '../../src/durable-objects/evaluation-meter.ts'
import type { Logger } from '../../src/log.ts'

/** Everything keyholder/wrangler.toml, `keyholder/.dev.vars` and `wrangler secret put` give the Worker. */
export interface KeyholderBindings {
  /** Registered apps and their token hashes (keyholder/src/apps.ts; docs/storage.md). */
  APPS: KVNamespace
  /** Each app's evaluation budget, one object per app id. */
  METER: DurableObjectNamespace<EvaluationMeter>
  /** Secret: bearer token for /v1/admin (the key holder's own, not the directory's). */
  ADMIN_TOKEN?: string
  /** Secret: the key holder's share k2 of the OPRF key, a ristretto255 scalar in hex. */
  OPRF_KEY_SHARE?: string
  /** OPRF evaluations an app may make at once (default 50,000). */
  EVALUATIONS_BURST?: string
  /** OPRF evaluations an app's budget regains per hour (default 1,000). */
  EVALUATIONS_PER_HOUR?: string
}

/** A registered app, as authenticated from its bearer token. */
export interface KeyholderApp {
  id: string
  name: string
}

/** Hono's environment type for the key holder. */
export interface KeyholderEnv {
  Bindings: KeyholderBindings
  Variables: { requestId: string; log: Logger; app: KeyholderApp }
}
