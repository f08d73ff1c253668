/**
 * Entry bundles on the wire: the bytes a client receives for full bundles from the local
 * directory, asking for gzip and not, beside the bundle's uncompressed size. The numbers are the
 * benchmark dataset's (random numbers over nine countries), seeded through /dev/seed in log order.
 *
 *   npx tsx bench/bundle-wire.ts [--bundles N]
 * @module
 */
import { request } from 'node:http'
import { e164Of } from '../src/protocol/entry.ts'
import { normalizePhone } from '../src/protocol/phone.ts'
import { TILE_WIDTH } from '../src/protocol/tiles.ts'
import { benchDirectory } from './directory.ts'
import { generateDataset } from './dataset.ts'

const bundles = Number(process.argv[process.argv.indexOf('--bundles') + 1] || 8)
// The numbers /dev/seed accepts (libphonenumber-valid), in log order as the sequencer would meet
// them: shuffled, not sorted by number.
const phones = generateDataset(bundles * TILE_WIDTH * 3, 7)
  .records.map((r) => e164Of(r.subject))
  .filter(valid)
  .slice(0, bundles * TILE_WIDTH)
  .sort(() => Math.random() - 0.5)
const d = await benchDirectory()
try {
  await d.seed(phones)
  let raw = 0
  let wire = 0
  let plainWire = 0
  let entries = 0
  // Bundle 0 starts with the app's registration; the full bundles after it hold binding adds only.
  for (let n = 1; n < Math.floor((phones.length + 1) / TILE_WIDTH); n++) {
    const path = `/log/tile/entries/${String(n).padStart(3, '0')}`
    const packed = await get(`${d.dir.url}${path}`, { Authorization: `Bearer ${d.token}`, 'Accept-Encoding': 'gzip' })
    const plain = await get(`${d.dir.url}${path}`, { Authorization: `Bearer ${d.token}` })
    if (packed.encoding !== 'gzip' || plain.encoding !== undefined) throw new Error(`${path}: encodings ${packed.encoding} / ${plain.encoding}`)
    raw += plain.bytes
    plainWire += plain.bytes
    wire += packed.bytes
    entries += TILE_WIDTH
  }
  console.log(JSON.stringify({ bundles: entries / TILE_WIDTH, entries, raw_bytes_per_entry: raw / entries, gzip_wire_bytes_per_entry: wire / entries, identity_wire_bytes_per_entry: plainWire / entries }))
} finally {
  await d.dir.stop()
}

function valid(phone: string): boolean {
  try {
    return normalizePhone(phone).e164 === phone
  } catch {
    return false
  }
}

/** A GET with node:http (which neither asks for nor decodes any encoding): the body's size on the wire and its encoding. */
function get(url: string, headers: Record<string, string>): Promise<{ bytes: number; encoding?: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers }, (res) => {
      let bytes = 0
      res.on('data', (c: Buffer) => (bytes += c.length))
      res.on('end', () => resolve({ bytes, encoding: res.headers['content-encoding'] }))
    })
    req.on('error', reject)
    req.end()
  })
}
