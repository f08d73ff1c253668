/**
 * The OPRF key shares the Worker tests run with (vitest.config.mts gives them to the directory
 * and the key holder), so each suite can compute the other operator's half in-process. Both
 * are little-endian scalars whose last byte is 0, so below the group order.
 */

/** The directory's share k1: bytes 0x01..0x1f, 0x00. */
export const DIRECTORY_TEST_SHARE = '0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f00'

/** The key holder's share k2: bytes 0x21..0x3f, 0x00. */
export const KEYHOLDER_TEST_SHARE = '2122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f00'
