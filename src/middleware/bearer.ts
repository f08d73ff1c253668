/**
 * The bearer token of a request, for every Worker's token checks (the directory's and the key
 * holder's).
 * @module
 */
import { ApiError } from '../errors.ts'

/** The token of `Authorization: Bearer <token>`, or `401 unauthorized`. */
export function bearerToken(header: string | undefined): string {
  const match = header?.match(/^Bearer\s+(\S+)\s*$/i)
  if (!match) throw new ApiError(401, 'unauthorized', 'send Authorization: Bearer <token>')
  return match[1]!
}
