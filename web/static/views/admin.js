// admin.js: the instance administrator's page: users, spaces, their
// members (roles) and quotas.

import { api } from '../api.js'
import { h, replace, field, size } from '../dom.js'
import * as dialog from '../dialog.js'
import { usage } from './spaces.js'

const GiB = 1 << 30
const roles = ['viewer', 'editor', 'manager']

export async function render(main, ctx) {
  replace(main, h('h1', {}, 'Administration'), h('p', { class: 'loading' }, 'Loading…'))
  const users = h('div')
  const spaces = h('div')
  const drawUsers = async () => {
    const list = await api('GET', '/admin/users')
    replace(users, h('div', { class: 'scroll' }, h('table', { class: 'grid' },
      h('thead', {}, h('tr', {}, ['User', 'Role', ''].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, list.map((u) => h('tr', {},
        h('td', {}, u.name),
        h('td', {}, u.admin ? 'administrator' : 'user'),
        h('td', {}, u.name === ctx.user.user ? h('span', { class: 'muted' }, 'you') : h('button', {
          type: 'button', class: 'danger',
          onclick: async () => {
            if (!(await dialog.confirm(`Remove user “${u.name}”?`, 'Their app passwords and sessions stop working. Files stay in the spaces.', 'Remove', true))) return
            await api('DELETE', `/admin/users/${encodeURIComponent(u.name)}`)
            drawUsers()
          },
        }, 'Remove'))))))))
  }
  const drawSpaces = async () => {
    const list = await api('GET', '/spaces')
    replace(spaces, h('div', { class: 'scroll' }, h('table', { class: 'grid' },
      h('thead', {}, h('tr', {}, ['Space', 'Use', ''].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, list.map((s) => h('tr', {},
        h('td', {}, h('a', { href: `#/s/${encodeURIComponent(s.id)}/` }, s.name || s.id), h('span', { class: 'sub muted' }, s.id)),
        h('td', {}, usage(s)),
        // The buttons' flex box sits inside the cell: a flex td is no
        // table cell and would not line up with the rest of its row.
        h('td', {}, h('div', { class: 'row-actions' },
          h('button', { type: 'button', onclick: () => members(s) }, 'Members'),
          h('button', { type: 'button', onclick: () => quota(s).then((ok) => ok && drawSpaces()) }, 'Quota'),
          h('button', {
            type: 'button', class: 'danger',
            onclick: async () => {
              if (!(await dialog.confirm(`Delete space “${s.name || s.id}”?`, `Every file in it (${size(s.used || 0)}) is deleted. This cannot be undone.`, 'Delete space', true))) return
              await api('DELETE', `/admin/spaces/${encodeURIComponent(s.id)}`)
              drawSpaces()
            },
          }, 'Delete')))))))))
  }

  replace(main,
    h('h1', {}, 'Administration'),
    h('section', { class: 'card', 'aria-labelledby': 'users-h' }, h('h2', { id: 'users-h' }, 'Users'), users, addUserForm(drawUsers)),
    h('section', { class: 'card', 'aria-labelledby': 'spaces-h' }, h('h2', { id: 'spaces-h' }, 'Spaces'), spaces, addSpaceForm(drawSpaces)))
  await Promise.all([drawUsers(), drawSpaces()])
}

function addUserForm(done) {
  const name = h('input', { type: 'text', required: true, autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false' })
  const pw = h('input', { type: 'password', autocomplete: 'new-password' })
  const admin = h('input', { type: 'checkbox' })
  const msg = h('p', { class: 'status', role: 'status' })
  const form = h('form', { class: 'stack narrow' },
    h('h3', {}, 'Add a user'),
    field('Name', name), field('Password', pw, 'Leave empty to have one generated and shown once.'), field('Administrator', admin),
    h('button', { type: 'submit', class: 'primary' }, 'Add user'), msg)
  form.addEventListener('submit', async (e) => {
    e.preventDefault()
    msg.className = 'status'
    try {
      const made = await api('POST', '/admin/users', { name: name.value.trim(), password: pw.value, admin: admin.checked })
      form.reset()
      msg.textContent = made && made.password ? `User ${made.name} added. Their password, shown once: ${made.password}` : 'User added.'
      done()
    } catch (err) {
      msg.className = 'status error'
      msg.textContent = err.message
    }
  })
  return form
}

function addSpaceForm(done) {
  const name = h('input', { type: 'text', required: true, autocomplete: 'off' })
  const quotaIn = h('input', { type: 'number', min: '0', step: 'any', value: '0' })
  const owner = h('input', { type: 'text', autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false' })
  const msg = h('p', { class: 'status', role: 'status' })
  const form = h('form', { class: 'stack narrow' },
    h('h3', {}, 'Create a space'),
    field('Name', name), field('Quota (GiB)', quotaIn, '0 means no quota.'), field('Manager', owner, 'A user name; they get the manager role. Optional.'),
    h('button', { type: 'submit', class: 'primary' }, 'Create space'), msg)
  form.addEventListener('submit', async (e) => {
    e.preventDefault()
    msg.className = 'status'
    try {
      await api('POST', '/admin/spaces', { name: name.value.trim(), quota: Math.round(Number(quotaIn.value || 0) * GiB), owner: owner.value.trim() })
      form.reset()
      msg.textContent = 'Space created.'
      done()
    } catch (err) {
      msg.className = 'status error'
      msg.textContent = err.message
    }
  })
  return form
}

function quota(s) {
  const q = h('input', { type: 'number', min: '0', step: 'any', value: String(s.quota ? +(s.quota / GiB).toFixed(3) : 0) })
  return dialog.form(`Quota of “${s.name || s.id}”`, [field('Quota (GiB)', q, `0 means no quota. In use: ${size(s.used || 0)}.`)], 'Save',
    async () => {
      await api('PATCH', `/admin/spaces/${encodeURIComponent(s.id)}`, { quota: Math.round(Number(q.value || 0) * GiB) })
      return true
    })
}

// members shows and edits who has which role in a space.
function members(s) {
  return dialog.open(`Members of “${s.name || s.id}”`, (close) => {
    const box = h('div')
    const msg = h('p', { class: 'status', role: 'status' })
    const path = (u) => `/spaces/${encodeURIComponent(s.id)}/members/${encodeURIComponent(u)}`
    const roleSelect = (value, label) => h('select', { 'aria-label': label }, roles.map((r) => {
      const o = h('option', { value: r }, r)
      o.selected = r === value
      return o
    }))
    const draw = async () => {
      const list = await api('GET', `/spaces/${encodeURIComponent(s.id)}/members`)
      replace(box, list.length === 0 ? h('p', { class: 'muted' }, 'Nobody yet.') : h('table', { class: 'grid' },
        h('thead', {}, h('tr', {}, ['User', 'Role', ''].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, list.map((m) => {
          const sel = roleSelect(m.role, `Role of ${m.user}`)
          sel.addEventListener('change', async () => {
            try {
              await api('PUT', path(m.user), { role: sel.value })
              msg.textContent = `${m.user} is now ${sel.value}.`
            } catch (err) {
              msg.textContent = err.message
            }
          })
          return h('tr', {}, h('td', {}, m.user), h('td', {}, sel), h('td', {}, h('button', {
            type: 'button', class: 'link',
            onclick: async () => {
              try {
                await api('DELETE', path(m.user))
                msg.textContent = `${m.user} removed.`
                draw()
              } catch (err) {
                msg.textContent = err.message
              }
            },
          }, 'Remove')))
        }))))
    }
    const who = h('input', { type: 'text', required: true, autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false' })
    const role = roleSelect('editor', 'Role')
    const add = h('form', { class: 'inline' }, field('User', who), field('Role', role), h('button', { type: 'submit' }, 'Add'))
    add.addEventListener('submit', async (e) => {
      e.preventDefault()
      try {
        await api('PUT', path(who.value.trim()), { role: role.value })
        msg.textContent = `${who.value.trim()} added as ${role.value}.`
        who.value = ''
        draw()
      } catch (err) {
        msg.textContent = err.message
      }
    })
    draw().catch((err) => {
      msg.textContent = err.message
    })
    return [box, add, msg, h('div', { class: 'actions' }, h('button', { type: 'button', onclick: () => close(true) }, 'Close'))]
  })
}
