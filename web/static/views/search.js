// search.js: #/search/<query>: files and folders whose name holds the
// query (case and accents ignored), across the spaces the user may read,
// with filters for type, size and date.

import { api } from '../api.js'
import { h, replace, size, date, encPath, field } from '../dom.js'

export async function render(main, ctx, [q = '']) {
  const input = h('input', { type: 'search', name: 'q', value: q, autocomplete: 'off', spellcheck: 'false' })
  const type = h('select', { name: 'type' },
    h('option', { value: '' }, 'Anything'), h('option', { value: 'file' }, 'Files'), h('option', { value: 'dir' }, 'Folders'),
    h('option', { value: 'image' }, 'Images'), h('option', { value: 'video' }, 'Videos'), h('option', { value: 'application/pdf' }, 'PDF'))
  const after = h('input', { type: 'date', name: 'after' })
  const results = h('div', { class: 'search-results', 'aria-live': 'polite' })
  const run = async () => {
    const params = new URLSearchParams({ q: input.value.trim() })
    if (type.value) params.set('type', type.value)
    if (after.value) params.set('after', after.value)
    replace(results, h('p', { class: 'loading' }, 'Searching…'))
    try {
      const out = await api('GET', `/search?${params}`)
      const spaces = await api('GET', '/spaces')
      const name = (id) => (spaces.find((s) => s.id === id) || {}).name || id
      if (out.results.length === 0) {
        replace(results, h('p', { class: 'empty' }, 'Nothing found.'))
        return
      }
      replace(results,
        h('table', { class: 'files' },
          h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Name'), h('th', { scope: 'col' }, 'Space'),
            h('th', { scope: 'col' }, 'Size'), h('th', { scope: 'col' }, 'Modified'))),
          h('tbody', {}, out.results.map((r) => h('tr', {},
            h('td', {}, h('a', { href: `#/s/${encodeURIComponent(r.space)}/${encPath(r.dir ? r.path : r.path.split('/').slice(0, -1).join('/'))}` }, r.path + (r.dir ? '/' : ''))),
            h('td', {}, name(r.space)),
            h('td', {}, r.dir ? '' : size(r.size)),
            h('td', {}, date(r.mtime)))))),
        out.truncated && h('p', { class: 'hint' }, 'Only the first results are shown: narrow the search.'))
    } catch (err) {
      replace(results, h('p', { class: 'error', role: 'alert' }, err.message))
    }
  }
  const form = h('form', { class: 'search-form', role: 'search' },
    field('Name contains', input), field('Type', type), field('Modified after', after),
    h('button', { type: 'submit', class: 'primary' }, 'Search'))
  form.addEventListener('submit', (e) => {
    e.preventDefault()
    history.replaceState(null, '', `#/search/${encodeURIComponent(input.value.trim())}`)
    run()
  })
  replace(main, h('h1', {}, 'Search'), form, results)
  if (q) run()
  input.focus()
}
