/**
 * The directory Worker: HTTP routes, the hourly cron, and the Durable Object classes.
 * @module
 */
import { createApp } from './app.ts'
import { isRefusal } from './core/refusals.ts'
import { expireAll, sequencer } from './directory.ts'
import type { Env } from './env.ts'
import { createLogger } from './log.ts'

export { BindingShardObject } from './durable-objects/binding-shard.ts'
export { DevOutbox } from './durable-objects/dev-outbox.ts'
export { EvaluationMeter } from './durable-objects/evaluation-meter.ts'
export { Limiter } from './durable-objects/limiter.ts'
export { PhoneChallenge } from './durable-objects/phone-challenge.ts'
export { Sequencer } from './durable-objects/sequencer.ts'

const app = createApp()

export default {
  fetch: app.fetch,
  /**
   * Hourly: every shard removes its expired bindings, each as a logged change, in bounded
   * batches that its alarm finishes if interrupted; then a snapshot is written if the log has
   * grown since the last one.
   */
  async scheduled(controller, env) {
    const log = createLogger({ cron: controller.cron })
    const swept = await expireAll(env, controller.scheduledTime)
    if (isRefusal(swept)) log.error('expiry_failed', { code: swept.code, message: swept.message })
    else log.info('bindings_expired', { expired: swept.expired })
    const snapshot = await sequencer(env).snapshot()
    if (isRefusal(snapshot)) log.error('snapshot_failed', { code: snapshot.code, message: snapshot.message })
    else if (snapshot) log.info('snapshot_written', { ...snapshot })
  },
} satisfies ExportedHandler<Env>
