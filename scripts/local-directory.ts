/**
 * Starts the real directory Worker on a free loopback port under wrangler's local runtime
 * (miniflare: Durable Objects, KV and R2 in a temporary directory on disk, removed when it stops;
 * nothing is kept between runs), with the secrets and vars given. Used by the Node tests (with
 * fixed test secrets), the benchmarks and `npm run demo` (with fresh ones).
 * @module
 */
import { fileURLToPath } from 'node:url'
import { unstable_DevEnv } from 'wrangler'

/** wrangler.toml at the repository root, whatever the working directory. */
export const WRANGLER_CONFIG = fileURLToPath(new URL('../wrangler.toml', import.meta.url))
/** The key holder's wrangler.toml. */
export const KEYHOLDER_WRANGLER_CONFIG = fileURLToPath(new URL('../keyholder/wrangler.toml', import.meta.url))

export interface RunningDirectory {
  /** Base URL, e.g. `http://127.0.0.1:41234` (no trailing slash): wrangler's dev proxy, as `npm start` serves it. */
  url: string
  /** The Worker's own socket in the local runtime, past wrangler's dev proxy (what the benchmarks load). */
  runtimeUrl: string
  adminToken: string
  /** Stops the Worker and its runtime; safe to call more than once. */
  stop(): Promise<void>
}

/**
 * Starts the directory with `vars` (secrets included: ADMIN_TOKEN, HMAC_SECRET, LOG_SIGNING_KEY,
 * SMS_PROVIDER, and any overrides of wrangler.toml's [vars]). `.dev.vars` is not read.
 * `entrypoint` replaces wrangler.toml's `main` (a module that exports the same Durable Objects);
 * `config` another Worker's wrangler.toml ({@link KEYHOLDER_WRANGLER_CONFIG}: the key holder, with
 * its ADMIN_TOKEN and OPRF_KEY_SHARE).
 * Wrangler's own log level: `WHODIS_WRANGLER_LOG` (default `error`).
 */
export async function startLocalDirectory(vars: Record<string, string>, options: { entrypoint?: string; config?: string } = {}): Promise<RunningDirectory> {
  if (!vars.ADMIN_TOKEN) throw new Error('startLocalDirectory: ADMIN_TOKEN is required')
  // The directory never reads `request.cf`; without this miniflare fetches a sample of it from
  // workers.cloudflare.com at startup (and warns after a 3 s timeout when offline).
  process.env.CLOUDFLARE_CF_FETCH_ENABLED ??= 'false'
  // The runtime's own address is announced to the dev proxy once the Worker is loaded.
  const devEnv = new unstable_DevEnv()
  let loaded!: (origin: string) => void
  const runtimeUrl = new Promise<string>((resolve) => (loaded = resolve))
  const dispatch = devEnv.dispatch.bind(devEnv)
  devEnv.dispatch = (event) => {
    if (event.type === 'reloadComplete') {
      const { protocol, hostname, port } = event.proxyData.userWorkerUrl
      loaded(`${protocol}//${hostname}:${port}`)
    }
    dispatch(event)
  }
  const worker = await devEnv.startWorker({
    config: options.config ?? WRANGLER_CONFIG,
    ...(options.entrypoint ? { entrypoint: options.entrypoint } : {}),
    envFiles: [],
    bindings: Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, { type: 'plain_text' as const, value: v }])),
    dev: {
      server: { hostname: '127.0.0.1', port: 0 },
      inspector: false,
      persist: false,
      watch: false,
      liveReload: false,
      logLevel: (process.env.WHODIS_WRANGLER_LOG as 'error' | undefined) ?? 'error',
    },
  })
  let stopped: Promise<void> | null = null
  const stop = () => (stopped ??= worker.dispose())
  try {
    await worker.ready
    const url = (await worker.url).toString().replace(/\/$/, '')
    let timer: NodeJS.Timeout | undefined
    const notLoaded = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('the Worker did not load within 120 s')), 120_000)
    })
    const origin = await Promise.race([runtimeUrl, notLoaded]).finally(() => clearTimeout(timer))
    return { url, runtimeUrl: origin, adminToken: vars.ADMIN_TOKEN, stop }
  } catch (err) {
    await stop().catch(() => {})
    throw err
  }
}
