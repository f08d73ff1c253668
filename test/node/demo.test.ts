/**
 * `npm run demo` as a person runs it (a child process, exit code and narration), and its failure
 * path in-process: a step that does not hold gives a non-zero exit with the reason, and the
 * Worker, the mirror and the temporary directory are still cleaned up.
 */
import { execFile, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { runDemo } from '../../scripts/demo.ts'

// Each test starts the Worker and a mirror: a safety net well above what they take on a loaded machine.
describe('npm run demo', { timeout: 180_000 }, () => {
  it("plays the essay's example end to end, narrated, and exits 0", async () => {
    const { stdout } = await promisify(execFile)('npm', ['run', '--silent', 'demo'], {
      env: { ...process.env, NO_COLOR: '1' },
      maxBuffer: 4 * 1024 * 1024,
    })
    // Not a terminal: no colour codes.
    expect(stdout).not.toMatch(/\x1b\[/)
    const text = stdout.replace(/\n {5}/g, ' ') // undo the wrapping
    for (const line of [
      '1. The operator starts the directory',
      '✓ App A (id appa) and App B (id appb) are registered',
      "3. App B starts its own mirror of the directory",
      '✓ Alice types +1 (650) 555-0011 into app A; the directory texts "App A code: ',
      '✓ Charlie types +1 510 555 0033 into app A',
      '✓ Bob types +1 415 555 0022 into app B; the directory texts "App B code: ',
      "6. Bob's app looks Alice up on its own mirror",
      'and found Alice on appa (verified',
      'First, app B proves, once, the registrations of appa and appb',
      'and checked every field of the answer against those entries',
      "The same answer with its two apps swapped, every receipt in it still genuine, is refused (app_mismatch).",
      'The directory received no request from app B during the lookup.',
      "Bob's app computes chooseApp(['appb'], ['appa', 'appb']) = appb; Alice's app computes chooseApp(['appa', 'appb'], ['appb']) = appb.",
      "8. App B checks Alice's credential offline",
      'App B checks them with no network request: the log key signed "+16505550011 is on appa with key',
      'The same credential with its app changed to appb is refused (bad_signature).',
      '(the SMS reads "whodis code: ',
      'She sees her number bound to appa and appb',
      'removed by the holder.',
      "App B's mirror saw it",
      'a lookup of Alice on the mirror now answers appa (verified',
      'She signs out; her session token is refused from then on.',
      '10. The mirror verifies everything it holds',
      'Replayed all 7 log entries with no network',
      'folding them gives exactly the 3 numbers and 3 bindings it serves.',
      'All 10 steps held in',
    ]) {
      expect(text, text).toContain(line)
    }
    expect(text).toMatch(/Cleaned up: stopped the mirror's server; stopped following; closed the mirror; removed \S+; stopped the directory\./)
    expect(text).not.toContain('✗')
    const temp = /removed (\S+);/.exec(text)![1]!
    expect(existsSync(temp)).toBe(false)
  })

  it('exits non-zero with the reason when a step does not hold, and still cleans up', async () => {
    let out = ''
    // One app code a number an hour: Alice's second (on app B) is refused.
    const code = await runDemo({ write: (t) => void (out += t), color: false, vars: { SMS_PER_NUMBER_HOUR: '1' } })
    const text = out.replace(/\n {5}/g, ' ')
    // The narration is the diagnosis when this fails.
    expect(code, text).toBe(1)
    expect(text, text).toContain('4. Alice and Charlie verify')
    expect(text, text).toContain('✗ Step 5 (Alice also uses app B) did not hold: WhodisError: too many codes sent to this number in the last hour')
    expect(text).not.toContain('All 10 steps held')
    expect(text).toMatch(/Cleaned up: stopped the mirror's server; stopped following; closed the mirror; removed \S+; stopped the directory\./)
    expect(existsSync(/removed (\S+);/.exec(text)![1]!)).toBe(false)
    const url = /The directory Worker is running at (\S+) /.exec(text)![1]!
    await expect(fetch(`${url}/.well-known/whodis`)).rejects.toThrow()
  })

  it('cleans up and exits 130 when interrupted (Ctrl-C)', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/demo.ts'], { env: { ...process.env, NO_COLOR: '1' } })
    let out = ''
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString()
        if (out.includes('4. Alice and Charlie verify')) resolve()
      })
      exited.then(() => reject(new Error(`the demo ended before step 4:\n${out}`)))
    })
    child.kill('SIGINT')
    expect(await exited).toBe(130)
    const text = out.replace(/\n {5}/g, ' ')
    expect(text).toMatch(/✗ Interrupted during step \d+/)
    expect(text).toMatch(/Cleaned up: .*closed the mirror; removed \S+; stopped the directory\./)
    expect(existsSync(/data in (\S+)\/mirror\)/.exec(text)![1]!)).toBe(false)
  })
})
