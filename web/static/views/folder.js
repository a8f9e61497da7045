// folder.js: one folder of a space. It lists the children (sortable by
// name, size, date or type, with thumbnails), acts on a selection
// (download, rename, move, delete, send to Phraseanet), creates folders,
// takes uploads from the file pickers or dropped files and folders, and
// follows other people's changes on the events socket.

import { api } from '../api.js'
import { h, replace, size, date, encPath, parent, base, join, field } from '../dom.js'
import * as dialog from '../dialog.js'
import { sendDialog } from './phraseanet.js'
import { shareDialog } from './links.js'
import { versionsDialog } from './trash.js'

const SORT = 'wharf.sort'
const writers = new Set(['editor', 'manager'])

export async function render(main, ctx, [spaceID = '', ...segments]) {
  const folder = segments.join('/')
  replace(main, h('h1', {}, base(folder) || 'Folder'), h('p', { class: 'loading' }, 'Loading…'))
  const [spaces, listing] = await Promise.all([
    api('GET', '/spaces'),
    api('GET', `/spaces/${encodeURIComponent(spaceID)}/nodes/${encPath(folder)}`),
  ])
  const sp = spaces.find((s) => s.id === spaceID) || { id: spaceID, name: spaceID, role: 'viewer' }
  if (!listing.node.dir) return renderFile(main, sp, listing.node)
  const view = new FolderView(main, ctx, sp, spaces, folder, listing.children || [])
  return () => view.close()
}

// hrefs of the API and of the app for a space's paths.
const nodeHref = (space, p) => `#/s/${encodeURIComponent(space)}/${encPath(p)}`
const downloadHref = (space, p) => `/api/v1/spaces/${encodeURIComponent(space)}/download/${encPath(p)}`

function breadcrumbs(sp, path) {
  const segs = path.split('/').filter(Boolean)
  const items = [h('li', {}, segs.length ? h('a', { href: nodeHref(sp.id, '') }, sp.name || sp.id) : h('span', { 'aria-current': 'page' }, sp.name || sp.id))]
  segs.forEach((s, i) => {
    const p = segs.slice(0, i + 1).join('/')
    items.push(h('li', {}, i === segs.length - 1 ? h('span', { 'aria-current': 'page' }, s) : h('a', { href: nodeHref(sp.id, p) }, s)))
  })
  return h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' },
    h('ol', {}, h('li', {}, h('a', { href: '#/spaces' }, 'Spaces')), items))
}

function renderFile(main, sp, n) {
  replace(main,
    breadcrumbs(sp, n.path),
    h('h1', {}, n.name),
    n.thumb && h('img', { class: 'preview', src: n.thumb, alt: '' }),
    h('dl', { class: 'facts' },
      h('dt', {}, 'Size'), h('dd', {}, size(n.size)),
      h('dt', {}, 'Modified'), h('dd', {}, date(n.mtime)),
      h('dt', {}, 'Type'), h('dd', {}, n.mime || 'unknown'),
      n.sha256 && [h('dt', {}, 'SHA-256'), h('dd', { class: 'mono' }, n.sha256)]),
    h('p', {}, h('a', { class: 'button primary', href: downloadHref(sp.id, n.path), download: n.name }, 'Download')))
}

// typeLabel says what a node is in a word or two.
export function typeLabel(n) {
  if (n.dir) return 'Folder'
  const [kind, sub = ''] = (n.mime || '').split(';')[0].split('/')
  const ext = n.name.includes('.') ? n.name.split('.').pop().toUpperCase() : ''
  if (!kind || sub === 'octet-stream') return ext ? `${ext} file` : 'File'
  if (kind === 'text' && sub === 'plain') return 'Plain text'
  const what = { image: 'image', video: 'video', audio: 'audio', text: 'text' }[kind] || 'document'
  return `${sub.replace(/^(x-|vnd\.)/, '').split(/[.+-]/)[0].toUpperCase()} ${what}`
}

const compare = {
  name: (a, b) => a.name.localeCompare(b.name, undefined, { numeric: true, sensitivity: 'base' }),
  size: (a, b) => a.size - b.size,
  date: (a, b) => String(a.mtime).localeCompare(String(b.mtime)),
  type: (a, b) => typeLabel(a).localeCompare(typeLabel(b)),
}

// sortNodes orders folders first, then by key; ties by name.
export function sortNodes(nodes, key, dir) {
  const by = compare[key] || compare.name
  const sign = dir === 'desc' ? -1 : 1
  return [...nodes].sort((a, b) => (b.dir - a.dir) || sign * (by(a, b) || compare.name(a, b)))
}

class FolderView {
  constructor(main, ctx, sp, spaces, folder, children) {
    this.main = main
    this.ctx = ctx
    this.sp = sp
    this.spaces = spaces
    this.folder = folder
    this.children = children
    this.selected = new Set()
    this.canWrite = writers.has(sp.role)
    this.targets = ctx.targets.filter((t) => t.space === sp.id)
    try {
      this.sort = JSON.parse(localStorage.getItem(SORT)) || { key: 'name', dir: 'asc' }
    } catch {
      this.sort = { key: 'name', dir: 'asc' }
    }
    this.draw()
    this.subscribe()
  }

  close() {
    this.closed = true
    clearTimeout(this.reloadTimer)
    this.unsubscribe?.()
  }

  // subscribe follows node events in this folder; a node moved out of it
  // comes too, with scope "out" (its old place in data.from, or in path
  // when we may not see where it went).
  subscribe() {
    const filter = { space: this.sp.id, type: 'node.*' }
    if (this.folder) filter.prefix = { field: 'path', value: `${this.folder}/` }
    this.unsubscribe = this.ctx.events.subscribe(filter, (e) => {
      const from = e.data && typeof e.data.from === 'string' ? e.data.from : null
      if (parent(e.path || '') === this.folder || (from !== null && parent(from) === this.folder)) this.reloadSoon()
    }, () => this.reloadSoon())
  }

  reloadSoon() {
    clearTimeout(this.reloadTimer)
    this.reloadTimer = setTimeout(() => this.reload(), 150)
  }

  async reload() {
    if (this.closed) return
    try {
      const l = await api('GET', `/spaces/${encodeURIComponent(this.sp.id)}/nodes/${encPath(this.folder)}`)
      if (this.closed) return
      this.children = l.children || []
      const names = new Set(this.children.map((n) => n.name))
      for (const s of [...this.selected]) if (!names.has(s)) this.selected.delete(s)
      this.drawList()
    } catch (err) {
      if (err.status === 404) this.ctx.go(nodeHref(this.sp.id, parent(this.folder)))
      else this.status(err.message, true)
    }
  }

  status(text, isError = false) {
    this.statusEl.textContent = text
    this.statusEl.className = isError ? 'status error' : 'status'
  }

  draw() {
    const title = base(this.folder) || this.sp.name || this.sp.id
    this.fileInput = h('input', { type: 'file', multiple: true, class: 'visually-hidden', tabindex: '-1', 'aria-hidden': 'true', 'data-picker': 'files', onchange: (e) => this.picked(e.target) })
    this.dirInput = h('input', { type: 'file', multiple: true, webkitdirectory: true, class: 'visually-hidden', tabindex: '-1', 'aria-hidden': 'true', 'data-picker': 'folder', onchange: (e) => this.picked(e.target) })
    this.statusEl = h('p', { class: 'status', role: 'status' })
    this.actions = h('div', { class: 'toolbar', role: 'toolbar', 'aria-label': 'Selection' })
    this.list = h('div', { class: 'listing' })
    const tools = this.canWrite
      ? h('div', { class: 'toolbar', 'aria-label': 'Add' },
        h('button', { type: 'button', class: 'primary', onclick: () => this.fileInput.click() }, 'Upload files'),
        h('button', { type: 'button', onclick: () => this.dirInput.click() }, 'Upload folder'),
        h('button', { type: 'button', onclick: () => this.newFolder() }, 'New folder'),
        h('a', { class: 'button', href: `#/trash/${encodeURIComponent(this.sp.id)}` }, 'Trash'),
        this.fileInput, this.dirInput)
      : h('p', { class: 'muted' }, 'You may look at and download files here; changing them needs the editor role.')
    const zone = h('section', { class: 'dropzone', 'aria-label': 'Files' }, this.list)
    if (this.canWrite) this.dropTarget(zone)
    replace(this.main,
      breadcrumbs(this.sp, this.folder),
      h('div', { class: 'title-row' }, h('h1', {}, title), tools),
      this.actions,
      this.statusEl,
      zone,
      this.canWrite && h('p', { class: 'hint' }, 'Tip: drop files or whole folders anywhere on the list to upload them here.'))
    this.drawList()
  }

  drawActions() {
    const sel = this.selectedNodes()
    const n = sel.length
    const anyDir = sel.some((x) => x.dir)
    const btn = (label, on, enabled, cls) => h('button', { type: 'button', class: cls, disabled: !enabled, onclick: on }, label)
    replace(this.actions,
      h('span', { class: 'count' }, n ? `${n} selected` : 'Nothing selected'),
      btn('Download', () => this.download(sel), n > 0 && !anyDir),
      this.canWrite && [
        btn('Rename', () => this.rename(sel[0]), n === 1),
        btn('Move', () => this.move(sel), n > 0),
        btn('Delete', () => this.remove(sel), n > 0, 'danger'),
      ],
      btn('Versions', () => versionsDialog(this.sp, join(this.folder, sel[0].name), this.canWrite).then((r) => r && (this.status(`Restored an earlier version of “${sel[0].name}”.`), this.reload())), n === 1 && !anyDir),
      this.targets.length > 0 && btn('Send to Phraseanet', () => this.send(sel), n > 0 && !anyDir),
      this.canWrite && btn(n === 1 ? 'Share…' : 'Share folder…', () => shareDialog(this.sp, n === 1 ? sel[0] : { name: base(this.folder), path: this.folder, dir: true }), n <= 1))
  }

  selectedNodes() {
    return this.children.filter((c) => this.selected.has(c.name))
  }

  drawList() {
    const nodes = sortNodes(this.children, this.sort.key, this.sort.dir)
    this.drawActions()
    if (nodes.length === 0) {
      replace(this.list, h('p', { class: 'empty' }, this.canWrite ? 'This folder is empty. Drop files here or use “Upload files”.' : 'This folder is empty.'))
      return
    }
    const all = h('input', {
      type: 'checkbox', 'aria-label': 'Select all',
      checked: this.selected.size === nodes.length,
      indeterminate: this.selected.size > 0 && this.selected.size < nodes.length,
      onchange: (e) => {
        this.selected = e.target.checked ? new Set(nodes.map((x) => x.name)) : new Set()
        this.drawList()
      },
    })
    const col = (key, label, cls) => {
      const cur = this.sort.key === key
      const th = h('th', { scope: 'col', class: cls },
        h('button', { type: 'button', class: 'sort', onclick: () => this.setSort(key) }, label,
          h('span', { class: 'arrow', 'aria-hidden': 'true' }, cur ? (this.sort.dir === 'asc' ? ' ▲' : ' ▼') : '')))
      if (cur) th.setAttribute('aria-sort', this.sort.dir === 'asc' ? 'ascending' : 'descending')
      return th
    }
    replace(this.list, h('table', { class: 'files' },
      h('caption', { class: 'visually-hidden' }, `Contents of ${base(this.folder) || this.sp.name || this.sp.id}`),
      h('thead', {}, h('tr', {},
        h('th', { scope: 'col', class: 'sel' }, all),
        col('name', 'Name', 'name'),
        col('size', 'Size', 'size'),
        col('date', 'Modified', 'date'),
        col('type', 'Type', 'type'))),
      h('tbody', {}, nodes.map((n) => this.row(n)))))
  }

  row(n) {
    const p = join(this.folder, n.name)
    const check = h('input', {
      type: 'checkbox', 'aria-label': `Select ${n.name}`, checked: this.selected.has(n.name),
      onchange: (e) => {
        if (e.target.checked) this.selected.add(n.name)
        else this.selected.delete(n.name)
        tr.classList.toggle('selected', e.target.checked)
        this.drawActions()
        const all = this.list.querySelector('thead input')
        all.checked = this.selected.size === this.children.length
        all.indeterminate = this.selected.size > 0 && !all.checked
      },
    })
    const icon = n.thumb
      ? h('img', { class: 'thumb', src: n.thumb, alt: '', loading: 'lazy', width: '32', height: '32' })
      : h('span', { class: n.dir ? 'icon icon-dir' : 'icon icon-file', 'aria-hidden': 'true' })
    const link = n.dir
      ? h('a', { href: nodeHref(this.sp.id, p) }, n.name)
      : h('a', { href: downloadHref(this.sp.id, p), download: n.name, title: `Download ${n.name}` }, n.name)
    const tr = h('tr', { class: this.selected.has(n.name) ? 'selected' : null, 'data-name': n.name },
      h('td', { class: 'sel' }, check),
      h('td', { class: 'name' }, h('span', { class: 'name-cell' }, icon, link,
        h('span', { class: 'sub muted' }, n.dir ? 'Folder' : `${size(n.size)} · ${date(n.mtime)}`))),
      h('td', { class: 'size' }, n.dir ? '' : size(n.size)),
      h('td', { class: 'date' }, date(n.mtime)),
      h('td', { class: 'type' }, typeLabel(n)))
    return tr
  }

  setSort(key) {
    this.sort = this.sort.key === key ? { key, dir: this.sort.dir === 'asc' ? 'desc' : 'asc' } : { key, dir: key === 'name' || key === 'type' ? 'asc' : 'desc' }
    localStorage.setItem(SORT, JSON.stringify(this.sort))
    this.drawList()
    this.list.querySelector('th[aria-sort] button')?.focus()
  }

  api(method, what, body) {
    return api(method, `/spaces/${encodeURIComponent(this.sp.id)}/${what}`, body)
  }

  async newFolder() {
    const made = await dialog.prompt('New folder', 'Name', '', 'Create', async (name) => {
      checkName(name)
      return this.api('POST', 'mkdir', { path: join(this.folder, name), parents: false })
    })
    if (made) {
      this.status(`Folder “${made.node.name}” created.`)
      this.reload()
    }
  }

  download(sel) {
    for (const n of sel) {
      const a = h('a', { href: downloadHref(this.sp.id, join(this.folder, n.name)), download: n.name, class: 'visually-hidden' })
      document.body.append(a)
      a.click()
      a.remove()
    }
  }

  async rename(n) {
    const done = await dialog.prompt(`Rename “${n.name}”`, 'New name', n.name, 'Rename', async (name) => {
      checkName(name)
      if (name === n.name) return null
      return this.api('POST', 'move', { from: join(this.folder, n.name), to: join(this.folder, name), overwrite: false })
    })
    if (done) {
      this.selected = new Set([done.node.name])
      this.status(`Renamed “${n.name}” to “${done.node.name}”.`)
      this.reload()
    }
  }

  async move(sel) {
    const dest = h('input', { type: 'text', value: this.folder, autocomplete: 'off', spellcheck: 'false', placeholder: '(top of the space)' })
    const targets = this.spaces.filter((s) => writers.has(s.role))
    const spaceSel = h('select', {}, targets.map((s) => {
      const o = h('option', { value: s.id }, s.name || s.id)
      o.selected = s.id === this.sp.id
      return o
    }))
    const moved = await dialog.form(`Move ${sel.length === 1 ? `“${sel[0].name}”` : `${sel.length} items`}`, [
      targets.length > 1 && field('To space', spaceSel),
      field('To folder', dest, 'A path inside the space, such as “photos/2024”. Leave it empty for the top.'),
    ], 'Move', async () => {
      const to = dest.value.trim().replace(/^\/+|\/+$/g, '')
      const toSpace = spaceSel.value || this.sp.id
      if (toSpace === this.sp.id && to === this.folder) throw new Error('Choose another folder: the items are already here.')
      const out = []
      for (const n of sel) {
        await this.api('POST', 'move', { from: join(this.folder, n.name), to: join(to, n.name), toSpace: toSpace === this.sp.id ? '' : toSpace, overwrite: false })
        out.push(n.name)
      }
      return out
    })
    if (moved) {
      this.selected.clear()
      this.status(`Moved ${moved.length} item${moved.length > 1 ? 's' : ''}.`)
      this.reload()
    }
  }

  async remove(sel) {
    const dirs = sel.filter((n) => n.dir).length
    const what = sel.length === 1 ? `“${sel[0].name}”` : `${sel.length} items`
    const ok = await dialog.confirm(`Delete ${what}?`,
      (dirs ? 'Folders are deleted with everything in them. ' : '') + 'Deleted items go to the space’s trash, from where they can be restored.', 'Delete', true)
    if (!ok) return
    let gone = 0
    try {
      for (const n of sel) {
        await this.api('DELETE', `nodes/${encPath(join(this.folder, n.name))}`)
        this.selected.delete(n.name)
        gone++
      }
      this.status(`Deleted ${what}.`)
    } catch (err) {
      this.status(`Deleted ${gone} of ${sel.length}: ${err.message}`, true)
    }
    this.reload()
  }

  send(sel) {
    sendDialog(this.ctx, this.targets, sel.map((n) => join(this.folder, n.name)))
      .then((c) => c && this.status(`Sent ${sel.length} file${sel.length > 1 ? 's' : ''} to Phraseanet (commit ${c.id}).`))
  }

  // picked queues the files of a file input; a folder input's files
  // carry their path below the picked folder.
  picked(input) {
    const items = [...input.files].map((f) => ({ file: f, rel: f.webkitRelativePath || f.name }))
    input.value = ''
    this.upload(items, [])
  }

  dropTarget(zone) {
    let depth = 0
    zone.addEventListener('dragenter', (e) => {
      if (!hasFiles(e)) return
      e.preventDefault()
      depth++
      zone.classList.add('dragging')
    })
    zone.addEventListener('dragover', (e) => {
      if (!hasFiles(e)) return
      e.preventDefault()
      e.dataTransfer.dropEffect = 'copy'
    })
    zone.addEventListener('dragleave', () => {
      if (--depth <= 0) {
        depth = 0
        zone.classList.remove('dragging')
      }
    })
    zone.addEventListener('drop', (e) => {
      if (!hasFiles(e)) return
      e.preventDefault()
      depth = 0
      zone.classList.remove('dragging')
      // Entries must be taken while the event runs; reading them may wait.
      const entries = [...e.dataTransfer.items].filter((i) => i.kind === 'file').map((i) => i.webkitGetAsEntry?.()).filter(Boolean)
      const files = [...e.dataTransfer.files]
      ;(entries.length ? walkEntries(entries) : Promise.resolve({ files: files.map((f) => ({ file: f, rel: f.name })), dirs: [] }))
        .then(({ files, dirs }) => this.upload(files, dirs))
        .catch((err) => this.status(`Cannot read what was dropped: ${err.message}`, true))
    })
  }

  // upload makes the folders the items need (and the empty ones dropped),
  // then hands the files to the uploader.
  async upload(items, dirs) {
    if (!items.length && !dirs.length) return
    const existing = new Set(this.children.filter((c) => !c.dir).map((c) => c.name))
    const clash = items.filter((i) => !i.rel.includes('/') && existing.has(i.rel))
    if (clash.length) {
      const ok = await dialog.confirm('Replace files?',
        `${clash.length === 1 ? `“${clash[0].rel}” already exists` : `${clash.length} files already exist`} in this folder. Uploading replaces ${clash.length === 1 ? 'it' : 'them'}.`, 'Replace')
      if (!ok) return
    }
    const need = new Set(dirs)
    for (const i of items) if (i.rel.includes('/')) need.add(parent(i.rel))
    try {
      // Deepest last; parents:true makes the ancestors on the way.
      for (const d of [...need].sort()) await this.api('POST', 'mkdir', { path: join(this.folder, d), parents: true })
    } catch (err) {
      this.status(`Cannot create the folders: ${err.message}`, true)
      return
    }
    for (const i of items) this.ctx.uploader.add(i.file, this.sp.id, join(this.folder, i.rel))
    const queued = `${items.length} file${items.length === 1 ? '' : 's'} queued for upload.`
    this.status(queued)
    // The uploads panel shows the rest; the note goes once it has been read.
    setTimeout(() => { if (this.statusEl.textContent === queued) this.status('') }, 5000)
    if (need.size) this.reload()
  }
}

function hasFiles(e) {
  return e.dataTransfer && [...e.dataTransfer.types].includes('Files')
}

function checkName(name) {
  if (!name) throw new Error('Enter a name.')
  if (name.includes('/')) throw new Error('A name cannot contain “/”.')
  if (name === '.' || name === '..') throw new Error('That name is reserved.')
}

// walkEntries reads dropped FileSystemEntry trees: files with their path
// relative to the drop, and every folder (so that empty ones are made too).
export async function walkEntries(entries) {
  const files = []
  const dirs = []
  const walk = async (entry, prefix) => {
    if (entry.isFile) {
      const file = await new Promise((resolve, reject) => entry.file(resolve, reject))
      files.push({ file, rel: prefix + entry.name })
    } else if (entry.isDirectory) {
      const rel = prefix + entry.name
      dirs.push(rel)
      const reader = entry.createReader()
      for (;;) {
        // readEntries hands out a batch at a time; empty means done.
        const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject))
        if (!batch.length) break
        for (const child of batch) await walk(child, `${rel}/`)
      }
    }
  }
  for (const e of entries) await walk(e, '')
  return { files, dirs }
}
