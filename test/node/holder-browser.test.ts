/**
 * Done means: a person can find and remove their bindings in a browser. This test runs the real
 * Worker on loopback (outbox SMS provider) and drives Debian's Chromium through playwright-core
 * with JavaScript disabled, on a phone-sized viewport: two apps verify the number through the
 * app API, then the person enters the number, reads the code from the outbox, verifies, sees both
 * bindings (by the apps' names) and the log entries, asks to remove one, keeps it, asks again,
 * confirms and sees it gone, and the lookup API agrees at each step.
 * Screenshots of each step land in the OS temp directory (whodis-holder-*.png).
 */
import { existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type Browser, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { client, startDirectory, type RunningDirectory } from './directory.ts'

const CHROMIUM = '/usr/bin/chromium'
const unavailable = existsSync(CHROMIUM) ? null : `${CHROMIUM} is missing (apt-get install chromium)`

it.skipIf(unavailable === null || !process.env.CI)('has Debian chromium, which CI requires', () => {
  expect.fail(`the browser test cannot run in CI: ${unavailable}`)
})

describe.skipIf(unavailable !== null)(`the self-service page in Chromium${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  let dir: RunningDirectory
  let browser: Browser

  beforeAll(async () => {
    ;[dir, browser] = await Promise.all([
      startDirectory(),
      chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] }),
    ])
  })
  afterAll(async () => {
    await browser?.close()
    await dir?.stop()
  })

  const shot = (page: Page, name: string) => page.screenshot({ path: join(tmpdir(), `whodis-holder-${name}.png`), fullPage: true })

  it('finds and removes a binding with JavaScript disabled, on a 390×844 screen', async () => {
    const operator = client(dir.url, dir.adminToken)
    const created = await Promise.all([
      operator('POST', '/v1/admin/apps', { id: 'appa', name: 'App A' }),
      operator('POST', '/v1/admin/apps', { id: 'appb', name: 'App B' }),
    ])
    expect(created.map((r) => r.status)).toEqual([201, 201])
    const appA = client(dir.url, created[0].body.token)
    const appB = client(dir.url, created[1].body.token)
    const phone = '+16505550011'
    const latestMessage = async () => {
      const outbox = await operator('GET', `/dev/outbox?phone=${encodeURIComponent(phone)}`)
      return outbox.body.messages.at(-1).body as string
    }
    const indexes: number[] = []
    for (const app of [appA, appB]) {
      const started = await app('POST', '/v1/verifications', { phone })
      expect(started.status).toBe(201)
      const checked = await app('POST', `/v1/verifications/${started.body.id}/check`, { code: (await latestMessage()).slice(-6) })
      expect(checked.status).toBe(200)
      indexes.push(checked.body.index)
    }

    const context = await browser.newContext({
      javaScriptEnabled: false,
      viewport: { width: 390, height: 844 },
      deviceScaleFactor: 2,
      isMobile: true,
      hasTouch: true,
    })
    try {
      const page = await context.newPage()

      // 1. The number.
      const landing = await page.goto(`${dir.url}/`)
      expect(landing?.status()).toBe(200)
      expect(await page.title()).toBe('See and remove the apps that can find your number – whodis')
      const phoneInput = page.getByLabel('Your phone number')
      expect(await phoneInput.getAttribute('inputmode')).toBe('tel')
      await shot(page, '1-start')
      // Keyboard: focus starts on the number; the order is skip link, home link, number, button.
      const focused = () => page.evaluate<string | undefined>('document.activeElement?.id || document.activeElement?.textContent')
      expect(await focused()).toBe('phone')
      const order: (string | undefined)[] = []
      for (const key of ['Tab', 'Shift+Tab', 'Shift+Tab', 'Shift+Tab']) {
        await page.keyboard.press(key)
        order.push(await focused())
      }
      expect(order).toEqual(['Text me a code', 'phone', 'whodis', 'Skip to main content'])
      await phoneInput.fill('+1 (650) 555-0011')
      await page.getByRole('button', { name: 'Text me a code' }).click()
      await page.waitForURL(`${dir.url}/me/code`)

      // 2. The code, from the outbox; a wrong one first.
      const text = await latestMessage()
      expect(text).toMatch(/^whodis code: \d{6}$/)
      const code = text.slice(-6)
      const codeInput = page.getByLabel('6-digit code')
      expect(await codeInput.getAttribute('autocomplete')).toBe('one-time-code')
      await shot(page, '2-code')
      await codeInput.fill(code === '000000' ? '111111' : '000000')
      await page.getByRole('button', { name: 'Verify' }).click()
      await page.getByRole('alert').waitFor()
      expect(await page.getByRole('alert').textContent()).toContain('You have 4 attempts left.')
      expect(await page.getByLabel('6-digit code').getAttribute('aria-invalid')).toBe('true')
      await shot(page, '3-wrong-code')
      await page.getByLabel('6-digit code').fill(code)
      await page.getByRole('button', { name: 'Verify' }).click()
      await page.waitForURL(`${dir.url}/me`)

      // 3. Both bindings, by the names the SMS used ("App A code: ..."), and both log entries.
      expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Your number +1 650 555 0011')
      expect(await page.getByRole('heading', { level: 3 }).allTextContents()).toEqual(['App A', 'App B'])
      expect(await page.locator('.app-id').allTextContents()).toEqual(['App id: appa', 'App id: appb'])
      const rows = page.getByRole('table').locator('tbody tr')
      expect(await rows.count()).toBe(2)
      expect((await rows.nth(0).locator('td').allTextContents()).slice(0, 3)).toEqual([String(indexes[1]), 'Added', 'App B'])
      expect((await rows.nth(1).locator('td').allTextContents()).slice(0, 3)).toEqual([String(indexes[0]), 'Added', 'App A'])
      await shot(page, '4-bindings')
      const lookedUp = async () => (await appB('GET', `/v1/numbers/${phone}`)).body.apps.map((a: { app: string }) => a.app)

      // 4. Remove asks first; "No, keep App A" changes nothing.
      await page.getByRole('button', { name: 'Remove App A' }).click()
      await page.waitForURL(`${dir.url}/me/remove?app=appa`)
      expect(await page.title()).toBe('Remove App A from +1 650 555 0011? – whodis')
      expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Remove App A?')
      expect(await page.locator('.panel').textContent()).toContain('App A (app id appa) will no longer find +1 650 555 0011 through whodis.')
      await shot(page, '5-confirm')
      expect(await lookedUp()).toEqual(['appa', 'appb'])
      await page.getByRole('link', { name: 'No, keep App A' }).click()
      await page.waitForURL(`${dir.url}/me`)
      expect(await page.getByRole('heading', { level: 3 }).allTextContents()).toEqual(['App A', 'App B'])
      expect(await lookedUp()).toEqual(['appa', 'appb'])

      // 5. Remove again and confirm, by keyboard: gone from the page, logged as removed by the
      // holder, gone from lookups.
      await page.getByRole('button', { name: 'Remove App A' }).click()
      await page.waitForURL(`${dir.url}/me/remove?app=appa`)
      const confirm = page.getByRole('button', { name: 'Yes, remove App A' })
      await confirm.focus()
      await page.keyboard.press('Tab')
      expect(await focused()).toBe('No, keep App A')
      await page.keyboard.press('Shift+Tab')
      await page.keyboard.press('Enter')
      await page.waitForURL(`${dir.url}/me?removed=appa`)
      expect(await page.getByRole('status').textContent()).toContain('Removed App A.')
      expect(await page.getByRole('heading', { level: 3 }).allTextContents()).toEqual(['App B'])
      expect(await rows.count()).toBe(3)
      expect((await rows.nth(0).locator('td').allTextContents()).slice(1, 3)).toEqual(['Removed by you', 'App A'])
      await shot(page, '6-removed')
      expect(await lookedUp()).toEqual(['appb'])

      // 5. Sign out: back to the start, and /me no longer opens.
      await page.getByRole('button', { name: 'Sign out' }).click()
      await page.waitForURL(`${dir.url}/?signedout=1`)
      expect(await page.getByRole('status').textContent()).toContain('You are signed out.')
      const after = await page.goto(`${dir.url}/me`)
      expect(after?.status()).toBe(401)
    } finally {
      await context.close()
    }
  })
})
