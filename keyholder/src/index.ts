/**
 * The key holder's Worker: HTTP routes and the EvaluationMeter Durable Object class.
 * @module
 */
import { createKeyholderApp } from './app.ts'
import type { KeyholderBindings } from './env.ts'

export { EvaluationMeter } from '../../src/durable-objects/evaluation-meter.ts'

const app = createKeyholderApp()

export default { fetch: app.fetch } satisfies ExportedHandler<KeyholderBindings>
