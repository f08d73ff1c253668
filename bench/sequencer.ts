/**
 * Just the sequencer throughput (what `npm run bench` reports as `sequencer_entries_per_s`):
 * the real Worker under wrangler's local runtime, `LOG_ROUND_MS` 1000, `--count` numbers bound
 * through /dev/seed in batches of 800, `--parallel` batches in flight. The quickest way to time
 * the Sequencer alone.
 *
 *   npx tsx bench/sequencer.ts [--count 30000] [--runs 1] [--parallel 8]
 * @module
 */
import { numberFlag } from './args.ts'
import { validNumbers } from './dataset.ts'
import { benchDirectory } from './directory.ts'

const argv = process.argv.slice(2)
const count = numberFlag(argv, 'count', 30_000)
const runs = numberFlag(argv, 'runs', 1)
const parallel = numberFlag(argv, 'parallel', 8)
const all = validNumbers(count * runs, 5)
const d = await benchDirectory({ LOG_ROUND_MS: '1000' })
try {
  for (let r = 0; r < runs; r++) {
    const rate = count / (await d.seed(all.slice(r * count, (r + 1) * count), parallel))
    console.log(`run ${r + 1}: ${Math.round(rate).toLocaleString('en')} entries/s (${count.toLocaleString('en')} bindings)`)
  }
} finally {
  await d.dir.stop()
}
process.exit(0)
