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
  /** Hourly: expired bindings are removed through the Sequencer, each as a logged change. */
  async scheduled(controller, env) {
    const log = createLogger({ cron: controller.cron })
    const { expired } = await sequencer(env).expire(controller.scheduledTime)
    log.info('bindings_expired', { expired })
  },
} satisfies ExportedHandler<Env>
