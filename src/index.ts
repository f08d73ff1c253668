/**
 * The directory Worker: HTTP routes, the hourly cron, and the Durable Object classes.
 * @module
 */
import { createApp } from './app.ts'
import { sequencer } from './durable-objects/stubs.ts'
import type { Env } from './env.ts'
import { createLogger } from './log.ts'

export { DevOutbox } from './durable-objects/dev-outbox.ts'
export { Limiter } from './durable-objects/limiter.ts'
export { PhoneChallenge } from './durable-objects/phone-challenge.ts'
export { Sequencer } from './durable-objects/sequencer.ts'

const app = createApp()

export default {
  fetch: app.fetch,
  /**
   * Hourly: expired bindings are removed through the Sequencer, each as a logged change; then a
   * snapshot is written if the log has grown since the last one.
   */
  async scheduled(controller, env) {
    const log = createLogger({ cron: controller.cron })
    const { expired } = await sequencer(env).expire(controller.scheduledTime)
    log.info('bindings_expired', { expired })
    const snapshot = await sequencer(env).snapshot()
    if (snapshot) log.info('snapshot_written', { ...snapshot })
  },
} satisfies ExportedHandler<Env>
