/**
 * The self-service page's one style sheet, inlined into each page and allowed by its hash in the
 * Content-Security-Policy (no inline script, no external resource, no framework). Colours meet
 * WCAG AA contrast (4.5:1 for text, 3:1 for borders and the focus ring) in light and dark mode.
 * @module
 */
import { sha256 } from '@noble/hashes/sha2.js'
import { toBase64, utf8 } from '../protocol/bytes.ts'

export const CSS = `
:root{--bg:#f4f5f7;--card:#fff;--text:#15171c;--muted:#4a5160;--line:#c9ced8;--accent:#1d4ed8;--accent-hover:#1e40af;--on-accent:#fff;
--danger:#b42318;--danger-bg:#fdeceb;--ok:#166534;--ok-bg:#e8f5ec;--focus:#15171c;--code:#eef0f4;color-scheme:light dark}
@media (prefers-color-scheme:dark){:root{--bg:#101217;--card:#1a1d24;--text:#eceef2;--muted:#b3b9c5;--line:#4a505c;--accent:#8cb4ff;
--accent-hover:#b3ccff;--on-accent:#0b1020;--danger:#ffa198;--danger-bg:#3a1c1a;--ok:#86efac;--ok-bg:#15291d;--focus:#fff;--code:#262a33}}
*,*::before,*::after{box-sizing:border-box}
html{-webkit-text-size-adjust:100%;text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--text);font:1rem/1.55 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif}
a{color:var(--accent);text-underline-offset:.15em}
a:hover{color:var(--accent-hover)}
:focus-visible{outline:3px solid var(--focus);outline-offset:2px}
.wrap{max-width:42rem;margin-left:auto;margin-right:auto;padding-left:1rem;padding-right:1rem}
.skip{position:absolute;left:.5rem;top:-3rem;background:var(--card);color:var(--text);padding:.5rem .75rem;border-radius:.375rem;z-index:1}
.skip:focus{top:.5rem}
.vh{position:absolute!important;width:1px;height:1px;padding:0;margin:-1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap;border:0}
.site{background:var(--card);border-bottom:1px solid var(--line)}
.site .wrap{display:flex;align-items:baseline;gap:.75rem;padding-top:.8rem;padding-bottom:.8rem;flex-wrap:wrap}
.brand{font-weight:800;font-size:1.25rem;letter-spacing:-.01em;color:var(--text);text-decoration:none}
.tagline{color:var(--muted);font-size:.95rem}
main{padding-bottom:2rem}
main:focus{outline:none}
h1{font-size:1.6rem;line-height:1.25;margin:1.5rem 0 .75rem;letter-spacing:-.01em}
h2{font-size:1.2rem;line-height:1.3;margin:0 0 .5rem}
h3{font-size:1.05rem;margin:0;overflow-wrap:anywhere}
p{margin:0 0 1rem}
.lede{font-size:1.05rem}
.muted,.hint{color:var(--muted)}
.hint{margin:.15rem 0 .5rem;font-size:.95rem}
.panel{background:var(--card);border:1px solid var(--line);border-radius:.75rem;padding:1.25rem;margin:0 0 1.25rem}
form.stack{display:grid;gap:.25rem}
label{font-weight:650;font-size:1.05rem}
input[type=tel],input[type=text]{width:100%;font:inherit;font-size:1.2rem;padding:.65rem .8rem;min-height:3rem;color:var(--text);
background:var(--card);border:2px solid var(--muted);border-radius:.5rem}
input[name=code]{letter-spacing:.3em;font-variant-numeric:tabular-nums;max-width:12rem}
input[aria-invalid=true]{border-color:var(--danger);border-width:3px}
.field-error{color:var(--danger);font-weight:650;margin:.15rem 0 .35rem}
.actions{display:flex;flex-wrap:wrap;gap:.75rem;align-items:center;margin-top:.85rem}
button{font:inherit;font-weight:650;min-height:2.75rem;padding:.6rem 1.15rem;border-radius:.5rem;border:2px solid var(--accent);
background:var(--accent);color:var(--on-accent);cursor:pointer}
button:hover{background:var(--accent-hover);border-color:var(--accent-hover)}
button.secondary{background:transparent;color:var(--accent)}
button.danger{background:transparent;color:var(--danger);border-color:var(--danger)}
button.secondary:hover,button.danger:hover{background:var(--bg)}
a.button{display:inline-flex;align-items:center;font-weight:650;min-height:2.75rem;padding:.6rem 1.15rem;border-radius:.5rem;
border:2px solid var(--accent);text-decoration:none}
a.button.secondary:hover{background:var(--bg)}
button.link{background:none;border:0;padding:0;min-height:auto;color:var(--accent);text-decoration:underline;font-weight:400}
.alert,.status{border-left:6px solid;border-radius:.5rem;padding:.85rem 1rem;margin:0 0 1.25rem}
.alert{border-color:var(--danger);background:var(--danger-bg)}
.alert h2{font-size:1.05rem;margin:0 0 .25rem}
.alert p,.status p{margin:0}
.alert p+p{margin-top:.35rem}
.status{border-color:var(--ok);background:var(--ok-bg)}
.number{font-variant-numeric:tabular-nums;white-space:nowrap}
ul.bindings{list-style:none;margin:0 0 1rem;padding:0;display:grid;gap:.75rem}
.binding{background:var(--card);border:1px solid var(--line);border-radius:.75rem;padding:1rem;display:grid;gap:.5rem;
grid-template-columns:1fr auto;align-items:start}
.binding dl{grid-column:1/-1;margin:0;display:grid;grid-template-columns:auto 1fr;gap:.1rem .75rem;font-size:.95rem}
.binding dt{color:var(--muted)}
.binding dd{margin:0}
.binding form{margin:0}
.app-id{margin:.1rem 0 0;color:var(--muted);font-size:.9rem}
.empty{padding:1rem;border:1px dashed var(--line);border-radius:.75rem;color:var(--muted)}
.table-wrap{overflow-x:auto;border:1px solid var(--line);border-radius:.75rem;background:var(--card)}
table{width:100%;border-collapse:collapse;font-size:.95rem}
caption{text-align:left;padding:.75rem .9rem 0;color:var(--muted)}
th,td{text-align:left;padding:.55rem .9rem;border-bottom:1px solid var(--line);vertical-align:top}
tbody tr:last-child td{border-bottom:0}
th{font-weight:650}
td.idx{font-variant-numeric:tabular-nums;white-space:nowrap}
code{background:var(--code);padding:.05rem .3rem;border-radius:.25rem;font-size:.95em}
section{margin:1.75rem 0}
.session{display:flex;flex-wrap:wrap;gap:.75rem;align-items:center;justify-content:space-between;border-top:1px solid var(--line);padding-top:1rem}
.session p{margin:0}
footer{color:var(--muted);font-size:.9rem;padding-top:1.25rem;padding-bottom:2rem;border-top:1px solid var(--line)}
footer p{margin:0}
.nowrap{white-space:nowrap}
@media (max-width:30rem){th,td{padding:.5rem .6rem}caption{padding:.75rem .6rem 0}}
@media (min-width:40rem){h1{font-size:1.9rem}.panel{padding:1.5rem}}
@media (prefers-reduced-motion:reduce){*{transition:none!important}}
`

/** The CSP source that allows exactly this style sheet. */
export const CSS_HASH = `'sha256-${toBase64(sha256(utf8(CSS)))}'`
