/**
 * `npm run demo`: the design essay's example, end to end on this machine, narrated.
 *
 * It starts the directory (wrangler's local runtime, in-memory storage, secrets generated for
 * this run) and app B's mirror (in a temporary directory), then: app A and app B are
 * registered; Alice (+1 650 555 0011) and Charlie (+1 510 555 0033) verify on A and Bob
 * (+1 415 555 0022) on B, with the codes read from the development SMS outbox; Alice also uses
 * B; app B proves the two apps' registrations; Bob's app looks Alice up on its own mirror (no
 * request to the directory names her number) and checks the answer against the entries its
 * receipts prove; both sides pick the same app with `chooseApp`; app B checks Alice's credential
 * and receipt offline with the pinned log key; Alice, as the number's holder, removes a binding and the
 * mirror sees it; the mirror replays and verifies everything it holds.
 *
 * Every step checks its outcome. Exit 0 when every step held, 1 (with the reason) when one did
 * not, 130 when interrupted; the Worker, the mirror and the temporary directory are cleaned up
 * on every path. Colours only on a terminal (and never with NO_COLOR).
 * @module
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
// The SDK apps import as `whodis/client` (its source, so the demo needs no build step).
import { chooseApp, CredentialError, HolderClient, ProofError, WhodisClient, WhodisError, type LookupBody, type LookupEntry } from '../src/client/index.ts'
import { toBase64Url } from '../src/protocol/bytes.ts'
import { randomSeed, signerFromSeed } from '../src/protocol/ed25519.ts'
import { follow, openMirror, startServer, type Mirror, type MirrorServer } from '../replicas/src/index.ts'
import { generateDevSecrets } from './dev-vars.ts'
import { startLocalDirectory, type RunningDirectory } from './local-directory.ts'

const ALICE = '+16505550011'
const BOB = '+14155550022'
const CHARLIE = '+15105550033'
/**
 * How long any one wait (mirror catching up, an outbox message) may take: a safety net against a
 * hang, far above what it takes even on a heavily loaded machine.
 */
const WAIT_MS = 30_000
/** The whole demo's budget (a safety net, like {@link WAIT_MS}). */
const BUDGET_MS = 150_000

export interface DemoOptions {
  /** Where the narration goes (default: stdout). */
  write?: (text: string) => void
  /** ANSI colours (default: only when stdout is a terminal and NO_COLOR is unset). */
  color?: boolean
  /** Overrides of the directory's vars (wrangler.toml [vars]). */
  vars?: Record<string, string>
  /** Aborting stops the demo (exit 130) after cleaning up. */
  signal?: AbortSignal
  /**
   * Handle SIGINT and SIGTERM (as `npm run demo` does): the first stops the demo after cleaning
   * up, a second exits at once. wrangler and miniflare install handlers that exit on the spot
   * (wrangler's with status 0), which would skip the cleanup and report success; while the demo
   * runs, its handler is the only one.
   */
  handleSignals?: boolean
}

/** A step whose outcome did not hold. */
class StepFailed extends Error {}

/** Runs the demo; resolves to the process exit code. */
export async function runDemo(options: DemoOptions = {}): Promise<number> {
  const write = options.write ?? ((text: string) => void process.stdout.write(text))
  const color = options.color ?? (Boolean(process.stdout.isTTY) && !process.env.NO_COLOR)
  const paint = (code: string) => (text: string) => (color ? `\x1b[${code}m${text}\x1b[0m` : text)
  const bold = paint('1')
  const dim = paint('2')
  const green = paint('32')
  const red = paint('31')

  const started = Date.now()
  const line = (text = '') => write(text + '\n')
  /** A narrated sentence, wrapped and indented. */
  const say = (text: string, mark = ' ') => {
    const lines = wrap(text, 92)
    lines.forEach((l, i) => line(`   ${i === 0 ? mark : ' '} ${l}`))
  }
  const ok = (text: string) => say(text, green('✓'))
  const why = (text: string) => say(dim(`Why it matters: ${text}`))
  const check = (cond: unknown, message: string): void => {
    if (!cond) throw new StepFailed(message)
  }
  let stepNo = 0
  let current = ''
  const step = (title: string) => {
    current = title
    line()
    line(bold(`${++stepNo}. ${title}`))
  }

  // Everything to undo, in reverse order of creation. Anything created after the cleanup ran
  // (a step still finishing after an interrupt) is undone at once.
  const cleanups: { what: string; run: () => Promise<void> | void }[] = []
  let cleanedUp = false
  const defer = (what: string, run: () => Promise<void> | void) => {
    if (cleanedUp) void Promise.resolve().then(run).catch(() => {})
    else cleanups.push({ what, run })
  }
  let exitCode = 0

  line(bold("whodis demo: the essay's Alice, Bob and Charlie, end to end on this machine"))
  say(
    'Alice (+1 650 555 0011) and Charlie (+1 510 555 0033) use messaging app A; Bob (+1 415 555 0022) uses app B. ' +
      "Bob has Alice's number. Which app should his app use to reach her, and how does it know the person it reaches really holds that number?",
  )

  const interrupt = new AbortController()
  options.signal?.addEventListener('abort', () => interrupt.abort(), { once: true })
  if (options.signal?.aborted) interrupt.abort()
  const onSignal = () => {
    if (interrupt.signal.aborted) process.exit(130)
    interrupt.abort()
  }
  const ownSignals = () => {
    if (!options.handleSignals) return
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      for (const l of process.listeners(sig)) if (l !== onSignal) process.removeListener(sig, l)
      if (!process.listeners(sig).includes(onSignal)) process.on(sig, onSignal)
    }
  }
  ownSignals()
  const abort = new Promise<never>((_, reject) => {
    const onAbort = () => reject(new StepFailed('interrupted'))
    if (interrupt.signal.aborted) onAbort()
    interrupt.signal.addEventListener('abort', onAbort, { once: true })
  })
  let budgetTimer: NodeJS.Timeout | undefined
  const budget = new Promise<never>((_, reject) => {
    budgetTimer = setTimeout(() => reject(new StepFailed(`the demo took longer than ${BUDGET_MS / 1000} s`)), BUDGET_MS)
  })

  try {
    await Promise.race([play(), abort, budget])
    line()
    line(green(bold(`All ${stepNo} steps held`)) + ` in ${((Date.now() - started) / 1000).toFixed(1)} s.`)
  } catch (err) {
    exitCode = interrupt.signal.aborted ? 130 : 1
    const reason = err instanceof StepFailed ? err.message : err instanceof Error ? `${err.name}: ${err.message}` : String(err)
    line()
    const where = stepNo > 0 ? `step ${stepNo} (${current})` : 'the start'
    line(red(bold(exitCode === 130 ? `✗ Interrupted during ${where}.` : `✗ ${where[0]!.toUpperCase()}${where.slice(1)} did not hold: ${reason}`)))
  } finally {
    clearTimeout(budgetTimer)
    cleanedUp = true
    const undone: string[] = []
    for (const c of cleanups.reverse()) {
      try {
        await c.run()
        undone.push(c.what)
      } catch (err) {
        exitCode ||= 1
        line(red(`✗ Could not clean up (${c.what}): ${(err as Error).message}`))
      }
    }
    if (undone.length > 0) line(dim(`Cleaned up: ${undone.join('; ')}.`))
    if (options.handleSignals) for (const sig of ['SIGINT', 'SIGTERM'] as const) process.removeListener(sig, onSignal)
  }
  return exitCode

  async function play(): Promise<void> {
    // ---------------------------------------------------------------------------------------
    step('The operator starts the directory')
    const secrets = await generateDevSecrets()
    const dir: RunningDirectory = await startLocalDirectory({ ...secrets, ...options.vars })
    defer('stopped the directory', () => dir.stop())
    ownSignals() // miniflare added its own on start
    const wellKnown = (await (await fetch(`${dir.url}/.well-known/whodis`)).json()) as { logKey: string; origin: string }
    check(typeof wellKnown.logKey === 'string', '/.well-known/whodis names no log key')
    ok(`The directory Worker is running at ${dir.url} (wrangler's local runtime, in-memory storage, keys generated for this run).`)
    say(`Its transparency log is ${wellKnown.origin}, signed by the key ${wellKnown.logKey}.`)
    why('that log key is the one thing an app must pin. Every checkpoint, credential and receipt below is checked against it, not against the server that handed it over.')

    const admin = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(dir.url + path, {
        method,
        headers: { Authorization: `Bearer ${dir.adminToken}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      })
      const json = (await res.json()) as any
      if (!res.ok) throw new StepFailed(`${method} ${path} answered ${res.status}: ${json?.error?.message ?? ''}`)
      return json
    }
    /** The newest SMS the development outbox holds for `phone` (the real send path, minus the carrier). */
    const latestSms = async (phone: string, after: number): Promise<string> => {
      const until = Date.now() + WAIT_MS
      for (;;) {
        const { messages } = (await admin('GET', `/dev/outbox?phone=${encodeURIComponent(phone)}`)) as { messages: { body: string }[] }
        if (messages.length > after) return messages.at(-1)!.body
        if (Date.now() > until) throw new StepFailed(`no SMS reached ${phone}`)
        await sleep(50)
      }
    }
    const outboxCount = async (phone: string) =>
      ((await admin('GET', `/dev/outbox?phone=${encodeURIComponent(phone)}`)) as { messages: unknown[] }).messages.length

    // ---------------------------------------------------------------------------------------
    step('The operator registers app A and app B')
    const tokens: Record<string, string> = {}
    for (const [id, name] of [
      ['appa', 'App A'],
      ['appb', 'App B'],
    ] as const) {
      const created = await admin('POST', '/v1/admin/apps', { id, name })
      check(created.id === id && typeof created.token === 'string', `registering ${id} returned no token`)
      tokens[id] = created.token
    }
    ok('App A (id appa) and App B (id appb) are registered; each received an API token, shown once and stored only as a hash.')
    why('apps, not people, call the directory, and each registration is itself a log entry, so anyone can see which apps may bind numbers.')

    // Every request the directory receives from app B (its SDK client and its mirror), to show what it learns.
    const seenByDirectory: { from: 'app B' | "app B's mirror"; method: string; path: string }[] = []
    const recording =
      (from: 'app B' | "app B's mirror"): typeof fetch =>
      (input, init) => {
        const url = String(input instanceof Request ? input.url : input)
        if (url.startsWith(dir.url)) seenByDirectory.push({ from, method: init?.method ?? 'GET', path: url.slice(dir.url.length) })
        return fetch(input, init)
      }

    // ---------------------------------------------------------------------------------------
    step('App B starts its own mirror of the directory')
    const tempDir = mkdtempSync(join(tmpdir(), 'whodis-demo-'))
    defer(`removed ${tempDir}`, () => rmSync(tempDir, { recursive: true, force: true }))
    const mirror: Mirror = await openMirror(join(tempDir, 'mirror'), {
      directory: dir.url,
      token: tokens.appb,
      fetch: recording("app B's mirror"),
      retry: { retries: 3, baseDelayMs: 50 },
    })
    defer('closed the mirror', () => mirror.close())
    const stopFollowing = new AbortController()
    let followError: Error | null = null
    const following = follow(mirror, { intervalMs: 100, signal: stopFollowing.signal }).catch((err: Error) => {
      followError = err
    })
    defer('stopped following', async () => {
      stopFollowing.abort()
      await following
    })
    const server: MirrorServer = await startServer(mirror, { port: 0 })
    defer("stopped the mirror's server", () => server.close())
    const waitForMirror = async (what: string, done: () => boolean): Promise<number> => {
      const t0 = Date.now()
      while (!done()) {
        if (followError) throw new StepFailed(`the mirror stopped syncing: ${(followError as Error).message}`)
        if (Date.now() - t0 > WAIT_MS) throw new StepFailed(`the mirror did not ${what} within ${WAIT_MS / 1000} s`)
        await sleep(25)
      }
      return Date.now() - t0
    }
    await waitForMirror('finish its first sync', () => mirror.checkpoint !== null)
    check(mirror.logKey === wellKnown.logKey, `the mirror pinned ${mirror.logKey}, not the directory's key`)
    ok(
      `App B's mirror (data in ${join(tempDir, 'mirror')}) pinned the log key, checked the signed checkpoint ` +
        `(tree size ${mirror.checkpoint!.size}), and answers lookups at ${server.url}. It follows the directory, fetching only new log entries.`,
    )
    why("from now on app B answers 'which app is this number on?' on its own machine, from a copy it has verified entry by entry.")

    // ---------------------------------------------------------------------------------------
    step('Alice and Charlie verify their numbers on app A, Bob on app B')
    const appA = new WhodisClient({ baseUrl: dir.url, token: tokens.appa })
    // App B pins the log key its mirror pinned: credentials and receipts are checked with it, offline.
    const appB = new WhodisClient({ baseUrl: dir.url, token: tokens.appb, logKey: mirror.logKey!, fetch: recording('app B') })
    // Alice's device key in app A: the directory binds it into her credential.
    const aliceKey = toBase64Url((await signerFromSeed(randomSeed())).publicKey)
    const verify = async (name: string, phoneAsTyped: string, e164: string, appName: string, api: WhodisClient, appId: string, publicKey?: string) => {
      const before = await outboxCount(e164)
      const { id } = await api.startVerification(phoneAsTyped, publicKey ? { publicKey } : {})
      const sms = await latestSms(e164, before)
      const code = /(\d{6})$/.exec(sms)?.[1]
      check(code, `the SMS to ${name} carries no code: ${JSON.stringify(sms)}`)
      const result = await api.checkVerification(id, code!)
      check(result.binding.phone === e164 && result.binding.app === appId, `${name}'s binding is ${result.binding.phone} on ${result.binding.app}`)
      ok(
        `${name} types ${phoneAsTyped} into ${appName}; the directory texts "${sms}" (read here from the development outbox); ` +
          `${appName} sends the code back and ${name}'s number is bound to ${appId} as log entry #${result.index}.`,
      )
      return result
    }
    const alice = await verify('Alice', '+1 (650) 555-0011', ALICE, 'app A', appA, 'appa', aliceKey)
    await verify('Charlie', '+1 510 555 0033', CHARLIE, 'app A', appA, 'appa')
    await verify('Bob', '+1 415 555 0022', BOB, 'app B', appB, 'appb')
    say(`Alice's app A also received a credential and a receipt for her binding; it keeps them for step 8.`)
    why('only someone who can receive SMS at a number can bind it, and every binding is an entry in a public, append-only log, so a wrongly issued one can be seen.')

    // ---------------------------------------------------------------------------------------
    step('Alice also uses app B')
    const aliceOnB = await verify('Alice', '+1 650 555 0011', ALICE, 'app B', appB, 'appb')
    why("a number can be on several apps at once (the essay's 'multiple apps per user'); its record lists them all.")

    // ---------------------------------------------------------------------------------------
    step("Bob's app looks Alice up on its own mirror")
    const caughtUp = await waitForMirror('catch up', () => mirror.treeSize > aliceOnB.index)
    say(`App B's mirror had applied Alice's new binding ${caughtUp} ms after the directory confirmed it.`)
    const nums = await appB.proveApps(['appa', 'appb'])
    ok(
      `First, app B proves, once, the registrations of appa and appb (GET /v1/apps/appa and /appb: each app's app-register log entry and its receipt). ` +
        `Log entries name apps by number (${nums.map((n, i) => `${['appa', 'appb'][i]} is ${n}`).join(', ')}); these proven entries are how app B ties a number in an entry to the app id an answer names. The requests name apps, never a person's number.`,
    )
    const mark = seenByDirectory.length
    const found = await appB.lookupVia(server.url, '+1 650 555 0011', { proof: true })
    const during = seenByDirectory.slice(mark)
    check(found, "app B's mirror does not know Alice's number")
    const apps = found!.apps.map((a) => a.app)
    check(apps.join() === 'appa,appb', `the mirror says Alice is on ${apps.join(', ')}, not appa and appb`)
    const proven = await appB.verifyLookup(found!, { phone: ALICE })
    check(!during.some((r) => r.from === 'app B'), `app B sent ${during.filter((r) => r.from === 'app B').length} request(s) to the directory during its lookup`)
    const mirrorRequests = seenByDirectory.filter((r) => r.from === "app B's mirror")
    check(
      mirrorRequests.every((r) => r.method === 'GET' && (r.path.startsWith('/log/') || r.path === '/.well-known/whodis')),
      `the mirror asked the directory for ${mirrorRequests.find((r) => !r.path.startsWith('/log/'))?.path}`,
    )
    ok(`App B asked its mirror at ${server.url} and found Alice on ${describeApps(found!)}.`)
    ok(
      `Each binding came with its log entry and a receipt. App B checked each receipt against the pinned log key (entries ` +
        `${proven.apps.map((a) => `#${a.index}`).join(' and ')} are in the tree of the signed checkpoint of size ${proven.checkpoint!.size}), ` +
        `and checked every field of the answer against those entries: Alice's number, the app (by its proven registration), the times and the index. ` +
        `So the log vouches that these bindings were added, not the mirror. (A receipt shows a binding was added, not that it still stands.)`,
    )
    const [first, second] = found!.apps as [LookupEntry, LookupEntry]
    const swapped = { ...found!, apps: [{ ...first, app: second.app }, { ...second, app: first.app }] }
    const tampered = await appB.verifyLookup(swapped).then(
      () => null,
      (err: unknown) => err,
    )
    check(tampered instanceof ProofError, 'an answer with its two apps swapped was accepted')
    ok(`The same answer with its two apps swapped, every receipt in it still genuine, is refused (${(tampered as ProofError).code}).`)
    ok(
      `The directory received no request from app B during the lookup. The mirror's ${mirrorRequests.length} requests so far are all for the public log and its key, ` +
        `the same for every mirror, and none names a number: ${summarize(mirrorRequests)}.`,
    )
    why('the essay worries that a directory sees every lookup and so learns who is trying to reach whom. Here it cannot: the question never leaves app B.')

    // ---------------------------------------------------------------------------------------
    step('Both sides pick the same app (chooseApp)')
    const alicePrefers = ['appa', 'appb'] // A first
    const bobHas = ['appb']
    const onBobsSide = chooseApp(bobHas, alicePrefers)
    const onAlicesSide = chooseApp(alicePrefers, bobHas)
    check(onBobsSide === 'appb' && onAlicesSide === 'appb', `Bob's side picked ${onBobsSide}, Alice's side ${onAlicesSide}`)
    ok(`Alice prefers A, then B; Bob has only B. (The directory lists apps, not preferences, so the two apps exchange these lists and feed chooseApp the same two.) Bob's app computes chooseApp(['appb'], ['appa', 'appb']) = ${onBobsSide}; Alice's app computes chooseApp(['appa', 'appb'], ['appb']) = ${onAlicesSide}.`)
    const charlieAlice = chooseApp(['appa'], alicePrefers)
    check(charlieAlice === 'appa' && chooseApp(alicePrefers, ['appa']) === 'appa', 'Charlie and Alice do not agree on appa')
    ok(`Charlie and Alice both get ${charlieAlice}; Charlie and Bob share no app, so chooseApp gives ${chooseApp(['appa'], bobHas)} and their apps must interoperate.`)
    why("the essay asks 'will you get the same app in each direction?'. The rule (lowest sum of both ranks, then the fairer compromise, then the app id) is symmetric, so each side computes it alone and both land on the same app.")

    // ---------------------------------------------------------------------------------------
    step("App B checks Alice's credential offline")
    // App B's own requests: its mirror keeps polling the public log meanwhile, whenever it likes.
    const appBRequests = () => seenByDirectory.filter((r) => r.from === 'app B').length
    const markCred = appBRequests()
    const credential = await appB.verifyPresented(alice.credential, alice.receipt)
    check(appBRequests() === markCred, 'checking the credential made a network request')
    check(credential.phone === ALICE && credential.app === 'appa' && credential.publicKey === aliceKey, 'the credential states something else')
    check(credential.index === alice.index, `the credential names log entry #${credential.index}, not #${alice.index}`)
    ok(
      `Alice's app A presents the credential and receipt it received in step 4. App B checks them with no network request: ` +
        `the log key signed "${ALICE} is on appa with key ${aliceKey.slice(0, 12)}…, verified ${iso(credential.verifiedAt)}, ` +
        `until ${iso(credential.expiresAt)}", every one of those fields is what the log entry inside it says (the app by appa's proven registration), ` +
        `and the receipt proves that entry is #${credential.index} of the signed tree of size ${credential.checkpoint!.size}.`,
    )
    const forged = alice.credential.replace('\napp appa\n', '\napp appb\n')
    const refused = await appB.verifyPresented(forged, alice.receipt).then(
      () => null,
      (err: unknown) => err,
    )
    check(refused instanceof CredentialError, 'a forged credential (app changed to appb) was accepted')
    ok(`The same credential with its app changed to appb is refused (${(refused as CredentialError).code}).`)
    why("this is the essay's SPIN-style flow: when Alice writes from app A, app B needs neither the directory nor app A's word that the sender really holds +1 650 555 0011.")

    // ---------------------------------------------------------------------------------------
    step('Alice, as the holder of her number, removes a binding')
    const holder = new HolderClient({ baseUrl: dir.url })
    const beforeHolder = await outboxCount(ALICE)
    const { id: holderId } = await holder.startVerification('+1 650 555 0011')
    const holderSms = await latestSms(ALICE, beforeHolder)
    check(/^whodis code: \d{6}$/.test(holderSms), `the holder SMS reads ${JSON.stringify(holderSms)}`)
    const session = await holder.checkVerification(holderId, holderSms.slice(-6))
    check(session.phone === ALICE, `the holder session is for ${session.phone}`)
    ok(`Alice proves her number to the directory itself (the SMS reads "${holderSms}"), without any app, and gets a 30-minute session.`)
    const overview = await holder.bindings()
    check(overview.apps.map((a) => a.app).join() === 'appa,appb', `Alice sees bindings to ${overview.apps.map((a) => a.app).join(', ')}`)
    ok(
      `She sees her number bound to appa and appb, and the ${overview.entries.length} log entries that touch it: ` +
        overview.entries.map((e) => `#${e.index} ${e.op} ${e.app}`).join(', ') +
        '.',
    )
    await holder.removeBinding('appb')
    const after = await holder.bindings()
    const removal = after.entries[0]
    check(
      after.apps.map((a) => a.app).join() === 'appa' && removal?.op === 'remove' && removal.app === 'appb' && removal.reason === 'holder',
      'the removal is not what Alice sees',
    )
    ok(`She no longer uses app B and removes that binding; the log records it as entry #${removal!.index}, removed by the holder.`)
    const seenIn = await waitForMirror('see the removal', () => mirror.lookup(ALICE)?.apps.map((a) => a.app).join() === 'appa')
    const onMirror = await appB.lookupVia(server.url, ALICE)
    check(onMirror?.apps.map((a) => a.app).join() === 'appa', `the mirror's server still says ${onMirror?.apps.map((a) => a.app).join(', ')}`)
    ok(`App B's mirror saw it ${seenIn} ms later: a lookup of Alice on the mirror now answers ${describeApps(onMirror!)}.`)
    const now = chooseApp(bobHas, ['appa'])
    check(now === null, `chooseApp still picks ${now}`)
    ok("Alice and Bob now share no app (chooseApp gives null): app B reaches her on app A through interoperability, and the credential from step 8 is how it knows it is really her.")
    await holder.signOut()
    const ended = await new HolderClient({ baseUrl: dir.url, session: session.token }).bindings().then(
      () => null,
      (err: unknown) => err,
    )
    check(ended instanceof WhodisError && ended.status === 401, 'the holder session still works after signing out')
    ok('She signs out; her session token is refused from then on.')
    why("the holder of a number decides who may find them, and sees every log entry about it, so a binding they never asked for shows up here.")

    // ---------------------------------------------------------------------------------------
    step('The mirror verifies everything it holds')
    await waitForMirror('catch up', () => mirror.treeSize > removal!.index)
    const report = await mirror.verify()
    check(report.treeSize === report.checkpointSize, `the mirror holds ${report.treeSize} of ${report.checkpointSize} entries`)
    check(report.originSize + report.entriesReplayed === report.treeSize, 'the replay does not cover the whole tree')
    ok(
      `Replayed all ${report.entriesReplayed} log entries with no network: their Merkle root is the signed checkpoint's (tree size ${report.checkpointSize}), ` +
        `and folding them gives exactly the ${report.records} numbers and ${report.bindings} bindings it serves.`,
    )
    why('a mirror serves nothing it has not verified. A rolled-back, forked or forged log would have stopped it, with a file proving what the log signed.')
  }
}

/** `appa (verified …, until …) and appb (…)`. */
function describeApps(body: LookupBody): string {
  return body.apps.map((a) => `${a.app} (verified ${a.verifiedAt}, until ${a.expiresAt.slice(0, 10)})`).join(' and ')
}

/** `12 × GET /log/checkpoint, 3 × GET /log/tile/entries/…` */
function summarize(requests: { method: string; path: string }[]): string {
  const counts = new Map<string, number>()
  for (const r of requests) {
    const path = r.path.split('?')[0]!.replace(/\/log\/tile\/(entries\/)?[^?]*/, (_, e) => `/log/tile/${e ?? ''}…`)
    const key = `${r.method} ${path}`
    counts.set(key, (counts.get(key) ?? 0) + 1)
  }
  return [...counts].map(([k, n]) => `${n} × ${k}`).join(', ')
}

function iso(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z')
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}

/** Splits `text` into lines of at most `width` characters (ANSI codes do not count). */
function wrap(text: string, width: number): string[] {
  const lines: string[] = []
  let current = ''
  let visible = 0
  for (const word of text.split(' ')) {
    const len = word.replace(/\x1b\[[0-9;]*m/g, '').length
    if (visible > 0 && visible + 1 + len > width) {
      lines.push(current)
      current = word
      visible = len
    } else {
      current = visible > 0 ? `${current} ${word}` : word
      visible += (visible > 0 ? 1 : 0) + len
    }
  }
  if (current) lines.push(current)
  return lines
}

// Run as a program (`npm run demo`): exit with the demo's code; Ctrl-C cleans up first.
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await runDemo({ handleSignals: true })
  // wrangler's runtime may keep a handle or two alive briefly after dispose.
  setTimeout(() => process.exit(process.exitCode), 2000).unref()
}
