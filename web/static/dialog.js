// dialog.js: modal dialogs on the native <dialog> element, which makes the
// rest of the page inert (focus stays inside) and closes on Escape. Focus
// goes back to what had it before.

import { h, field } from './dom.js'

// open shows a modal with title and body; actions are built by the caller
// from the close(value) it is given. It resolves with the value passed to
// close, or null when dismissed (Escape, Cancel).
export function open(title, build) {
  return new Promise((resolve) => {
    const before = document.activeElement
    const heading = h('h2', { class: 'dialog-title' }, title)
    const dlg = h('dialog', { class: 'dialog' })
    heading.id = `dlg-${Math.random().toString(36).slice(2)}`
    dlg.setAttribute('aria-labelledby', heading.id)
    let result = null
    const close = (value = null) => {
      result = value
      dlg.close()
    }
    dlg.append(heading, ...[].concat(build(close)))
    dlg.addEventListener('close', () => {
      dlg.remove()
      if (before && before.isConnected) before.focus()
      resolve(result)
    })
    document.body.append(dlg)
    dlg.showModal()
    const first = dlg.querySelector('[autofocus], input, select, textarea, button.primary, button')
    first?.focus()
  })
}

// confirm asks a yes/no question; resolves true for yes.
export async function confirm(title, text, yes = 'OK', danger = false) {
  const v = await open(title, (close) => [
    h('p', {}, text),
    h('div', { class: 'actions' },
      h('button', { type: 'button', onclick: () => close(false) }, 'Cancel'),
      h('button', { type: 'button', class: danger ? 'danger' : 'primary', autofocus: true, onclick: () => close(true) }, yes)),
  ])
  return v === true
}

// form shows fields and resolves with the value submit(form) returns, or
// null. submit may throw an Error whose message is shown in the dialog.
export function form(title, fields, submitLabel, submit) {
  return open(title, (close) => {
    const err = h('p', { class: 'error', role: 'alert' })
    const btn = h('button', { type: 'submit', class: 'primary' }, submitLabel)
    const f = h('form', { class: 'stack', novalidate: false }, fields,
      err,
      h('div', { class: 'actions' },
        h('button', { type: 'button', onclick: () => close(null) }, 'Cancel'),
        btn))
    f.addEventListener('submit', async (e) => {
      e.preventDefault()
      err.textContent = ''
      btn.disabled = true
      try {
        close(await submit(f))
      } catch (ex) {
        err.textContent = ex.message
      } finally {
        btn.disabled = false
      }
    })
    return f
  })
}

// prompt asks for one line of text.
export async function prompt(title, label, value, submitLabel, submit) {
  const input = h('input', { type: 'text', required: true, value, autocomplete: 'off', spellcheck: 'false' })
  // Select the name without its extension, as file managers do.
  queueMicrotask(() => {
    const dot = value.lastIndexOf('.')
    input.setSelectionRange(0, dot > 0 ? dot : value.length)
  })
  return form(title, [field(label, input)], submitLabel, () => submit(input.value.trim()))
}
