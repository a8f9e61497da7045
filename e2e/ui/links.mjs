#!/usr/bin/env node
// links.mjs opens share links in Chromium, headless, with Playwright, as
// someone without an account would: a folder link (its listing, a
// subfolder, the zip link) and a drop link (pick a file, see it
// delivered). Then, signed in: the folder view's Share dialog makes a link
// (opened, then revoked) and the search page finds a file by an accented
// name typed without its accents. e2e/links_ui_test.go runs it against a
// real server.
//
// Protocol: one JSON object per line on stdout: {"event": "step", name},
// then "done" ({screenshots}) or "fail" ({message, problems}). Exit status
// 0 when every check held, 1 otherwise, 2 for bad usage.

import * as fs from 'node:fs'
import * as path from 'node:path'
import { parseArgs } from 'node:util'
import { chromium } from 'playwright-core'

const { values: opt } = parseArgs({
  options: {
    folder: { type: 'string' }, // the folder link's URL
    drop: { type: 'string' }, // the drop link's URL
    file: { type: 'string' }, // a file to drop
    out: { type: 'string' }, // screenshots directory
    chromium: { type: 'string', default: '/usr/bin/chromium' },
    url: { type: 'string' }, // the server, for the signed-in part
    user: { type: 'string', default: 'admin' }, // its password in $UI_PASSWORD
  },
})
if (!opt.folder || !opt.drop || !opt.file || !opt.out) {
  console.error('usage: node links.mjs --folder URL --drop URL --file FILE --out DIR')
  process.exit(2)
}

const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')
const step = (name) => emit({ event: 'step', name })
class Check extends Error {}
function check(cond, message) {
  if (!cond) throw new Check(message)
}

const problems = []
const shots = []
fs.mkdirSync(opt.out, { recursive: true })
const userDir = fs.mkdtempSync(path.join(opt.out, '.chromium-'))
const browser = await chromium.launchPersistentContext(userDir, {
  executablePath: opt.chromium,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
  viewport: { width: 1024, height: 760 },
})
const page = browser.pages()[0] || (await browser.newPage())
page.setDefaultTimeout(15000)
page.on('console', (m) => {
  if (m.type() === 'error') problems.push(`console error: ${m.text()} (${m.location().url})`)
})
page.on('pageerror', (e) => problems.push(`page error: ${e.message}`))
await page.addInitScript(() => {
  document.addEventListener('securitypolicyviolation', (e) => {
    console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || 'inline'}`)
  })
})
const requests = []
page.on('request', (r) => requests.push(new URL(r.url()).pathname))

async function shot(name) {
  const file = path.join(opt.out, `links-${String(shots.length + 1).padStart(2, '0')}-${name}.png`)
  await page.screenshot({ path: file, fullPage: true })
  shots.push(file)
}

try {
  step('folder link')
  await page.goto(opt.folder)
  await page.getByRole('heading', { name: 'photos' }).waitFor()
  await page.getByRole('link', { name: 'a.txt' }).waitFor()
  await page.getByRole('link', { name: 'sub/' }).waitFor()
  const zip = page.getByRole('link', { name: 'Download all (zip)' })
  check((await zip.getAttribute('href')) === '?download=zip', 'the zip link is not ?download=zip')
  await shot('folder')
  await page.getByRole('link', { name: 'sub/' }).click()
  await page.getByRole('link', { name: 'b.txt' }).waitFor()
  await page.getByRole('link', { name: '..' }).waitFor()
  await shot('subfolder')

  step('drop link')
  await page.goto(opt.drop)
  await page.getByRole('heading', { name: 'Send files' }).waitFor()
  const body = await page.textContent('body')
  check(!body.includes('already-there'), 'the drop page shows the folder')
  await page.setInputFiles('#drop-files', opt.file)
  const name = path.basename(opt.file)
  const row = page.locator('.share-upload', { hasText: name })
  await row.locator('.share-upload-state', { hasText: 'delivered' }).waitFor({ timeout: 60000 })
  await shot('dropped')
  check(!requests.some((p) => p.startsWith('/tus/') || p.startsWith('/api/')), `the drop page used /tus/ or the API: ${requests.filter((p) => p.startsWith('/tus/') || p.startsWith('/api/'))}`)

  step('share dialog')
  await page.goto(opt.url)
  await page.getByLabel('User name').fill(opt.user)
  await page.getByLabel('Password').fill(process.env.UI_PASSWORD || '')
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.getByRole('heading', { name: 'Spaces' }).waitFor()
  await page.goto(`${opt.url}/ui/#/s/files/photos`)
  await page.getByRole('heading', { name: 'photos' }).waitFor()
  await page.getByRole('button', { name: 'Share folder…' }).click()
  const dlg = page.getByRole('dialog', { name: /^Share/ })
  await dlg.getByLabel('Label (optional)').fill('from the dialog')
  await dlg.getByRole('button', { name: 'Create link' }).click()
  const made = await dlg.getByLabel('Link URL').inputValue()
  check(/\/s\/[A-Za-z0-9_-]{32}$/.test(made), `the dialog shows ${made}, not a link URL`)
  await dlg.getByText('“from the dialog”').waitFor()
  await shot('share-dialog')
  const other = await browser.newPage()
  await other.goto(made)
  await other.getByRole('link', { name: 'a.txt' }).waitFor()
  await other.close()
  await dlg.getByRole('button', { name: /^Revoke .*from the dialog/ }).click()
  await page.getByRole('dialog', { name: 'Revoke link' }).getByRole('button', { name: 'Revoke' }).click()
  await dlg.getByText('“from the dialog”').waitFor({ state: 'detached' })
  await dlg.getByRole('button', { name: 'Close' }).click()
  const gone = await browser.newPage()
  const res = await gone.goto(made)
  check(res.status() === 404, `the revoked link answers ${res.status()}`)
  await gone.close()

  step('search')
  await page.getByRole('link', { name: 'Search' }).click()
  await page.getByLabel('Name contains').fill('resume')
  await page.getByRole('button', { name: 'Search', exact: true }).click()
  await page.getByRole('link', { name: 'photos/Résumé.txt' }).waitFor()
  await shot('search')

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
