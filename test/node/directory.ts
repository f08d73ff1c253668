/**
 * Starts the real directory Worker on loopback (wrangler's local runtime, in-memory storage)
 * and drives it over HTTP, as an app would.
 */
import { KEYHOLDER_WRANGLER_CONFIG, startLocalDirectory, type RunningDirectory } from '../../scripts/local-directory.ts'
import { keyholderTestSecrets, testSecrets } from '../../vitest.config.mts'

export type { RunningDirectory }

/** Starts the directory with the test secrets (and any var overrides) on a free loopback port. */
export function startDirectory(vars: Record<string, string> = {}): Promise<RunningDirectory> {
  return startLocalDirectory({ ...testSecrets, ...vars })
}

/** Starts the key holder (keyholder/wrangler.toml) with its test secrets (and any var overrides) on a free loopback port. */
export function startKeyholder(vars: Record<string, string> = {}): Promise<RunningDirectory> {
  return startLocalDirectory({ ...keyholderTestSecrets, ...vars }, { config: KEYHOLDER_WRANGLER_CONFIG })
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
