#!/usr/bin/env node
// trash.mjs drives the web UI's trash view and versions dialog with
// Playwright and Debian's Chromium, headless, as e2e/trash_test.go sets
// them up: a space "files" with docs/a.txt in its trash and docs/b.txt
// overwritten once. It restores a.txt from the trash view, and b.txt's
// earlier version from the versions dialog. Protocol as ui.mjs: one JSON
// object per line on stdout ("step", "done" or "fail"); the password is
// read from $UI_PASSWORD.

import * as fs from 'node:fs'
import * as path from 'node:path'
import { parseArgs } from 'node:util'
import { chromium } from 'playwright-core'

const { values: opt } = parseArgs({
  options: {
    url: { type: 'string' },
    user: { type: 'string', default: 'admin' },
    out: { type: 'string' },
    chromium: { type: 'string', default: '/usr/bin/chromium' },
  },
})
const password = process.env.UI_PASSWORD
if (!opt.url || !password || !opt.out) {
  console.error('usage: UI_PASSWORD=… node trash.mjs --url URL --out DIR [--user NAME]')
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
  viewport: { width: 1280, height: 860 },
  acceptDownloads: false,
})
const page = browser.pages()[0] || (await browser.newPage())
page.setDefaultTimeout(15000)
page.on('console', (m) => {
  if (m.type() === 'error') problems.push(`console error: ${m.text()} (${m.location().url})`)
})
page.on('pageerror', (e) => problems.push(`page error: ${e.message}`))

async function shot(name) {
  const file = path.join(opt.out, `trash-${String(shots.length + 1).padStart(2, '0')}-${name}.png`)
  await page.screenshot({ path: file, fullPage: true })
  shots.push(file)
}

try {
  step('login')
  await page.goto(opt.url)
  await page.getByLabel('User name').fill(opt.user)
  await page.getByLabel('Password').fill(password)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.getByRole('heading', { name: 'Spaces' }).waitFor()

  step('trash view')
  await page.goto(`${opt.url}/#/s/files/docs`)
  await page.getByRole('link', { name: 'Trash' }).click()
  await page.getByRole('heading', { name: /^Trash of / }).waitFor()
  const item = page.locator('table.trash tbody tr[data-path="docs/a.txt"]')
  await item.waitFor()
  check((await item.textContent()).includes('admin'), 'the trash row does not say who deleted the file')
  await shot('trash')

  step('restore')
  await item.getByRole('button', { name: 'Restore a.txt' }).click()
  await page.getByText('Restored “docs/a.txt”.').waitFor()
  await page.getByText('The trash is empty.').waitFor()

  step('versions dialog')
  await page.goto(`${opt.url}/#/s/files/docs`)
  const row = page.locator('table.files tbody tr[data-name="b.txt"]')
  await row.waitFor()
  check(await page.locator('table.files tbody tr[data-name="a.txt"]').count() === 1, 'a.txt is not back in its folder')
  await row.getByRole('checkbox').check()
  await page.getByRole('button', { name: 'Versions' }).click()
  const dlg = page.getByRole('dialog')
  await dlg.getByRole('heading', { name: 'Versions of “b.txt”' }).waitFor()
  await dlg.locator('ul.version-list li').first().waitFor()
  check(await dlg.locator('ul.version-list li').count() === 1, 'the dialog does not list exactly one version')
  await shot('versions')
  await dlg.getByRole('button', { name: 'Restore this version' }).click()
  await dlg.waitFor({ state: 'detached' })
  await page.getByText('Restored an earlier version of “b.txt”.').waitFor()

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
