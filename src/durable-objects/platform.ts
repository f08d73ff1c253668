/**
 * What the write path's Durable Objects give their cores from the platform: timers with the
 * object's alarm behind them, and the log's signer from its secret.
 * @module
 */
import type { Timers } from '../core/ports.ts'
import type { Vars } from '../env.ts'
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

/** The log's signer from LOG_SIGNING_KEY, which must be named LOG_ORIGIN (src/log-key.ts). */
export function signerFrom(env: Vars): Promise<NoteSigner> {
  return logSigner(env.LOG_SIGNING_KEY as string | undefined, env.LOG_ORIGIN as string | undefined)
}
