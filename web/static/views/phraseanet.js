// phraseanet.js: the commits of each Phraseanet target the user may see,
// with their state and last error and a way to retry a failing push; and
// the "send to Phraseanet" dialog the folder view opens.

import { api } from '../api.js'
import { h, replace, size, date, field } from '../dom.js'
import * as dialog from '../dialog.js'

const stateText = {
  pending: 'pending',
  pushed: 'pushed',
  failing: 'failing',
  acknowledged: 'acknowledged',
}

export async function render(main, ctx) {
  replace(main, h('h1', {}, 'Phraseanet'), h('p', { class: 'loading' }, 'Loading…'))
  const targets = await api('GET', '/targets')
  const sections = await Promise.all(targets.map(async (t) => {
    let commits = []
    let err = ''
    try {
      commits = await api('GET', `/targets/${encodeURIComponent(t.id)}/commits`)
    } catch (e) {
      err = e.message
    }
    return target(t, commits, err, () => render(main, ctx))
  }))
  replace(main, h('h1', {}, 'Phraseanet'),
    targets.length === 0 ? h('p', {}, 'No Phraseanet target is set up for your spaces.') : sections)
  // Pushes and acknowledgements arrive in the background: follow them.
  let timer = 0
  const off = ctx.events.subscribe({ type: 'commit.*' }, () => {
    clearTimeout(timer)
    timer = setTimeout(() => render(main, ctx), 500)
  })
  return () => {
    clearTimeout(timer)
    off()
  }
}

function target(t, commits, err, refresh) {
  const status = h('p', { class: 'status', role: 'status' })
  return h('section', { class: 'card target' },
    h('h2', {}, t.name || t.id),
    h('p', { class: 'muted' }, `Space ${t.space}${t.folder ? `, folder ${t.folder}` : ''} · ${t.mode} mode${t.enabled === false ? ' · disabled' : ''}`),
    err && h('p', { class: 'error', role: 'alert' }, err),
    status,
    commits.length === 0 && !err
      ? h('p', {}, 'No commits yet.')
      : h('div', { class: 'scroll' }, h('table', { class: 'grid' },
        h('thead', {}, h('tr', {},
          ['Created', 'Files', 'Size', 'State', 'Last error', ''].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, commits.map((c) => h('tr', {},
          h('td', {}, date(c.createdAt)),
          h('td', {}, String((c.assets || []).length)),
          h('td', {}, size(c.totalSize || 0)),
          h('td', {}, h('span', { class: `badge state-${c.state}` }, stateText[c.state] || c.state),
            c.nextAttemptAt && h('span', { class: 'sub muted' }, `next try ${date(c.nextAttemptAt)}`)),
          h('td', { class: 'wrap' }, c.lastError || ''),
          h('td', {}, (c.state === 'failing' || c.state === 'pending') && t.mode !== 'pull'
            ? h('button', {
              type: 'button',
              onclick: async (e) => {
                e.target.disabled = true
                try {
                  await api('POST', `/targets/${encodeURIComponent(t.id)}/commits/${encodeURIComponent(c.id)}/retry`)
                  status.textContent = 'Retry started.'
                  setTimeout(refresh, 1000)
                } catch (ex) {
                  status.textContent = ex.message
                  e.target.disabled = false
                }
              },
            }, 'Retry now')
            : '')))))))
}

// schemaFields reads a target's form schema, in either of its shapes.
export function schemaFields(schema) {
  if (!schema) return []
  const list = Array.isArray(schema) ? schema : schema.fields || []
  return list.filter((f) => f && f.name).map((f) => ({
    name: f.name,
    type: f.type || 'string',
    required: !!f.required,
    allowed: (f.allowed || f.allowedValues || f.values || f.enum || []).map(String),
  }))
}

// control builds the input for one schema field; read() gives its value
// for formData (undefined when left empty).
function control(f) {
  let el
  if (f.allowed.length) {
    el = h('select', { required: f.required }, !f.required && h('option', { value: '' }, '—'), f.allowed.map((v) => h('option', { value: v }, v)))
  } else if (f.type === 'boolean') {
    el = h('input', { type: 'checkbox' })
  } else if (f.type === 'number') {
    el = h('input', { type: 'number', step: 'any', required: f.required })
  } else {
    el = h('input', { type: 'text', required: f.required })
  }
  const read = () => {
    if (f.type === 'boolean') return f.allowed.length ? el.value === 'true' : el.checked
    if (el.value === '') return undefined
    return f.type === 'number' ? Number(el.value) : el.value
  }
  return { el, read }
}

// sendDialog asks which target and the target's form, then makes a
// commit of paths; it resolves with the commit or null.
export function sendDialog(ctx, targets, paths) {
  const pick = h('select', {}, targets.map((t) => h('option', { value: t.id }, t.name || t.id)))
  const fieldsBox = h('div', { class: 'stack' })
  let controls = []
  const drawFields = () => {
    const t = targets.find((x) => x.id === pick.value) || targets[0]
    controls = schemaFields(t.formSchema).map((f) => ({ f, ...control(f) }))
    replace(fieldsBox, controls.map(({ f, el }) => field(f.required ? `${f.name} (required)` : f.name, el)))
  }
  pick.addEventListener('change', drawFields)
  drawFields()
  return dialog.form(`Send ${paths.length} file${paths.length > 1 ? 's' : ''} to Phraseanet`, [
    targets.length > 1 ? field('Target', pick) : h('p', {}, `Target: ${targets[0].name || targets[0].id}`),
    fieldsBox,
  ], 'Send', async () => {
    const formData = {}
    for (const { f, read } of controls) {
      const v = read()
      if (v === undefined) {
        if (f.required) throw new Error(`Fill in “${f.name}”.`)
        continue
      }
      formData[f.name] = v
    }
    return api('POST', `/targets/${encodeURIComponent(pick.value || targets[0].id)}/commits`, { paths, formData })
  })
}
