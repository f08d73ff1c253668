/**
 * Starts the real directory Worker on loopback (wrangler's local runtime, in-memory storage)
 * and drives it over HTTP, as an app would.
 */
import { unstable_startWorker } from 'wrangler'
import { testSecrets } from '../../vitest.config.mts'

export interface RunningDirectory {
  url: string
  adminToken: string
  stop(): Promise<void>
}

/** Starts the directory with the test secrets (and any var overrides) on a free loopback port. */
export async function startDirectory(vars: Record<string, string> = {}): Promise<RunningDirectory> {
  const values: Record<string, string> = { ...testSecrets, ...vars }
  const worker = await unstable_startWorker({
    config: 'wrangler.toml',
    envFiles: [],
    bindings: Object.fromEntries(Object.entries(values).map(([k, v]) => [k, { type: 'plain_text' as const, value: v }])),
    dev: {
      server: { hostname: '127.0.0.1', port: 0 },
      inspector: false,
      persist: false,
      watch: false,
      liveReload: false,
      logLevel: (process.env.WHODIS_WRANGLER_LOG as 'error' | undefined) ?? 'error',
    },
  })
  await worker.ready
  const url = (await worker.url).toString().replace(/\/$/, '')
  return { url, adminToken: values.ADMIN_TOKEN!, stop: () => worker.dispose() }
}

/** A small JSON client for one bearer token. */
export function client(base: string, token?: string) {
  return async function request(method: string, path: string, json?: unknown): Promise<{ status: number; body: any; headers: Headers }> {
    const res = await fetch(base + path, {
      method,
      headers: {
        ...(token ? { Authorization: `Bearer ${token}` } : {}),
        ...(json !== undefined ? { 'Content-Type': 'application/json' } : {}),
      },
      body: json !== undefined ? JSON.stringify(json) : undefined,
    })
    const text = await res.text()
    return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers }
  }
}
