/**
 * The witness's HTTP routes, for the standalone `whodis-mirror witness` and for `serve
 * --witness`: `POST /add-checkpoint` and `GET /<sha256(origin) hex>/checkpoint` (submission and
 * monitoring prefix both `/`).
 * @module
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { silentLogger, type Logger } from './logger.ts'
import { listen } from './listen.ts'
import { MAX_ADD_CHECKPOINT_BYTES, type Witness, type WitnessResponse } from './witness.ts'

/**
 * handleWitnessRequest: answers `req` if it is a witness route and returns true; false
 * otherwise. Each add-checkpoint outcome is logged (a 422 warns: it may be a log's fork).
 */
export function handleWitnessRequest(witness: Witness, req: IncomingMessage, res: ServerResponse, path: string, logger: Logger = silentLogger): boolean {
  if (path === '/add-checkpoint') {
    if (req.method !== 'POST') {
      req.resume()
      send(res, { status: 405, contentType: 'text/plain; charset=utf-8', body: 'add-checkpoint takes POST\n' }, { Allow: 'POST' })
      return true
    }
    void readBody(req)
      .then((body) => (body === null ? tooLarge() : witness.addCheckpoint(body)))
      .then((answer) => {
        const fields = { status: answer.status, ...(answer.status === 200 ? {} : { reason: answer.body.trim() }) }
        if (answer.status === 422 || answer.status === 403) logger.warn('add_checkpoint_refused', fields)
        else logger.info('add_checkpoint', fields)
        send(res, answer)
      })
      .catch((err: unknown) => send(res, { status: 500, contentType: 'text/plain; charset=utf-8', body: `witness failed: ${(err as Error).message}\n` }))
    return true
  }
  const monitor = /^\/([0-9a-f]{64})\/checkpoint$/.exec(path)
  if (monitor && (req.method === 'GET' || req.method === 'HEAD')) {
    send(res, witness.checkpointByOriginHash(monitor[1]!))
    return true
  }
  return false
}

/** A standalone witness server. */
export interface WitnessServer {
  url: string
  port: number
  close(): Promise<void>
}

/** startWitnessServer: serves `witness` alone on `host:port` (0 picks a free port). */
export async function startWitnessServer(witness: Witness, port: number, host = '127.0.0.1', logger: Logger = silentLogger): Promise<WitnessServer> {
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://witness.invalid').pathname
    if (path === '/healthz' && (req.method === 'GET' || req.method === 'HEAD')) {
      return send(res, { status: 200, contentType: 'text/plain; charset=utf-8', body: `ok ${witness.name}\n` })
    }
    if (!handleWitnessRequest(witness, req, res, path, logger)) {
      req.resume()
      send(res, { status: 404, contentType: 'text/plain; charset=utf-8', body: `no route ${req.method} ${path}\n` })
    }
  })
  await listen(server, port, host)
  const address = server.address() as AddressInfo
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address
  return {
    url: `http://${shown}:${address.port}`,
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}

function tooLarge(): WitnessResponse {
  return { status: 413, contentType: 'text/plain; charset=utf-8', body: `request body is larger than ${MAX_ADD_CHECKPOINT_BYTES} bytes\n` }
}

function send(res: ServerResponse, answer: WitnessResponse, headers: Record<string, string> = {}): void {
  if (res.headersSent) return void res.destroy()
  res.writeHead(answer.status, { 'Content-Type': answer.contentType, ...headers })
  res.end(answer.body)
}

async function readBody(req: IncomingMessage): Promise<Uint8Array | null> {
  const chunks: Buffer[] = []
  let length = 0
  for await (const chunk of req) {
    length += (chunk as Buffer).length
    if (length > MAX_ADD_CHECKPOINT_BYTES) {
      req.resume()
      return null
    }
    chunks.push(chunk as Buffer)
  }
  return new Uint8Array(Buffer.concat(chunks))
}
