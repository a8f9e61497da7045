#!/usr/bin/env node
// ui.mjs drives Wharf's browser UI with Playwright (playwright-core, the
// version pinned in package-lock.json) and Debian's /usr/bin/chromium,
// headless. e2e/ui_test.go runs it against a real server and answers its
// questions; it is not meant to be run by hand, though it can be.
//
// Protocol: one JSON object per line. On stdout, {"event": ...}: "step"
// (progress, {name}), "ask" ({ask, ...}: the test does something outside
// the browser and answers with one JSON line on stdin), "done" (the last
// line, {screenshots}) or "fail" ({message}). Exit status 0 when every
// check held, 1 otherwise, 2 for bad usage.
//
// The password is read from $UI_PASSWORD.

import * as fs from 'node:fs'
import * as path from 'node:path'
import * as readline from 'node:readline'
import { parseArgs } from 'node:util'
import { chromium } from 'playwright-core'

const { values: opt } = parseArgs({
  options: {
    url: { type: 'string' },
    user: { type: 'string', default: 'admin' },
    'new-password': { type: 'string' },
    big: { type: 'string' }, // the 30 MiB file
    small: { type: 'string' }, // an image, for a thumbnail
    out: { type: 'string' }, // screenshots directory
    chromium: { type: 'string', default: '/usr/bin/chromium' },
    space: { type: 'string', default: 'files' },
  },
})
const password = process.env.UI_PASSWORD
if (!opt.url || !password || !opt.big || !opt.small || !opt.out || !opt['new-password']) {
  console.error('usage: UI_PASSWORD=… node ui.mjs --url URL --big FILE --small FILE --out DIR --new-password PW [--user NAME]')
  process.exit(2)
}

const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')
const step = (name) => emit({ event: 'step', name, t: Math.round(performance.now()) })

// ask prints a question for the Go test and waits for its one-line answer.
const stdin = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]()
async function ask(what, data = {}) {
  emit({ event: 'ask', ask: what, ...data })
  const { value, done } = await stdin.next()
  if (done) throw new Error(`no answer to ${what}: stdin closed`)
  const ans = JSON.parse(value)
  if (ans.error) throw new Error(`${what}: ${ans.error}`)
  return ans
}

class Check extends Error {}
function check(cond, message) {
  if (!cond) throw new Check(message)
}

const problems = [] // console errors, page errors, CSP violations
const shots = []
fs.mkdirSync(opt.out, { recursive: true })

const userDir = fs.mkdtempSync(path.join(opt.out, '.chromium-'))
const browser = await chromium.launchPersistentContext(userDir, {
  executablePath: opt.chromium,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
  viewport: { width: 1280, height: 860 },
  acceptDownloads: false,
})
const page = browser.pages()[0] || (await browser.newPage())
page.setDefaultTimeout(15000)

page.on('console', (m) => {
  if (m.type() === 'error') problems.push(`console error: ${m.text()} (${m.location().url})`)
})
page.on('pageerror', (e) => problems.push(`page error: ${e.message}`))
await page.addInitScript(() => {
  document.addEventListener('securitypolicyviolation', (e) => {
    console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || 'inline'} at ${e.sourceFile}:${e.lineNumber}`)
  })
})

// Every tus request the page makes, and every websocket it opens.
const tus = []
const sockets = []
page.on('request', (r) => {
  if (new URL(r.url()).pathname.startsWith('/tus/')) {
    tus.push({ method: r.method(), url: r.url(), offset: r.headers()['upload-offset'], length: r.headers()['upload-length'], prefer: r.headers().prefer, at: tus.length })
  }
})
page.on('websocket', (ws) => sockets.push(new URL(ws.url()).pathname))

async function shot(name) {
  const file = path.join(opt.out, `${String(shots.length + 1).padStart(2, '0')}-${name}.png`)
  await page.screenshot({ path: file, fullPage: true })
  shots.push(file)
}

const bigSize = fs.statSync(opt.big).size
const bigName = path.basename(opt.big)
const smallName = path.basename(opt.small)
const row = (name) => page.locator(`table.files tbody tr[data-name="${name}"]`)
const uploadRow = (name) => page.locator('#uploads li.upload', { has: page.locator('strong', { hasText: name }) })

async function noHorizontalScroll(what) {
  const w = await page.evaluate(() => document.documentElement.scrollWidth)
  check(w <= 360, `${what} at 360 px is ${w} px wide: it scrolls sideways`)
}

try {
  step('login')
  await page.goto(opt.url)
  await page.getByLabel('User name').fill(opt.user)
  await page.getByLabel('Password').fill(password)
  await shot('login')
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.getByRole('heading', { name: 'Spaces' }).waitFor()
  await shot('spaces')

  step('settings')
  await page.getByRole('link', { name: 'Account' }).click()
  await page.getByLabel('Chunk size (MiB)').fill('1')
  await page.getByLabel('Files at once').fill('2')
  await page.getByRole('button', { name: 'Save' }).click()
  await page.getByText('Saved.').waitFor()

  step('new folder')
  await page.getByRole('link', { name: 'Spaces', exact: true }).click()
  await page.locator('a.space-name').first().click()
  await page.getByRole('button', { name: 'New folder' }).click()
  await page.getByRole('dialog').getByLabel('Name').fill('incoming')
  await page.getByRole('dialog').getByRole('button', { name: 'Create' }).click()
  await row('incoming').waitFor()
  await row('incoming').getByRole('link', { name: 'incoming' }).click()
  await page.getByRole('heading', { name: 'incoming' }).waitFor()

  step('upload')
  // Slow the PATCHes a little, so that the reload lands mid-upload.
  await page.route('**/tus/**', async (route) => {
    if (route.request().method() === 'PATCH') await new Promise((r) => setTimeout(r, 60))
    await route.continue()
  })
  let acked = 0
  const counter = (res) => {
    if (res.request().method() === 'PATCH' && res.status() === 204 && res.request().headers()['upload-offset'] !== undefined) acked++
  }
  page.on('response', counter)
  await page.locator('input[data-picker="files"]').setInputFiles([opt.small, opt.big])
  await uploadRow(bigName).waitFor()
  const started = Date.now()
  while (acked < 8) {
    check(Date.now() - started < 20000, `only ${acked} PATCHes acknowledged in 20 s`)
    await page.waitForTimeout(50)
  }
  await shot('uploading')

  step('pause and resume')
  await uploadRow(bigName).getByRole('button', { name: 'Pause' }).click()
  await page.locator('#uploads li.upload[data-state="paused"]', { has: page.locator('strong', { hasText: bigName }) }).waitFor()
  await page.waitForTimeout(300) // a PATCH in flight when Pause was pressed may still end
  const pausedAt = tus.length
  await page.waitForTimeout(700)
  check(tus.length === pausedAt, `${tus.length - pausedAt} tus requests while the upload was paused`)
  const ackedBefore = acked
  await uploadRow(bigName).getByRole('button', { name: 'Resume' }).click()
  const resumedAt = Date.now()
  while (acked < ackedBefore + 2) {
    check(Date.now() - resumedAt < 20000, `only ${acked - ackedBefore} PATCHes acknowledged in 20 s after Resume`)
    await page.waitForTimeout(50)
  }
  const afterPause = tus.slice(pausedAt)
  check(!afterPause.some((r) => r.method === 'POST' && Number(r.length) === bigSize), 'Resume made a new upload instead of going on')
  const created = tus.filter((r) => r.method === 'POST')
  check(created.length === 2, `${created.length} uploads created (POST /tus/) before the reload, want 2`)

  step('reload mid-upload')
  await page.reload()
  page.off('response', counter)
  const before = tus.length
  const stored = await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('wharf.upload:')).map((k) => JSON.parse(localStorage.getItem(k))))
  const entry = stored.find((e) => e.size === bigSize)
  check(entry, `after the reload, localStorage keeps no upload of ${bigName}: ${JSON.stringify(stored)}`)
  const head = await ask('head', { url: entry.url })
  check(head.offset > 0 && head.offset < bigSize, `the server has ${head.offset} bytes of ${bigSize} after the reload, want some but not all`)
  await page.getByRole('heading', { name: 'Interrupted uploads' }).waitFor()
  await shot('interrupted')

  step('resume')
  await page.unroute('**/tus/**')
  await page.locator('input[data-picker="files"]').setInputFiles([opt.big])
  await page.locator('#uploads li.upload[data-state="done"]', { has: page.locator('strong', { hasText: bigName }) }).waitFor({ timeout: 30000 })
  const after = tus.slice(before)
  check(!after.some((r) => r.method === 'POST'), `the resumed upload made a new upload: ${JSON.stringify(after.filter((r) => r.method === 'POST'))}`)
  const firstPatch = after.find((r) => r.method === 'PATCH')
  check(firstPatch && firstPatch.url === entry.url, `the first PATCH after the reload went to ${firstPatch?.url}, want ${entry.url}`)
  check(Number(firstPatch.offset) === head.offset, `the first PATCH after the reload starts at ${firstPatch.offset}, want ${head.offset} (what HEAD said)`)
  const last = after.filter((r) => r.method === 'PATCH').pop()
  check(last.prefer === 'respond-async', `the last PATCH sent Prefer: ${last.prefer}, want respond-async`)
  check(sockets.some((p) => p.startsWith('/api/v1/uploads/') && p.endsWith('/progress')), `no progress websocket was opened: ${sockets}`)
  await row(bigName).waitFor()
  const smallDone = await row(smallName).count()
  check(smallDone === 1, `${smallName} is not in the folder`)
  await shot('uploaded')
  await page.getByRole('button', { name: 'Clear finished' }).click()
  await page.locator('#uploads').waitFor({ state: 'hidden' })
  emit({ event: 'resumed', url: entry.url, offset: head.offset, firstPatch: Number(firstPatch.offset) })

  step('live update')
  await page.evaluate(() => { window.__noReload = true })
  await ask('dav-put', { path: 'incoming/from-dav.txt' })
  await row('from-dav.txt').waitFor({ timeout: 10000 })
  check(await page.evaluate(() => window.__noReload === true), 'the page reloaded to show the new file')

  step('rename')
  await row('from-dav.txt').getByRole('checkbox').check()
  await page.getByRole('button', { name: 'Rename' }).click()
  await page.getByRole('dialog').getByLabel('New name').fill('renamed.txt')
  await page.getByRole('dialog').getByRole('button', { name: 'Rename' }).click()
  await row('renamed.txt').waitFor()
  check(await row('from-dav.txt').count() === 0, 'from-dav.txt is still listed after the rename')

  step('sort')
  await page.getByRole('button', { name: /^Size/ }).click()
  await page.locator('th[aria-sort]', { hasText: 'Size' }).waitFor()

  step('delete')
  await row('renamed.txt').getByRole('checkbox').check()
  await page.getByRole('button', { name: 'Delete' }).click()
  await page.getByRole('dialog').waitFor()
  await shot('delete-confirm')
  await page.keyboard.press('Escape') // the dialog closes on Escape and deletes nothing
  await page.getByRole('dialog').waitFor({ state: 'detached' })
  check(await row('renamed.txt').count() === 1, 'Escape deleted the file')
  await page.getByRole('button', { name: 'Delete' }).click()
  await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click()
  await row('renamed.txt').waitFor({ state: 'detached' })
  await shot('folder')

  step('drop files')
  // A drop as the browser delivers it for files dragged from the desktop
  // (a script cannot make folder entries: the folder picker stands in).
  const dropped = await page.evaluateHandle(() => {
    const dt = new DataTransfer()
    dt.items.add(new File(['dropped one\n'], 'dropped-1.txt', { type: 'text/plain' }))
    dt.items.add(new File(['dropped two\n'], 'dropped-2.txt', { type: 'text/plain' }))
    return dt
  })
  for (const type of ['dragenter', 'dragover', 'drop']) await page.dispatchEvent('section.dropzone', type, { dataTransfer: dropped })
  await row('dropped-1.txt').waitFor({ timeout: 15000 })
  await row('dropped-2.txt').waitFor({ timeout: 15000 })

  step('upload a folder')
  const tree = fs.mkdtempSync(path.join(opt.out, '.tree-'))
  const album = path.join(tree, 'album')
  fs.mkdirSync(path.join(album, 'day 2'), { recursive: true })
  fs.writeFileSync(path.join(album, 'cover.txt'), 'cover\n')
  fs.writeFileSync(path.join(album, 'day 2', 'notes.txt'), 'notes\n')
  await page.locator('input[data-picker="folder"]').setInputFiles(album)
  await row('album').waitFor({ timeout: 15000 })
  // Both files upload at once: wait for each, not only the last picked.
  for (const name of ['cover.txt', 'notes.txt']) {
    await page.locator('#uploads li.upload[data-state="done"]', { has: page.locator('strong', { hasText: name }) }).waitFor({ timeout: 15000 })
  }
  const files = await ask('dav-list', { path: 'incoming/album/', depth: 'infinity' })
  check(JSON.stringify(files.paths) === JSON.stringify(['cover.txt', 'day 2/', 'day 2/notes.txt']),
    `the uploaded folder holds ${JSON.stringify(files.paths)}, want cover.txt, day 2/, day 2/notes.txt`)
  await row('album').getByRole('link', { name: 'album' }).click()
  await page.getByRole('heading', { name: 'album' }).waitFor()
  await row('day 2').waitFor()
  await shot('folder-uploaded')
  await page.getByRole('button', { name: 'Clear finished' }).click()

  step('send to Phraseanet')
  await page.getByRole('navigation', { name: 'Breadcrumb' }).getByRole('link', { name: 'incoming', exact: true }).click()
  await page.getByRole('heading', { name: 'incoming' }).waitFor()
  await row('dropped-1.txt').getByRole('checkbox').check()
  await row('dropped-2.txt').getByRole('checkbox').check()
  await page.getByRole('button', { name: 'Send to Phraseanet' }).click()
  await page.getByRole('dialog').getByText('Target: DAM').waitFor()
  await shot('send-to-phraseanet')
  await page.getByRole('dialog').getByRole('button', { name: 'Send' }).click()
  await page.getByText(/^Sent 2 files to Phraseanet \(commit /).waitFor()
  await page.getByRole('link', { name: 'Phraseanet' }).click()
  await page.getByRole('heading', { name: 'DAM' }).waitFor()
  const commitRow = page.locator('section.target tbody tr').first()
  await commitRow.locator('.badge', { hasText: 'pending' }).waitFor()
  check((await commitRow.locator('td').nth(1).textContent()) === '2', `the commit lists ${await commitRow.locator('td').nth(1).textContent()} files, want 2`)
  await shot('phraseanet')
  await page.getByRole('link', { name: 'Spaces', exact: true }).click()

  step('app password')
  await page.getByRole('link', { name: 'Account' }).click()
  await page.getByLabel('Label').fill('e2e laptop')
  await page.getByLabel('Your password').fill(password)
  await page.getByRole('button', { name: 'Create app password' }).click()
  const pwBox = page.getByRole('dialog').getByLabel('The new app password')
  await pwBox.waitFor()
  const appPassword = await pwBox.inputValue()
  check(appPassword.length >= 16, `app password ${JSON.stringify(appPassword)} looks too short`)
  await shot('app-password')
  await page.getByRole('dialog').getByRole('button', { name: 'Done' }).click()
  await page.getByRole('cell', { name: 'e2e laptop' }).waitFor()
  const dav = await ask('app-password', { user: opt.user, password: appPassword })
  check(dav.status === 207, `PROPFIND /dav/ with the app password: ${dav.status}, want 207`)

  step('change password')
  await page.getByLabel('Current password').fill(password)
  await page.getByLabel('New password', { exact: true }).fill(opt['new-password'])
  await page.getByLabel('New password again').fill(opt['new-password'])
  await page.getByRole('button', { name: 'Change password' }).click()
  await page.getByText('Password changed.').waitFor()
  await shot('account')

  step('admin')
  await page.getByRole('link', { name: 'Admin' }).click()
  await page.getByRole('heading', { name: 'Users' }).waitFor()
  await page.getByRole('cell', { name: opt.user, exact: true }).waitFor()
  await page.getByRole('button', { name: 'Members' }).first().click()
  await page.getByRole('dialog').getByRole('button', { name: 'Close' }).waitFor()
  await page.keyboard.press('Escape')
  // Every cell of a Spaces row, the buttons' one too, spans the row.
  const boxes = await page.locator('section[aria-labelledby="spaces-h"] table.grid tbody tr').first().locator('td').evaluateAll(
    (tds) => tds.map((td) => { const r = td.getBoundingClientRect(); return { top: r.top, height: r.height } }))
  check(boxes.length === 3 && boxes.every((b) => Math.abs(b.top - boxes[0].top) < 1 && Math.abs(b.height - boxes[0].height) < 1),
    `the cells of a Spaces row do not line up: ${JSON.stringify(boxes)}`)
  await shot('admin')

  step('not found')
  const knownProblems = problems.length
  for (const [hash, text, back, heading] of [
    ['#/s/no-such-space/', 'There is no space', 'Go to your spaces', 'Spaces'],
    [`#/s/${opt.space}/no/such-folder`, 'There is no folder or file', 'Up to “no”', null],
    [`#/s/${opt.space}/no-such-folder`, 'There is no folder or file', `Go to space “${opt.space}”`, null],
  ]) {
    await page.evaluate((h) => { location.hash = h }, hash)
    await page.getByRole('heading', { name: 'Not found', exact: true }).waitFor()
    await page.getByText(text).waitFor()
    const link = page.getByRole('link', { name: back })
    check(await link.count() === 1, `the not-found page of ${hash} has no link "${back}"`)
    check(await page.getByText('Something went wrong').count() === 0, `${hash} shows "Something went wrong"`)
    if (heading) {
      await link.click()
      await page.getByRole('heading', { name: heading, exact: true }).waitFor()
    }
  }
  await shot('not-found')
  // The browser logs each 404 the page fetched as a console error: those
  // are the point of this step, anything else stays a problem.
  const extra = problems.splice(knownProblems)
  problems.push(...extra.filter((p) => !/status of 404/.test(p)))

  step('narrow')
  await page.setViewportSize({ width: 360, height: 740 })
  for (const [hash, name, heading] of [
    ['#/spaces', 'spaces', 'Spaces'],
    [`#/s/${opt.space}/incoming`, 'folder', 'incoming'],
    ['#/phraseanet', 'phraseanet', 'Phraseanet'],
    ['#/account', 'account', 'Account'],
    ['#/admin', 'admin', 'Administration'],
  ]) {
    await page.evaluate((h) => { location.hash = h }, hash)
    await page.getByRole('heading', { name: heading, exact: true }).waitFor()
    await page.waitForTimeout(100)
    await noHorizontalScroll(name)
    await shot(`narrow-${name}`)
  }
  await page.setViewportSize({ width: 1280, height: 860 })

  step('logout')
  await page.getByRole('button', { name: 'Sign out' }).click()
  await page.getByRole('heading', { name: 'Sign in to Wharf' }).waitFor()
  await page.reload()
  await page.getByRole('heading', { name: 'Sign in to Wharf' }).waitFor()
  await shot('signed-out')

  check(problems.length === 0, `the page reported problems:\n${problems.join('\n')}`)
  emit({ event: 'done', screenshots: shots })
  await browser.close()
  process.exit(0)
} catch (err) {
  try {
    await shot('failure')
  } catch {}
  emit({ event: 'fail', message: err instanceof Check ? err.message : String(err.stack || err), problems, screenshots: shots })
  await browser.close().catch(() => {})
  process.exit(1)
}
