/**
 * A tiny HTML template tag that escapes every interpolated value. Only {@link Html} values (the
 * result of another `html` template) pass through unescaped, so markup can only come from
 * template literals in this code base, never from input.
 * @module
 */

/** Markup that is already safe: produced by {@link html} (or {@link trustedCss}). */
export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value
  }
}

/** What a template may interpolate: markup, text (escaped), or lists of either. Null, undefined and false render nothing. */
export type HtmlValue = Html | string | number | null | undefined | false | readonly HtmlValue[]

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

/** Escapes text for element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => ESCAPES[ch]!)
}

function render(value: HtmlValue): string {
  if (value instanceof Html) return value.value
  if (value === null || value === undefined || value === false) return ''
  if (Array.isArray(value)) return value.map(render).join('')
  return escapeHtml(String(value))
}

/** The template tag: `html\`<p>${text}</p>\`` escapes `text`. */
export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): Html {
  let out = strings[0]!
  for (let i = 0; i < values.length; i++) out += render(values[i]!) + strings[i + 1]!
  return new Html(out)
}

/** Marks a constant style sheet from this code base as safe (never pass input here). */
export function trustedCss(css: string): Html {
  if (/<\/style/i.test(css)) throw new Error('a style sheet must not close its <style> element')
  return new Html(css)
}
