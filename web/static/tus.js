// tus.js: a small tus 1.0.0 client for Wharf's /tus/ endpoint.
//
// Files go up in chunks (one PATCH each), a few files at a time. Every
// upload's URL is kept in localStorage under its space, path, size and
// lastModified, so that after a reload or a lost connection the same file,
// picked again, continues from the offset HEAD reports instead of from 0.
// The last PATCH asks for "Prefer: respond-async"; the processing steps are
// then followed on the progress websocket named by Progress-Location.
//
// An Uploader is an EventTarget: it fires "change" (detail: the Upload, or
// null for the list as a whole) whenever something worth showing changed.

import { csrfHeaders, wsURL } from './api.js'

export const DEFAULT_CHUNK_SIZE = 8 << 20
export const DEFAULT_PARALLEL = 3
const STORE_PREFIX = 'wharf.upload:'
const RETRY_DELAYS = [1000, 2000, 4000, 8000, 15000, 30000, 30000, 30000]

// States an Upload goes through. active ones hold one of the parallel slots.
export const State = Object.freeze({
  queued: 'queued',
  uploading: 'uploading',
  retrying: 'retrying', // waiting before the next try after a network error
  paused: 'paused',
  processing: 'processing', // every byte is in; the server's steps run
  done: 'done',
  rejected: 'rejected', // a processing step refused the file
  failed: 'failed', // gave up; resume() tries again
})
const active = new Set([State.uploading, State.retrying])
export const finalStates = new Set([State.done, State.rejected])

class Stop extends Error {} // pause or cancel: not an error to show

// failure is an error the upload loop may retry (network, 5xx) or not.
class Failure extends Error {
  constructor(message, retry = false) {
    super(message)
    this.retry = retry
  }
}

// storeKey names the localStorage entry of one file going to one place.
export function storeKey(space, path, size, lastModified) {
  return STORE_PREFIX + JSON.stringify([space, path, size, lastModified])
}

// stored lists the uploads kept in localStorage, oldest first:
// {key, url, space, path, name, size, created}.
export function stored() {
  const out = []
  for (let i = 0; i < localStorage.length; i++) {
    const key = localStorage.key(i)
    if (!key || !key.startsWith(STORE_PREFIX)) continue
    try {
      out.push({ ...JSON.parse(localStorage.getItem(key)), key })
    } catch {
      localStorage.removeItem(key)
    }
  }
  return out.sort((a, b) => String(a.created).localeCompare(String(b.created)))
}

function b64(s) {
  let bin = ''
  for (const b of new TextEncoder().encode(s)) bin += String.fromCharCode(b)
  return btoa(bin)
}

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms)
    signal?.addEventListener('abort', () => {
      clearTimeout(t)
      reject(new Stop())
    }, { once: true })
  })
}

const tusHeaders = { 'Tus-Resumable': '1.0.0' }

// head asks the server where an upload stands:
// {status, offset, length, retryAfter}. Network errors throw a retryable
// Failure.
export async function head(url, signal) {
  let res
  try {
    res = await fetch(url, { method: 'HEAD', headers: tusHeaders, credentials: 'same-origin', cache: 'no-store', signal })
  } catch (err) {
    if (signal?.aborted) throw new Stop()
    throw new Failure('connection lost', true)
  }
  const num = (name) => {
    const v = res.headers.get(name)
    return v === null ? -1 : Number(v)
  }
  return { status: res.status, offset: num('Upload-Offset'), length: num('Upload-Length'), retryAfter: num('Retry-After') }
}

// uploadID is the last segment of an upload URL, which names its progress.
function uploadID(url) {
  return new URL(url, location.href).pathname.split('/').filter(Boolean).pop()
}

// Upload is one file on its way to space/path.
export class Upload {
  constructor(uploader, file, space, path) {
    this.uploader = uploader
    this.file = file
    this.space = space
    this.path = path
    this.size = file.size
    this.key = storeKey(space, path, file.size, file.lastModified)
    this.url = ''
    this.offset = 0 // acknowledged by the server
    this.sent = 0 // handed to the network, including the running PATCH
    this.resumedFrom = null // the offset HEAD gave when continuing a stored upload
    this.state = State.queued
    this.step = '' // processing step
    this.percent = 0 // of the processing step
    this.message = '' // what to show next to the state
    this.error = ''
    this.ctrl = null
    this.xhr = null
    this.socket = null
  }

  get name() {
    return this.path.split('/').pop()
  }

  changed() {
    this.uploader.changed(this)
  }

  set(state, message = '') {
    this.state = state
    this.message = message
    this.changed()
  }

  // pause stops sending; resume() continues from where the server is.
  pause() {
    if (!active.has(this.state) && this.state !== State.queued) return
    this.halt()
    this.set(State.paused)
    this.uploader.pump()
  }

  resume() {
    if (this.state !== State.paused && this.state !== State.failed) return
    this.error = ''
    this.set(State.queued)
    this.uploader.pump()
  }

  // cancel stops the upload and tells the server to drop what it has.
  async cancel() {
    this.halt()
    const url = this.url || this.storedEntry()?.url
    this.forget()
    this.uploader.remove(this)
    if (url && !finalStates.has(this.state) && this.state !== State.processing) {
      fetch(url, { method: 'DELETE', headers: { ...tusHeaders, ...csrfHeaders() }, credentials: 'same-origin' }).catch(() => {})
    }
  }

  halt() {
    this.ctrl?.abort()
    this.xhr?.abort()
    this.socket?.close()
    this.socket = null
  }

  storedEntry() {
    try {
      return JSON.parse(localStorage.getItem(this.key))
    } catch {
      return null
    }
  }

  remember() {
    localStorage.setItem(this.key, JSON.stringify({
      url: this.url, space: this.space, path: this.path, name: this.name,
      size: this.size, lastModified: this.file.lastModified, created: new Date().toISOString(),
    }))
  }

  forget() {
    localStorage.removeItem(this.key)
  }

  // run is the upload loop: find or create the upload, PATCH chunks until
  // the last byte is in, retrying network errors with backoff.
  async run() {
    this.ctrl = new AbortController()
    const signal = this.ctrl.signal
    this.set(State.uploading)
    let failures = 0
    let needHead = true
    while (this.state === State.uploading) {
      try {
        if (needHead) {
          if (!(await this.locate(signal))) break // processing, done or rejected
          needHead = false
        }
        await this.patch(signal)
        failures = 0
      } catch (err) {
        if (err instanceof Stop || signal.aborted) return
        if (err instanceof Failure && err.retry && failures < RETRY_DELAYS.length) {
          const delay = err.retryAfter || RETRY_DELAYS[failures++]
          this.set(State.retrying, `${err.message}; retrying in ${Math.round(delay / 1000)} s`)
          try {
            await sleep(delay, signal)
          } catch {
            return
          }
          this.set(State.uploading)
          needHead = true
          continue
        }
        this.error = err.message
        this.set(State.failed)
      }
    }
    this.uploader.pump()
  }

  // locate sets url and offset: from the stored URL (HEAD) or a new upload
  // (POST). It returns false when there is nothing left to send.
  async locate(signal) {
    const url = this.url || this.storedEntry()?.url
    if (url) {
      const st = await head(url, signal)
      switch (st.status) {
        case 200:
        case 204:
          if (st.length >= 0 && st.length !== this.size) break // not this file: start over
          if (!this.url) this.resumedFrom = st.offset
          this.url = url
          this.offset = this.sent = st.offset
          if (st.offset >= this.size && this.size > 0) {
            // Complete and processed (a 423 would say it still runs).
            this.finish({ state: 'done' })
            return false
          }
          this.changed()
          return true
        case 423: // every byte is in and processing runs: wait for it, never restart
          this.url = url
          this.offset = this.sent = this.size
          this.watch(`/api/v1/uploads/${encodeURIComponent(uploadID(url))}/progress`)
          return false
        case 410: // rejected; the reason is on the progress record
          this.url = url
          this.offset = this.sent = this.size
          this.watch(`/api/v1/uploads/${encodeURIComponent(uploadID(url))}/progress`)
          return false
        case 401:
          throw new Failure('you are signed out: sign in again, then pick the file again')
        default:
          if (st.status === 0 || st.status >= 500) throw new Failure(`server error ${st.status}`, true)
        // 404 and the like: the server no longer has it; start again.
      }
      this.forget()
      this.url = ''
    }
    await this.create(signal)
    return this.size > 0
  }

  async create(signal) {
    const headers = {
      ...tusHeaders,
      ...csrfHeaders(),
      'Upload-Length': String(this.size),
      'Upload-Metadata': `space ${b64(this.space)},path ${b64(this.path)},filename ${b64(this.name)}`,
    }
    if (this.size === 0 && this.uploader.async) headers.Prefer = 'respond-async'
    let res
    try {
      res = await fetch(this.uploader.endpoint, { method: 'POST', headers, credentials: 'same-origin', signal })
    } catch {
      if (signal.aborted) throw new Stop()
      throw new Failure('connection lost', true)
    }
    if (res.status !== 201) throw await failureOf(res)
    this.url = new URL(res.headers.get('Location'), location.href).href
    this.offset = this.sent = 0
    this.remember()
    this.changed()
    if (this.size === 0 && !this.uploader.async) {
      this.finish({ state: 'done' }) // nothing to follow without a session
    } else if (this.size === 0) {
      this.watch(res.headers.get('Progress-Location') || `/api/v1/uploads/${encodeURIComponent(uploadID(this.url))}/progress`)
    }
  }

  // patch sends the next chunk; the last one asks to be answered before
  // processing ends.
  async patch(signal) {
    const end = Math.min(this.offset + this.uploader.chunkSize, this.size)
    const last = end === this.size
    const headers = {
      ...tusHeaders,
      ...csrfHeaders(),
      'Content-Type': 'application/offset+octet-stream',
      'Upload-Offset': String(this.offset),
    }
    if (last && this.uploader.async) headers.Prefer = 'respond-async'
    const res = await this.send('PATCH', this.url, headers, this.file.slice(this.offset, end), signal)
    switch (res.status) {
      case 200:
      case 204: {
        const off = Number(res.header('Upload-Offset'))
        this.offset = this.sent = Number.isFinite(off) && off > 0 ? off : end
        if (this.offset >= this.size) this.finish({ state: 'done' }) // processed synchronously
        else this.changed()
        return
      }
      case 202:
        this.offset = this.sent = this.size
        this.watch(res.header('Progress-Location') || `/api/v1/uploads/${encodeURIComponent(uploadID(this.url))}/progress`)
        return
      case 409: // our offset is stale: ask again
      case 423: {
        const e = new Failure(res.status === 409 ? 'offset out of step' : 'upload busy', true)
        e.retryAfter = res.status === 423 ? Math.max(1, Number(res.header('Retry-After')) || 1) * 1000 : 0
        throw e
      }
      case 422: {
        let body = {}
        try {
          body = JSON.parse(res.body)
        } catch {}
        this.offset = this.sent = this.size
        this.finish({ state: 'rejected', step: body.step, error: body.error || res.body })
        return
      }
      default:
        throw failure(res.status, res.body, res.header('Retry-After'))
    }
  }

  // send makes one request with XMLHttpRequest, whose upload progress
  // events fetch does not offer.
  send(method, url, headers, body, signal) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest()
      this.xhr = xhr
      xhr.open(method, url)
      xhr.withCredentials = true
      for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v)
      const base = this.offset
      xhr.upload.onprogress = (e) => {
        this.sent = base + e.loaded
        this.changed()
      }
      xhr.onload = () => resolve({ status: xhr.status, header: (n) => xhr.getResponseHeader(n), body: xhr.responseText })
      xhr.onerror = () => reject(new Failure('connection lost', true))
      xhr.ontimeout = () => reject(new Failure('the server did not answer in time', true))
      xhr.onabort = () => reject(new Stop())
      if (signal.aborted) return reject(new Stop())
      xhr.send(body)
    }).finally(() => {
      this.xhr = null
    })
  }

  // watch follows processing on the progress websocket until it ends.
  watch(location) {
    this.set(State.processing, 'processing')
    this.step = ''
    let tries = 0
    const open = () => {
      const ws = new WebSocket(wsURL(location))
      this.socket = ws
      ws.onmessage = (m) => {
        tries = 0
        let msg
        try {
          msg = JSON.parse(m.data)
        } catch {
          return
        }
        this.progress(msg)
      }
      ws.onclose = () => {
        if (this.socket !== ws || this.state !== State.processing) return
        if (tries >= RETRY_DELAYS.length) {
          this.error = 'lost track of processing; reload the folder to see whether the file arrived'
          this.set(State.failed)
          return
        }
        setTimeout(open, RETRY_DELAYS[tries++])
      }
    }
    open()
  }

  // progress applies one message from the progress websocket.
  progress(msg) {
    if (msg.type === 'status' && msg.status) {
      const s = msg.status
      if (s.state === 'done') return this.finish({ state: 'done' })
      if (s.state === 'rejected') return this.finish({ state: 'rejected', step: s.step, error: s.error })
      this.step = s.step || ''
      this.percent = s.percent || 0
      this.set(State.processing, s.message || s.state)
      return
    }
    const data = (msg.event && msg.event.data) || {}
    if (msg.type === 'processing.step') {
      this.step = data.step || this.step
      this.percent = Number(data.percent) || 0
      this.set(State.processing, data.message || '')
    } else if (msg.type === 'processing.finished') {
      this.finish({ state: 'done' })
    } else if (msg.type === 'processing.aborted') {
      this.finish({ state: 'rejected', step: data.step, error: data.error })
    }
  }

  finish({ state, step, error }) {
    const ws = this.socket
    this.socket = null
    ws?.close()
    this.forget()
    this.offset = this.sent = this.size
    if (state === 'done') {
      this.step = ''
      this.set(State.done, 'done')
    } else {
      this.step = step || ''
      this.error = error || 'refused'
      this.set(State.rejected, step ? `refused by the ${step} step` : 'refused')
    }
    this.uploader.pump()
  }
}

// failureOf turns an unexpected answer into a Failure with the server's
// message; 5xx and 429 are worth retrying.
async function failureOf(res) {
  let msg = ''
  try {
    msg = await res.text()
  } catch {}
  return failure(res.status, msg, res.headers.get('Retry-After'))
}

function failure(status, body, retryAfter) {
  let msg = body || ''
  try {
    msg = JSON.parse(msg).error || msg
  } catch {}
  msg = msg.trim() || `the server answered ${status}`
  const f = new Failure(msg, status >= 500 || status === 429)
  if (status === 429) f.retryAfter = (Number(retryAfter) || 5) * 1000
  return f
}

// Uploader runs uploads, parallel at a time, chunkSize bytes per PATCH.
// With async false the last PATCH waits for processing (no progress
// websocket: a drop link's page has no session to open one with).
export class Uploader extends EventTarget {
  constructor({ endpoint = '/tus/', chunkSize = DEFAULT_CHUNK_SIZE, parallel = DEFAULT_PARALLEL, async = true } = {}) {
    super()
    this.endpoint = endpoint
    this.async = async
    this.chunkSize = chunkSize
    this.parallel = parallel
    this.uploads = []
  }

  // add queues file for space/path. A file already on its way there is
  // not queued twice: a paused or failed one is resumed.
  add(file, space, path) {
    const same = this.uploads.find((u) => u.key === storeKey(space, path, file.size, file.lastModified) && !finalStates.has(u.state))
    if (same) {
      same.file = file
      same.resume()
      return same
    }
    const u = new Upload(this, file, space, path)
    this.uploads.push(u)
    this.changed(null)
    this.pump()
    return u
  }

  // pump starts queued uploads while slots are free.
  pump() {
    let running = this.uploads.filter((u) => active.has(u.state)).length
    for (const u of this.uploads) {
      if (running >= this.parallel) break
      if (u.state === State.queued) {
        running++
        u.run()
      }
    }
  }

  remove(u) {
    this.uploads = this.uploads.filter((x) => x !== u)
    this.changed(null)
    this.pump()
  }

  // clearFinished drops done and refused uploads from the list.
  clearFinished() {
    this.uploads = this.uploads.filter((u) => !finalStates.has(u.state))
    this.changed(null)
  }

  // watchStored follows the processing of a stored upload whose bytes are
  // all in (HEAD said 423), without needing the file; it returns the
  // Upload, or null.
  watchStored(entry) {
    if (this.uploads.some((u) => u.key === entry.key)) return null
    const fake = { size: entry.size, lastModified: entry.lastModified, slice() {} }
    const u = new Upload(this, fake, entry.space, entry.path)
    u.key = entry.key
    u.url = entry.url
    u.offset = u.sent = entry.size
    this.uploads.push(u)
    u.watch(`/api/v1/uploads/${encodeURIComponent(uploadID(entry.url))}/progress`)
    return u
  }

  // discard drops a stored upload the user will not finish.
  discard(entry) {
    localStorage.removeItem(entry.key)
    fetch(entry.url, { method: 'DELETE', headers: { ...tusHeaders, ...csrfHeaders() }, credentials: 'same-origin' }).catch(() => {})
    this.changed(null)
  }

  changed(u) {
    this.dispatchEvent(new CustomEvent('change', { detail: u }))
  }

  // totals sums the uploads shown: bytes sent of bytes, files finished.
  totals() {
    let sent = 0
    let bytes = 0
    let finished = 0
    for (const u of this.uploads) {
      sent += Math.min(u.sent, u.size)
      bytes += u.size
      if (finalStates.has(u.state)) finished++
    }
    return { sent, bytes, finished, files: this.uploads.length }
  }
}
