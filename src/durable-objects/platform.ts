/**
 * What the write path's Durable Objects give their cores from the platform: timers with the
 * object's alarm behind them, and the log's signer from its secret.
 * @module
 */
import type { Timers } from '../core/ports.ts'
import { ConfigError } from '../core/refusals.ts'
import { requireSecret, type Vars } from '../env.ts'
import { logSigner } from '../log-key.ts'
import type { NoteSigner } from '../protocol/note.ts'

/** Timers over setTimeout, and `wakeAt` over the object's alarm (kept if an earlier one is set). */
export function platformTimers(ctx: DurableObjectState): Timers {
  return {
    after: (ms, fn) => setTimeout(fn, ms),
    cancel: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
    async wakeAt(at) {
      const current = await ctx.storage.getAlarm()
      if (current === null || current > at) await ctx.storage.setAlarm(at)
    },
  }
}

/**
 * The log's signer from LOG_SIGNING_KEY. Its name must be LOG_ORIGIN: standard witnesses and
 * Go's tooling check a checkpoint's origin against the key's name.
 */
export async function signerFrom(env: Vars): Promise<NoteSigner> {
  const signer = await logSigner(requireSecret(env, 'LOG_SIGNING_KEY'))
  if (typeof env.LOG_ORIGIN === 'string' && signer.name !== env.LOG_ORIGIN) {
    throw new ConfigError(`LOG_SIGNING_KEY is named ${signer.name} but LOG_ORIGIN is ${env.LOG_ORIGIN}: they must be equal`)
  }
  return signer
}
