// uploads.js: the uploads panel at the foot of every page: one progress
// bar per file and one overall, pause/resume/cancel, the processing step
// running, the final state or the reason for a refusal; and the uploads
// interrupted by a reload, which continue once the same file is picked or
// dropped again in the same folder.

import { h, replace, size, parent, encPath } from '../dom.js'
import { State, finalStates, stored, head } from '../tus.js'

const stateText = {
  [State.queued]: 'Waiting',
  [State.uploading]: 'Uploading',
  [State.retrying]: 'Connection lost',
  [State.paused]: 'Paused',
  [State.processing]: 'Processing',
  [State.done]: 'Done',
  [State.rejected]: 'Refused',
  [State.failed]: 'Failed',
}

export function mountUploads(panel, ctx) {
  const up = ctx.uploader
  const rows = new Map() // Upload -> {li, bar, text, buttons}
  const lastState = new Map()
  const pending = new Map() // stored key -> {entry, offset}
  let frame = 0
  let expanded = true

  const overall = h('progress', { max: 1, value: 0, 'aria-label': 'All uploads' })
  const overallText = h('span', { class: 'muted' })
  const toggle = h('button', { type: 'button', class: 'link', 'aria-expanded': 'true', 'aria-controls': 'upload-list' }, 'Hide')
  const clear = h('button', { type: 'button', onclick: () => up.clearFinished() }, 'Clear finished')
  const list = h('ul', { class: 'upload-list', id: 'upload-list' })
  const pendingBox = h('div', { class: 'pending' })
  toggle.addEventListener('click', () => {
    expanded = !expanded
    toggle.setAttribute('aria-expanded', String(expanded))
    toggle.textContent = expanded ? 'Hide' : 'Show'
    list.hidden = pendingBox.hidden = !expanded
  })
  replace(panel,
    h('div', { class: 'uploads-head' },
      h('h2', { id: 'uploads-title' }, 'Uploads'),
      overall, overallText, clear, toggle),
    pendingBox, list)

  const where = (space, path) => {
    const dir = parent(path)
    return h('a', { href: `#/s/${encodeURIComponent(space)}/${encPath(dir)}` }, `${space}/${dir}`)
  }

  function row(u) {
    const bar = h('progress', { max: Math.max(u.size, 1), value: 0, 'aria-label': `Upload of ${u.name}` })
    const text = h('span', { class: 'state' })
    const buttons = h('span', { class: 'row-actions' })
    const li = h('li', { class: 'upload' },
      h('div', { class: 'upload-name' }, h('strong', {}, u.name), ' ', h('span', { class: 'muted' }, 'to '), where(u.space, u.path)),
      bar, text, buttons)
    const r = { li, bar, text, buttons, shown: '' }
    rows.set(u, r)
    return r
  }

  function update(u, r) {
    r.bar.max = Math.max(u.size, 1)
    r.bar.value = u.state === State.processing || finalStates.has(u.state) ? r.bar.max : Math.min(u.sent, u.size)
    let t = `${stateText[u.state] || u.state}`
    if (u.state === State.uploading || u.state === State.paused || u.state === State.retrying) {
      t += ` · ${size(Math.min(u.sent, u.size))} of ${size(u.size)}`
      if (u.resumedFrom > 0) t += ` (resumed at ${size(u.resumedFrom)})`
    }
    if (u.state === State.processing && u.step) t += ` · ${u.step}${u.percent ? ` ${u.percent}%` : ''}`
    if (u.message && (u.state === State.retrying || u.state === State.processing) && !u.message.startsWith('processing')) t += ` · ${u.message}`
    if ((u.state === State.rejected || u.state === State.failed) && u.error) t += `: ${u.error}`
    r.text.textContent = t
    r.li.dataset.state = u.state
    r.text.className = u.state === State.rejected || u.state === State.failed ? 'state error' : 'state'
    // Buttons change only with the state, so that focus stays on them.
    if (r.shown !== u.state) {
      r.shown = u.state
      const b = []
      if (u.state === State.uploading || u.state === State.queued || u.state === State.retrying) b.push(h('button', { type: 'button', onclick: () => u.pause() }, 'Pause'))
      if (u.state === State.paused || u.state === State.failed) b.push(h('button', { type: 'button', onclick: () => u.resume() }, 'Resume'))
      if (!finalStates.has(u.state) && u.state !== State.processing) b.push(h('button', { type: 'button', class: 'link', onclick: () => u.cancel() }, 'Cancel'))
      const had = r.buttons.contains(document.activeElement)
      replace(r.buttons, b)
      if (had) (r.buttons.querySelector('button') || list).focus?.()
    }
    if (lastState.get(u) !== u.state) {
      lastState.set(u, u.state)
      if (u.state === State.done) ctx.announce(`${u.name} uploaded.`)
      else if (u.state === State.rejected) ctx.announce(`${u.name} refused: ${u.error}`)
      else if (u.state === State.failed) ctx.announce(`Upload of ${u.name} failed: ${u.error}`)
      else if (u.state === State.processing) ctx.announce(`${u.name}: all bytes sent, processing.`)
      else if (u.state === State.paused) ctx.announce(`${u.name} paused.`)
    }
  }

  function drawPending() {
    const live = new Set(up.uploads.map((u) => u.key))
    const items = [...pending.values()].filter((p) => !live.has(p.entry.key) && localStorage.getItem(p.entry.key))
    if (!items.length) {
      replace(pendingBox)
      return
    }
    replace(pendingBox,
      h('h3', {}, 'Interrupted uploads'),
      h('p', { class: 'hint' }, 'Pick or drop the same file again in the same folder to continue where it stopped.'),
      h('ul', { class: 'upload-list' }, items.map(({ entry, offset }) => h('li', { class: 'upload', 'data-state': 'interrupted' },
        h('div', { class: 'upload-name' }, h('strong', {}, entry.name), ' ', h('span', { class: 'muted' }, 'to '), where(entry.space, entry.path)),
        h('progress', { max: Math.max(entry.size, 1), value: Math.max(offset, 0), 'aria-label': `Interrupted upload of ${entry.name}` }),
        h('span', { class: 'state' }, offset >= 0 ? `${size(offset)} of ${size(entry.size)} sent` : `${size(entry.size)}`),
        h('span', { class: 'row-actions' }, h('button', {
          type: 'button', class: 'link',
          onclick: () => {
            up.discard(entry)
            pending.delete(entry.key)
            draw()
          },
        }, 'Forget'))))))
  }

  function draw() {
    frame = 0
    for (const [u, r] of rows) if (!up.uploads.includes(u)) {
      r.li.remove()
      rows.delete(u)
    }
    for (const u of up.uploads) {
      const r = rows.get(u) || row(u)
      if (r.li.parentNode !== list) list.append(r.li)
      update(u, r)
    }
    drawPending()
    const t = up.totals()
    overall.max = Math.max(t.bytes, 1)
    overall.value = t.sent
    overallText.textContent = t.files ? `${t.finished} of ${t.files} files · ${size(t.sent)} of ${size(t.bytes)}` : ''
    clear.hidden = t.finished === 0
    overall.hidden = t.files === 0
    panel.hidden = !ctx.user || (t.files === 0 && pendingBox.childElementCount === 0)
  }

  up.addEventListener('change', () => {
    if (!frame) frame = requestAnimationFrame(draw)
  })

  // Uploads stored by an earlier page: ask the server where each stands.
  async function checkStored() {
    for (const entry of stored()) {
      if (pending.has(entry.key)) continue
      pending.set(entry.key, { entry, offset: -1 })
      try {
        const st = await head(entry.url)
        if (st.status === 423 || st.status === 410) {
          up.watchStored(entry)
        } else if ((st.status === 200 || st.status === 204) && st.offset >= 0) {
          if (st.offset >= entry.size && entry.size > 0) localStorage.removeItem(entry.key)
          else pending.set(entry.key, { entry, offset: st.offset })
        } else if (st.status === 404) {
          localStorage.removeItem(entry.key)
        }
      } catch {
        // Unreachable for now: keep it listed; picking the file retries.
      }
    }
    draw()
  }
  ctx.checkStored = checkStored
  draw()
}
