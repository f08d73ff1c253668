/** The client a per-client limit counts: IPv4 as is, IPv6 by its /64, anything else as one unknown client. */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { clientAddress, UNKNOWN_CLIENT } from '../../src/client-address.ts'

describe('clientAddress', () => {
  it('keeps an IPv4 address', () => {
    expect(clientAddress('203.0.113.7')).toBe('203.0.113.7')
    expect(clientAddress(' 198.51.100.255 ')).toBe('198.51.100.255')
  })

  it('counts every IPv6 address of a /64 as one client, in one spelling', () => {
    const net = '2001:db8:85a3:8d3::/64'
    for (const address of ['2001:db8:85a3:8d3::1', '2001:0DB8:85A3:08D3:1319:8A2E:0370:7344', '2001:db8:85a3:8d3:ffff:ffff:ffff:ffff', '2001:db8:85a3:8d3::']) {
      expect(clientAddress(address)).toBe(net)
    }
    expect(clientAddress('2001:db8:85a3:8d4::1')).toBe('2001:db8:85a3:8d4::/64')
    expect(clientAddress('::1')).toBe('0:0:0:0::/64')
    expect(clientAddress('2001:db8::')).toBe('2001:db8:0:0::/64')
    expect(clientAddress('64:ff9b::192.0.2.33')).toBe('64:ff9b:0:0::/64')
  })

  it('counts an IPv4-mapped IPv6 address as its IPv4 client', () => {
    expect(clientAddress('::ffff:203.0.113.7')).toBe('203.0.113.7')
    expect(clientAddress('::ffff:cb00:7107')).toBe('203.0.113.7')
  })

  it('counts a missing or malformed address as the one unknown client', () => {
    for (const header of [undefined, null, '', 'unknown', '256.1.1.1', '1.2.3', '01.2.3.4', '1::2::3', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', '12345::', 'g::1', '::1.2.3.4:5', '1.2.3.4::', 'fe80::1%eth0', ':', ':::']) {
      expect(clientAddress(header)).toBe(UNKNOWN_CLIENT)
    }
  })

  it('agrees with the eight groups of any address, however it is abbreviated', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 }), fc.nat(7), fc.nat(8), (groups, from, length) => {
        const hex = groups.map((g) => g.toString(16))
        const end = Math.min(8, from + length)
        // Zero a run and abbreviate it with '::' (a run of at least one group).
        const zeroed = hex.map((g, i) => (i >= from && i < end ? '0' : g))
        const text = end > from ? `${zeroed.slice(0, from).join(':')}::${zeroed.slice(end).join(':')}` : zeroed.join(':')
        if (zeroed.slice(0, 5).every((g) => g === '0') && zeroed[5] === 'ffff') return // IPv4-mapped: its own case
        const expected = zeroed.slice(0, 4).join(':') + '::/64'
        expect(clientAddress(text)).toBe(expected)
      }),
    )
  })
})
