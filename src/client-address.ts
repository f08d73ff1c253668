/**
 * The client a request comes from, as per-client limits count it. Cloudflare sets
 * `CF-Connecting-IP` on every request it forwards (and overwrites one a client sends), so the
 * header is the address the request came from. An IPv6 client counts by its /64: one
 * subscriber is usually given a whole /64 (often more), and keying single addresses would let
 * it take a fresh budget per address.
 * @module
 */

/**
 * What a request without a usable address counts as: one client for all of them. Only requests
 * that did not pass through Cloudflare (local runs, tests) lack the header, and they share one
 * budget rather than each getting a fresh one.
 */
export const UNKNOWN_CLIENT = 'unknown'

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/
const HEXTET = /^[0-9a-f]{1,4}$/

/** The client of a request from its `CF-Connecting-IP` header: an IPv4 address, an IPv6 /64, or {@link UNKNOWN_CLIENT}. */
export function clientAddress(header: string | null | undefined): string {
  const raw = (header ?? '').trim().toLowerCase()
  if (IPV4.test(raw)) return raw
  const groups = ipv6Groups(raw)
  if (!groups) return UNKNOWN_CLIENT
  // An IPv4-mapped address (::ffff:a.b.c.d) is that IPv4 client.
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return [groups[6]! >> 8, groups[6]! & 0xff, groups[7]! >> 8, groups[7]! & 0xff].join('.')
  }
  return `${groups.slice(0, 4).map((g) => g.toString(16)).join(':')}::/64`
}

/** The eight 16-bit groups of an IPv6 address in text form (RFC 4291 §2.2), or null. */
function ipv6Groups(text: string): number[] | null {
  if (!text.includes(':') || text.length > 45) return null
  const halves = text.split('::')
  if (halves.length > 2) return null
  const parse = (half: string): number[] | null => {
    if (half === '') return []
    const out: number[] = []
    const parts = half.split(':')
    for (const [i, part] of parts.entries()) {
      if (i === parts.length - 1 && IPV4.test(part)) {
        const [a, b, c, d] = part.split('.').map(Number) as [number, number, number, number]
        out.push((a << 8) | b, (c << 8) | d)
      } else if (HEXTET.test(part)) out.push(parseInt(part, 16))
      else return null
    }
    return out
  }
  const head = parse(halves[0]!)
  const tail = halves.length === 2 ? parse(halves[1]!) : []
  if (!head || !tail) return null
  // An embedded IPv4 part may only end the address.
  if (halves.length === 2 && halves[0]!.split(':').at(-1)!.includes('.')) return null
  if (halves.length === 1) return head.length === 8 ? head : null
  const missing = 8 - head.length - tail.length
  return missing >= 1 ? [...head, ...new Array<number>(missing).fill(0), ...tail] : null
}
