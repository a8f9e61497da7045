// trash.js: a space's trash (#/trash/<space>): what was deleted, by whom
// and when, with restore (to where it was, or elsewhere when that place is
// taken) and, for managers, purge. Also the versions dialog of a file.

import { api } from '../api.js'
import { h, replace, size, date, base, field } from '../dom.js'
import * as dialog from '../dialog.js'

const spaceAPI = (id, what) => `/spaces/${encodeURIComponent(id)}/${what}`

export async function render(main, ctx, [spaceID = '']) {
  replace(main, h('h1', {}, 'Trash'), h('p', { class: 'loading' }, 'Loading…'))
  const spaces = await api('GET', '/spaces')
  const sp = spaces.find((s) => s.id === spaceID) || { id: spaceID, name: spaceID, role: 'viewer' }
  const statusEl = h('p', { class: 'status', role: 'status' })
  const listEl = h('div', { class: 'listing' })
  const infoEl = h('p', { class: 'muted' })
  const manager = sp.role === 'manager'
  const status = (text, isError = false) => {
    statusEl.textContent = text
    statusEl.className = isError ? 'status error' : 'status'
  }

  const load = async () => {
    const t = await api('GET', spaceAPI(sp.id, 'trash'))
    const r = t.retained
    replace(infoEl, `Deleted items are kept ${r.trash_days} days, then purged; the oldest go sooner when the space needs room for its quota. `,
      `The trash holds ${size(r.trash_bytes)}, earlier versions of files ${size(r.version_bytes)}; both count against the quota.`)
    if (t.items.length === 0) {
      replace(listEl, h('p', { class: 'empty' }, 'The trash is empty.'))
      return t
    }
    replace(listEl, h('table', { class: 'files trash' },
      h('caption', { class: 'visually-hidden' }, `Trash of ${sp.name || sp.id}`),
      h('thead', {}, h('tr', {},
        h('th', { scope: 'col', class: 'name' }, 'Name'),
        h('th', { scope: 'col' }, 'Deleted from'),
        h('th', { scope: 'col', class: 'size' }, 'Size'),
        h('th', { scope: 'col', class: 'date' }, 'Deleted'),
        h('th', { scope: 'col' }, 'By'),
        h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')))),
      h('tbody', {}, t.items.map((it) => h('tr', { 'data-id': it.id, 'data-path': it.path },
        h('td', { class: 'name' }, h('span', { class: 'name-cell' },
          h('span', { class: it.dir ? 'icon icon-dir' : 'icon icon-file', 'aria-hidden': 'true' }), base(it.path))),
        h('td', {}, '/' + it.path.split('/').slice(0, -1).join('/')),
        h('td', { class: 'size' }, it.dir ? `${size(it.size)} in ${it.files} file${it.files === 1 ? '' : 's'}` : size(it.size)),
        h('td', { class: 'date' }, date(it.deleted_at)),
        h('td', {}, it.deleted_by || '—'),
        h('td', { class: 'actions' },
          h('button', { type: 'button', 'aria-label': `Restore ${base(it.path)}`, onclick: () => restore(it) }, 'Restore'),
          manager && h('button', { type: 'button', class: 'danger', 'aria-label': `Purge ${base(it.path)}`, onclick: () => purge([it]) }, 'Purge')))))))
    return t
  }

  const restore = async (it, to = '') => {
    try {
      const out = await api('POST', spaceAPI(sp.id, `trash/${encodeURIComponent(it.id)}/restore`), { to })
      status(`Restored “${out.node.path}”.`)
      ctx.announce(`Restored ${out.node.path}`)
      await load()
    } catch (err) {
      if (err.status !== 409 || to) {
        status(err.message, true)
        return
      }
      // The place is taken: ask for another.
      const dest = h('input', { type: 'text', required: true, value: suggest(it.path), autocomplete: 'off', spellcheck: 'false' })
      const done = await dialog.form(`Restore “${base(it.path)}” elsewhere`, [
        h('p', {}, `Something named “${base(it.path)}” is already where it was deleted from, or its folder is gone.`),
        field('Restore as', dest, 'A path inside the space, such as “photos/old.jpg”.'),
      ], 'Restore', async () => api('POST', spaceAPI(sp.id, `trash/${encodeURIComponent(it.id)}/restore`), { to: dest.value.trim().replace(/^\/+|\/+$/g, '') }))
      if (done) {
        status(`Restored as “${done.node.path}”.`)
        await load()
      }
    }
  }

  const purge = async (items) => {
    const what = items ? `“${base(items[0].path)}”` : 'everything in the trash'
    if (!await dialog.confirm(`Purge ${what}?`, 'Purged items are gone for good. This cannot be undone.', 'Purge', true)) return
    try {
      if (items) await api('DELETE', spaceAPI(sp.id, `trash/${encodeURIComponent(items[0].id)}`))
      else await api('DELETE', spaceAPI(sp.id, 'trash'))
      status(`Purged ${what}.`)
      await load()
    } catch (err) {
      status(err.message, true)
    }
  }

  replace(main,
    h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('ol', {},
      h('li', {}, h('a', { href: '#/spaces' }, 'Spaces')),
      h('li', {}, h('a', { href: `#/s/${encodeURIComponent(sp.id)}/` }, sp.name || sp.id)),
      h('li', {}, h('span', { 'aria-current': 'page' }, 'Trash')))),
    h('div', { class: 'title-row' }, h('h1', {}, `Trash of ${sp.name || sp.id}`),
      manager && h('div', { class: 'toolbar' }, h('button', { type: 'button', class: 'danger', onclick: () => purge(null) }, 'Empty trash'))),
    infoEl, statusEl, listEl)
  await load()
}

// suggest proposes a free name beside the original: "a (restored).txt".
function suggest(p) {
  const dot = p.lastIndexOf('.')
  const slash = p.lastIndexOf('/')
  return dot > slash + 1 ? `${p.slice(0, dot)} (restored)${p.slice(dot)}` : `${p} (restored)`
}

// versionsDialog lists the earlier contents of the file at path in space,
// to download or (for editors) restore; resolves true after a restore.
export function versionsDialog(sp, path, canWrite) {
  return dialog.open(`Versions of “${base(path)}”`, (close) => {
    const body = h('div', { class: 'versions' }, h('p', { class: 'loading' }, 'Loading…'))
    const err = h('p', { class: 'error', role: 'alert' })
    const q = `?path=${encodeURIComponent(path)}`
    api('GET', spaceAPI(sp.id, `versions${q}`)).then((out) => {
      if (out.versions.length === 0) {
        replace(body, h('p', {}, 'This file has no earlier versions. Each time it is replaced, the content it had is kept here.'))
        return
      }
      replace(body, h('ul', { class: 'version-list' }, out.versions.map((v) => h('li', { 'data-id': v.id },
        h('span', {}, `${date(v.replaced_at)} · ${size(v.size)}${v.replaced_by ? ` · replaced by ${v.replaced_by}` : ''}`),
        h('a', { class: 'button', href: `/api/v1${spaceAPI(sp.id, `versions/${encodeURIComponent(v.id)}${q}`)}`, download: base(path) }, 'Download'),
        canWrite && h('button', {
          type: 'button',
          onclick: async () => {
            try {
              await api('POST', spaceAPI(sp.id, `versions/${encodeURIComponent(v.id)}/restore${q}`))
              close(true)
            } catch (ex) {
              err.textContent = ex.message
            }
          },
        }, 'Restore this version')))))
    }).catch((ex) => replace(body, h('p', { class: 'error', role: 'alert' }, ex.message)))
    return [body, err, h('div', { class: 'actions' }, h('button', { type: 'button', onclick: () => close(null) }, 'Close'))]
  })
}
