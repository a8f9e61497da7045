// drop.js: the page of a drop link (/s/<secret>), served by the links
// package. Files picked or dropped go up with the UI's tus client to the
// link's own tus endpoint (data-endpoint); the page shows only them.

import { Uploader, State } from './tus.js'

const endpoint = document.body.dataset.endpoint
const uploader = new Uploader({ endpoint, async: false })
const list = document.getElementById('drop-list')
const input = document.getElementById('drop-files')
const rows = new Map()

function label(u) {
  const pct = u.size > 0 ? Math.floor((100 * Math.min(u.sent, u.size)) / u.size) : 100
  switch (u.state) {
    case State.done:
      return 'delivered'
    case State.rejected:
      return `refused: ${u.error}`
    case State.failed:
      return `failed: ${u.error}`
    case State.processing:
      return 'checking…'
    default:
      return `${u.message || u.state} ${pct}%`
  }
}

function render(u) {
  let li = rows.get(u)
  if (!li) {
    li = document.createElement('li')
    li.className = 'share-upload'
    const name = document.createElement('span')
    name.className = 'share-upload-name'
    name.textContent = u.name
    const st = document.createElement('span')
    st.className = 'share-upload-state'
    li.append(name, ' ', st)
    list.append(li)
    rows.set(u, li)
  }
  li.dataset.state = u.state
  li.querySelector('.share-upload-state').textContent = label(u)
}

uploader.addEventListener('change', (e) => {
  if (e.detail) render(e.detail)
  else uploader.uploads.forEach(render)
})

function add(files) {
  for (const f of files) uploader.add(f, 'drop', f.name)
}

input.addEventListener('change', () => {
  add(input.files)
  input.value = ''
})
document.addEventListener('dragover', (e) => e.preventDefault())
document.addEventListener('drop', (e) => {
  e.preventDefault()
  if (e.dataTransfer?.files) add(e.dataTransfer.files)
})
