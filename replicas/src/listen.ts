/**
 * Listening on a port, with a failure a person can act on: the mirror's server and the witness's
 * share it.
 * @module
 */
import type { Server } from 'node:http'
import { MirrorError } from './errors.ts'

/** Why a listen failed, and which setting to change, by error code. */
const LISTEN_FAILURES: Readonly<Record<string, [string, 'port' | 'host']>> = {
  EADDRINUSE: ['the port is in use', 'port'],
  EACCES: ['permission denied (ports below 1024 need privileges)', 'port'],
  ERR_SOCKET_BAD_PORT: ['a port is a number from 0 to 65535', 'port'],
  EADDRNOTAVAIL: ['no interface of this machine has that address', 'host'],
  ENOTFOUND: ['the host name does not resolve', 'host'],
  EAI_AGAIN: ['the host name does not resolve', 'host'],
}

/**
 * listen: binds `server`, or throws a `usage` error saying why it cannot (`details.setting`
 * names what to change: `port` or `host`). A port in use is a configuration mistake, not a bug.
 */
export async function listen(server: Server, port: number, host: string): Promise<void> {
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, host, () => {
        server.off('error', reject)
        resolve()
      })
    })
  } catch (err) {
    const [why, setting] = LISTEN_FAILURES[(err as NodeJS.ErrnoException).code ?? ''] ?? [(err as Error).message, 'host']
    throw new MirrorError('usage', `cannot listen on ${host.includes(':') ? `[${host}]` : host}:${port}: ${why}`, { host, port, setting }, { cause: err })
  }
}
