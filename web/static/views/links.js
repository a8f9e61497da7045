// links.js: the "Share" dialog of the folder view. It lists the share
// links of a file or folder (the caller's own, or all of them for a
// manager), makes new ones (read-only, or upload-only for a folder:
// "file drop"), shows a new link's URL once (only a hash of it is kept)
// and revokes links.

import { api } from '../api.js'
import { h, replace, field, copyText } from '../dom.js'
import * as dialog from '../dialog.js'

const describe = (l) => [
  l.kind === 'upload' ? 'Upload-only (file drop)' : 'Read-only',
  l.label && `“${l.label}”`,
  l.password && 'password',
  l.expiresAt ? `expires ${new Date(l.expiresAt).toLocaleString()}` : 'never expires',
  l.kind === 'upload' ? `${l.uploads}${l.maxUploads ? '/' + l.maxUploads : ''} uploads` : `${l.downloads}${l.maxDownloads ? '/' + l.maxDownloads : ''} downloads`,
  `by ${l.creator}`,
].filter(Boolean).join(' · ')

// shareDialog manages the links of node n (a file or folder: {name, path,
// dir}) of space sp.
export function shareDialog(sp, n) {
  return dialog.open(`Share “${n.name || sp.name || sp.id}”`, (close) => {
    const list = h('ul', { class: 'links-list', 'aria-live': 'polite' })
    const made = h('div', { class: 'link-made' })
    const err = h('p', { class: 'error', role: 'alert' })
    const kind = h('select', { name: 'kind' },
      h('option', { value: 'read' }, 'Read-only: people can view and download'),
      n.dir && h('option', { value: 'upload' }, 'Upload-only: people can send files, see nothing'))
    const label = h('input', { type: 'text', name: 'label', autocomplete: 'off', maxlength: 64 })
    const expires = h('select', { name: 'expires' },
      h('option', { value: '' }, 'Never'), h('option', { value: '1d' }, '1 day'),
      h('option', { value: '7d', selected: true }, '7 days'), h('option', { value: '30d' }, '30 days'))
    const password = h('input', { type: 'password', name: 'password', autocomplete: 'new-password', minlength: 6 })
    const load = async () => {
      try {
        const { links } = await api('GET', `/links?space=${encodeURIComponent(sp.id)}`)
        const mine = links.filter((l) => l.path === n.path)
        replace(list, mine.length === 0
          ? h('li', { class: 'muted' }, 'No links yet.')
          : mine.map((l) => h('li', { class: 'link-row' },
            h('span', {}, describe(l)), ' ',
            h('button', {
              type: 'button', class: 'danger', 'aria-label': `Revoke ${describe(l)}`,
              onclick: async () => {
                if (!(await dialog.confirm('Revoke link', 'Its URL stops working at once.', 'Revoke', true))) return
                try {
                  await api('DELETE', `/links/${encodeURIComponent(l.id)}`)
                  load()
                } catch (ex) {
                  err.textContent = ex.message
                }
              },
            }, 'Revoke'))))
      } catch (ex) {
        err.textContent = ex.message
      }
    }
    const form = h('form', { class: 'stack' },
      field('Kind', kind),
      field('Label (optional)', label),
      field('Expires', expires),
      field('Password (optional)', password, 'People opening the link must type it.'),
      h('div', { class: 'actions' },
        h('button', { type: 'button', onclick: () => close(null) }, 'Close'),
        h('button', { type: 'submit', class: 'primary' }, 'Create link')))
    form.addEventListener('submit', async (e) => {
      e.preventDefault()
      err.textContent = ''
      try {
        const l = await api('POST', '/links', {
          space: sp.id, path: n.path, kind: kind.value, label: label.value.trim(),
          expires: expires.value, password: password.value,
        })
        const url = h('input', { type: 'text', readonly: true, value: l.url, class: 'mono', 'aria-label': 'Link URL' })
        replace(made,
          h('p', {}, 'New link (copy it now: it is shown only once):'),
          url,
          h('button', { type: 'button', onclick: async () => { url.select(); await copyText(l.url) } }, 'Copy'))
        password.value = ''
        load()
      } catch (ex) {
        err.textContent = ex.message
      }
    })
    load()
    return [h('h3', {}, 'Links'), list, made, err, h('h3', {}, 'New link'), form]
  })
}
