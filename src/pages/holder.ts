/**
 * The self-service page's templates: small functions that return {@link Html}, escaping every
 * value they interpolate. No script: every step is an HTML form that POSTs and redirects.
 * @module
 */
import { parsePhoneNumberFromString } from 'libphonenumber-js/max'
import type { Binding, Change } from '../core/binding-shard.ts'
import { html, trustedCss, type Html, type HtmlValue } from './html.ts'
import { CSS } from './style.ts'

/** An error as the page shows it: the API's code, a sentence for people, and where it belongs. */
export interface PageError {
  code: string
  message: string
  /** A second sentence (what to do next, when to retry). */
  detail?: string
  /** The input the error is about: it gets aria-invalid and the message as its description. */
  field?: 'phone' | 'code'
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']

function dateAndTime(ms: number): [string, string] {
  const d = new Date(ms)
  const hh = String(d.getUTCHours()).padStart(2, '0')
  const mm = String(d.getUTCMinutes()).padStart(2, '0')
  return [`${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()}`, `${hh}:${mm} UTC`]
}

/** `24 Nov 2026, 21:40 UTC` */
export function formatTime(ms: number): string {
  return dateAndTime(ms).join(', ')
}

/** `about 58 minutes`, `40 seconds`, `about 3 hours`. */
export function formatWait(seconds: number): string {
  if (seconds < 60) return `${seconds} second${seconds === 1 ? '' : 's'}`
  const minutes = Math.ceil(seconds / 60)
  if (minutes < 120) return `about ${minutes} minute${minutes === 1 ? '' : 's'}`
  return `about ${Math.ceil(minutes / 60)} hours`
}

/** `+1 650 555 0011` for `+16505550011`. */
export function formatPhone(e164: string): string {
  return parsePhoneNumberFromString(e164)?.formatInternational() ?? e164
}

// Date and time each stay on one line, so a narrow column breaks between them and nowhere else.
function time(ms: number): Html {
  const [date, clock] = dateAndTime(ms)
  return html`<time datetime="${new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z')}"><span class="nowrap">${date},</span> <span class="nowrap">${clock}</span></time>`
}

/** The page around every step: landmarks, skip link, title (prefixed "Error:" when there is one). */
export function layout(opts: { title: string; error?: PageError | null; body: HtmlValue }): Html {
  const title = `${opts.error ? 'Error: ' : ''}${opts.title} – whodis`
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${title}</title>
<style>${trustedCss(CSS)}</style>
</head>
<body>
<a class="skip" href="#main">Skip to main content</a>
<header class="site">
<div class="wrap"><a class="brand" href="/">whodis</a><span class="tagline">Which apps can find your phone number</span></div>
</header>
<main id="main" class="wrap" tabindex="-1">
${opts.body}
</main>
<footer class="wrap">
<p>whodis is a directory that messaging apps share. Every change to it is recorded in a public, append-only log that anyone can audit. This page uses no scripts; its only cookies keep you signed in for 30 minutes.</p>
</footer>
</body>
</html>
`
}

/** The error summary at the top of a form: announced (role=alert) and linked to its field. */
function errorSummary(error: PageError | null | undefined): Html | null {
  if (!error) return null
  const message = error.field ? html`<a href="#${error.field}">${error.message}</a>` : error.message
  return html`<div class="alert" role="alert" id="error-summary" data-error-code="${error.code}">
<h2>There is a problem</h2>
<p>${message}</p>
${error.detail ? html`<p>${error.detail}</p>` : null}
</div>`
}

/** The status region: polite announcements of what just happened. Always present, so it is a live region before it speaks. */
function statusRegion(message: HtmlValue): Html {
  return message
    ? html`<div class="status" role="status" aria-live="polite"><p>${message}</p></div>`
    : html`<div role="status" aria-live="polite"></div>`
}

function fieldAttrs(name: 'phone' | 'code', hint: string, error: PageError | null | undefined): Html {
  const invalid = error?.field === name
  const describedBy = invalid ? `${name}-error ${hint}` : hint
  return html`aria-describedby="${describedBy}"${invalid ? html` aria-invalid="true"` : null}`
}

function fieldError(name: 'phone' | 'code', error: PageError | null | undefined): Html | null {
  return error?.field === name ? html`<p class="field-error" id="${name}-error"><span class="vh">Error: </span>${error.message}</p>` : null
}

/** Step 1: the number. */
export function startPage(opts: { csrf: string; phone?: string; error?: PageError | null; notice?: string | null }): Html {
  const { error } = opts
  return layout({
    title: 'See and remove the apps that can find your number',
    error,
    body: html`<h1>Which apps can find your number?</h1>
<p class="lede">Messaging apps use whodis to learn which app a phone number can be reached on. Prove that you hold your number with a code we text you, then see every app it is registered with, and remove any you do not want.</p>
${statusRegion(opts.notice)}
${errorSummary(error)}
<div class="panel">
<form class="stack" method="post" action="/me/start" novalidate>
<input type="hidden" name="csrf" value="${opts.csrf}">
<label for="phone">Your phone number</label>
<p class="hint" id="phone-hint">Start with + and your country code, for example +1 650 555 0011.</p>
${fieldError('phone', error)}
<input id="phone" name="phone" type="tel" inputmode="tel" autocomplete="tel" spellcheck="false" maxlength="64" required ${fieldAttrs('phone', 'phone-hint', error)} value="${opts.phone ?? ''}" autofocus>
<div class="actions"><button type="submit">Text me a code</button></div>
</form>
</div>
<p class="muted">We send one text message with a 6-digit code, from “whodis”. Message rates may apply.</p>`,
  })
}

/** Step 2: the code. */
export function codePage(opts: { phone: string; csrf: string; resendCsrf: string; error?: PageError | null }): Html {
  const { error } = opts
  return layout({
    title: 'Enter the code we texted you',
    error,
    body: html`<h1>Enter the code</h1>
${statusRegion(error ? null : html`We texted a 6-digit code to <span class="number">${formatPhone(opts.phone)}</span>.`)}
${errorSummary(error)}
<div class="panel">
<form class="stack" method="post" action="/me/code" novalidate>
<input type="hidden" name="csrf" value="${opts.csrf}">
<label for="code">6-digit code</label>
<p class="hint" id="code-hint">Sent to <span class="number">${formatPhone(opts.phone)}</span> as “whodis code: …”. It works for 10 minutes.</p>
${fieldError('code', error)}
<input id="code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" spellcheck="false" maxlength="12" required ${fieldAttrs('code', 'code-hint', error)} autofocus>
<div class="actions"><button type="submit">Verify</button></div>
</form>
</div>
<form method="post" action="/me/start">
<input type="hidden" name="csrf" value="${opts.resendCsrf}">
<input type="hidden" name="phone" value="${opts.phone}">
<p>No code? <button type="submit" class="link">Send a new code</button> or <a href="/">use a different number</a>.</p>
</form>`,
  })
}

const OPS: Record<string, string> = { add: 'Added', renew: 'Renewed', expire: 'Expired (not renewed in time)' }
const REMOVED_BY: Record<string, string> = {
  app: 'Removed by the app',
  holder: 'Removed by you',
  reassigned: 'Removed: number reassigned',
  app_revoked: 'Removed: app revoked',
}

/** What a log entry did, in words. */
export function describeChange(c: Change): string {
  if (c.op === 'remove') return REMOVED_BY[c.reason ?? ''] ?? 'Removed'
  return OPS[c.op] ?? c.op
}

/** Apps as people know them: registered names by app id (an id without one shows as itself). */
export type AppNames = Readonly<Record<string, string>>

const nameOf = (names: AppNames, app: string) => names[app] ?? app

// Remove asks first: the button opens the confirmation page (a GET, so it changes nothing).
function bindingCard(b: Binding, names: AppNames): Html {
  const name = nameOf(names, b.app)
  return html`<li class="binding">
<div><h3>${name}</h3><p class="app-id">App id: <code>${b.app}</code></p></div>
<form method="get" action="/me/remove">
<input type="hidden" name="app" value="${b.app}">
<button type="submit" class="danger">Remove<span class="vh"> ${name}</span></button>
</form>
<dl>
<dt>Verified</dt><dd>${time(b.verifiedAt)}</dd>
<dt>Expires</dt><dd>${time(b.expiresAt)}</dd>
</dl>
</li>`
}

function entryRow(c: Change, names: AppNames): Html {
  return html`<tr>
<td class="idx">${c.index}</td>
<td>${describeChange(c)}</td>
<td>${nameOf(names, c.app)}</td>
<td>${time(c.at)}</td>
</tr>`
}

/** Step 3: the holder's number, its bindings and its log entries. */
export function mePage(opts: {
  phone: string
  bindings: Binding[]
  entries: Change[]
  more: boolean
  names: AppNames
  csrf: string
  sessionEnds: number
  notice?: string | null
  error?: PageError | null
}): Html {
  const { bindings, entries, names, error } = opts
  const count = bindings.length
  return layout({
    title: `Apps that can find ${formatPhone(opts.phone)}`,
    error,
    body: html`<h1>Your number <span class="number">${formatPhone(opts.phone)}</span></h1>
${statusRegion(opts.notice)}
${errorSummary(error)}
<section aria-labelledby="apps-heading">
<h2 id="apps-heading">Apps that can find you (${count})</h2>
<p class="muted">Each app below proved your number with a code. If you never used one of them, someone may have misused your number: remove it. You decide who may find you.</p>
${
  count > 0
    ? html`<ul class="bindings">${bindings.map((b) => bindingCard(b, names))}</ul>`
    : html`<p class="empty">No app can find your number through whodis.</p>`
}
</section>
<section aria-labelledby="log-heading">
<h2 id="log-heading">Public log of your number</h2>
<p class="muted">Every change to your number’s entries is appended to the whodis transparency log. An entry you do not recognise is worth removing (above) and reporting to the app.</p>
${
  entries.length > 0
    ? html`<div class="table-wrap"><table>
<caption>${opts.more ? `The newest ${entries.length} log entries that touch your number` : 'Log entries that touch your number'}, newest first</caption>
<thead><tr><th scope="col">Entry</th><th scope="col">Change</th><th scope="col">App</th><th scope="col">When</th></tr></thead>
<tbody>${entries.map((c) => entryRow(c, names))}</tbody>
</table></div>`
    : html`<p class="empty">The log has no entries for your number.</p>`
}
</section>
<div class="session">
<p class="muted">Signed in until ${time(opts.sessionEnds)}.</p>
<form method="post" action="/me/signout">
<input type="hidden" name="csrf" value="${opts.csrf}">
<button type="submit" class="secondary">Sign out</button>
</form>
</div>`,
  })
}

/** Step 4 (only to remove): what removing one app does, and the one form that does it. */
export function confirmRemovePage(opts: { phone: string; binding: Binding; name: string; csrf: string }): Html {
  const { binding, name } = opts
  return layout({
    title: `Remove ${name} from ${formatPhone(opts.phone)}?`,
    body: html`<h1>Remove ${name}?</h1>
<div class="panel">
<p>${name} (app id <code>${binding.app}</code>) will no longer find <span class="number">${formatPhone(opts.phone)}</span> through whodis. It was verified on ${time(binding.verifiedAt)}.</p>
<p>The removal is recorded in the public log as removed by you. To use ${name} with whodis again, verify your number in ${name}.</p>
<form method="post" action="/me/remove">
<input type="hidden" name="csrf" value="${opts.csrf}">
<input type="hidden" name="app" value="${binding.app}">
<div class="actions"><button type="submit" class="danger">Yes, remove ${name}</button><a class="button secondary" href="/me">No, keep ${name}</a></div>
</form>
</div>`,
  })
}

/** Any other failure (a body that is too large, a misconfigured directory, an unknown page). */
export function errorPage(opts: { title: string; error: PageError }): Html {
  return layout({
    title: opts.title,
    error: opts.error,
    body: html`<h1>${opts.title}</h1>
${errorSummary(opts.error)}
<p><a href="/">Start again</a></p>`,
  })
}
