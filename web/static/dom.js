// dom.js: building elements without innerHTML, and formatting sizes and
// dates the same way everywhere.

// h builds an element. attrs: "class", "on<event>" handlers, booleans for
// flag attributes, "value"/"checked" as properties, anything else as an
// attribute; children are nodes, strings, or nested arrays (null skipped).
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v)
    else if (k === 'value' || k === 'checked' || k === 'indeterminate') el[k] = v
    else if (v === true) el.setAttribute(k, '')
    else el.setAttribute(k, String(v))
  }
  append(el, children)
  return el
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue
    if (Array.isArray(c)) append(el, c)
    else el.append(c instanceof Node ? c : String(c))
  }
}

// replace empties el and fills it with children.
export function replace(el, ...children) {
  el.replaceChildren()
  append(el, children)
  return el
}

const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']

// size formats a byte count for people: 0 B, 812 B, 1.4 MiB, 23 GiB.
export function size(n) {
  if (!Number.isFinite(n)) return ''
  let i = 0
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++ }
  return `${n.toFixed(i === 0 || n >= 100 ? 0 : 1)} ${units[i]}`
}

const dateFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' })

// date formats an RFC 3339 time; "" for none.
export function date(s) {
  if (!s) return ''
  const d = new Date(s)
  return Number.isNaN(d.getTime()) ? '' : dateFmt.format(d)
}

// encPath percent-encodes each segment of a slash-separated path.
export function encPath(p) {
  return p.split('/').filter(Boolean).map(encodeURIComponent).join('/')
}

// parent is the folder holding p ("" for the root); base its last segment.
export function parent(p) {
  const i = p.lastIndexOf('/')
  return i < 0 ? '' : p.slice(0, i)
}
export function base(p) {
  return p.slice(p.lastIndexOf('/') + 1)
}
export function join(dir, name) {
  return dir ? `${dir}/${name}` : name
}

let ids = 0
// uid gives ids for label/for and aria pairs.
export function uid(prefix = 'id') {
  return `${prefix}-${++ids}`
}

// field is a labelled form control in a wrapper.
export function field(label, control, hint) {
  if (!control.id) control.id = uid('f')
  const parts = [h('label', { for: control.id }, label), control]
  if (hint) {
    const hid = uid('hint')
    control.setAttribute('aria-describedby', hid)
    parts.push(h('p', { class: 'hint', id: hid }, hint))
  }
  return h('div', { class: control.type === 'checkbox' ? 'field check' : 'field' }, parts)
}

// copyText puts text on the clipboard; false when the browser refuses
// (plain http on a LAN address is not a secure context).
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text)
    return true
  } catch {
    return false
  }
}
