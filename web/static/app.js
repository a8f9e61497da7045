// app.js: Wharf's single-page app. It restores the session, draws the
// top bar, and routes location.hash to a view:
//
//   #/spaces               the spaces the user has a role in
//   #/s/<space>/<path>     a folder
//   #/trash/<space>        a space's trash (views/trash.js)
//   #/account              app passwords, password, upload settings
//   #/phraseanet           commits per target (when targets exist)
//   #/admin                users, spaces, members, quotas (admins)
//   #/search/<query>       files and folders by name across the spaces
//
// A view module exports render(main, ctx, args) and may return a cleanup
// function, called when the route changes.

import { api, session } from './api.js'
import { h, replace } from './dom.js'
import { EventSocket } from './events.js'
import { Uploader, DEFAULT_CHUNK_SIZE, DEFAULT_PARALLEL } from './tus.js'
import { mountUploads } from './views/uploads.js'
import * as loginView from './views/login.js'
import * as spacesView from './views/spaces.js'
import * as folderView from './views/folder.js'
import * as accountView from './views/account.js'
import * as adminView from './views/admin.js'
import * as phraseanetView from './views/phraseanet.js'
import * as searchView from './views/search.js'
import * as trashView from './views/trash.js'

const SETTINGS = 'wharf.settings'

// loadSettings reads the upload tunables a user may change on the account
// page.
function loadSettings() {
  let s = {}
  try {
    s = JSON.parse(localStorage.getItem(SETTINGS)) || {}
  } catch {}
  return {
    chunkSize: s.chunkSize > 0 ? s.chunkSize : DEFAULT_CHUNK_SIZE,
    parallel: s.parallel > 0 ? s.parallel : DEFAULT_PARALLEL,
  }
}

function saveSettings(s) {
  localStorage.setItem(SETTINGS, JSON.stringify(s))
  Object.assign(ctx.uploader, s)
  ctx.uploader.pump()
}

const main = document.getElementById('main')
const top = document.getElementById('top')
const announcer = document.getElementById('announce')

const ctx = {
  user: null, // {user, admin, csrf}
  targets: [], // Phraseanet targets the user may see
  uploader: new Uploader(loadSettings()),
  events: new EventSocket(),
  // announce tells screen-reader users about something that happened
  // away from their focus.
  announce(text) {
    announcer.append(h('p', {}, text))
    while (announcer.childElementCount > 5) announcer.firstElementChild.remove()
  },
  signIn,
  signOut,
  loadSettings,
  saveSettings,
  go(hash) {
    if (location.hash === hash) route()
    else location.hash = hash
  },
}

let cleanup = null

async function signIn(user, password) {
  ctx.user = await session.login(user, password)
  await afterSignIn()
  if (!location.hash || location.hash === '#/login') location.hash = '#/spaces'
  else route()
}

async function afterSignIn() {
  ctx.events.open()
  ctx.checkStored()
  try {
    ctx.targets = await api('GET', '/targets')
  } catch {
    ctx.targets = [] // Phraseanet not configured: no page for it
  }
  drawTop()
}

async function signOut() {
  try {
    await session.logout()
  } catch {
    // The session is forgotten locally whatever the server said.
  }
  signedOut()
}

function signedOut() {
  ctx.user = null
  ctx.targets = []
  ctx.events.close()
  for (const u of ctx.uploader.uploads) u.halt()
  ctx.uploader.uploads = []
  ctx.uploader.changed(null)
  drawTop()
  route()
}

function drawTop() {
  if (!ctx.user) {
    replace(top, h('span', { class: 'brand' }, 'Wharf'))
    return
  }
  const link = (hash, label) => h('a', { href: hash, 'data-route': hash.split('/')[1] }, label)
  replace(top,
    h('a', { class: 'brand', href: '#/spaces' }, 'Wharf'),
    h('nav', { 'aria-label': 'Main' },
      h('ul', {},
        h('li', {}, link('#/spaces', 'Spaces')),
        ctx.targets.length > 0 && h('li', {}, link('#/phraseanet', 'Phraseanet')),
        ctx.user.admin && h('li', {}, link('#/admin', 'Admin')),
        h('li', {}, link('#/account', 'Account')),
        h('li', {}, link('#/search', 'Search')))),
    h('div', { class: 'who' },
      h('span', { class: 'user' }, ctx.user.user),
      h('button', { type: 'button', onclick: signOut }, 'Sign out')))
}

function markCurrent(name) {
  for (const a of top.querySelectorAll('nav a')) {
    const cur = a.dataset.route === name || ((name === 's' || name === 'trash') && a.dataset.route === 'spaces')
    if (cur) a.setAttribute('aria-current', 'page')
    else a.removeAttribute('aria-current')
  }
}

// route draws the view the hash names.
async function route(focus = false) {
  if (cleanup) {
    cleanup()
    cleanup = null
  }
  const parts = location.hash.replace(/^#\/?/, '').split('/')
  const name = parts[0] || 'spaces'
  let view = null
  let args = []
  if (!ctx.user) {
    view = loginView
  } else {
    switch (name) {
      case 'spaces':
        view = spacesView
        break
      case 's':
        view = folderView
        try {
          args = parts.slice(1).filter(Boolean).map(decodeURIComponent)
        } catch {
          args = []
        }
        break
      case 'trash':
        view = trashView
        args = parts.slice(1, 2).map((p) => { try { return decodeURIComponent(p) } catch { return '' } })
        break
      case 'account':
        view = accountView
        break
      case 'admin':
        view = ctx.user.admin ? adminView : null
        break
      case 'phraseanet':
        view = phraseanetView
        break
      case 'search':
        view = searchView
        try {
          args = [decodeURIComponent(parts.slice(1).join('/'))]
        } catch {
          args = []
        }
        break
    }
  }
  markCurrent(name)
  if (!view) {
    replace(main, h('h1', {}, 'Not found'), h('p', {}, 'There is no such page. ', h('a', { href: '#/spaces' }, 'Go to your spaces.')))
    return
  }
  const mine = {}
  cleanup = () => {
    mine.gone = true
  }
  try {
    const done = await view.render(main, ctx, args)
    if (mine.gone) done?.()
    else if (done) cleanup = () => done()
  } catch (err) {
    if (mine.gone) {
      // the route changed meanwhile
    } else if (err.status === 404 && name === 's') {
      notFound(args)
    } else {
      replace(main, h('h1', {}, 'Something went wrong'), h('p', { class: 'error', role: 'alert' }, err.message))
    }
  }
  // After a navigation, start screen readers and keyboards at the heading.
  const h1 = main.querySelector('h1')
  if (focus && h1 && !main.contains(document.activeElement)) {
    h1.tabIndex = -1
    h1.focus()
  }
}

// notFound is the page for a space or folder that is not there (deleted,
// renamed, moved, or in a space the user has no role in), with the ways
// back: the nearest folder that may still exist, and the spaces.
function notFound([spaceID = '', ...segments]) {
  const path = segments.join('/')
  const up = path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : ''
  const enc = (p) => p.split('/').map(encodeURIComponent).join('/')
  replace(main,
    h('h1', {}, 'Not found'),
    h('p', {}, path
      ? `There is no folder or file “${path}” in space “${spaceID}”. It may have been renamed, moved or deleted.`
      : `There is no space “${spaceID}” that you have a role in. It may have been deleted, or you were removed from it.`),
    h('ul', { class: 'ways-back' },
      path && h('li', {}, h('a', { href: `#/s/${encodeURIComponent(spaceID)}/${enc(up)}` }, up ? `Up to “${up}”` : `Go to space “${spaceID}”`)),
      h('li', {}, h('a', { href: '#/spaces' }, 'Go to your spaces'))))
}

async function boot() {
  document.getElementById('skip').addEventListener('click', () => main.focus())
  window.addEventListener('hashchange', () => route(true))
  window.addEventListener('wharf:signed-out', () => {
    if (ctx.user) signedOut()
  })
  mountUploads(document.getElementById('uploads'), ctx)
  try {
    ctx.user = await session.current()
  } catch (err) {
    replace(main, h('h1', {}, 'Wharf is not answering'), h('p', { class: 'error', role: 'alert' }, err.message))
    return
  }
  if (ctx.user) await afterSignIn()
  else drawTop()
  route()
}

boot()
