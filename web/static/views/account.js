// account.js: app passwords for WebDAV clients (shown once, with how to
// connect each client), the password, and the upload settings.

import { api } from '../api.js'
import { h, replace, date, field, copyText } from '../dom.js'
import * as dialog from '../dialog.js'

const MiB = 1 << 20

export async function render(main, ctx) {
  replace(main, h('h1', {}, 'Account'), h('p', { class: 'loading' }, 'Loading…'))
  const list = h('div')
  const drawPasswords = async () => {
    const pws = await api('GET', '/app-passwords')
    replace(list, pws.length === 0
      ? h('p', { class: 'muted' }, 'No app passwords yet.')
      : h('div', { class: 'scroll' }, h('table', { class: 'grid' },
        h('thead', {}, h('tr', {}, ['Label', 'Created', 'Last used', ''].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, pws.map((p) => h('tr', {},
          h('td', {}, p.label || '(no label)'),
          h('td', {}, date(p.created)),
          h('td', {}, p.lastUsed ? date(p.lastUsed) : 'never'),
          h('td', {}, h('button', {
            type: 'button', class: 'danger',
            onclick: async () => {
              if (!(await dialog.confirm(`Revoke “${p.label}”?`, 'Clients using this app password will be signed out at once.', 'Revoke', true))) return
              await api('DELETE', `/app-passwords/${encodeURIComponent(p.id)}`)
              drawPasswords()
            },
          }, 'Revoke'))))))))
  }

  const label = h('input', { type: 'text', required: true, placeholder: 'e.g. work laptop', autocomplete: 'off' })
  // An app password can do all you can: making one takes your password.
  const own = h('input', { type: 'password', required: true, autocomplete: 'current-password' })
  const createErr = h('p', { class: 'error', role: 'alert' })
  const createForm = h('form', { class: 'inline' }, field('Label', label), field('Your password', own),
    h('button', { type: 'submit', class: 'primary' }, 'Create app password'), createErr)
  createForm.addEventListener('submit', async (e) => {
    e.preventDefault()
    createErr.textContent = ''
    try {
      const made = await api('POST', '/app-passwords', { label: label.value.trim(), password: own.value })
      label.value = ''
      own.value = ''
      await drawPasswords()
      await showOnce(made)
    } catch (err) {
      createErr.textContent = err.message
    }
  })

  replace(main,
    h('h1', {}, 'Account'),
    h('p', { class: 'muted' }, `Signed in as ${ctx.user.user}${ctx.user.admin ? ' (administrator)' : ''}.`),
    h('section', { class: 'card', 'aria-labelledby': 'apw' },
      h('h2', { id: 'apw' }, 'App passwords'),
      h('p', {}, 'Connect a file manager or a sync tool over WebDAV with an app password rather than your own: each device gets its own, and you can revoke it alone.'),
      createForm, list),
    passwordForm(),
    settingsForm(ctx),
    h('section', { class: 'card', 'aria-labelledby': 'howto' }, h('h2', { id: 'howto' }, 'Connecting a client'), instructions(ctx.user.user)))
  await drawPasswords()
}

// davURL is the WebDAV address clients mount: it lists the user's spaces.
function davURL() {
  return `${location.origin}/dav/`
}

async function showOnce(made) {
  const pw = h('input', { type: 'text', readonly: true, value: made.password, class: 'mono', 'aria-label': 'The new app password' })
  const copied = h('span', { class: 'muted', role: 'status' })
  await dialog.open('App password created', (close) => [
    h('p', {}, 'Copy it now: it is shown only this once.'),
    h('div', { class: 'copy-row' }, pw, h('button', {
      type: 'button', class: 'primary',
      onclick: async () => {
        if (await copyText(made.password)) copied.textContent = 'Copied.'
        else {
          pw.select()
          copied.textContent = 'Select the text and copy it with Ctrl+C (⌘C).'
        }
      },
    }, 'Copy')),
    copied,
    h('dl', { class: 'facts' },
      h('dt', {}, 'User name'), h('dd', { class: 'mono' }, made.user),
      h('dt', {}, 'WebDAV address'), h('dd', { class: 'mono' }, davURL())),
    h('p', { class: 'hint' }, 'See “Connecting a client” below for each system.'),
    h('div', { class: 'actions' }, h('button', { type: 'button', onclick: () => close(true) }, 'Done')),
  ])
}

function instructions(user) {
  const url = davURL()
  const u = new URL(url)
  const secure = u.protocol === 'https:'
  const davs = `${secure ? 'davs' : 'dav'}://${u.host}${u.pathname}`
  const code = (t) => h('code', {}, t)
  return h('div', { class: 'howto' },
    h('p', {}, 'Address: ', code(url), ' · user name: ', code(user), ' · password: an app password from above.'),
    h('h3', {}, 'Windows Explorer'),
    h('p', {}, 'In This PC, choose “Map network drive”, enter ', code(url), ' and tick “Connect using different credentials”. ',
      'Windows sends passwords only over HTTPS', secure ? '.' : ': this server is reached over plain HTTP here, so ask your administrator for its https:// address.',
      ' Explorer cannot download files larger than about 50 MB unless the FileSizeLimitInBytes registry value is raised.'),
    h('h3', {}, 'macOS Finder'),
    h('p', {}, 'Go › Connect to Server (⌘K), enter ', code(url), ', then Connect and give the user name and app password.'),
    h('h3', {}, 'GNOME Files and davfs2'),
    h('p', {}, 'In Files, Other Locations › Connect to Server: ', code(davs), '. ',
      'With davfs2: ', code(`sudo mount -t davfs ${url} /mnt/wharf`), ', with the credentials in /etc/davfs2/secrets.'),
    h('h3', {}, 'rclone'),
    h('pre', {}, `rclone config create wharf webdav url=${url} vendor=owncloud user=${user} pass=$(rclone obscure 'APP-PASSWORD')\nrclone ls wharf:`),
    h('p', { class: 'hint' }, 'The owncloud vendor setting keeps modification times and checks SHA-256 checksums.'))
}

function passwordForm() {
  const current = h('input', { type: 'password', autocomplete: 'current-password', required: true })
  const next = h('input', { type: 'password', autocomplete: 'new-password', required: true })
  const again = h('input', { type: 'password', autocomplete: 'new-password', required: true })
  const msg = h('p', { role: 'status', class: 'status' })
  const form = h('form', { class: 'stack narrow' },
    field('Current password', current), field('New password', next), field('New password again', again),
    h('button', { type: 'submit', class: 'primary' }, 'Change password'), msg)
  form.addEventListener('submit', async (e) => {
    e.preventDefault()
    msg.className = 'status error'
    if (next.value !== again.value) {
      msg.textContent = 'The new passwords differ.'
      return
    }
    try {
      await api('POST', '/password', { current: current.value, new: next.value })
      form.reset()
      msg.className = 'status'
      msg.textContent = 'Password changed.'
    } catch (err) {
      msg.textContent = err.status === 403 ? 'The current password is wrong.' : err.message
    }
  })
  return h('section', { class: 'card', 'aria-labelledby': 'pw' }, h('h2', { id: 'pw' }, 'Password'), form)
}

function settingsForm(ctx) {
  const s = ctx.loadSettings()
  const chunk = h('input', { type: 'number', min: '1', max: '1024', step: '1', required: true, value: String(Math.max(1, Math.round(s.chunkSize / MiB))) })
  const parallel = h('input', { type: 'number', min: '1', max: '8', step: '1', required: true, value: String(s.parallel) })
  const msg = h('p', { role: 'status', class: 'status' })
  const form = h('form', { class: 'stack narrow' },
    field('Chunk size (MiB)', chunk, 'Bytes sent per request. Smaller chunks lose less on a bad connection.'),
    field('Files at once', parallel),
    h('button', { type: 'submit' }, 'Save'), msg)
  form.addEventListener('submit', (e) => {
    e.preventDefault()
    ctx.saveSettings({ chunkSize: Number(chunk.value) * MiB, parallel: Number(parallel.value) })
    msg.textContent = 'Saved.'
  })
  return h('section', { class: 'card', 'aria-labelledby': 'ups' }, h('h2', { id: 'ups' }, 'Uploads'), form)
}
